import { findFunction } from "../functions.ts";
import type { StateMachine } from "./asl.ts";

/** Placeholders that are not functions, and what the installation puts there. */
export const RESOURCE_PLACEHOLDERS = {
  CodeBuildProject: "the name of the CodeBuild project that builds images",
  Cluster: "the name or ARN of the ECS cluster",
} as const;

const PLACEHOLDER = /\$\{([^}]*)\}/g;

/** Whether a placeholder name is one a definition may carry: a manifest function or a resource. */
export function isKnownPlaceholder(name: string): boolean {
  if (Object.hasOwn(RESOURCE_PLACEHOLDERS, name)) return true;
  const functionName = name.startsWith("Function:") ? name.slice("Function:".length) : undefined;
  return functionName !== undefined && findFunction(functionName) !== undefined;
}

function strings(value: unknown, visit: (text: string) => void): void {
  if (typeof value === "string") visit(value);
  else if (Array.isArray(value)) for (const item of value) strings(item, visit);
  else if (value !== null && typeof value === "object")
    for (const item of Object.values(value)) strings(item, visit);
}

/** The names of the placeholders a definition carries (`Function:deploy`, `CodeBuildProject`, …), sorted. */
export function placeholdersOf(definition: unknown): string[] {
  const found = new Set<string>();
  strings(definition, (text) => {
    for (const match of text.matchAll(PLACEHOLDER)) found.add(match[1] ?? "");
  });
  return [...found].sort();
}

function replaceAll(value: unknown, values: Readonly<Record<string, string>>): unknown {
  if (typeof value === "string") return value.replace(PLACEHOLDER, (_, name: string) => values[name] ?? "");
  if (Array.isArray(value)) return value.map((item) => replaceAll(item, values));
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, replaceAll(item, values)]));
  }
  return value;
}

/**
 * Fills a definition's placeholders (`${Function:<manifest name>}` with the function's ARN,
 * `${CodeBuildProject}`, `${Cluster}`) and returns a new definition. Throws, naming them, on a
 * placeholder that is neither a manifest function nor a known resource, on a value given for
 * such a name, and on a placeholder left without a non-empty value: a state machine is never
 * created with a hole in it. Values for known placeholders the definition does not use are
 * accepted, so one set of values serves every definition.
 */
export function substitute(definition: StateMachine, values: Readonly<Record<string, string>>): StateMachine {
  const used = placeholdersOf(definition);
  const unknown = [...new Set([...used, ...Object.keys(values)])].filter((name) => !isKnownPlaceholder(name));
  if (unknown.length > 0) {
    throw new Error(`unknown placeholders: ${unknown.map((name) => `\${${name}}`).join(", ")}`);
  }
  const missing = used.filter((name) => !values[name]);
  if (missing.length > 0) {
    throw new Error(`no value for placeholders: ${missing.map((name) => `\${${name}}`).join(", ")}`);
  }
  const filled = replaceAll(definition, values) as StateMachine;
  const left = placeholdersOf(filled);
  if (left.length > 0) {
    // A value that itself looks like a placeholder would otherwise pass unnoticed.
    throw new Error(`placeholders left after substitution: ${left.map((name) => `\${${name}}`).join(", ")}`);
  }
  return filled;
}

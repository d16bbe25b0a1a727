import { extname, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { Spec } from "@berth/core/spec";
import { tsImport } from "tsx/esm/api";
import { type Output, readText } from "./command.ts";

/** Stack files that are modules: `berth.ts` and its JavaScript cousins. */
const MODULE_EXTENSIONS = [".ts", ".mts", ".cts", ".js", ".mjs", ".cjs"];

function isModuleFile(fileName: string): boolean {
  return MODULE_EXTENSIONS.includes(extname(fileName).toLowerCase());
}

/** A stack file read and checked: the text the API gets, its media type, and the parsed stack. */
export interface StackSource {
  text: string;
  contentType: "application/yaml" | "application/json";
  stack: Spec.Stack;
}

/**
 * Reads a stack file (YAML, JSON, or a `berth.ts` module, evaluated in-process with no build
 * step), prints every problem with the file's own line numbers, and returns undefined when it
 * has any. A module's stack is sent to the API as JSON.
 */
export async function loadStackSource(
  fileName: string,
  cwd: string,
  io: Output,
): Promise<StackSource | undefined> {
  const text = readText(fileName, cwd);
  if (!isModuleFile(fileName)) {
    const result = Spec.parse(text);
    if (!result.ok) return reportIssues(fileName, result.issues, io);
    const contentType = extname(fileName).toLowerCase() === ".json" ? "application/json" : "application/yaml";
    return { text, contentType, stack: result.stack };
  }
  const evaluated = await evaluateModule(resolve(cwd, fileName));
  if ("problem" in evaluated) {
    io.err(`${fileName}${evaluated.line ? `:${evaluated.line}` : ""}: ${evaluated.problem}`);
    io.err(`${fileName}: 1 problem`);
    return undefined;
  }
  const json = JSON.stringify(evaluated.value, null, 2);
  const result = Spec.parse(json);
  if (!result.ok) {
    // The lines of the JSON mean nothing to the author: point at berth.ts instead.
    // TypeScript's parser takes over a second of CPU to import: only a stack with problems needs it.
    const { locateInModule } = await import("./module-location.ts");
    const located = result.issues.map((issue) => ({ ...issue, ...locateInModule(text, issue.path) }));
    return reportIssues(fileName, located, io);
  }
  return { text: json, contentType: "application/json", stack: result.stack };
}

function reportIssues(fileName: string, issues: Spec.SpecIssue[], io: Output): undefined {
  for (const issue of issues) io.err(Spec.formatIssue(fileName, issue));
  io.err(`${fileName}: ${issues.length} problem${issues.length === 1 ? "" : "s"}`);
  return undefined;
}

type Evaluated = { value: unknown } | { problem: string; line?: number };

/** Imports the module and takes its default export: a stack, or a (possibly async) function returning one. */
async function evaluateModule(path: string): Promise<Evaluated> {
  let module: { default?: unknown };
  try {
    module = await tsImport(pathToFileURL(path).href, import.meta.url);
  } catch (error) {
    return describeLoadError(error);
  }
  // A berth.ts outside an ES module package is compiled to CommonJS: its exports object, with
  // the `__esModule` mark esbuild gives it, is then the namespace's default.
  let value = module.default;
  if (value && typeof value === "object" && "__esModule" in value)
    value = (value as { default?: unknown }).default;
  if (value === undefined) {
    return {
      problem:
        "has no default export: end it with `export default defineStack({ resources: { … } })` (from @berth/config)",
    };
  }
  if (typeof value === "function") {
    try {
      value = await (value as () => unknown)();
    } catch (error) {
      return describeLoadError(error, "its default export threw");
    }
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return {
      problem: `the default export must be a stack, \`defineStack({ resources: { … } })\`, or a function returning one; got ${value === null ? "null" : Array.isArray(value) ? "a list" : typeof value}`,
    };
  }
  try {
    return { value: JSON.parse(JSON.stringify(value)) };
  } catch (error) {
    return { problem: `the stack cannot be written as JSON: ${(error as Error).message}` };
  }
}

function describeLoadError(error: unknown, what = "cannot be loaded"): Evaluated {
  const message = error instanceof Error ? error.message : String(error);
  // esbuild's syntax errors: "path:LINE:COL: ERROR: text"; a thrown error: its stack's frame in the file.
  const syntax = /:(\d+):\d+: ERROR: (.*)/.exec(message);
  if (syntax) return { problem: `${what}: ${syntax[2]}`, line: Number(syntax[1]) };
  // A line from a thrown error's stack would be the compiled code's, so none is given.
  return { problem: `${what}: ${message.split("\n")[0]}` };
}

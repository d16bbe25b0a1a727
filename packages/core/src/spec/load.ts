import {
  type Document,
  isMap,
  isPair,
  isScalar,
  isSeq,
  LineCounter,
  type Node,
  parseDocument,
  visit,
} from "yaml";
import type { z } from "zod";
import { own } from "../lookup.ts";
import { findDirectives, unsupportedDirectiveReason } from "./directives.ts";
import { formatPath, type PathSegment, type SpecIssue } from "./issues.ts";
import {
  COMPUTE_TYPES,
  ComputeResources,
  RESOURCE_NAME_PATTERN,
  RESOURCE_SCHEMAS,
  RESOURCE_TYPES,
  type Resource,
  type ResourceType,
  Scaling,
  type Stack,
  StackSettings,
  UNKNOWN_PROPERTY,
  UNSUPPORTED_RESOURCE_TYPES,
  UNSUPPORTED_TOP_LEVEL_KEYS,
} from "./schema.ts";
import { closest } from "./suggest.ts";
import {
  checkConnectTo,
  checkResourceParam,
  checkResources,
  checkScaling,
  crossCheck,
  type LocatedIssue,
} from "./validate.ts";

export const DEFAULT_FILE_NAME = "berth.yml";

export type ParseResult = { ok: true; stack: Stack } | { ok: false; issues: SpecIssue[] };

/** Properties other platforms accept that Berth refuses, with why. */
const UNSUPPORTED_PROPERTIES: Record<string, string> = {
  overrides: "Berth deploys without CloudFormation, so there is no template to override",
  volumeMounts: "persistent volumes are not supported: containers get ephemeral storage only",
  logForwarding: "log forwarding is not supported yet: logs go to CloudWatch Logs",
  alarms: "alarms are not supported yet",
  disabledGlobalAlarms: "alarms are not supported yet",
};

/** Property paths where directives may appear: environment values, where they are resolved. */
function isEnvironmentValue(path: readonly PathSegment[]): boolean {
  const text = formatPath(path);
  return /^resources\.[^.]+\.properties\.(containers\[\d+\]\.|container\.)?environment\[\d+\]\.value$/.test(
    text,
  );
}

/** What the installation the file is for can run; by default, anything the file may say. */
export interface ParseOptions {
  /** Tasks can run on EC2 instances (`instanceTypes`); false refuses them. Default true. */
  ec2?: boolean;
}

/**
 * Parses a stack file (YAML or JSON) into a typed, defaulted stack, or every problem found in it,
 * each with its path and line. Never throws on any input.
 */
export function parse(text: string, options: ParseOptions = {}): ParseResult {
  const lineCounter = new LineCounter();
  const issues: LocatedIssue[] = [];
  const document = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false });

  const position = (path: readonly PathSegment[], onKey = false) =>
    locate(document.contents as Node | null, lineCounter, path, onKey);
  const finish = (): ParseResult => ({
    ok: false,
    issues: issues
      .map(
        ({ path, onKey, ...rest }): SpecIssue => ({
          ...rest,
          path: formatPath(path),
          ...position(path, onKey),
        }),
      )
      .sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0)),
  });

  if (document.errors.length > 0) {
    return {
      ok: false,
      issues: document.errors.map((error) => {
        const { line, col } = lineCounter.linePos(error.pos[0]);
        return { code: "SYNTAX_ERROR", path: "", line, column: col, message: firstLine(error.message) };
      }),
    };
  }

  const cycles = cyclicAliases(document, lineCounter);
  if (cycles.length > 0) return { ok: false, issues: cycles };

  let raw: unknown;
  try {
    raw = document.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (error) {
    return { ok: false, issues: [{ code: "SYNTAX_ERROR", path: "", message: firstLine(String(error)) }] };
  }

  if (!isPlainObject(raw)) {
    issues.push({
      code: "INVALID_FILE",
      path: [],
      message: "a stack file is a mapping with a `resources` key",
    });
    return finish();
  }

  for (const key of Object.keys(raw)) {
    if (key === "resources" || key === "berth") continue;
    const reason = own(UNSUPPORTED_TOP_LEVEL_KEYS, key);
    issues.push(
      reason
        ? {
            code: "UNSUPPORTED_TOP_LEVEL_KEY",
            path: [key],
            onKey: true,
            message: `"${key}" is not supported: ${reason}`,
          }
        : {
            code: "UNKNOWN_PROPERTY",
            path: [key],
            onKey: true,
            message: `unknown top-level key "${key}"; a stack file has \`resources\` and Berth's own \`berth\``,
            ...suggestion(key, ["resources", "berth"]),
          },
    );
  }

  const rawResources = raw.resources;
  if (!isPlainObject(rawResources) || Object.keys(rawResources).length === 0) {
    issues.push({
      code: rawResources === undefined ? "MISSING_PROPERTY" : "INVALID_VALUE",
      path: ["resources"],
      message: "`resources` must be a mapping of resource names to resources, with at least one resource",
    });
    return finish();
  }

  // No prototype: resource names come from the file.
  const resources: Record<string, Resource> = Object.create(null);
  const declaredTypes = new Map<string, string>();
  for (const [name, entry] of Object.entries(rawResources)) {
    const path = ["resources", name];
    if (!RESOURCE_NAME_PATTERN.test(name)) {
      issues.push({
        code: "INVALID_NAME",
        path,
        onKey: true,
        message:
          "a resource name starts with a letter and has only letters and digits (at most 63): it becomes a DNS name",
      });
    }
    if (!isPlainObject(entry)) {
      issues.push({
        code: "INVALID_VALUE",
        path,
        message: "a resource is a mapping with `type` and `properties`",
      });
      continue;
    }
    const type = entry.type;
    if (typeof type !== "string") {
      issues.push({
        code: "MISSING_PROPERTY",
        path: [...path, "type"],
        message: `type is required: one of ${RESOURCE_TYPES.join(", ")}`,
      });
      continue;
    }
    declaredTypes.set(name, type);
    if (!Object.hasOwn(RESOURCE_SCHEMAS, type)) {
      const reason = own(UNSUPPORTED_RESOURCE_TYPES, type);
      issues.push(
        reason
          ? {
              code: "UNSUPPORTED_RESOURCE_TYPE",
              path: [...path, "type"],
              message: `resource type "${type}" is not supported: ${reason}`,
            }
          : {
              code: "UNKNOWN_RESOURCE_TYPE",
              path: [...path, "type"],
              message: `unknown resource type "${type}"; supported: ${RESOURCE_TYPES.join(", ")}`,
              ...suggestion(type, RESOURCE_TYPES),
            },
      );
      continue;
    }
    const schema = RESOURCE_SCHEMAS[type as ResourceType];
    const parsed = schema.safeParse(entry);
    if (parsed.success) resources[name] = parsed.data;
    else issues.push(...parsed.error.issues.flatMap((issue) => describeZodIssue(issue, path, entry)));
  }

  // Rules that need only one part of a resource run even when another part of it is wrong, so
  // a file with several mistakes gets all of them reported at once.
  for (const [name, entry] of Object.entries(rawResources)) {
    const properties = isPlainObject(entry) && isPlainObject(entry.properties) ? entry.properties : undefined;
    const type = declaredTypes.get(name);
    if (!properties || !type || !(COMPUTE_TYPES as readonly string[]).includes(type)) continue;
    const base = ["resources", name, "properties"];
    const sizing = ComputeResources.safeParse(properties.resources);
    if (sizing.success) issues.push(...checkResources(sizing.data, [...base, "resources"]));
    const scaling = Scaling.safeParse(properties.scaling ?? {});
    if (scaling.success) issues.push(...checkScaling(scaling.data, [...base, "scaling"]));
    if (Array.isArray(properties.connectTo))
      issues.push(...checkConnectTo(name, properties.connectTo, declaredTypes, [...base, "connectTo"]));
    if (
      options.ec2 === false &&
      isPlainObject(properties.resources) &&
      "instanceTypes" in properties.resources
    ) {
      issues.push({
        code: "UNSUPPORTED_BY_INSTALLATION",
        path: [...base, "resources", "instanceTypes"],
        onKey: true,
        message:
          "this installation has no EC2 capacity: its tasks run on Fargate only; remove instanceTypes and give cpu and memory",
      });
    }
  }

  issues.push(...directiveIssues(raw, declaredTypes));
  issues.push(...crossCheck(resources, declaredTypes));

  let berth: StackSettings | undefined;
  if (raw.berth !== undefined) {
    const settings = StackSettings.safeParse(raw.berth);
    if (settings.success) berth = settings.data;
    else
      issues.push(...settings.error.issues.flatMap((issue) => describeZodIssue(issue, ["berth"], raw.berth)));
  }

  if (issues.length > 0) return finish();
  return { ok: true, stack: { resources, ...(berth ? { berth } : {}) } };
}

/** Alias expansions `toJS` allows in total: a few aliases are fine, a billion laughs is not. */
const MAX_ALIAS_COUNT = 100;

/**
 * Aliases that refer to a node they sit inside (`resources: &r {api: *r}`). The YAML library
 * builds such a node as a cycle and then recurses through it without end, so they are refused
 * before anything turns the document into values. An alias can only name an anchor defined
 * before it, so a cycle always runs through one of the alias's own ancestors.
 */
function cyclicAliases(document: Document, lineCounter: LineCounter): SpecIssue[] {
  const issues: SpecIssue[] = [];
  visit(document, {
    Alias(_key, alias, ancestors) {
      const target = alias.resolve(document);
      if (!target || !ancestors.includes(target as never)) return;
      const { line, col } = lineCounter.linePos(alias.range?.[0] ?? 0);
      issues.push({
        code: "CYCLIC_ALIAS",
        path: formatPath(pathOf([...ancestors, alias])),
        line,
        column: col,
        message: `alias *${alias.source} refers to a node that contains it; a stack file cannot be cyclic`,
      });
    },
  });
  return issues;
}

/** The path to the last of `nodes`, each the parent of the next (as `visit` lists ancestors). */
function pathOf(nodes: readonly unknown[]): PathSegment[] {
  const path: PathSegment[] = [];
  for (const [index, node] of nodes.entries()) {
    const child = nodes[index + 1];
    if (isPair(node) && child === node.value) path.push(isScalar(node.key) ? String(node.key.value) : "?");
    else if (isSeq(node)) path.push(node.items.indexOf(child as never));
  }
  return path;
}

function directiveIssues(raw: Record<string, unknown>, declaredTypes: Map<string, string>): LocatedIssue[] {
  const issues: LocatedIssue[] = [];
  walkStrings(raw, [], (value, path) => {
    // A resource whose type is refused already has its error; its contents are not checked.
    const resourceType =
      path[0] === "resources" && typeof path[1] === "string" ? declaredTypes.get(path[1]) : undefined;
    if (resourceType !== undefined && !Object.hasOwn(RESOURCE_SCHEMAS, resourceType)) return;
    for (const found of findDirectives(value)) {
      if (!found.ok) {
        issues.push({ code: "INVALID_DIRECTIVE", path, message: found.message });
        continue;
      }
      const directive = found.directive;
      if (directive.kind === "Unsupported") {
        const why = unsupportedDirectiveReason(directive.name);
        issues.push({
          code: "UNSUPPORTED_DIRECTIVE",
          path,
          message: `directive $${directive.name} is not supported: ${why}`,
        });
      } else if (!isEnvironmentValue(path)) {
        issues.push({
          code: "DIRECTIVE_NOT_ALLOWED",
          path,
          message: `$${directive.kind} is resolved in environment values only`,
        });
      } else if (directive.kind === "ResourceParam") {
        const problem = checkResourceParam(directive.resource, directive.param, declaredTypes, path);
        if (problem) issues.push(problem);
      } else if (directive.kind === "Secret" && directive.raw !== value.trim()) {
        issues.push({
          code: "INVALID_DIRECTIVE",
          path,
          message: "$Secret must be the whole value: ECS injects the secret as the variable's value",
        });
      }
    }
  });
  return issues;
}

function walkStrings(
  value: unknown,
  path: PathSegment[],
  visit: (value: string, path: PathSegment[]) => void,
): void {
  if (typeof value === "string") visit(value, path);
  else if (Array.isArray(value)) {
    for (const [index, item] of value.entries()) walkStrings(item, [...path, index], visit);
  } else if (isPlainObject(value)) {
    for (const [key, item] of Object.entries(value)) walkStrings(item, [...path, key], visit);
  }
}

function describeZodIssue(issue: z.core.$ZodIssue, base: PathSegment[], entry: unknown): LocatedIssue[] {
  const relative = issue.path.filter((segment): segment is PathSegment => typeof segment !== "symbol");
  const path = [...base, ...relative];
  const value = valueAt(entry, relative);

  if (issue.code === "unrecognized_keys") {
    const known = issue.message.startsWith(UNKNOWN_PROPERTY)
      ? (JSON.parse(issue.message.slice(UNKNOWN_PROPERTY.length)) as string[])
      : [];
    return issue.keys.map((key): LocatedIssue => {
      const reason = own(UNSUPPORTED_PROPERTIES, key);
      if (reason) {
        return {
          code: "UNSUPPORTED_PROPERTY",
          path: [...path, key],
          onKey: true,
          message: `"${key}" is not supported: ${reason}`,
        };
      }
      return {
        code: "UNKNOWN_PROPERTY",
        path: [...path, key],
        onKey: true,
        message: `unknown property "${key}"; valid here: ${known.join(", ")}`,
        ...suggestion(key, known),
      };
    });
  }
  switch (issue.code) {
    case "invalid_type":
      if (value === undefined)
        return [{ code: "MISSING_PROPERTY", path, message: `is required (${article(issue.expected)})` }];
      return [
        { code: "INVALID_TYPE", path, message: `must be ${article(issue.expected)}, got ${describe(value)}` },
      ];
    case "invalid_value": {
      const allowed = issue.values.map((allowedValue) => String(allowedValue));
      if (value === undefined)
        return [{ code: "MISSING_PROPERTY", path, message: `is required: one of ${allowed.join(", ")}` }];
      return [
        {
          code: "INVALID_VALUE",
          path,
          message: `must be one of ${allowed.join(", ")}, got ${describe(value)}`,
          ...(typeof value === "string" ? suggestion(value, allowed) : {}),
        },
      ];
    }
    case "invalid_union": {
      // The `type` unions: zod reports a type that matches no branch at the `type` key itself,
      // and a value that is not a mapping at the union's own path.
      const allowed = /one of: (.*)$/.exec(issue.message)?.[1]?.split(", ") ?? [];
      if (relative[relative.length - 1] === "type") {
        return [
          {
            code: value === undefined ? "MISSING_PROPERTY" : "INVALID_VALUE",
            path,
            message:
              value === undefined
                ? `is required: ${issue.message}`
                : `${issue.message}, got ${describe(value)}`,
            ...(typeof value === "string" ? suggestion(value, allowed) : {}),
          },
        ];
      }
      if (isPlainObject(value)) {
        return [
          { code: "MISSING_PROPERTY", path: [...path, "type"], message: `is required: ${issue.message}` },
        ];
      }
      return [
        { code: "INVALID_TYPE", path, message: `must be a mapping with a type, got ${describe(value)}` },
      ];
    }
    case "too_small":
      return [
        {
          code: "OUT_OF_RANGE",
          path,
          message: boundMessage("at least", issue.minimum, issue.origin, issue.inclusive),
        },
      ];
    case "too_big":
      return [
        {
          code: "OUT_OF_RANGE",
          path,
          message: boundMessage("at most", issue.maximum, issue.origin, issue.inclusive),
        },
      ];
    default:
      return [{ code: "INVALID_VALUE", path, message: issue.message }];
  }
}

function boundMessage(bound: string, limit: number | bigint, origin: string, inclusive = true): string {
  const exclusive = inclusive ? "" : " (exclusive)";
  if (origin === "array") return `must have ${bound} ${limit} item${Number(limit) === 1 ? "" : "s"}`;
  if (origin === "string") return `must have ${bound} ${limit} character${Number(limit) === 1 ? "" : "s"}`;
  return `must be ${bound} ${limit}${exclusive}`;
}

function article(expected: string): string {
  if (expected === "object") return "a mapping";
  if (expected === "array") return "a list";
  return /^[aeiou]/.test(expected) ? `an ${expected}` : `a ${expected}`;
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a mapping";
  if (typeof value === "string")
    return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  return String(value);
}

function suggestion(input: string, candidates: readonly string[]): { suggestion?: string } {
  const best = closest(input, candidates);
  return best && best !== input ? { suggestion: best } : {};
}

function valueAt(root: unknown, path: readonly PathSegment[]): unknown {
  let node = root;
  for (const segment of path) {
    if (Array.isArray(node) && typeof segment === "number") node = node[segment];
    else if (isPlainObject(node) && typeof segment === "string") node = node[segment];
    else return undefined;
  }
  return node;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function firstLine(message: string): string {
  return message.split("\n")[0] ?? message;
}

/**
 * Line and column of a path in the document: the value's position, or the key's when `onKey`;
 * for a path that is not in the file (a missing property), the closest parent that is.
 */
function locate(
  root: Node | null,
  lineCounter: LineCounter,
  path: readonly PathSegment[],
  onKey: boolean,
): { line?: number; column?: number } {
  let node: unknown = root;
  let best: [number, number, number] | undefined = (root as Node | null)?.range ?? undefined;
  let keyRange: [number, number, number] | undefined;
  let lastKeyRange: [number, number, number] | undefined;
  let complete = true;
  for (const segment of path) {
    keyRange = undefined;
    if (isMap(node)) {
      const pair = node.items.find(
        (item) => (isScalar(item.key) ? String(item.key.value) : undefined) === String(segment),
      );
      if (!pair) {
        complete = false;
        break;
      }
      keyRange = isScalar(pair.key) ? (pair.key.range ?? undefined) : undefined;
      lastKeyRange = keyRange ?? lastKeyRange;
      best = keyRange ?? best;
      node = pair.value;
      const valueRange = (node as Node | null)?.range;
      if (valueRange) best = valueRange;
    } else if (isSeq(node) && typeof segment === "number") {
      const item = node.items[segment] as Node | undefined;
      if (!item) {
        complete = false;
        break;
      }
      node = item;
      best = item.range ?? best;
    } else {
      complete = false;
      break;
    }
  }
  // A missing property is reported on the key of the mapping it is missing from.
  const range = complete ? (onKey && keyRange ? keyRange : best) : (lastKeyRange ?? best);
  if (!range) return {};
  const { line, col } = lineCounter.linePos(range[0]);
  return { line, column: col };
}

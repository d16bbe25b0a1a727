import { extname, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { Spec } from "@berth/core/spec";
import { tsImport } from "tsx/esm/api";
import ts from "typescript";
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

/**
 * The line and column in a module's source where a property path is written, as far as the
 * source spells it out: object literal keys, array elements, helper calls (`privateService({…})`
 * writes `properties` as its argument) and constants declared in the same file. Where the path
 * goes beyond what the source shows (a value computed at run time), the closest written parent.
 */
export function locateInModule(text: string, dottedPath: string): { line?: number; column?: number } {
  const source = ts.createSourceFile("berth.ts", text, ts.ScriptTarget.Latest, true);
  const position = (node: ts.Node) => {
    const { line, character } = source.getLineAndCharacterOfPosition(node.getStart(source));
    return { line: line + 1, column: character + 1 };
  };
  const declarations = new Map<string, ts.Expression>();
  const collect = (node: ts.Node) => {
    if (ts.isVariableDeclaration(node) && ts.isIdentifier(node.name) && node.initializer)
      declarations.set(node.name.text, node.initializer);
    ts.forEachChild(node, collect);
  };
  collect(source);

  const root = defaultExport(source);
  if (!root) return {};
  let current: ts.Node = root;
  let found: ts.Node = root;
  for (const segment of parsePath(dottedPath)) {
    const value = unwrap(current, declarations);
    const next =
      typeof segment === "number" ? elementAt(value, segment) : propertyOf(value, segment, declarations);
    if (next) {
      found = next.at;
      current = next.value;
    } else if (segment === "properties" || segment === "type") {
    } else break;
  }
  return position(found);
}

function parsePath(dotted: string): (string | number)[] {
  const segments: (string | number)[] = [];
  for (const match of dotted.matchAll(/([^.[\]]+)|\[(\d+)\]/g)) {
    if (match[2] !== undefined) segments.push(Number(match[2]));
    else if (match[1] !== undefined) segments.push(match[1]);
  }
  return segments;
}

function defaultExport(source: ts.SourceFile): ts.Node | undefined {
  for (const statement of source.statements) {
    if (ts.isExportAssignment(statement)) return statement.expression;
    if (
      ts.isFunctionDeclaration(statement) &&
      statement.modifiers?.some((modifier) => modifier.kind === ts.SyntaxKind.DefaultKeyword)
    ) {
      return statement;
    }
  }
  return undefined;
}

/**
 * What a value is written as: through calls (`defineStack(…)`, helpers: their first argument),
 * functions (what they return), `as`/`satisfies`/parentheses and identifiers declared in the file.
 */
function unwrap(node: ts.Node, declarations: Map<string, ts.Expression>, depth = 0): ts.Node {
  if (depth > 20) return node;
  const again = (next: ts.Node) => unwrap(next, declarations, depth + 1);
  if (ts.isParenthesizedExpression(node) || ts.isAsExpression(node) || ts.isSatisfiesExpression(node))
    return again(node.expression);
  if (ts.isAwaitExpression(node)) return again(node.expression);
  if (ts.isIdentifier(node)) {
    const declared = declarations.get(node.text);
    return declared ? again(declared) : node;
  }
  if (ts.isCallExpression(node)) {
    const [first] = node.arguments;
    return first ? again(first) : node;
  }
  if (ts.isArrowFunction(node) || ts.isFunctionExpression(node) || ts.isFunctionDeclaration(node)) {
    const body = node.body;
    if (!body) return node;
    if (!ts.isBlock(body)) return again(body);
    const returned = findReturn(body);
    return returned ? again(returned) : node;
  }
  return node;
}

function findReturn(block: ts.Node): ts.Expression | undefined {
  let found: ts.Expression | undefined;
  const visit = (node: ts.Node) => {
    if (found) return;
    if (ts.isReturnStatement(node) && node.expression) found = node.expression;
    else if (!ts.isFunctionLike(node)) ts.forEachChild(node, visit);
  };
  ts.forEachChild(block, visit);
  return found;
}

function propertyOf(
  node: ts.Node,
  name: string,
  declarations: Map<string, ts.Expression>,
): { at: ts.Node; value: ts.Node } | undefined {
  if (!ts.isObjectLiteralExpression(node)) return undefined;
  // Later properties win, as they do in the object the module builds.
  for (const property of [...node.properties].reverse()) {
    if (ts.isPropertyAssignment(property) && propertyName(property.name) === name)
      return { at: property.name, value: property.initializer };
    if (ts.isShorthandPropertyAssignment(property) && property.name.text === name)
      return { at: property.name, value: declarations.get(name) ?? property.name };
    if (ts.isSpreadAssignment(property)) {
      const spread = propertyOf(unwrap(property.expression, declarations), name, declarations);
      if (spread) return spread;
    }
  }
  return undefined;
}

function propertyName(name: ts.PropertyName): string | undefined {
  if (ts.isIdentifier(name) || ts.isStringLiteral(name) || ts.isNumericLiteral(name)) return name.text;
  return undefined;
}

function elementAt(node: ts.Node, index: number): { at: ts.Node; value: ts.Node } | undefined {
  if (!ts.isArrayLiteralExpression(node)) return undefined;
  if (node.elements.some((element) => ts.isSpreadElement(element))) return undefined;
  const element = node.elements[index];
  return element ? { at: element, value: element } : undefined;
}

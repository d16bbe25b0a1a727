import ts from "typescript";

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

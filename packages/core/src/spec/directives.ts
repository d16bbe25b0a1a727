/**
 * Directives are `$Name('arg', ...)` calls inside string values. Berth supports the two that make
 * sense without CloudFormation: `$ResourceParam` (a property of another resource of the stack) and
 * `$Secret` (a Secrets Manager value, injected by ECS at task start).
 */

export type Directive =
  | { kind: "ResourceParam"; resource: string; param: string; raw: string }
  | { kind: "Secret"; secretName: string; jsonKey?: string; raw: string }
  | { kind: "Unsupported"; name: string; raw: string };

export type DirectiveParse = { ok: true; directive: Directive } | { ok: false; message: string; raw: string };

// A directive call: `$Name(` ... `)` with quoted arguments that contain no parentheses.
const DIRECTIVE_PATTERN = /\$([A-Za-z][A-Za-z0-9]*)\(([^()]*)\)/g;
const DIRECTIVE_START = /\$[A-Za-z][A-Za-z0-9]*\(/;
const ARGUMENT_PATTERN = /^\s*(?:'([^']*)'|"([^"]*)")\s*$/;

/** Why a directive Berth does not run is refused, so the error can say it. */
export function unsupportedDirectiveReason(name: string): string {
  return name.startsWith("Cf")
    ? "Berth deploys without CloudFormation, so there are no CloudFormation resources to reference"
    : "custom directives run code at deploy time; Berth supports only $ResourceParam and $Secret";
}

function containsDirective(value: string): boolean {
  return DIRECTIVE_START.test(value);
}

function parseArguments(argumentList: string): string[] | undefined {
  if (argumentList.trim() === "") return [];
  const args: string[] = [];
  for (const part of argumentList.split(",")) {
    const match = ARGUMENT_PATTERN.exec(part);
    if (!match) return undefined;
    args.push(match[1] ?? match[2] ?? "");
  }
  return args;
}

/** Every directive in a string value, in order, parsed or with the reason it is malformed. */
export function findDirectives(value: string): DirectiveParse[] {
  const found: DirectiveParse[] = [];
  for (const match of value.matchAll(DIRECTIVE_PATTERN)) {
    const raw = match[0];
    const name = match[1] ?? "";
    const args = parseArguments(match[2] ?? "");
    if (name === "ResourceParam") {
      if (args?.length !== 2 || !args[0] || !args[1]) {
        found.push({
          ok: false,
          raw,
          message: `${raw}: expected $ResourceParam('resourceName', 'parameter')`,
        });
        continue;
      }
      found.push({ ok: true, directive: { kind: "ResourceParam", resource: args[0], param: args[1], raw } });
    } else if (name === "Secret") {
      if (args?.length !== 1 || !args[0]) {
        found.push({
          ok: false,
          raw,
          message: `${raw}: expected $Secret('secretName') or $Secret('secretName.jsonKey')`,
        });
        continue;
      }
      // The first dot separates the secret's name from a key of its JSON value.
      const [secretName = "", ...keyParts] = args[0].split(".");
      const jsonKey = keyParts.length > 0 ? keyParts.join(".") : undefined;
      if (!/^[A-Za-z0-9/_+=@-]{1,512}$/.test(secretName) || jsonKey === "") {
        found.push({
          ok: false,
          raw,
          message: `${raw}: a secret name has letters, digits and /_+=@- only; a JSON key follows the first dot`,
        });
        continue;
      }
      found.push({
        ok: true,
        directive: { kind: "Secret", secretName, ...(jsonKey ? { jsonKey } : {}), raw },
      });
    } else {
      found.push({ ok: true, directive: { kind: "Unsupported", name, raw } });
    }
  }
  if (found.length === 0 && containsDirective(value)) {
    found.push({
      ok: false,
      raw: value,
      message: `malformed directive in "${value}": arguments must be quoted strings`,
    });
  }
  return found;
}

/** Replaces every `$ResourceParam(...)` in a value using `resolve`; other text is kept. */
export function substituteResourceParams(
  value: string,
  resolve: (resource: string, param: string) => string,
): string {
  return value.replace(DIRECTIVE_PATTERN, (raw, name: string, argumentList: string) => {
    if (name !== "ResourceParam") return raw;
    const args = parseArguments(argumentList);
    if (args?.length !== 2) return raw;
    return resolve(args[0] ?? "", args[1] ?? "");
  });
}

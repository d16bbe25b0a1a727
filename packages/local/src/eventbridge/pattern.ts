import { AwsError } from "../protocol.ts";

/**
 * EventBridge event patterns (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns.html):
 * an object whose leaves are arrays of allowed values. A leaf value is a scalar (equality) or a
 * content filter: `prefix`, `suffix`, `anything-but`, `numeric`, `exists`, `equals-ignore-case`.
 * `$or` holds alternative sub-patterns. Wildcards and IP ranges are not supported.
 */
export type EventPattern = Record<string, unknown>;

type Scalar = string | number | boolean | null;

const FILTERS = new Set(["prefix", "suffix", "anything-but", "numeric", "exists", "equals-ignore-case"]);
const NUMERIC_OPERATORS = new Set(["=", "<", "<=", ">", ">="]);

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isScalar(value: unknown): value is Scalar {
  return value === null || ["string", "number", "boolean"].includes(typeof value);
}

/** Whether an event (an EventBridge envelope, or any JSON object) matches the pattern. */
export function matches(pattern: EventPattern, event: unknown): boolean {
  return matchObject(pattern, event);
}

function matchObject(pattern: Record<string, unknown>, value: unknown): boolean {
  const object = isPlainObject(value) ? value : undefined;
  for (const [key, rule] of Object.entries(pattern)) {
    if (key === "$or") {
      const alternatives = rule as Record<string, unknown>[];
      if (!alternatives.some((alternative) => matchObject(alternative, value))) return false;
      continue;
    }
    const field = object && Object.hasOwn(object, key) ? object[key] : undefined;
    if (Array.isArray(rule)) {
      if (!matchLeaf(rule, field)) return false;
    } else if (isPlainObject(rule)) {
      // An array of objects matches when one of its objects does.
      const candidates = Array.isArray(field) ? field : [field];
      if (!candidates.some((candidate) => isPlainObject(candidate) && matchObject(rule, candidate)))
        return false;
    } else {
      return false;
    }
  }
  return true;
}

function matchLeaf(allowed: unknown[], field: unknown): boolean {
  if (field === undefined) {
    return allowed.some((rule) => isPlainObject(rule) && rule.exists === false);
  }
  const values = Array.isArray(field) ? field : [field];
  return allowed.some((rule) => {
    if (isPlainObject(rule) && "exists" in rule) return rule.exists === true && !isPlainObject(field);
    return values.some((value) => matchValue(rule, value));
  });
}

function matchValue(rule: unknown, value: unknown): boolean {
  if (!isPlainObject(rule)) return rule === value;
  const [name, operand] = Object.entries(rule)[0] ?? [];
  switch (name) {
    case "prefix":
      return typeof value === "string" && value.startsWith(operand as string);
    case "suffix":
      return typeof value === "string" && value.endsWith(operand as string);
    case "equals-ignore-case":
      return typeof value === "string" && value.toLowerCase() === (operand as string).toLowerCase();
    case "numeric":
      return typeof value === "number" && matchNumeric(operand as unknown[], value);
    case "anything-but":
      return matchAnythingBut(operand, value);
    default:
      return false;
  }
}

function matchNumeric(conditions: unknown[], value: number): boolean {
  for (let i = 0; i < conditions.length; i += 2) {
    const operator = conditions[i];
    const bound = conditions[i + 1] as number;
    const ok =
      operator === "="
        ? value === bound
        : operator === "<"
          ? value < bound
          : operator === "<="
            ? value <= bound
            : operator === ">"
              ? value > bound
              : operator === ">="
                ? value >= bound
                : false;
    if (!ok) return false;
  }
  return true;
}

function matchAnythingBut(operand: unknown, value: unknown): boolean {
  if (isPlainObject(operand)) {
    if (typeof value !== "string") return false;
    if (typeof operand.prefix === "string") return !value.startsWith(operand.prefix);
    if (typeof operand.suffix === "string") return !value.endsWith(operand.suffix);
    return false;
  }
  const excluded = Array.isArray(operand) ? operand : [operand];
  return !excluded.includes(value);
}

function invalid(message: string): AwsError {
  return new AwsError("InvalidEventPatternException", `Event pattern is not valid. ${message}`);
}

/** Throws InvalidEventPatternException for a pattern EventBridge would refuse. */
export function validatePattern(pattern: unknown): asserts pattern is EventPattern {
  if (!isPlainObject(pattern)) throw invalid("The pattern must be a JSON object.");
  validateObject(pattern, "");
}

/** Parses and validates a pattern given as JSON text, as PutRule receives it. */
export function parsePattern(text: string): EventPattern {
  let pattern: unknown;
  try {
    pattern = JSON.parse(text);
  } catch {
    throw invalid("The pattern is not valid JSON.");
  }
  validatePattern(pattern);
  return pattern;
}

function validateObject(pattern: Record<string, unknown>, path: string): void {
  for (const [key, rule] of Object.entries(pattern)) {
    const at = path ? `${path}.${key}` : key;
    if (key === "$or") {
      if (!Array.isArray(rule) || rule.length < 2)
        throw invalid(`${at} must be an array of at least two patterns.`);
      for (const alternative of rule) {
        if (!isPlainObject(alternative)) throw invalid(`${at} must hold objects.`);
        validateObject(alternative, path);
      }
    } else if (Array.isArray(rule)) {
      if (rule.length === 0) throw invalid(`${at} must not be an empty array.`);
      for (const value of rule) validateLeafValue(value, at);
    } else if (isPlainObject(rule)) {
      validateObject(rule, at);
    } else {
      throw invalid(`${at} must be an object or an array.`);
    }
  }
}

function validateLeafValue(value: unknown, at: string): void {
  if (isScalar(value)) return;
  if (!isPlainObject(value)) throw invalid(`${at} may only hold scalars and content filters.`);
  const entries = Object.entries(value);
  const [entry] = entries;
  if (!entry || entries.length !== 1) throw invalid(`${at}: a content filter has exactly one key.`);
  const [name, operand] = entry;
  if (!FILTERS.has(name)) throw invalid(`${at}: unknown content filter ${JSON.stringify(name)}.`);
  switch (name) {
    case "prefix":
    case "suffix":
    case "equals-ignore-case":
      if (typeof operand !== "string") throw invalid(`${at}: ${name} takes a string.`);
      return;
    case "exists":
      if (typeof operand !== "boolean") throw invalid(`${at}: exists takes true or false.`);
      return;
    case "numeric":
      validateNumeric(operand, at);
      return;
    case "anything-but":
      validateAnythingBut(operand, at);
      return;
  }
}

function validateNumeric(operand: unknown, at: string): void {
  if (!Array.isArray(operand) || operand.length === 0 || operand.length % 2 !== 0 || operand.length > 4)
    throw invalid(`${at}: numeric takes one or two [operator, number] pairs.`);
  for (let i = 0; i < operand.length; i += 2) {
    const operator = operand[i];
    if (typeof operator !== "string" || !NUMERIC_OPERATORS.has(operator))
      throw invalid(`${at}: unknown numeric operator ${JSON.stringify(operator)}.`);
    const bound = operand[i + 1];
    if (typeof bound !== "number" || !Number.isFinite(bound))
      throw invalid(`${at}: numeric bounds must be numbers.`);
  }
}

function validateAnythingBut(operand: unknown, at: string): void {
  if (typeof operand === "string" || typeof operand === "number") return;
  if (Array.isArray(operand)) {
    if (operand.length === 0 || !operand.every((v) => typeof v === "string" || typeof v === "number"))
      throw invalid(`${at}: anything-but takes a non-empty list of strings or numbers.`);
    return;
  }
  if (isPlainObject(operand)) {
    const keys = Object.keys(operand);
    const [key] = keys;
    if (keys.length === 1 && (key === "prefix" || key === "suffix") && typeof operand[key] === "string")
      return;
  }
  throw invalid(`${at}: anything-but takes a value, a list of values, or {prefix}/{suffix}.`);
}

import { AwsError } from "../protocol.ts";

/**
 * The subset of CloudWatch Logs filter pattern syntax that Berth Local understands, for
 * unstructured log lines:
 *
 * - `ERROR timeout`: every term must appear;
 * - `"connection refused"`: a quoted phrase must appear as written (`\"` inside quotes is a quote);
 * - `?ERROR ?WARN`: at least one of the `?` terms must appear;
 * - `-DEBUG`: the term must not appear.
 *
 * They combine: `failed ?db ?cache -retry` matches lines with "failed", with "db" or "cache",
 * and without "retry". Matching is case-sensitive substring matching, as in CloudWatch.
 *
 * Not supported, and refused with InvalidParameterException rather than silently matching
 * something else: JSON patterns (`{ $.level = "error" }`), space-delimited patterns
 * (`[ip, user, ...]`), regular expressions (`%...%`) and metric filter syntax in general.
 */
export type LogMessageMatcher = (message: string) => boolean;

interface FilterTerms {
  required: string[];
  anyOf: string[];
  excluded: string[];
}

const UNSUPPORTED_OPENERS: Record<string, string> = {
  "{": "JSON filter patterns",
  "[": "space-delimited filter patterns",
  "%": "regular expression filter patterns",
};

function invalidPattern(message: string): AwsError {
  return new AwsError("InvalidParameterException", `Invalid filter pattern: ${message}`);
}

function parseTerms(pattern: string): FilterTerms {
  const terms: FilterTerms = { required: [], anyOf: [], excluded: [] };
  let position = 0;
  while (position < pattern.length) {
    if (/\s/.test(pattern.charAt(position))) {
      position++;
      continue;
    }
    const opener = pattern.charAt(position);
    const unsupported = UNSUPPORTED_OPENERS[opener];
    if (unsupported) {
      throw invalidPattern(
        `${unsupported} are not supported by Berth Local; use terms, "quoted phrases", ?alternatives and -exclusions`,
      );
    }
    let bucket = terms.required;
    if (opener === "?" || opener === "-") {
      bucket = opener === "?" ? terms.anyOf : terms.excluded;
      position++;
      const next = pattern.charAt(position);
      if (next === "" || /\s/.test(next)) throw invalidPattern(`'${opener}' must be followed by a term`);
    }
    if (pattern.charAt(position) === '"') {
      let phrase = "";
      position++;
      for (;;) {
        if (position >= pattern.length) throw invalidPattern("unterminated quoted phrase");
        const char = pattern.charAt(position);
        if (char === "\\" && position + 1 < pattern.length) {
          phrase += pattern.charAt(position + 1);
          position += 2;
          continue;
        }
        position++;
        if (char === '"') break;
        phrase += char;
      }
      bucket.push(phrase);
    } else {
      const start = position;
      while (position < pattern.length && !/\s/.test(pattern.charAt(position))) position++;
      bucket.push(pattern.slice(start, position));
    }
  }
  return terms;
}

/** Compiles a filter pattern; an absent or blank pattern matches every message. */
export function compileFilterPattern(pattern: string | undefined): LogMessageMatcher {
  const { required, anyOf, excluded } = parseTerms(pattern ?? "");
  return (message) =>
    required.every((term) => message.includes(term)) &&
    !excluded.some((term) => message.includes(term)) &&
    (anyOf.length === 0 || anyOf.some((term) => message.includes(term)));
}

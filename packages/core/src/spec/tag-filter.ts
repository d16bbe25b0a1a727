import { z } from "zod";

/**
 * Which pushed tags a service that follows an image deploys (Berth's own extension on
 * `prebuilt-image`). `exact` is one tag; `glob` knows `*` (any run of characters) and `?` (one
 * character); `regex` is a JavaScript regular expression matched against the whole tag; `semver`
 * is a range of versions (`^1.4`, `~1.4.2`, `>=1.2.0 <2`, `1.x`, `1.2.3 - 1.4`, `a || b`).
 */
export const TagFilterType = z.enum(["exact", "glob", "regex", "semver"]);
export type TagFilterType = z.infer<typeof TagFilterType>;

export interface TagFilter {
  type: TagFilterType;
  pattern: string;
}

/** Why a pattern cannot be used, or undefined when it can. */
export function tagFilterProblem(filter: TagFilter): string | undefined {
  if (filter.type === "regex") {
    try {
      new RegExp(`^(?:${filter.pattern})$`);
    } catch (error) {
      return `is not a regular expression: ${(error as Error).message}`;
    }
  }
  if (filter.type === "semver" && parseRange(filter.pattern) === undefined) {
    return "is not a semver range (for example ^1.4, ~1.4.2, >=1.2.0 <2, 1.x)";
  }
  if (
    (filter.type === "exact" || filter.type === "glob") &&
    !/^[A-Za-z0-9_.*?-]{1,128}$/.test(filter.pattern)
  ) {
    return "must be an image tag: letters, digits, '_', '.', '-' (and '*', '?' in a glob), at most 128";
  }
  return undefined;
}

/** Whether `tag` passes the filter. An invalid pattern passes nothing. */
export function tagMatches(filter: TagFilter, tag: string): boolean {
  switch (filter.type) {
    case "exact":
      return tag === filter.pattern;
    case "glob":
      return globExpression(filter.pattern).test(tag);
    case "regex":
      try {
        return new RegExp(`^(?:${filter.pattern})$`).test(tag);
      } catch {
        return false;
      }
    case "semver": {
      const range = parseRange(filter.pattern);
      const version = parseVersion(tag);
      return (
        range !== undefined && version !== undefined && range.some((set) => set.every((c) => c(version)))
      );
    }
  }
}

function globExpression(pattern: string): RegExp {
  const body = [...pattern]
    .map((char) => (char === "*" ? ".*" : char === "?" ? "." : char.replace(/[.+^${}()|[\]\\-]/g, "\\$&")))
    .join("");
  return new RegExp(`^${body}$`);
}

// Semver ---------------------------------------------------------------------------------------

interface Version {
  parts: [number, number, number];
  prerelease: string[];
}
type Comparator = (version: Version) => boolean;

const VERSION = /^v?(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$/;
/** A partial version in a range: missing or `x`/`*` parts are wildcards. */
const PARTIAL = /^v?(\d+|[xX*])(?:\.(\d+|[xX*]))?(?:\.(\d+|[xX*]))?(?:-([0-9A-Za-z.-]+))?$/;

/** A tag read as a version: `1.4.2`, `v1.4.2`, `1.5.0-rc.1`; anything else is no version. */
export function parseVersion(tag: string): Version | undefined {
  const match = VERSION.exec(tag);
  if (!match) return undefined;
  return {
    parts: [Number(match[1]), Number(match[2]), Number(match[3])],
    prerelease: match[4] ? match[4].split(".") : [],
  };
}

function compareIdentifiers(a: string, b: string): number {
  const numeric = /^\d+$/;
  if (numeric.test(a) && numeric.test(b)) return Number(a) - Number(b);
  if (numeric.test(a)) return -1;
  if (numeric.test(b)) return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

export function compareVersions(a: Version, b: Version): number {
  for (let i = 0; i < 3; i++) {
    const difference = (a.parts[i] ?? 0) - (b.parts[i] ?? 0);
    if (difference !== 0) return difference;
  }
  if (a.prerelease.length === 0 || b.prerelease.length === 0) {
    return b.prerelease.length - a.prerelease.length; // a release sorts after its prereleases
  }
  for (let i = 0; i < Math.max(a.prerelease.length, b.prerelease.length); i++) {
    const left = a.prerelease[i];
    const right = b.prerelease[i];
    if (left === undefined) return -1;
    if (right === undefined) return 1;
    const difference = compareIdentifiers(left, right);
    if (difference !== 0) return difference;
  }
  return 0;
}

interface Partial {
  /** The given numeric parts: 0 to 3 of them. */
  given: number[];
  prerelease: string[];
}

function parsePartial(text: string): Partial | undefined {
  const match = PARTIAL.exec(text);
  if (!match) return undefined;
  const given: number[] = [];
  for (const part of [match[1], match[2], match[3]]) {
    if (part === undefined || /^[xX*]$/.test(part)) break;
    given.push(Number(part));
  }
  if (match[4] && given.length < 3) return undefined;
  return { given, prerelease: match[4] ? match[4].split(".") : [] };
}

function lowest(partial: Partial): Version {
  const [major = 0, minor = 0, patch = 0] = partial.given;
  return { parts: [major, minor, patch], prerelease: partial.prerelease };
}

/** The first version past a partial's wildcard: `1.4` → `1.5.0`, `1` → `2.0.0`. */
function pastEnd(partial: Partial): Version | undefined {
  const [major = 0, minor = 0] = partial.given;
  if (partial.given.length === 0) return undefined;
  if (partial.given.length === 1) return { parts: [major + 1, 0, 0], prerelease: ["0"] };
  if (partial.given.length === 2) return { parts: [major, minor + 1, 0], prerelease: ["0"] };
  return undefined;
}

const at =
  (bound: Version, test: (difference: number) => boolean): Comparator =>
  (version) =>
    test(compareVersions(version, bound));

function comparators(token: string): Comparator[] | undefined {
  const match = /^(\^|~|>=|<=|>|<|=)?(.+)$/.exec(token);
  if (!match?.[2]) return undefined;
  const operator = match[1] ?? "";
  const partial = parsePartial(match[2]);
  if (!partial) return undefined;
  const low = lowest(partial);
  const [major = 0, minor = 0, patch = 0] = partial.given;
  const upTo = (end: Version | undefined): Comparator[] => [
    at(low, (d) => d >= 0),
    ...(end ? [at(end, (d) => d < 0)] : []),
  ];
  switch (operator) {
    case "^": {
      // The leftmost non-zero part may not change.
      if (partial.given.length === 0) return [];
      if (major > 0 || partial.given.length === 1)
        return upTo({ parts: [major + 1, 0, 0], prerelease: ["0"] });
      if (minor > 0 || partial.given.length === 2)
        return upTo({ parts: [0, minor + 1, 0], prerelease: ["0"] });
      return upTo({ parts: [0, 0, patch + 1], prerelease: ["0"] });
    }
    case "~":
      if (partial.given.length === 0) return [];
      if (partial.given.length === 1) return upTo({ parts: [major + 1, 0, 0], prerelease: ["0"] });
      return upTo({ parts: [major, minor + 1, 0], prerelease: ["0"] });
    case ">=":
      return [at(low, (d) => d >= 0)];
    case ">": {
      const end = pastEnd(partial);
      return end ? [at(end, (d) => d >= 0)] : [at(low, (d) => d > 0)];
    }
    case "<":
      return [at(low, (d) => d < 0)];
    case "<=": {
      const end = pastEnd(partial);
      return end ? [at(end, (d) => d < 0)] : [at(low, (d) => d <= 0)];
    }
    default:
      return partial.given.length === 3 ? [at(low, (d) => d === 0)] : upTo(pastEnd(partial));
  }
}

/**
 * A range as alternatives (`||`) of comparator sets (space-separated, all must hold). A version
 * with a prerelease only matches a set that names a prerelease of the same major.minor.patch,
 * as npm's semver does: `^1.4` does not follow `1.5.0-rc.1`.
 */
function parseRange(text: string): Comparator[][] | undefined {
  const sets: Comparator[][] = [];
  for (const alternative of text.trim().split("||")) {
    const trimmed = alternative.trim().replace(/(\^|~|>=|<=|>|<|=)\s+/g, "$1");
    const hyphen = /^(\S+)\s+-\s+(\S+)$/.exec(trimmed);
    let set: Comparator[] = [];
    let prereleaseBases: Version[] = [];
    if (hyphen?.[1] && hyphen[2]) {
      const from = parsePartial(hyphen[1]);
      const to = parsePartial(hyphen[2]);
      if (!from || !to) return undefined;
      const end = pastEnd(to);
      set = [at(lowest(from), (d) => d >= 0), end ? at(end, (d) => d < 0) : at(lowest(to), (d) => d <= 0)];
      prereleaseBases = [lowest(from), lowest(to)].filter((v) => v.prerelease.length > 0);
    } else {
      const tokens = trimmed.length === 0 ? ["*"] : trimmed.split(/\s+/);
      for (const token of tokens) {
        const found = comparators(token);
        if (!found) return undefined;
        set.push(...found);
        const partial = parsePartial(token.replace(/^(\^|~|>=|<=|>|<|=)/, ""));
        if (partial && partial.prerelease.length > 0) prereleaseBases.push(lowest(partial));
      }
    }
    const bases = prereleaseBases;
    set.push(
      (version) =>
        version.prerelease.length === 0 ||
        bases.some((base) => base.parts.every((part, index) => part === version.parts[index])),
    );
    sets.push(set);
  }
  return sets;
}

import { posix } from "node:path";
import { z } from "zod";

// Control characters (a newline above all) would end a Dockerfile instruction or a buildspec
// command in the middle of a path; no real source tree needs them.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching them is the point
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f]/;

/**
 * `raw` as a normalized relative POSIX path that stays inside the directory it is relative to,
 * or why it cannot be one. Builds only ever see the source tree, so a path that leaves it can
 * only be a mistake (or an attempt to read the builder's own files).
 */
export function normalizeRelativePath(raw: string): { path: string } | { problem: string } {
  const problem = pathSyntaxProblem(raw);
  if (problem) return { problem };
  const normalized = posix.normalize(raw).replace(/\/+$/, "") || ".";
  if (normalized === ".." || normalized.startsWith("../")) {
    return { problem: "must stay inside the source directory" };
  }
  return { path: normalized };
}

/** What makes `raw` unusable as a relative path wherever it points. */
export function pathSyntaxProblem(raw: string): string | undefined {
  if (raw.trim() === "") return "must not be empty";
  if (CONTROL_CHARACTER.test(raw)) return "must not contain control characters";
  if (posix.isAbsolute(raw)) return "must be relative, not absolute";
  return undefined;
}

/** A string checked and normalized by `normalizeRelativePath`. */
export const RelativePath = z.string().transform((raw, ctx) => {
  const result = normalizeRelativePath(raw);
  if ("problem" in result) {
    ctx.issues.push({ code: "custom", message: result.problem, input: raw });
    return z.NEVER;
  }
  return result.path;
});

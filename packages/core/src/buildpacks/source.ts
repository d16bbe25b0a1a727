import { createHash, type Hash } from "node:crypto";
import { createReadStream } from "node:fs";
import { lstat, readdir, readFile, readlink, realpath, stat } from "node:fs/promises";
import { join, posix, sep } from "node:path";
import type { Spec } from "../spec/index.ts";
import { dockerfileFromSourceRoot } from "./input.ts";
import { normalizeRelativePath } from "./paths.ts";

/**
 * What a build reads from a source tree, and whether it may read it. A build's inputs are the
 * files of its build context (the source root for the buildpack, `buildContextPath` for a
 * Dockerfile) and its Dockerfile, less what `.gitignore` and `.dockerignore` leave out and
 * installed dependencies, which every build installs afresh from the lock file.
 */

/** Never build inputs: history, installed dependencies, Berth Local's data. */
export const NEVER_INPUTS: ReadonlySet<string> = new Set([".git", "node_modules", ".berth"]);

/** A path the stack file names, relative to the source root, and where it is in the file. */
interface NamedPath {
  /** The stack-file property, relative to the packaging (`properties.entryfilePath`). */
  property: string;
  path: string;
  kind: "file" | "directory";
}

function namedPaths(packaging: Spec.Packaging): NamedPath[] {
  switch (packaging.type) {
    case "prebuilt-image":
      return [];
    case "stacktape-image-buildpack":
      return [
        { property: "properties.entryfilePath", path: packaging.properties.entryfilePath, kind: "file" },
      ];
    case "custom-dockerfile":
      return [
        {
          property: "properties.buildContextPath",
          path: packaging.properties.buildContextPath,
          kind: "directory",
        },
        {
          property: "properties.dockerfilePath",
          path: dockerfileFromSourceRoot(packaging.properties),
          kind: "file",
        },
      ];
  }
}

/** The build context of packaging built from source, relative to the source root. */
function contextOf(packaging: Spec.Packaging): string {
  return packaging.type === "custom-dockerfile"
    ? (normalizeRelativePath(packaging.properties.buildContextPath) as { path: string }).path
    : ".";
}

export interface SourceProblem {
  /** Relative to the packaging, as `namedPaths` names it; "" for the tree as a whole. */
  property: string;
  message: string;
}

const inside = (path: string, dir: string) => path === dir || path.startsWith(dir + sep);

/**
 * Why the build of `packaging` from the tree at `sourceRoot` would be refused, judged by where
 * paths really lead: a named path must exist and, with every symbolic link on the way resolved,
 * stay inside the source root; so must every link among the build inputs. A build that followed
 * a link out of the tree would read (and run) a file its source never contained.
 */
export async function sourceProblems(
  sourceRoot: string,
  packaging: Spec.Packaging,
): Promise<SourceProblem[]> {
  if (packaging.type === "prebuilt-image") return [];
  const root = await realpath(sourceRoot);
  const problems: SourceProblem[] = [];
  for (const named of namedPaths(packaging)) {
    const normalized = normalizeRelativePath(named.path);
    if ("problem" in normalized) {
      problems.push({ property: named.property, message: normalized.problem });
      continue;
    }
    const real = await realpath(join(root, normalized.path)).catch(() => undefined);
    if (real === undefined) {
      problems.push({
        property: named.property,
        message: `${normalized.path} does not exist in the source directory`,
      });
    } else if (!inside(real, root)) {
      problems.push({
        property: named.property,
        message: `${normalized.path} leads outside the source directory (to ${real})`,
      });
    } else {
      const stats = await stat(real);
      if (named.kind === "file" ? !stats.isFile() : !stats.isDirectory()) {
        problems.push({ property: named.property, message: `${normalized.path} is not a ${named.kind}` });
      }
    }
  }
  if (problems.length > 0) return problems;
  for (const link of await linksLeaving(root)) {
    problems.push({
      property: "",
      message: `the symbolic link ${link.path} leads outside the source directory (to ${link.target})`,
    });
  }
  return problems;
}

/**
 * The symbolic links in the tree at `root` (all of it a build stages: ignore files do not
 * apply, `NEVER_INPUTS` are not staged) whose real location is outside it. A dangling link
 * leads nowhere; a build that reads it fails on it.
 */
export async function linksLeaving(root: string): Promise<{ path: string; target: string }[]> {
  const realRoot = await realpath(root);
  const found: { path: string; target: string }[] = [];
  const walk = async (dir: string) => {
    for (const name of (await readdir(join(realRoot, dir))).sort()) {
      if (NEVER_INPUTS.has(name)) continue;
      const path = dir === "" ? name : `${dir}/${name}`;
      const stats = await lstat(join(realRoot, path));
      if (stats.isDirectory()) await walk(path);
      else if (stats.isSymbolicLink()) {
        const target = await realpath(join(realRoot, path)).catch(() => undefined);
        if (target !== undefined && !inside(target, realRoot)) found.push({ path, target });
      }
    }
  };
  await walk("");
  return found;
}

/**
 * `sha256:<hex>` over the build inputs of `packaging` in the tree at `sourceRoot`: each file's
 * path, executable bit and bytes, each link's target, in path order, and the packaging's own
 * paths. The same inputs give the same digest on any machine; an edit to any input changes it.
 */
export async function sourceDigest(sourceRoot: string, packaging: Spec.Packaging): Promise<string> {
  const root = await realpath(sourceRoot);
  const context = contextOf(packaging);
  const entries = await buildInputs(root, context);
  const hash = createHash("sha256");
  // Which file is the entry point, or the Dockerfile, is an input too.
  const named = JSON.stringify(namedPaths(packaging).map((path) => path.path));
  hash.update(`paths ${Buffer.byteLength(named)}:${named}\n`);
  if (packaging.type === "custom-dockerfile") {
    const dockerfile = posix.normalize(dockerfileFromSourceRoot(packaging.properties));
    // A Dockerfile outside its context is still read by the build.
    if (!entries.some((entry) => entry.path === dockerfile)) {
      const found = await lstat(join(root, dockerfile)).catch(() => undefined);
      if (found?.isFile())
        entries.push({ kind: "file", path: dockerfile, executable: false, size: found.size });
    }
  }
  for (const entry of entries) {
    const path = entry.path;
    if (entry.kind === "link") {
      const target = Buffer.from(await readlink(join(root, path)), "utf8");
      hash.update(`link ${Buffer.byteLength(path)}:${path} ${target.length}\n`);
      hash.update(target);
    } else {
      hash.update(`file ${Buffer.byteLength(path)}:${path} ${entry.executable ? "x" : "-"} ${entry.size}\n`);
      await hashFile(hash, join(root, path));
    }
  }
  return `sha256:${hash.digest("hex")}`;
}

async function hashFile(hash: Hash, path: string): Promise<void> {
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
}

type Input = { path: string } & ({ kind: "file"; size: number; executable: boolean } | { kind: "link" });

/** The files and links under `context` (relative to `root`) a build reads, in path order. */
export async function buildInputs(root: string, context = "."): Promise<Input[]> {
  const found: Input[] = [];
  const start = context === "." ? "" : context;
  const dockerignore = await ignoreFile(join(root, start, ".dockerignore"), start);
  const walk = async (dir: string, rules: IgnoreRule[]) => {
    const gitignore = await ignoreFile(join(root, dir, ".gitignore"), dir);
    const active = [...rules, ...gitignore];
    for (const name of (await readdir(join(root, dir))).sort()) {
      if (NEVER_INPUTS.has(name)) continue;
      const path = dir === "" ? name : `${dir}/${name}`;
      const stats = await lstat(join(root, path));
      const isDirectory = stats.isDirectory();
      if (isIgnored(active, path, isDirectory)) continue;
      if (isDirectory) await walk(path, active);
      else if (stats.isSymbolicLink()) found.push({ kind: "link", path });
      else if (stats.isFile()) {
        found.push({ kind: "file", path, size: stats.size, executable: (stats.mode & 0o111) !== 0 });
      }
    }
  };
  await walk(start, dockerignore);
  return found.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

// Ignore files ---------------------------------------------------------------------------------

export interface IgnoreRule {
  /** Matches a path relative to the source root. */
  pattern: RegExp;
  negated: boolean;
  directoryOnly: boolean;
}

async function ignoreFile(path: string, base: string): Promise<IgnoreRule[]> {
  const text = await readFile(path, "utf8").catch(() => undefined);
  return text === undefined ? [] : parseIgnore(text, base);
}

/**
 * The rules of a `.gitignore` or `.dockerignore` in directory `base` (relative to the source
 * root, "" for the root): `#` comments, `!` negation, a trailing `/` for directories only, a
 * pattern with a `/` before its end anchored at `base`, one without matching at any depth, and
 * `*`, `?`, `**` and `[…]` as git reads them.
 */
export function parseIgnore(text: string, base = ""): IgnoreRule[] {
  const rules: IgnoreRule[] = [];
  for (const raw of text.split(/\r?\n/)) {
    let line = raw.replace(/(?<!\\)\s+$/, "");
    if (line === "" || line.startsWith("#")) continue;
    const negated = line.startsWith("!");
    if (negated) line = line.slice(1);
    const directoryOnly = line.endsWith("/");
    line = line.replace(/\/+$/, "");
    const anchored = line.includes("/");
    line = line.replace(/^\/+/, "");
    if (line === "") continue;
    const prefix = base === "" ? "" : `${escapeRegExp(base)}/`;
    const body = globToRegExp(line);
    const pattern = new RegExp(`^${prefix}${anchored ? "" : "(?:.*/)?"}${body}$`);
    rules.push({ pattern, negated, directoryOnly });
  }
  return rules;
}

/** The last rule that matches decides, as in git; a directory left out takes its contents with it. */
export function isIgnored(rules: readonly IgnoreRule[], path: string, isDirectory: boolean): boolean {
  let ignored = false;
  for (const rule of rules) {
    if (rule.directoryOnly && !isDirectory) continue;
    if (rule.pattern.test(path)) ignored = !rule.negated;
  }
  return ignored;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

function globToRegExp(glob: string): string {
  let out = "";
  for (let index = 0; index < glob.length; index++) {
    const char = glob[index] as string;
    if (char === "*") {
      if (glob[index + 1] === "*") {
        const slash = glob[index + 2] === "/";
        out += slash ? "(?:.*/)?" : ".*";
        index += slash ? 2 : 1;
      } else out += "[^/]*";
    } else if (char === "?") out += "[^/]";
    else if (char === "[") {
      const close = glob.indexOf("]", index + 1);
      if (close < 0) out += "\\[";
      else {
        out += `[${glob
          .slice(index + 1, close)
          .replace(/^!/, "^")
          .replace(/\\/g, "\\\\")}]`;
        index = close;
      }
    } else if (char === "\\" && index + 1 < glob.length) {
      out += escapeRegExp(glob[index + 1] as string);
      index++;
    } else out += escapeRegExp(char);
  }
  return out;
}

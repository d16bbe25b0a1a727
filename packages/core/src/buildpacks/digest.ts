import { createHash, type Hash } from "node:crypto";
import { createReadStream } from "node:fs";
import { lstat, readdir, readFile, readlink } from "node:fs/promises";
import { join, relative, sep } from "node:path";
import { MANIFEST_FILE } from "./local-plan.ts";

/**
 * `sha256:<hex>` over what a directory holds: every file's relative path, executable bit and
 * bytes, and every symbolic link's target, in path order. Timestamps, owners and empty
 * directories are left out, so the same build output has the same digest wherever and
 * whenever it was made.
 *
 * The artifact manifest's `createdAt` is left out too: it records when, not what, and keeping
 * it would give every build of the same source a digest of its own.
 */
export async function contentDigest(dir: string): Promise<string> {
  const entries = await listEntries(dir);
  const hash = createHash("sha256");
  for (const entry of entries) {
    const path = entry.relativePath;
    if (entry.kind === "link") {
      const target = Buffer.from(await readlink(entry.absolutePath), "utf8");
      // Lengths first, so that no two different listings hash the same concatenation.
      hash.update(`link ${Buffer.byteLength(path)}:${path} ${target.length}\n`);
      hash.update(target);
    } else if (path === MANIFEST_FILE) {
      const content = await manifestWithoutTime(entry.absolutePath);
      hash.update(
        `file ${Buffer.byteLength(path)}:${path} ${entry.executable ? "x" : "-"} ${content.length}\n`,
      );
      hash.update(content);
    } else {
      hash.update(`file ${Buffer.byteLength(path)}:${path} ${entry.executable ? "x" : "-"} ${entry.size}\n`);
      await hashFile(hash, entry.absolutePath);
    }
  }
  return `sha256:${hash.digest("hex")}`;
}

type Entry = { absolutePath: string; relativePath: string } & (
  | { kind: "file"; size: number; executable: boolean }
  | { kind: "link" }
);

async function listEntries(dir: string): Promise<Entry[]> {
  const found: Entry[] = [];
  const pending = [dir];
  for (let current = pending.pop(); current !== undefined; current = pending.pop()) {
    for (const name of await readdir(current)) {
      const absolutePath = join(current, name);
      const relativePath = relative(dir, absolutePath).split(sep).join("/");
      // lstat: a link is recorded as a link, never followed out of the directory.
      const stats = await lstat(absolutePath);
      if (stats.isDirectory()) pending.push(absolutePath);
      else if (stats.isSymbolicLink()) found.push({ kind: "link", absolutePath, relativePath });
      else if (stats.isFile()) {
        const executable = (stats.mode & 0o111) !== 0;
        found.push({ kind: "file", absolutePath, relativePath, size: stats.size, executable });
      }
    }
  }
  // Code-unit order of the relative paths, independent of locale and of readdir's order.
  return found.sort((a, b) =>
    a.relativePath < b.relativePath ? -1 : a.relativePath > b.relativePath ? 1 : 0,
  );
}

async function hashFile(hash: Hash, path: string): Promise<void> {
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
}

async function manifestWithoutTime(path: string): Promise<Buffer> {
  const raw = await readFile(path);
  try {
    const { createdAt: _createdAt, ...rest } = JSON.parse(raw.toString("utf8")) as Record<string, unknown>;
    return Buffer.from(JSON.stringify(rest), "utf8");
  } catch {
    return raw;
  }
}

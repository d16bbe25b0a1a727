import { chmod, mkdir, mkdtemp, rename, rm, symlink, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Buildpack } from "./index.ts";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "berth-digest-"));
  await mkdir(join(dir, "dist"));
  await writeFile(join(dir, "dist/app.mjs"), "console.log('hello');\n");
  await writeFile(join(dir, "README"), "readme\n");
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("contentDigest", () => {
  it("is a sha256 that stays the same format (artifact ids already stored depend on it)", async () => {
    // Pinned: a change to the hashed encoding would silently re-identify every artifact. The value
    // was computed apart from this code, by hashing "file <bytes>:<path> <x or -> <size>\n" and
    // the content of each file in path order.
    expect(await Buildpack.contentDigest(dir)).toBe(
      "sha256:4ed100e022a96cd565f93f66726a8de4df4019fe8f71689e0da12a92a920df02",
    );
  });

  it("ignores timestamps and empty directories", async () => {
    const before = await Buildpack.contentDigest(dir);
    await utimes(join(dir, "README"), new Date(0), new Date(0));
    await mkdir(join(dir, "empty"));
    expect(await Buildpack.contentDigest(dir)).toBe(before);
  });

  it("changes with a file's content, its name, its executable bit and a link's target", async () => {
    const seen = new Set([await Buildpack.contentDigest(dir)]);
    const expectNew = async () => {
      const digest = await Buildpack.contentDigest(dir);
      expect(seen).not.toContain(digest);
      seen.add(digest);
    };
    await writeFile(join(dir, "README"), "readme!\n");
    await expectNew();
    await rename(join(dir, "README"), join(dir, "README.md"));
    await expectNew();
    await chmod(join(dir, "README.md"), 0o755);
    await expectNew();
    await symlink("dist/app.mjs", join(dir, "link"));
    await expectNew();
    await rm(join(dir, "link"));
    await symlink("README.md", join(dir, "link"));
    await expectNew();
  });

  it("does not confuse a file's name with its neighbour's content", async () => {
    const other = await mkdtemp(join(tmpdir(), "berth-digest-"));
    try {
      await writeFile(join(dir, "a"), "b");
      await mkdir(join(other, "dist"));
      await writeFile(join(other, "dist/app.mjs"), "console.log('hello');\n");
      await writeFile(join(other, "README"), "readme\n");
      await writeFile(join(other, "ab"), "");
      expect(await Buildpack.contentDigest(other)).not.toBe(await Buildpack.contentDigest(dir));
    } finally {
      await rm(other, { recursive: true, force: true });
    }
  });

  it("leaves out the manifest's createdAt, and nothing else of it", async () => {
    const manifest = (createdAt: string, command: string[]) =>
      JSON.stringify({
        schemaVersion: 1,
        language: "typescript",
        start: { command, workingDirectory: ".", env: {} },
        createdAt,
      });
    await writeFile(
      join(dir, "manifest.json"),
      manifest("2025-01-01T00:00:00.000Z", ["node", "dist/app.mjs"]),
    );
    const first = await Buildpack.contentDigest(dir);
    await writeFile(
      join(dir, "manifest.json"),
      manifest("2026-06-30T12:00:00.000Z", ["node", "dist/app.mjs"]),
    );
    expect(await Buildpack.contentDigest(dir)).toBe(first);
    await writeFile(join(dir, "manifest.json"), manifest("2026-06-30T12:00:00.000Z", ["node", "other.mjs"]));
    expect(await Buildpack.contentDigest(dir)).not.toBe(first);
  });
});

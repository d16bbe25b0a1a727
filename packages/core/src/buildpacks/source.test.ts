import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { Spec } from "../spec/index.ts";
import { isIgnored, linksLeaving, parseIgnore, sourceDigest, sourceProblems } from "./source.ts";

const made: string[] = [];
function tree(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), "berth-source-"));
  made.push(dir);
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(dir, path, ".."), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
  return dir;
}
afterEach(() => {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
});

const buildpack = (entryfilePath: string): Spec.Packaging => ({
  type: "stacktape-image-buildpack",
  properties: { entryfilePath },
});
const dockerfile = (buildContextPath: string, dockerfilePath = "Dockerfile"): Spec.Packaging =>
  ({ type: "custom-dockerfile", properties: { buildContextPath, dockerfilePath } }) as Spec.Packaging;

describe("sourceDigest", () => {
  it("changes when a source file changes and stays the same when nothing does", async () => {
    const dir = tree({ "app.js": "console.log(1)", "lib/util.js": "export {}" });
    const before = await sourceDigest(dir, buildpack("app.js"));
    expect(await sourceDigest(dir, buildpack("app.js"))).toBe(before);
    writeFileSync(join(dir, "lib/util.js"), "export const x = 1");
    expect(await sourceDigest(dir, buildpack("app.js"))).not.toBe(before);
  });

  it("ignores node_modules and what .gitignore and .dockerignore leave out", async () => {
    const dir = tree({
      "app.js": "1",
      ".gitignore": "dist/\n*.log\n!keep.log\n",
      ".dockerignore": "/secrets\n",
      "node_modules/x/index.js": "a",
      "dist/out.js": "a",
      "debug.log": "a",
      "keep.log": "a",
      "secrets/key": "a",
    });
    const before = await sourceDigest(dir, buildpack("app.js"));
    for (const path of ["node_modules/x/index.js", "dist/out.js", "debug.log", "secrets/key"]) {
      writeFileSync(join(dir, path), "changed");
    }
    expect(await sourceDigest(dir, buildpack("app.js"))).toBe(before);
    writeFileSync(join(dir, "keep.log"), "changed");
    expect(await sourceDigest(dir, buildpack("app.js"))).not.toBe(before);
  });

  it("counts the executable bit, the entry file named and a Dockerfile outside its context", async () => {
    const dir = tree({ "a.js": "1", "b.js": "2", "app/main.py": "x", "docker/Dockerfile": "FROM x" });
    const digest = await sourceDigest(dir, buildpack("a.js"));
    expect(await sourceDigest(dir, buildpack("b.js"))).not.toBe(digest);
    chmodSync(join(dir, "a.js"), 0o755);
    expect(await sourceDigest(dir, buildpack("a.js"))).not.toBe(digest);
    const docker = dockerfile("app", "../docker/Dockerfile");
    const withDockerfile = await sourceDigest(dir, docker);
    writeFileSync(join(dir, "docker/Dockerfile"), "FROM y");
    expect(await sourceDigest(dir, docker)).not.toBe(withDockerfile);
  });
});

describe("ignore rules", () => {
  it("anchors patterns with a slash, matches others at any depth, and lets the last rule decide", () => {
    const rules = parseIgnore("build\n/top.txt\nsrc/**/*.tmp\n*.log\n!important.log\n# comment\n");
    expect(isIgnored(rules, "a/b/build", true)).toBe(true);
    expect(isIgnored(rules, "top.txt", false)).toBe(true);
    expect(isIgnored(rules, "sub/top.txt", false)).toBe(false);
    expect(isIgnored(rules, "src/x/y/z.tmp", false)).toBe(true);
    expect(isIgnored(rules, "src/z.tmp", false)).toBe(true);
    expect(isIgnored(rules, "x/important.log", false)).toBe(false);
    expect(isIgnored(rules, "x/other.log", false)).toBe(true);
    expect(isIgnored(parseIgnore("out/"), "out", false)).toBe(false);
    expect(isIgnored(parseIgnore("out", "pkg"), "pkg/out", false)).toBe(true);
    expect(isIgnored(parseIgnore("out", "pkg"), "other/out", false)).toBe(false);
  });
});

describe("sourceProblems", () => {
  it("accepts a tree whose paths and links stay inside it", async () => {
    const dir = tree({ "src/app.js": "1" });
    symlinkSync("src/app.js", join(dir, "main.js"));
    expect(await sourceProblems(dir, buildpack("main.js"))).toEqual([]);
  });

  it("refuses an entry file that is missing, or a link that leads outside the source", async () => {
    const outside = tree({ "evil.js": "process.exit(0)" });
    const dir = tree({ "app.js": "1" });
    symlinkSync(join(outside, "evil.js"), join(dir, "main.js"));
    expect(await sourceProblems(dir, buildpack("missing.js"))).toEqual([
      { property: "properties.entryfilePath", message: "missing.js does not exist in the source directory" },
    ]);
    const [problem] = await sourceProblems(dir, buildpack("main.js"));
    expect(problem?.property).toBe("properties.entryfilePath");
    expect(problem?.message).toMatch(/^main\.js leads outside the source directory/);
    // Another file as entry: the link is still in the tree the build stages.
    const [tree_] = await sourceProblems(dir, buildpack("app.js"));
    expect(tree_?.message).toMatch(/^the symbolic link main\.js leads outside the source directory/);
    expect(await linksLeaving(dir)).toEqual([{ path: "main.js", target: join(outside, "evil.js") }]);
  });

  it("refuses a build context or Dockerfile that leaves the source through a directory link", async () => {
    const outside = tree({ Dockerfile: "FROM x" });
    const dir = tree({ "app/x": "1" });
    symlinkSync(outside, join(dir, "ctx"));
    const problems = await sourceProblems(dir, dockerfile("ctx"));
    expect(problems.map((problem) => problem.property)).toEqual([
      "properties.buildContextPath",
      "properties.dockerfilePath",
    ]);
  });
});

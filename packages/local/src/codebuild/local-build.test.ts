import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Buildpack } from "@berth/core/buildpacks";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { runLocalBuild } from "./local-build.ts";

const HELLO_APP: Record<string, string> = {
  "package.json": JSON.stringify({ name: "hello", private: true, type: "module" }),
  "src/main.ts": [
    'import { createServer } from "node:http";',
    'import { greeting } from "./greeting.ts";',
    'import legacy from "./legacy.cjs";',
    "",
    "createServer((_request, response) => {",
    '  response.setHeader("content-type", "application/json");',
    '  response.end(JSON.stringify({ message: greeting("berth"), platform: legacy.platform, mode: process.env.NODE_ENV }));',
    '}).listen(Number(process.env.PORT), "127.0.0.1");',
  ].join("\n"),
  "src/greeting.ts": `export function greeting(name: string): string {\n  return \`hello, \${name}\`;\n}\n`,
  // CommonJS that calls `require` for a built-in: only works in the ESM bundle through the banner.
  "src/legacy.cjs": 'const os = require("node:os");\nmodule.exports = { platform: os.platform() };\n',
};

let scratch: string;
beforeEach(async () => {
  scratch = await mkdtemp(join(tmpdir(), "berth-local-build-"));
});
afterEach(async () => {
  await rm(scratch, { recursive: true, force: true });
});

describe("runLocalBuild: TypeScript", () => {
  it("builds an artifact that serves HTTP when started as its manifest says", async () => {
    const source = await writeTree(join(scratch, "source"), HELLO_APP);
    const logs: string[] = [];
    const plan = typescriptPlan();
    const result = await runLocalBuild(plan.local, {
      sourceDir: source,
      outDir: join(scratch, "artifact"),
      onLog: (line) => logs.push(line),
    });

    // Only the bundle ships: no sources, no node_modules.
    expect(await listFiles(result.outDir)).toEqual(["dist/app.mjs", "manifest.json"]);
    const manifest = Buildpack.ArtifactManifest.parse(
      JSON.parse(await readFile(join(result.outDir, "manifest.json"), "utf8")),
    );
    expect(manifest).toEqual(result.manifest);
    expect(manifest).toMatchObject({
      schemaVersion: 1,
      language: "typescript",
      start: { command: ["node", "dist/app.mjs"], workingDirectory: ".", env: { NODE_ENV: "production" } },
    });
    expect(logs).toContain("berth: skipped npm-ci, as there is no package-lock.json");

    const answer = await fetchFromArtifact(result.outDir, manifest);
    expect(answer).toEqual({ message: "hello, berth", platform: process.platform, mode: "production" });
  });

  it("gives the same source the same digest, and a changed source another", async () => {
    const source = await writeTree(join(scratch, "source"), HELLO_APP);
    const plan = typescriptPlan();
    const first = await runLocalBuild(plan.local, {
      sourceDir: source,
      outDir: join(scratch, "one"),
    });
    await new Promise((resolve) => setTimeout(resolve, 10)); // a later createdAt
    const second = await runLocalBuild(plan.local, {
      sourceDir: source,
      outDir: join(scratch, "two"),
    });
    expect(second.manifest.createdAt).not.toBe(first.manifest.createdAt);
    expect(first.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(second.digest).toBe(first.digest);
    expect(await Buildpack.contentDigest(first.outDir)).toBe(first.digest);

    await writeFile(
      join(source, "src/greeting.ts"),
      `export const greeting = (name: string) => \`hi, \${name}\`;\n`,
    );
    const changed = await runLocalBuild(plan.local, {
      sourceDir: source,
      outDir: join(scratch, "three"),
    });
    expect(changed.digest).not.toBe(first.digest);
  });

  it("bundles exactly as the Dockerfile's esbuild command does", async () => {
    const source = await writeTree(join(scratch, "source"), HELLO_APP);
    const plan = typescriptPlan();
    const local = await runLocalBuild(plan.local, {
      sourceDir: source,
      outDir: join(scratch, "artifact"),
    });

    // The image's command line, with `npx` swapped for the esbuild Berth has installed (the version
    // in the Dockerfile is that one's, which plan.test.ts checks).
    const run = plan.dockerfile?.split("\n").find((line) => line.includes(" esbuild@")) ?? "";
    const esbuildBin = join(dirname(fileURLToPath(import.meta.resolve("esbuild"))), "..", "bin", "esbuild");
    const command = run.replace(/^RUN npx --yes esbuild@\S+/, Buildpack.shellQuote(esbuildBin));
    const cli = spawnSync("sh", ["-c", command], { cwd: source, encoding: "utf8" });
    expect(cli.status, cli.stderr).toBe(0);
    expect(await readFile(join(source, "dist/app.mjs"), "utf8")).toBe(
      await readFile(join(local.outDir, "dist/app.mjs"), "utf8"),
    );
  });

  it("installs from the lock file in a copy, leaving the source's node_modules alone", async () => {
    const source = await writeTree(join(scratch, "source"), {
      ...HELLO_APP,
      "package-lock.json": JSON.stringify({
        name: "hello",
        lockfileVersion: 3,
        requires: true,
        packages: { "": { name: "hello" } },
      }),
      "node_modules/keep-me/index.js": "module.exports = 1;\n",
    });
    const logs: string[] = [];
    await runLocalBuild(typescriptPlan().local, {
      sourceDir: source,
      outDir: join(scratch, "artifact"),
      onLog: (line) => logs.push(line),
    });
    expect(logs).toContain("$ npm ci --no-audit --no-fund");
    expect(await readFile(join(source, "node_modules/keep-me/index.js"), "utf8")).toBe(
      "module.exports = 1;\n",
    );
    expect(await readdir(source)).not.toContain("dist");
  });

  it("resolves packages from the source's node_modules when there is no lock file", async () => {
    const source = await writeTree(join(scratch, "source"), {
      "package.json": JSON.stringify({ name: "hello", private: true }),
      "main.ts": 'import { answer } from "answer";\nconsole.log(answer);\n',
      "node_modules/answer/package.json": JSON.stringify({ name: "answer", main: "index.js" }),
      "node_modules/answer/index.js": "exports.answer = 42;\n",
    });
    const result = await runLocalBuild(typescriptPlan("main.ts").local, {
      sourceDir: source,
      outDir: join(scratch, "artifact"),
    });
    const run = spawnSync("node", ["dist/app.mjs"], { cwd: result.outDir, encoding: "utf8" });
    expect(run.stdout).toBe("42\n");
  });

  it("fails with BUILD_FAILED and the bundler's message, leaving no half-built artifact", async () => {
    const source = await writeTree(join(scratch, "source"), {
      "src/main.ts": 'import { missing } from "./nowhere.ts";\nconsole.log(missing);\n',
    });
    const outDir = join(scratch, "artifact");
    const error = await rejection(runLocalBuild(typescriptPlan().local, { sourceDir: source, outDir }));
    expect(error.code).toBe("BUILD_FAILED");
    expect(error.message).toContain("./nowhere.ts");
    expect(error.outputTail.join("\n")).toContain("Could not resolve");
    expect(await readdir(outDir)).toEqual([]);
  });

  it("refuses a source whose symbolic link leads outside it, before running anything", async () => {
    const outside = await writeTree(join(scratch, "outside"), {
      "main.ts": 'require("node:fs").writeFileSync("ran", "outside code ran");\n',
    });
    const source = await writeTree(join(scratch, "source"), { "package.json": "{}" });
    await mkdir(join(source, "src"));
    await symlink(join(outside, "main.ts"), join(source, "src", "main.ts"));
    const outDir = join(scratch, "artifact");
    const error = await rejection(runLocalBuild(typescriptPlan().local, { sourceDir: source, outDir }));
    expect(error.code).toBe("INVALID_INPUT");
    expect(error.message).toContain(`src/main.ts → ${join(outside, "main.ts")}`);
    expect(await readdir(outDir).catch(() => [])).toEqual([]);
  });

  it("refuses a non-empty artifact directory", async () => {
    const source = await writeTree(join(scratch, "source"), HELLO_APP);
    const outDir = await writeTree(join(scratch, "artifact"), { "old.txt": "stale" });
    const error = await rejection(runLocalBuild(typescriptPlan().local, { sourceDir: source, outDir }));
    expect(error.code).toBe("OUT_DIR_NOT_EMPTY");
    expect(await readdir(outDir)).toEqual(["old.txt"]);
  });

  it("does not stage the artifact directory when it lies inside the source", async () => {
    const source = await writeTree(join(scratch, "source"), HELLO_APP);
    const result = await runLocalBuild(typescriptPlan().local, {
      sourceDir: source,
      outDir: join(source, ".berth", "artifact"),
    });
    expect(await listFiles(result.outDir)).toEqual(["dist/app.mjs", "manifest.json"]);
  });
});

describe("runLocalBuild: steps and failures", () => {
  const start: Buildpack.StartCommand = { command: ["true"], workingDirectory: ".", env: {} };

  it("reports a failing program's exit code and last output lines", async () => {
    const source = await writeTree(join(scratch, "source"), { "README.md": "x" });
    const failing =
      "for (let i = 0; i < 100; i++) console.log('line ' + i); console.error('boom'); process.exit(3)";
    const logs: string[] = [];
    const error = await rejection(
      runLocalBuild(
        {
          supported: true,
          language: "javascript",
          steps: [{ kind: "exec", command: ["node", "-e", failing], cwd: ".", env: {} }],
          start,
        },
        { sourceDir: source, outDir: join(scratch, "artifact"), onLog: (line) => logs.push(line) },
      ),
    );
    expect(error.code).toBe("BUILD_FAILED");
    expect(error.message).toContain("exited with 3");
    expect(error.outputTail).toContain("boom");
    expect(error.outputTail).not.toContain("line 0");
    expect(logs).toContain("line 0");
  });

  it("says which program is missing", async () => {
    const source = await writeTree(join(scratch, "source"), { "main.go": "package main" });
    const error = await rejection(
      runLocalBuild(
        {
          supported: true,
          language: "go",
          steps: [{ kind: "exec", command: ["berth-no-such-program", "build"], cwd: ".", env: {} }],
          start,
        },
        { sourceDir: source, outDir: join(scratch, "artifact") },
      ),
    );
    expect(error.code).toBe("BUILD_FAILED");
    expect(error.message).toContain("berth-no-such-program was not found on PATH");
  });

  it("passes arguments to programs without a shell", async () => {
    const source = await writeTree(join(scratch, "source"), { "README.md": "x" });
    const argument = "$(touch pwned); `touch pwned` 'quoted' \"double\"";
    const result = await runLocalBuild(
      {
        supported: true,
        language: "javascript",
        steps: [
          {
            kind: "exec",
            command: [
              "node",
              "-e",
              "require('fs').writeFileSync('arg.txt', process.argv[1] + '|' + process.env.WHO)",
              argument,
            ],
            cwd: ".",
            env: { WHO: "$USER" },
          },
          { kind: "copy", from: "arg.txt", to: "arg.txt" },
          { kind: "copy", from: "absent", to: "absent", when: { fileExists: "absent" } },
        ],
        start,
      },
      { sourceDir: source, outDir: join(scratch, "artifact") },
    );
    expect(await readFile(join(result.outDir, "arg.txt"), "utf8")).toBe(`${argument}|$USER`);
    expect(await listFiles(result.outDir)).toEqual(["arg.txt", "manifest.json"]);
  });

  it("refuses a plan without local support, and steps that leave their directories", async () => {
    const source = await writeTree(join(scratch, "source"), { "README.md": "x" });
    const options = { sourceDir: source, outDir: join(scratch, "artifact") };
    const unsupported = await rejection(
      runLocalBuild({ supported: false, reason: "no Docker engine" }, options),
    );
    expect(unsupported.code).toBe("LOCAL_BUILD_UNSUPPORTED");
    expect(unsupported.message).toBe("no Docker engine");
    const escaping = await rejection(
      runLocalBuild(
        { supported: true, language: "python", steps: [{ kind: "copy", from: "../..", to: "." }], start },
        options,
      ),
    );
    expect(escaping.code).toBe("INVALID_INPUT");
  });

  it("picks the one application jar of a Maven target directory", async () => {
    const source = await writeTree(join(scratch, "source"), {
      "target/app-1.0.jar": "application",
      "target/app-1.0-sources.jar": "sources",
      "target/original-app-1.0.jar": "original",
      "target/dependency/lib-2.0.jar": "dependency",
    });
    const java = Buildpack.plan({
      packaging: { type: "stacktape-image-buildpack", entryfilePath: "src/main/java/com/example/App.java" },
      architecture: "x86_64",
    }).local;
    if (!java.supported) throw new Error("expected a local build");
    // Maven itself is left out: it needs Maven Central. The steps after it are the ones tested.
    const afterMaven = { ...java, steps: java.steps.filter((step) => step.kind !== "exec") };
    const result = await runLocalBuild(afterMaven, {
      sourceDir: source,
      outDir: join(scratch, "a"),
    });
    expect(await listFiles(result.outDir)).toEqual(["app.jar", "lib/lib-2.0.jar", "manifest.json"]);
    expect(await readFile(join(result.outDir, "app.jar"), "utf8")).toBe("application");

    await writeFile(join(source, "target/other-1.0.jar"), "another");
    const error = await rejection(
      runLocalBuild(afterMaven, { sourceDir: source, outDir: join(scratch, "b") }),
    );
    expect(error.message).toContain(
      "expected one application jar in target/, found: app-1.0.jar, other-1.0.jar",
    );
  });
});

const hasPython = spawnSync("python3", ["-m", "pip", "--version"]).status === 0;

describe.skipIf(!hasPython)("runLocalBuild: Python", () => {
  it("installs requirements into deps and starts with them on PYTHONPATH", async () => {
    const source = await writeTree(join(scratch, "source"), {
      "requirements.txt": "./wheels/greet-1.0-py3-none-any.whl\n",
      "app/main.py": [
        "import json, os",
        "from http.server import BaseHTTPRequestHandler, HTTPServer",
        "from greet import hello",
        "class Handler(BaseHTTPRequestHandler):",
        "    def do_GET(self):",
        "        body = json.dumps({'message': hello('berth')}).encode()",
        "        self.send_response(200)",
        "        self.send_header('content-type', 'application/json')",
        "        self.end_headers()",
        "        self.wfile.write(body)",
        "HTTPServer(('127.0.0.1', int(os.environ['PORT'])), Handler).serve_forever()",
      ].join("\n"),
    });
    // A wheel is a zip archive; pip installs one from a path without asking an index.
    await mkdir(join(source, "wheels"));
    const wheel = spawnSync("python3", [
      "-c",
      WHEEL_WRITER,
      join(source, "wheels/greet-1.0-py3-none-any.whl"),
    ]);
    expect(wheel.status, String(wheel.stderr)).toBe(0);

    const plan = Buildpack.plan({
      packaging: { type: "stacktape-image-buildpack", entryfilePath: "app/main.py" },
      architecture: "x86_64",
    });
    const result = await runLocalBuild(plan.local, {
      sourceDir: source,
      outDir: join(scratch, "artifact"),
    });
    const files = await listFiles(result.outDir);
    expect(files).toContain("deps/greet/__init__.py");
    expect(files).toContain("app/main.py");
    expect(files.some((file) => file.endsWith(".pyc"))).toBe(false);
    expect(await fetchFromArtifact(result.outDir, result.manifest)).toEqual({ message: "hello, berth" });
  });
});

const WHEEL_WRITER = `
import sys, zipfile
files = {
  "greet/__init__.py": "def hello(name):\\n    return 'hello, ' + name\\n",
  "greet-1.0.dist-info/METADATA": "Metadata-Version: 2.1\\nName: greet\\nVersion: 1.0\\n",
  "greet-1.0.dist-info/WHEEL": "Wheel-Version: 1.0\\nGenerator: berth-test\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n",
}
files["greet-1.0.dist-info/RECORD"] = "".join(name + ",,\\n" for name in list(files) + ["greet-1.0.dist-info/RECORD"])
with zipfile.ZipFile(sys.argv[1], "w") as archive:
  for name, content in files.items():
    archive.writestr(name, content)
`;

function typescriptPlan(entryfilePath = "src/main.ts") {
  return Buildpack.plan({
    packaging: { type: "stacktape-image-buildpack", entryfilePath },
    architecture: "arm64",
  });
}

async function writeTree(root: string, files: Record<string, string>): Promise<string> {
  for (const [path, content] of Object.entries(files)) {
    await mkdir(dirname(join(root, path)), { recursive: true });
    await writeFile(join(root, path), content);
  }
  await mkdir(root, { recursive: true });
  return root;
}

async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name).slice(dir.length + 1))
    .sort();
}

/** Starts the artifact as Berth Local would, asks it once over HTTP, and stops it. */
async function fetchFromArtifact(
  artifactDir: string,
  manifest: Buildpack.ArtifactManifest,
): Promise<unknown> {
  const port = await freePort();
  const [program, ...args] = manifest.start.command;
  if (program === undefined) throw new Error("empty start command");
  const child = spawn(program, args, {
    cwd: join(artifactDir, manifest.start.workingDirectory),
    env: { ...process.env, ...manifest.start.env, PORT: String(port) },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout?.on("data", (chunk) => (output += chunk));
  child.stderr?.on("data", (chunk) => (output += chunk));
  try {
    return await poll(`http://127.0.0.1:${port}/`, child, () => output);
  } finally {
    if (child.exitCode === null) {
      child.kill();
      await once(child, "exit");
    }
  }
}

async function poll(url: string, child: ChildProcess, output: () => string): Promise<unknown> {
  // A bound for an app that never listens, not a measure: Python's start-up alone takes seconds
  // on a machine at load 20.
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the app exited with ${child.exitCode}: ${output()}`);
    try {
      const response = await fetch(url);
      return await response.json();
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`the app did not answer: ${String(error)}\n${output()}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const address = server.address();
  server.close();
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

async function rejection(promise: Promise<unknown>): Promise<Buildpack.BuildpackError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof Buildpack.BuildpackError) return error;
    throw error;
  }
  throw new Error("expected a BuildpackError");
}

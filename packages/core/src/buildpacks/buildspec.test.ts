import { spawnSync } from "node:child_process";
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { Buildpack } from "./index.ts";

interface Buildspec {
  version: unknown;
  env: { shell: string; variables: Record<string, string>; "exported-variables": string[] };
  phases: Record<"pre_build" | "build", { commands: string[] }>;
}

const REPOSITORY_URI = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/berth/api";
const DIGEST = `sha256:${"ab".repeat(32)}`;
// Everything a shell could act on: quotes of both kinds, spaces, expansions, a command separator.
const HOSTILE_VALUE = `it's "quoted"  $(touch pwned) \`touch pwned\` \${HOME} ; touch pwned #`;

const typescriptPlan = (architecture: Buildpack.Architecture) =>
  Buildpack.plan({
    packaging: { type: "stacktape-image-buildpack", entryfilePath: "src/main.ts" },
    architecture,
  });
const customPlan = Buildpack.plan({
  packaging: {
    type: "custom-dockerfile",
    buildContextPath: "api",
    buildArgs: [
      { argName: "PLAIN", value: "22" },
      { argName: "HOSTILE", value: HOSTILE_VALUE },
      { argName: "MULTILINE", value: "line one\nline two" },
    ],
  },
  architecture: "arm64",
});

describe("buildspec", () => {
  it.each([
    ["a generated Dockerfile", typescriptPlan("x86_64")],
    ["a custom Dockerfile", customPlan],
  ])("parses as a version 0.2 buildspec for %s that exports the digest", (_what, plan) => {
    const spec = parse(plan.buildspec) as Buildspec;
    expect(spec.version).toBe(0.2);
    expect(spec.env.shell).toBe("bash");
    expect(spec.env["exported-variables"]).toEqual(["IMAGE_DIGEST"]);
    const [build, ...afterBuild] = spec.phases.build.commands;
    expect(build).toMatch(/^docker buildx build /);
    expect(build).toContain('--cache-from "type=registry,ref=$REPOSITORY_URI:buildcache"');
    expect(build).toContain(
      '--cache-to "type=registry,ref=$REPOSITORY_URI:buildcache,mode=max,image-manifest=true,oci-mediatypes=true"',
    );
    expect(build).toContain(" --push ");
    expect(build).toContain('--metadata-file "$BERTH_BUILD_DIR/metadata.json"');
    expect(afterBuild.join("\n")).toContain("containerimage.digest");
    expect(afterBuild.at(-1)).toBe('echo "$REPOSITORY_URI@$IMAGE_DIGEST"');
    expect(spec.phases.pre_build.commands.join("\n")).toContain("aws ecr get-login-password");
  });

  it("carries the generated Dockerfile byte for byte", () => {
    const plan = typescriptPlan("arm64");
    const spec = parse(plan.buildspec) as Buildspec;
    const carried = spec.env.variables.BERTH_DOCKERFILE ?? "";
    expect(carried).toMatch(/^[A-Za-z0-9+/]+=*$/);
    expect(Buffer.from(carried, "base64").toString("utf8")).toBe(plan.dockerfile);
  });
});

// The buildspec's commands run in bash with stand-ins for `aws` and `docker` (there is no Docker
// engine here), which record what they were given; `jq`, `base64` and the shell are the real ones.
const hasTools = ["bash", "jq", "base64"].every(
  (tool) => spawnSync("sh", ["-c", `command -v ${tool}`]).status === 0,
);

describe.skipIf(!hasTools)("buildspec commands, run", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "berth-buildspec-"));
    await mkdir(join(dir, "bin"));
    await mkdir(join(dir, "source"));
    await mkdir(join(dir, "scratch"));
    await writeExecutable(
      join(dir, "bin", "aws"),
      `#!/bin/sh\nprintf '%s\\n' "$@" > "$FAKE_LOG/aws-args"\necho secret-password\n`,
    );
    await writeExecutable(
      join(dir, "bin", "docker"),
      `#!/bin/bash
case "$1 $2" in
  "login --username") printf '%s\\n' "$@" > "$FAKE_LOG/login-args"; cat > "$FAKE_LOG/login-password" ;;
  "buildx create") ;;
  "buildx build")
    printf '%s\\0' "$@" > "$FAKE_LOG/build-args"
    previous=""
    for arg in "$@"; do
      if [ "$previous" = "--file" ]; then cp "$arg" "$FAKE_LOG/Dockerfile" 2>/dev/null || true; fi
      if [ "$previous" = "--metadata-file" ]; then printf '{"containerimage.digest": "%s"}' "$FAKE_DIGEST" > "$arg"; fi
      previous="$arg"
    done ;;
  *) echo "unexpected: docker $*" >&2; exit 1 ;;
esac
`,
    );
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  function run(buildspec: string, env: Record<string, string | undefined>) {
    const spec = parse(buildspec) as Buildspec;
    // CodeBuild stops a phase at the first failing command; `set -e` does the same.
    const script = [
      "set -e",
      ...Object.entries(spec.env.variables).map(
        ([name, value]) => `export ${name}=${Buildpack.shellQuote(value)}`,
      ),
      `export BERTH_BUILD_DIR=${Buildpack.shellQuote(join(dir, "scratch"))}`,
      ...spec.phases.pre_build.commands,
      ...spec.phases.build.commands,
    ].join("\n");
    const baseEnv = {
      PATH: `${join(dir, "bin")}:${process.env.PATH}`,
      FAKE_LOG: dir,
      FAKE_DIGEST: DIGEST,
      REPOSITORY_URI,
      AWS_REGION: "eu-west-1",
      HOME: dir,
    };
    const merged = Object.fromEntries(
      Object.entries({ ...baseEnv, ...env }).filter(
        (entry): entry is [string, string] => entry[1] !== undefined,
      ),
    );
    return spawnSync("bash", ["-c", script], { cwd: join(dir, "source"), env: merged, encoding: "utf8" });
  }

  async function buildArgs(): Promise<string[]> {
    return (await readFile(join(dir, "build-args"), "utf8")).split("\0").slice(0, -1);
  }

  it("logs in, builds for the platform with the cache, pushes and prints the pushed digest", async () => {
    const plan = typescriptPlan("arm64");
    const result = run(plan.buildspec, {});
    expect(result.stderr).toBe("");
    expect(result.status).toBe(0);
    expect(result.stdout.trim().split("\n").at(-1)).toBe(`${REPOSITORY_URI}@${DIGEST}`);

    expect(await readFile(join(dir, "login-password"), "utf8")).toBe("secret-password\n");
    expect((await readFile(join(dir, "login-args"), "utf8")).split("\n")).toContain(
      "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
    );
    const args = await buildArgs();
    expect(args.slice(0, 4)).toEqual(["buildx", "build", "--platform", "linux/arm64"]);
    expect(args).toContain("--push");
    expect(args[args.indexOf("--cache-from") + 1]).toBe(`type=registry,ref=${REPOSITORY_URI}:buildcache`);
    expect(args[args.indexOf("--cache-to") + 1]).toBe(
      `type=registry,ref=${REPOSITORY_URI}:buildcache,mode=max,image-manifest=true,oci-mediatypes=true`,
    );
    expect(args.at(-1)).toBe(".");
    // The Dockerfile the build read is the one the plan wrote.
    expect(await readFile(join(dir, "Dockerfile"), "utf8")).toBe(plan.dockerfile);
  });

  it("passes every build argument verbatim, without the shell acting on it", async () => {
    const result = run(customPlan.buildspec, {});
    expect(result.status).toBe(0);
    const args = await buildArgs();
    const passed = args.flatMap((arg, index) => (args[index - 1] === "--build-arg" ? [arg] : []));
    expect(passed).toEqual(["PLAIN=22", `HOSTILE=${HOSTILE_VALUE}`, "MULTILINE=line one\nline two"]);
    expect(args[args.indexOf("--file") + 1]).toBe("api/Dockerfile");
    expect(args.at(-1)).toBe("api");
    await expect(readFile(join(dir, "source", "pwned"))).rejects.toThrow();
  });

  describe("with an uploaded source", () => {
    const fakeAwsWithS3 = `#!/bin/bash
if [ "$1" = "s3" ]; then
  printf '%s\\n' "$@" > "$FAKE_LOG/s3-args"
  [ -n "$FAKE_S3_FAILS" ] && { echo "fatal error: An error occurred (403) when calling the HeadObject operation: Forbidden" >&2; exit 1; }
  cp "$FAKE_SOURCE_TARBALL" "\${@: -1}"
  exit
fi
printf '%s\\n' "$@" > "$FAKE_LOG/aws-args"
echo secret-password
`;
    const SOURCE = "s3://berth-sources/sources/3f0e8a5c-1b2d-4e6f-8a9b-0c1d2e3f4a5b.tar.gz";
    let tarball: string;
    beforeEach(async () => {
      await writeExecutable(join(dir, "bin", "aws"), fakeAwsWithS3);
      const packed = join(dir, "packed");
      await mkdir(join(packed, "api"), { recursive: true });
      await writeFile(join(packed, "api", "Dockerfile"), "FROM uploaded\n");
      tarball = join(dir, "source.tar.gz");
      expect(spawnSync("tar", ["-czf", tarball, "-C", packed, "."]).status).toBe(0);
    });
    const withSource = (env: Record<string, string | undefined>) => ({
      CODEBUILD_SRC_DIR: join(dir, "source"),
      FAKE_SOURCE_TARBALL: tarball,
      ...env,
    });

    it("downloads and unpacks an s3:// source before building from it", async () => {
      const result = run(customPlan.buildspec, withSource({ BERTH_SOURCE: SOURCE }));
      expect(result.stderr).toBe("");
      expect(result.status).toBe(0);
      const s3Args = (await readFile(join(dir, "s3-args"), "utf8")).trim().split("\n");
      expect(s3Args.slice(0, 2)).toEqual(["s3", "cp"]);
      expect(s3Args).toContain(SOURCE);
      // The build read the Dockerfile and the context that came in the upload.
      expect(await readFile(join(dir, "Dockerfile"), "utf8")).toBe("FROM uploaded\n");
      expect((await buildArgs()).at(-1)).toBe("api");
    });

    it("fetches nothing for a file:// source", async () => {
      const result = run(customPlan.buildspec, withSource({ BERTH_SOURCE: "file:///work/app" }));
      expect(result.status).toBe(0);
      await expect(readFile(join(dir, "s3-args"))).rejects.toThrow();
    });

    it("stops before building when the download fails", async () => {
      const result = run(customPlan.buildspec, withSource({ BERTH_SOURCE: SOURCE, FAKE_S3_FAILS: "1" }));
      expect(result.status).not.toBe(0);
      expect(result.stderr).toContain("Forbidden");
      await expect(readFile(join(dir, "build-args"))).rejects.toThrow();
    });
  });

  it("stops before building when REPOSITORY_URI is missing", async () => {
    const result = run(customPlan.buildspec, { REPOSITORY_URI: undefined });
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain("REPOSITORY_URI");
    await expect(readFile(join(dir, "build-args"))).rejects.toThrow();
  });

  it("fails when the build reports no digest, rather than exporting an empty one", () => {
    const result = run(customPlan.buildspec, { FAKE_DIGEST: "" });
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain("no pushed image digest");
    expect(result.stdout).not.toContain("@");
  });

  it("fails when the ECR login fails, though docker login itself would accept the empty password", () => {
    const failingAws = `#!/bin/sh\necho "could not get a token" >&2\nexit 254\n`;
    return writeExecutable(join(dir, "bin", "aws"), failingAws).then(() => {
      const result = run(customPlan.buildspec, {});
      expect(result.status).not.toBe(0);
      expect(result.stderr).toContain("could not get a token");
    });
  });
});

async function writeExecutable(path: string, content: string): Promise<void> {
  await writeFile(path, content);
  await chmod(path, 0o755);
}

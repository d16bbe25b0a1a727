import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import {
  BatchGetBuildsCommand,
  BatchGetProjectsCommand,
  type Build,
  CodeBuildClient,
  InvalidInputException,
  ListBuildsForProjectCommand,
  ResourceNotFoundException,
  StartBuildCommand,
  StopBuildCommand,
} from "@aws-sdk/client-codebuild";
import { Buildpack } from "@berth/core/buildpacks";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { waitFor } from "../../../../test/support/apps.ts";
import { responseProblems } from "../../../../test/support/botocore.ts";
import { LogStore } from "../logs/store.ts";
import { resolveImage } from "../runtime/images.ts";
import { type AwsEndpoint, startAwsEndpoint } from "../server.ts";
import { failure } from "../test-support.ts";
import { CodeBuildEngine, type CodeBuildEngineOptions, LOG_GROUP, VARIABLES } from "./engine.ts";
import { codeBuildLogsRoute, codeBuildService } from "./service.ts";

const ACCOUNT = "000000000000";
const REGION = "us-east-1";
const REPOSITORY = "berth.local/demo-privateapi-main";
const NODE_INPUT = {
  packaging: { type: "stacktape-image-buildpack", entryfilePath: "src/main.ts" },
  architecture: "x86_64",
};

const HELLO_APP: Record<string, string> = {
  "package.json": JSON.stringify({ name: "hello", private: true, type: "module" }),
  "src/main.ts": 'import { greeting } from "./greeting.ts";\nconsole.log(greeting("berth"));\n',
  "src/greeting.ts": `export const greeting = (name: string): string => \`hello, \${name}\`;\n`,
};

/**
 * An app whose `npm ci` hangs in the root package's postinstall, which writes its pid into
 * `markers` and runs until the build's scratch copy is removed (or 30 s at most). It watches the
 * copy because a stop ends only the step's own process (npm), and a script npm started could
 * otherwise outlive the test.
 */
function slowApp(markers: string): Record<string, string> {
  mkdirSync(markers, { recursive: true });
  return {
    ...HELLO_APP,
    "package.json": JSON.stringify({
      name: "slow",
      private: true,
      type: "module",
      scripts: { postinstall: "node wait.cjs" },
    }),
    "package-lock.json": JSON.stringify({
      name: "slow",
      lockfileVersion: 3,
      requires: true,
      packages: { "": { name: "slow" } },
    }),
    "wait.cjs": [
      'const fs = require("node:fs");',
      `fs.writeFileSync(${JSON.stringify(markers)} + "/" + process.pid, "");`,
      "const started = Date.now();",
      'setInterval(() => { if (!fs.existsSync("package.json") || Date.now() - started > 30000) process.exit(1); }, 100);',
    ].join("\n"),
  };
}

/** A slow build's source, and a way to wait until its postinstall process runs. */
function slowSource(name: string) {
  const markers = join(scratch, `${name}-pids`);
  const source = pathToFileURL(writeTree(join(scratch, name), slowApp(markers))).href;
  const running = () =>
    waitFor(`${name}'s postinstall to run`, () => {
      const [pid] = readdirSync(markers);
      return pid === undefined ? undefined : Number(pid);
    });
  return { source, running };
}

function gone(pid: number): Promise<true> {
  return waitFor(`process ${pid} to end`, () => {
    try {
      process.kill(pid, 0);
      return undefined;
    } catch {
      return true;
    }
  });
}

interface Local {
  dataDir: string;
  engine: CodeBuildEngine;
  logs: LogStore;
  endpoint: AwsEndpoint;
  client: CodeBuildClient;
  close(): Promise<void>;
}

let scratch: string;
let opened: Local[];

beforeEach(() => {
  scratch = mkdtempSync(join(tmpdir(), "berth-codebuild-"));
  opened = [];
});

afterEach(async () => {
  for (const local of opened.reverse()) await local.close();
  rmSync(scratch, { recursive: true, force: true });
});

/** Berth Local's CodeBuild on its own endpoint, as berth-local.ts wires it. */
async function boot(
  dataDir = join(scratch, "data"),
  options: Partial<CodeBuildEngineOptions> = {},
): Promise<Local> {
  const logs = new LogStore(join(dataDir, "logs"), { account: ACCOUNT, region: REGION });
  const engine = new CodeBuildEngine({
    dataDir,
    account: ACCOUNT,
    region: REGION,
    logs,
    onError: (error) => {
      throw error;
    },
    ...options,
  });
  const endpoint = await startAwsEndpoint({
    port: 0,
    services: [codeBuildService(engine)],
    routes: [codeBuildLogsRoute(engine)],
  });
  engine.endpointUrl = endpoint.url;
  const client = new CodeBuildClient({
    endpoint: endpoint.url,
    region: REGION,
    credentials: { accessKeyId: "berth", secretAccessKey: "berth" },
    maxAttempts: 1,
  });
  let closed = false;
  const local: Local = {
    dataDir,
    engine,
    logs,
    endpoint,
    client,
    async close() {
      if (closed) return;
      closed = true;
      client.destroy();
      await endpoint.close();
      await engine.shutdown();
      logs.close();
    },
  };
  opened.push(local);
  return local;
}

function writeTree(dir: string, files: Record<string, string>): string {
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
  return dir;
}

function contract(source: string, input: unknown = NODE_INPUT): Record<string, string> {
  return {
    [VARIABLES.source]: source,
    [VARIABLES.buildInput]: JSON.stringify(input),
    [VARIABLES.repositoryUri]: REPOSITORY,
    BERTH_CONTAINER: "api",
  };
}

async function startBuild(local: Local, variables: Record<string, string>): Promise<Build> {
  const { build } = await local.client.send(
    new StartBuildCommand({
      projectName: "berth-build",
      environmentVariablesOverride: Object.entries(variables).map(([name, value]) => ({
        name,
        value,
        type: "PLAINTEXT",
      })),
      buildspecOverride: "version: 0.2\nphases: {}\n",
    }),
  );
  if (!build?.id) throw new Error("StartBuild returned no build");
  return build;
}

async function getBuild(local: Local, id: string): Promise<Build> {
  const { builds } = await local.client.send(new BatchGetBuildsCommand({ ids: [id] }));
  const build = builds?.[0];
  if (!build) throw new Error(`no build ${id}`);
  return build;
}

function completion(local: Local, id: string): Promise<Build> {
  return waitFor(`build ${id} to complete`, async () => {
    const build = await getBuild(local, id);
    return build.buildComplete ? build : undefined;
  });
}

function logText(local: Local, build: Build): string {
  return local.engine.logs
    .readEvents(LOG_GROUP, build.logs?.streamName ?? "")
    .map((event) => event.message)
    .join("\n");
}

function phaseOf(build: Build, type: string) {
  return build.phases?.find((phase) => phase.phaseType === type);
}

function exported(build: Build): Record<string, string | undefined> {
  return Object.fromEntries((build.exportedEnvironmentVariables ?? []).map((v) => [v.name, v.value]));
}

describe("a build of a Node app", () => {
  it("succeeds with CodeBuild's phases and exports a digest that ECS resolves to the artifact", async () => {
    const local = await boot();
    const source = writeTree(join(scratch, "hello"), HELLO_APP);
    const started = await startBuild(local, contract(pathToFileURL(source).href));
    expect(started.buildStatus).toBe("IN_PROGRESS");
    expect(started.buildComplete).toBe(false);
    expect(started.id).toMatch(/^berth-build:[0-9a-f-]{36}$/);
    expect(started.arn).toBe(`arn:aws:codebuild:${REGION}:${ACCOUNT}:build/${started.id}`);
    expect(started.buildNumber).toBe(1);

    const build = await completion(local, started.id ?? "");
    expect(build.buildStatus, logText(local, build)).toBe("SUCCEEDED");
    expect(build.currentPhase).toBe("COMPLETED");
    expect(build.phases?.map((phase) => [phase.phaseType, phase.phaseStatus])).toEqual([
      ["SUBMITTED", "SUCCEEDED"],
      ["QUEUED", "SUCCEEDED"],
      ["PROVISIONING", "SUCCEEDED"],
      ["DOWNLOAD_SOURCE", "SUCCEEDED"],
      ["INSTALL", "SUCCEEDED"],
      ["PRE_BUILD", "SUCCEEDED"],
      ["BUILD", "SUCCEEDED"],
      ["POST_BUILD", "SUCCEEDED"],
      ["UPLOAD_ARTIFACTS", "SUCCEEDED"],
      ["FINALIZING", "SUCCEEDED"],
      ["COMPLETED", undefined],
    ]);
    for (const phase of build.phases?.slice(0, -1) ?? []) {
      expect(phase.endTime?.getTime()).toBeGreaterThanOrEqual(phase.startTime?.getTime() ?? Number.NaN);
      expect(phase.durationInSeconds).toBeGreaterThanOrEqual(0);
    }
    expect(build.endTime?.getTime()).toBeGreaterThanOrEqual(build.startTime?.getTime() ?? Number.NaN);
    expect(build.environment?.environmentVariables).toContainEqual({
      name: "BERTH_CONTAINER",
      value: "api",
      type: "PLAINTEXT",
    });

    // The digest names the stored artifact, and is the content digest of what it holds.
    const digest = exported(build).IMAGE_DIGEST ?? "";
    expect(digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(build.exportedEnvironmentVariables).toEqual([
      { name: "IMAGE_DIGEST", value: digest },
      { name: "IMAGE_URI", value: `${REPOSITORY}@${digest}` },
    ]);
    const artifactsDir = join(local.dataDir, "artifacts");
    const artifactDir = join(artifactsDir, "sha256", digest.slice("sha256:".length));
    expect(await Buildpack.contentDigest(artifactDir)).toBe(digest);
    expect(readdirSync(join(artifactsDir, "tmp"))).toEqual([]);

    // ECS runs it.
    const image = await resolveImage(exported(build).IMAGE_URI ?? "", artifactsDir);
    expect(image.directory).toBe(artifactDir);
    expect(image.startCommand).toEqual(["node", "dist/app.mjs"]);
    const [program = "", ...args] = image.startCommand ?? [];
    const run = spawnSync(program, args, { cwd: image.directory, encoding: "utf8" });
    expect(run.stdout).toBe("hello, berth\n");

    // Its log, in CloudWatch Logs and behind the deep link.
    expect(build.logs).toMatchObject({
      groupName: "/aws/codebuild/berth-build",
      streamName: started.id?.slice("berth-build:".length),
      deepLink: `${local.endpoint.url}/_local/codebuild/logs/${build.logs?.streamName}`,
    });
    const log = logText(local, build);
    expect(log).toMatch(/^\[Container\] \d{4}\/\d\d\/\d\d [\d:.]+ Entering phase PROVISIONING$/m);
    expect(log).toContain("berth: skipped npm-ci, as there is no package-lock.json");
    expect(log).toContain(`${REPOSITORY}@${digest}`);
    expect(log).toMatch(/Build status: SUCCEEDED$/);
    const linked = await fetch(build.logs?.deepLink ?? "");
    expect(linked.status).toBe(200);
    expect(await linked.text()).toBe(`${log}\n`);
  });

  it("gives the same source the same digest and keeps one artifact for it", async () => {
    const local = await boot();
    const source = pathToFileURL(writeTree(join(scratch, "hello"), HELLO_APP)).href;
    const first = await completion(local, (await startBuild(local, contract(source))).id ?? "");
    const second = await completion(local, (await startBuild(local, contract(source))).id ?? "");
    expect([first.buildStatus, second.buildStatus]).toEqual(["SUCCEEDED", "SUCCEEDED"]);
    expect(exported(second).IMAGE_DIGEST).toBe(exported(first).IMAGE_DIGEST);
    expect(second.buildNumber).toBe(2);
    expect(logText(local, second)).toContain("is already in the store; keeping that copy");
    const artifactsDir = join(local.dataDir, "artifacts");
    expect(readdirSync(join(artifactsDir, "sha256"))).toEqual([exported(first).IMAGE_DIGEST?.slice(7)]);
    expect(readdirSync(join(artifactsDir, "tmp"))).toEqual([]);
  });

  it("exports the variable the AWS buildspec exports", () => {
    const buildspec = parseYaml(Buildpack.plan(NODE_INPUT as Buildpack.PlanInputDraft).buildspec) as {
      env: { "exported-variables": string[] };
    };
    expect(buildspec.env["exported-variables"]).toEqual([VARIABLES.imageDigest]);
  });
});

describe("failed builds", () => {
  it("fails a build whose source does not compile, with the compiler's error in its log", async () => {
    const local = await boot();
    const source = writeTree(join(scratch, "broken"), {
      ...HELLO_APP,
      "src/greeting.ts": "export const greeting = (name: string) => ;\n",
    });
    const build = await completion(
      local,
      (await startBuild(local, contract(pathToFileURL(source).href))).id ?? "",
    );
    expect(build.buildStatus).toBe("FAILED");
    const failed = phaseOf(build, "BUILD");
    expect(failed?.phaseStatus).toBe("FAILED");
    expect(failed?.contexts?.[0]?.statusCode).toBe("COMMAND_EXECUTION_ERROR");
    expect(failed?.contexts?.[0]?.message).toContain("esbuild could not bundle src/main.ts");
    expect(build.phases?.slice(-2).map((phase) => phase.phaseType)).toEqual(["FINALIZING", "COMPLETED"]);
    expect(build.exportedEnvironmentVariables ?? []).toEqual([]);
    const log = logText(local, build);
    expect(log).toContain('[ERROR] Unexpected ";"');
    expect(log).toContain("src/greeting.ts:1:42:");
    expect(log).toContain("Phase complete: BUILD State: FAILED");
    expect(log).toMatch(/Build status: FAILED$/);
    expect(existsSync(join(local.dataDir, "artifacts", "sha256"))).toBe(false);
    expect(readdirSync(join(local.dataDir, "artifacts", "tmp"))).toEqual([]);
  });

  it("fails a build whose source is not a file:// URL, saying so in its log and phase context", async () => {
    const local = await boot();
    const build = await completion(
      local,
      (await startBuild(local, contract("s3://berth-sources/demo/source.zip"))).id ?? "",
    );
    expect(build.buildStatus).toBe("FAILED");
    const failed = phaseOf(build, "DOWNLOAD_SOURCE");
    expect(failed?.phaseStatus).toBe("FAILED");
    expect(failed?.contexts).toEqual([
      {
        statusCode: "CLIENT_ERROR",
        message:
          "Berth Local builds from file:// sources (file:///absolute/dir); BERTH_SOURCE is s3://berth-sources/demo/source.zip",
      },
    ]);
    expect(phaseOf(build, "BUILD")).toBeUndefined();
    expect(logText(local, build)).toContain("Berth Local builds from file:// sources");
  });

  it("fails a build the plan cannot build locally, with the plan's reason", async () => {
    const local = await boot();
    const source = writeTree(join(scratch, "docker"), { Dockerfile: "FROM scratch\n" });
    const input = { packaging: { type: "custom-dockerfile", buildContextPath: "." }, architecture: "arm64" };
    const build = await completion(
      local,
      (await startBuild(local, contract(pathToFileURL(source).href, input))).id ?? "",
    );
    expect(build.buildStatus).toBe("FAILED");
    const failed = phaseOf(build, "PRE_BUILD");
    expect(failed?.contexts?.[0]?.statusCode).toBe("CLIENT_ERROR");
    expect(failed?.contexts?.[0]?.message).toMatch(/^Berth Local has no Docker engine/);
  });

  it("fails a build whose REPOSITORY_URI is not a Berth Local repository", async () => {
    const local = await boot();
    const source = pathToFileURL(writeTree(join(scratch, "hello"), HELLO_APP)).href;
    const build = await completion(
      local,
      (
        await startBuild(local, {
          ...contract(source),
          REPOSITORY_URI: "123456789012.dkr.ecr.us-east-1.amazonaws.com/demo",
        })
      ).id ?? "",
    );
    expect(build.buildStatus).toBe("FAILED");
    expect(phaseOf(build, "PRE_BUILD")?.contexts?.[0]?.message).toContain(
      "REPOSITORY_URI must be berth.local/<repository>",
    );
  });
});

describe("stopping, queueing and timing out", () => {
  it("queues builds beyond the limit and stops queued and running builds", async () => {
    const local = await boot(undefined, { concurrency: 2 });
    const one = slowSource("one");
    const two = slowSource("two");
    const first = await startBuild(local, contract(one.source));
    const second = await startBuild(local, contract(two.source));
    const third = await startBuild(local, contract(two.source));
    expect(first.currentPhase).not.toBe("QUEUED");
    expect(third.currentPhase).toBe("QUEUED");
    expect(third.phases?.map((phase) => [phase.phaseType, phase.phaseStatus])).toEqual([
      ["SUBMITTED", "SUCCEEDED"],
      ["QUEUED", undefined],
    ]);

    const { build: stoppedQueued } = await local.client.send(new StopBuildCommand({ id: third.id }));
    expect(stoppedQueued?.buildStatus).toBe("STOPPED");
    expect(phaseOf(stoppedQueued ?? {}, "QUEUED")?.phaseStatus).toBe("STOPPED");

    const postinstall = await one.running();
    const { build: stopped } = await local.client.send(new StopBuildCommand({ id: first.arn }));
    expect(stopped?.buildStatus).toBe("STOPPED");
    expect(stopped?.currentPhase).toBe("COMPLETED");
    expect(phaseOf(stopped ?? {}, "BUILD")).toMatchObject({
      phaseStatus: "STOPPED",
      contexts: [{ statusCode: "BUILD_STOPPED", message: "The build was stopped by StopBuild" }],
    });
    await gone(postinstall);

    // The stopped build's slot is free again while the second still runs.
    const hello = pathToFileURL(writeTree(join(scratch, "hello"), HELLO_APP)).href;
    const fourth = await completion(local, (await startBuild(local, contract(hello))).id ?? "");
    expect(fourth.buildStatus).toBe("SUCCEEDED");
    expect((await getBuild(local, second.id ?? "")).buildStatus).toBe("IN_PROGRESS");
    await local.client.send(new StopBuildCommand({ id: second.id }));

    // Stopping again answers with the build as it is.
    const { build: again } = await local.client.send(new StopBuildCommand({ id: first.id }));
    expect(again?.buildStatus).toBe("STOPPED");
    expect((await getBuild(local, first.id ?? "")).exportedEnvironmentVariables ?? []).toEqual([]);
    await waitFor("the scratch directories to go", () =>
      readdirSync(join(local.dataDir, "artifacts", "tmp")).length === 0 ? true : undefined,
    );
  });

  it("times a build out after its timeoutInMinutes", async () => {
    // A minute of 200 ms: the 5-minute minimum lasts one second.
    const local = await boot(undefined, { minuteMs: 200 });
    const slow = slowSource("slow");
    const { build: started } = await local.client.send(
      new StartBuildCommand({
        projectName: "berth-build",
        environmentVariablesOverride: Object.entries(contract(slow.source)).map(([name, value]) => ({
          name,
          value,
        })),
        timeoutInMinutesOverride: 5,
      }),
    );
    expect(started?.timeoutInMinutes).toBe(5);
    const build = await completion(local, started?.id ?? "");
    expect(build.buildStatus).toBe("TIMED_OUT");
    expect(phaseOf(build, "BUILD")?.phaseStatus).toBe("TIMED_OUT");
    expect(phaseOf(build, "BUILD")?.contexts?.[0]?.statusCode).toBe("BUILD_TIMED_OUT");
  });
});

describe("a restart of Berth Local", () => {
  it("fails the builds that were running or queued when it stopped", async () => {
    const before = await boot(join(scratch, "before"), { concurrency: 1 });
    const slow = slowSource("slow");
    const running = await startBuild(before, contract(slow.source));
    const queued = await startBuild(before, contract(slow.source));
    const postinstall = await slow.running();
    const scratchDir = join("artifacts", "tmp", running.logs?.streamName ?? "");
    expect(existsSync(join(before.dataDir, scratchDir))).toBe(true);

    // What a crash leaves on disk: the data dir as it was mid-build.
    const dataDir = join(scratch, "after");
    cpSync(before.dataDir, dataDir, { recursive: true });
    const after = await boot(dataDir);
    for (const [id, phaseType] of [
      [running.id, "BUILD"],
      [queued.id, "QUEUED"],
    ] as const) {
      const build = await getBuild(after, id ?? "");
      expect(build.buildStatus).toBe("FAILED");
      expect(build.currentPhase).toBe("COMPLETED");
      expect(phaseOf(build, phaseType)).toMatchObject({
        phaseStatus: "FAILED",
        contexts: [{ statusCode: "BERTH_LOCAL_STOPPED", message: "Berth Local stopped during this build" }],
      });
      expect(logText(after, build)).toContain("Message: Berth Local stopped during this build");
    }
    expect(existsSync(join(dataDir, scratchDir))).toBe(false);
    const next = await startBuild(after, contract("s3://elsewhere"));
    expect(next.buildNumber).toBe(3);

    // A regular stop fails them the same way.
    await before.close();
    await gone(postinstall);
    const stopped = before.engine.get(running.id ?? "");
    expect(stopped?.buildStatus).toBe("FAILED");
    expect(stopped?.phases.find((phase) => phase.phaseType === "BUILD")?.contexts?.[0]?.message).toBe(
      "Berth Local stopped during this build",
    );
  });
});

describe("the API", () => {
  it("describes its one project and lists its builds newest first", async () => {
    const local = await boot();
    const { projects, projectsNotFound } = await local.client.send(
      new BatchGetProjectsCommand({ names: ["berth-build", "other"] }),
    );
    expect(projects).toHaveLength(1);
    expect(projects?.[0]).toMatchObject({
      name: "berth-build",
      arn: `arn:aws:codebuild:${REGION}:${ACCOUNT}:project/berth-build`,
      source: { type: "NO_SOURCE" },
      artifacts: { type: "NO_ARTIFACTS" },
      concurrentBuildLimit: 2,
      logsConfig: { cloudWatchLogs: { status: "ENABLED", groupName: "/aws/codebuild/berth-build" } },
    });
    expect(projectsNotFound).toEqual(["other"]);

    const ids: string[] = [];
    for (let n = 0; n < 3; n++) ids.push((await startBuild(local, contract("s3://x"))).id ?? "");
    const newest = await local.client.send(new ListBuildsForProjectCommand({ projectName: "berth-build" }));
    expect(newest.ids).toEqual([...ids].reverse());
    const oldest = await local.client.send(
      new ListBuildsForProjectCommand({ projectName: "berth-build", sortOrder: "ASCENDING" }),
    );
    expect(oldest.ids).toEqual(ids);
    expect(newest.nextToken).toBeUndefined();

    const { builds, buildsNotFound } = await local.client.send(
      new BatchGetBuildsCommand({ ids: [ids[1] ?? "", "berth-build:nope"] }),
    );
    expect(builds?.map((build) => build.id)).toEqual([ids[1]]);
    expect(buildsNotFound).toEqual(["berth-build:nope"]);
  });

  it("refuses other projects, unsupported variables and unknown builds with CodeBuild's exceptions", async () => {
    const local = await boot();
    const other = await failure(local.client.send(new StartBuildCommand({ projectName: "other" })));
    expect(other).toBeInstanceOf(ResourceNotFoundException);
    expect(other.message).toBe(
      `Project cannot be found: arn:aws:codebuild:${REGION}:${ACCOUNT}:project/other`,
    );
    const secret = await failure(
      local.client.send(
        new StartBuildCommand({
          projectName: "berth-build",
          environmentVariablesOverride: [{ name: "TOKEN", value: "db:token", type: "SECRETS_MANAGER" }],
        }),
      ),
    );
    expect(secret).toBeInstanceOf(InvalidInputException);
    expect(secret.message).toContain("Berth Local supports only PLAINTEXT variables");
    const twice = await failure(
      local.client.send(
        new StartBuildCommand({
          projectName: "berth-build",
          environmentVariablesOverride: [
            { name: "A", value: "1" },
            { name: "A", value: "2" },
          ],
        }),
      ),
    );
    expect(twice).toBeInstanceOf(InvalidInputException);
    const unknown = await failure(local.client.send(new StopBuildCommand({ id: "berth-build:nope" })));
    expect(unknown).toBeInstanceOf(ResourceNotFoundException);
    const list = await failure(local.client.send(new ListBuildsForProjectCommand({ projectName: "other" })));
    expect(list).toBeInstanceOf(ResourceNotFoundException);
    expect(local.engine.list()).toEqual([]);
  });

  it("answers in the shapes of botocore's CodeBuild model", async () => {
    const local = await boot();
    const call = async (operation: string, input: unknown) => {
      const response = await fetch(local.endpoint.url, {
        method: "POST",
        headers: {
          "content-type": "application/x-amz-json-1.1",
          "x-amz-target": `CodeBuild_20161006.${operation}`,
        },
        body: JSON.stringify(input),
      });
      expect(response.status, operation).toBe(200);
      return { operation, output: (await response.json()) as Record<string, unknown> };
    };
    const variables = (source: string) =>
      Object.entries(contract(source)).map(([name, value]) => ({ name, value, type: "PLAINTEXT" }));
    const hello = pathToFileURL(writeTree(join(scratch, "hello"), HELLO_APP)).href;
    const good = await call("StartBuild", {
      projectName: "berth-build",
      environmentVariablesOverride: variables(hello),
    });
    const bad = await call("StartBuild", {
      projectName: "berth-build",
      environmentVariablesOverride: variables("s3://x"),
    });
    const ids = [good, bad].map((started) => (started.output.build as { id: string }).id);
    for (const id of ids) await completion(local, id);
    const answers = [
      good,
      bad,
      await call("BatchGetBuilds", { ids: [...ids, "berth-build:nope"] }),
      await call("StopBuild", { id: ids[0] }),
      await call("BatchGetProjects", { names: ["berth-build", "other"] }),
      await call("ListBuildsForProject", { projectName: "berth-build" }),
    ];
    // The last answer is wrong on purpose: the checker must catch it.
    const broken = {
      operation: "BatchGetBuilds",
      output: { builds: [{ buildStatus: "DONE", phases: [{ color: 1 }] }] },
    };
    const problems = responseProblems("codebuild", [...answers, broken]);
    expect(problems.slice(0, -1)).toEqual(answers.map(() => []));
    expect(problems.at(-1)).toHaveLength(2);
  });
});

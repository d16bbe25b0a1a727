import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { Deployment } from "@berth/core/deployments";
import { DeploymentEventRecord, DeploymentRecord, ServiceRecord, StackRecord } from "@berth/core/store";
import { withStackLease } from "@berth/core/test-support";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  hasS3Emulator,
  type S3Emulator,
  stackFile,
  startS3Emulator,
} from "../../functions/src/api/test-support.ts";
import { resolveCredentials } from "./api.ts";
import { main } from "./main.ts";
import { type ApiServer, deadUrl, startApiServer } from "./test-support.ts";

const POLL_MS = 20;

let server: ApiServer;
let dir: string;

beforeEach(async () => {
  server = await startApiServer();
  dir = mkdtempSync(join(tmpdir(), "berth-cli-api-"));
});

afterEach(async () => {
  await server.stop();
  // Every answer the CLI got was one the API documents.
  expect(server.contractFailures).toEqual([]);
});

interface Running {
  out: string[];
  err: string[];
  done: Promise<{ code: number; out: string; err: string }>;
}

function start(
  argv: string[],
  options: {
    env?: Record<string, string | undefined>;
    signal?: AbortSignal;
    cwd?: string;
    progressIntervalMs?: number;
  } = {},
): Running {
  const out: string[] = [];
  const err: string[] = [];
  const done = main(argv, {
    out: (text) => out.push(...text.split("\n")),
    err: (text) => err.push(...text.split("\n")),
    env: { BERTH_URL: server.url, BERTH_TOKEN: server.harness.tokens.deploy, ...options.env },
    cwd: options.cwd ?? dir,
    ...(options.signal ? { signal: options.signal } : {}),
    pollIntervalMs: POLL_MS,
    ...(options.progressIntervalMs ? { progressIntervalMs: options.progressIntervalMs } : {}),
  }).then((code) => ({ code, out: out.join("\n"), err: err.join("\n") }));
  return { out, err, done };
}

const cli = (...argv: string[]) => start(argv).done;

async function waitFor(what: string, condition: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** The output lines that match `pattern`. */
function matching(lines: string[], pattern: RegExp): string[] {
  return lines.filter((line) => pattern.test(line));
}

function writeStack(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

async function deploymentOf(stack: string, service: string): Promise<string> {
  let id: string | undefined;
  await waitFor(`a deployment of ${service}`, async () => {
    const record = await ServiceRecord.get(server.harness.store, stack, service);
    id = record?.activeDeploymentId ?? undefined;
    return id !== undefined;
  });
  return id as string;
}

/** Applies a file through the API and ends its deployments as SUCCEEDED, as a workflow would. */
async function settledStack(stack: string, text: string): Promise<void> {
  const applied = await server.harness.call({
    method: "PUT",
    path: `/v1/stacks/${stack}`,
    headers: { "content-type": "application/yaml" },
    body: text,
    token: server.harness.tokens.deploy,
  });
  expect(applied.status).toBe(202);
  for (const entry of applied.json.plan as {
    service: string;
    deployment: { deployment: { id: string } };
  }[]) {
    const id = entry.deployment.deployment.id;
    await Deployment.transition(server.harness.store, id, "PENDING", "DEPLOYING", "rolling out");
    await Deployment.transition(server.harness.store, id, "DEPLOYING", "SUCCEEDED", "healthy");
    await Deployment.releaseService(server.harness.store, stack, entry.service, id);
  }
}

describe("berth deploy", () => {
  it("follows a deployment live, prints each status change and event once, and exits 0 when it SUCCEEDED", async () => {
    const { store } = server.harness;
    await settledStack("shop", stackFile());
    const file = writeStack("berth.yml", stackFile({ greeting: "bonjour" }));
    const run = start(["deploy", "-f", file, "--stack", "shop"]);
    await waitFor("the CLI to follow", () =>
      run.out.some((line) => line.startsWith("Following 1 deployment")),
    );
    const api = await deploymentOf("shop", "api");
    // Each step waits until the CLI has printed it, so the output is proven live, not replayed at the end.
    const step = async (action: () => Promise<unknown>, printed: RegExp) => {
      await action();
      await waitFor(`${printed}`, () => run.out.some((line) => printed.test(line)));
    };
    await step(
      () => Deployment.transition(store, api, "PENDING", "BUILDING", "building the image"),
      /api {2}PENDING → BUILDING: building the image$/,
    );
    await step(
      () =>
        DeploymentEventRecord.append(store, api, {
          type: "build-finished",
          message: "image built",
          data: { digest: "sha256:0123456789abcdef", seconds: 4 },
        }),
      /api {2}build-finished: image built$/,
    );
    await step(
      () => Deployment.transition(store, api, "BUILDING", "DEPLOYING", "rolling out revision 2"),
      /BUILDING → DEPLOYING/,
    );
    await Deployment.transition(store, api, "DEPLOYING", "SUCCEEDED", "2 of 2 tasks healthy");
    const result = await run.done;

    expect(result.code).toBe(0);
    expect(result.err).toBe("");
    const lines = result.out.split("\n");
    expect(lines[0]).toBe(`Deploying ${file} as stack shop to ${server.url}`);
    expect(
      matching(lines, /^ {2}api +updated +\S+ +active +properties\.environment\[0\]\.value$/),
    ).toHaveLength(1);
    expect(matching(lines, /^ {2}worker +unchanged$/)).toHaveLength(1);
    for (const pattern of [
      /^ *\d+:\d\d api {2}requested: stack file applied: 1 field changed$/,
      /^ *\d+:\d\d api {2}PENDING → BUILDING: building the image$/,
      /^ *\d+:\d\d api {2}build-finished: image built$/,
      /^ {2,}digest=sha256:0123456789abcdef seconds=4$/,
      /^ *\d+:\d\d api {2}BUILDING → DEPLOYING: rolling out revision 2$/,
      /^ *\d+:\d\d api {2}DEPLOYING → SUCCEEDED: 2 of 2 tasks healthy$/,
    ]) {
      expect(matching(lines, pattern), `${pattern}\n${result.out}`).toHaveLength(1);
    }
    const summary = lines.slice(lines.indexOf("Summary:"));
    expect(summary[1]).toMatch(/^ {2}SERVICE +STATUS +DURATION +REASON$/);
    expect(summary[2]).toMatch(/^ {2}api +SUCCEEDED +\d+(ms|s) +2 of 2 tasks healthy$/);
    expect(summary[3]).toMatch(/^ {2}worker +unchanged +-$/);
    // The stack file went as YAML, once, with where its source is.
    const put = server.requests.filter((request) => request.startsWith("PUT "));
    expect(put).toEqual([`PUT /v1/stacks/shop?source=${encodeURIComponent(pathToFileURL(dir).href)}`]);
  });

  it("keeps a reason's health-check output, without terminal control sequences or progress meters", async () => {
    const { store } = server.harness;
    await settledStack("shop", stackFile());
    const run = start([
      "deploy",
      "-f",
      writeStack("berth.yml", stackFile({ greeting: "hej" })),
      "--stack",
      "shop",
    ]);
    const api = await deploymentOf("shop", "api");
    const reason =
      "Task failed container health checks: \u001b[31m  % Total    % Received % Xferd  Average Speed   Time    Time     Time  Current\n" +
      "                                 Dload  Upload   Total   Spent    Left  Speed\n" +
      "\r  0     0    0     0    0     0      0      0 --:--:-- --:--:-- --:--:--     0\r100    12  100    12    0     0   1200      0 --:--:-- --:--:-- --:--:--  1200\n" +
      "curl: (22) The requested URL returned error: 500\u001b[0m";
    await Deployment.transition(store, api, "PENDING", "DEPLOYING", "rolling out");
    await Deployment.transition(store, api, "DEPLOYING", "FAILED", reason);
    const result = await run.done;
    expect(result.code).toBe(1);
    const clean = "Task failed container health checks: | curl: (22) The requested URL returned error: 500";
    expect(matching(result.out.split("\n"), /^ {2}api +FAILED /)).toEqual([
      expect.stringMatching(new RegExp(`^ {2}api +FAILED +\\S+ +${clean.replace(/[()|]/g, "\\$&")}$`)),
    ]);
    expect(result.out).toContain(`DEPLOYING → FAILED: ${clean}`);
    for (const gone of ["\u001b", "\r", "% Total", "--:--:--"]) expect(result.out).not.toContain(gone);
  });

  it("prints a progress line while a deployment is DEPLOYING and quiet", async () => {
    const { store } = server.harness;
    await settledStack("shop", stackFile());
    const run = start(
      ["deploy", "-f", writeStack("berth.yml", stackFile({ greeting: "ciao" })), "--stack", "shop"],
      {
        progressIntervalMs: 50,
      },
    );
    const api = await deploymentOf("shop", "api");
    await Deployment.transition(store, api, "PENDING", "DEPLOYING", "rolling out");
    // This harness has no ECS: the view says so, and the CLI says it keeps waiting.
    await waitFor(
      "two progress lines",
      () => matching(run.out, /api {2}deploying: ECS reports no deployment of the service yet$/).length >= 2,
    );
    await Deployment.transition(store, api, "DEPLOYING", "SUCCEEDED", "healthy");
    expect((await run.done).code).toBe(0);
    expect(server.requests).toContain("GET /v1/stacks/shop/services/api");
  });

  it("exits 1 when one deployment is ROLLED_BACK, showing the failure's data under the service", async () => {
    const { store } = server.harness;
    const file = writeStack("berth.yml", stackFile());
    const run = start(["deploy", "-f", file, "--stack", "shop"]);
    await waitFor("the CLI to follow", () =>
      run.out.some((line) => line.startsWith("Following 2 deployments")),
    );
    const [api, worker] = [await deploymentOf("shop", "api"), await deploymentOf("shop", "worker")];
    await Deployment.transition(store, worker, "PENDING", "DEPLOYING", "rolling out revision 1");
    await Deployment.transition(store, api, "PENDING", "DEPLOYING", "rolling out revision 1");
    await DeploymentEventRecord.append(store, api, {
      type: "task-stopped",
      message: "task 3f1c stopped before it was healthy",
      data: {
        exitCode: 1,
        stopReason: "Essential container in task exited",
        logLines: ["listening on 3000", "Error: GREETING is not a language"],
      },
    });
    await Deployment.transition(store, worker, "DEPLOYING", "SUCCEEDED", "1 task running");
    await Deployment.transition(store, api, "DEPLOYING", "ROLLING_BACK", "health check failed twice");
    await DeploymentEventRecord.append(store, api, {
      type: "health-check",
      message: "container api failed its health check",
      data: { output: "curl: (7) Failed to connect to localhost port 3000\n" },
    });
    await Deployment.transition(store, api, "ROLLING_BACK", "ROLLED_BACK", "back on revision 1");
    const result = await run.done;

    expect(result.code).toBe(1);
    const lines = result.out.split("\n");
    expect(matching(lines, /^ {2}api +created +\S+ +active/)).toHaveLength(1);
    expect(matching(lines, /^ {2}worker +created +\S+ +active/)).toHaveLength(1);
    for (const pattern of [
      /^ *\d+:\d\d worker {2}PENDING → DEPLOYING: rolling out revision 1$/,
      /^ *\d+:\d\d worker {2}DEPLOYING → SUCCEEDED: 1 task running$/,
      /^ *\d+:\d\d api {5}task-stopped: task 3f1c stopped before it was healthy$/,
      /^ {2,}exitCode=1 stopReason="Essential container in task exited"$/,
      /^ {2,}logLines:$/,
      /^ {2,}\| Error: GREETING is not a language$/,
      /^ *\d+:\d\d api {5}DEPLOYING → ROLLING_BACK: health check failed twice$/,
      /^ {2,}output:$/,
      /^ {2,}\| curl: \(7\) Failed to connect to localhost port 3000$/,
      /^ *\d+:\d\d api {5}ROLLING_BACK → ROLLED_BACK: back on revision 1$/,
    ]) {
      expect(matching(lines, pattern), `${pattern}\n${result.out}`).toHaveLength(1);
    }
    const summary = lines.slice(lines.indexOf("Summary:"));
    expect(summary.slice(2, 4)).toEqual([
      expect.stringMatching(/^ {2}api +ROLLED_BACK +\S+ +back on revision 1$/),
      expect.stringMatching(/^ {2}worker +SUCCEEDED +\S+ +1 task running$/),
    ]);
  });

  it("prints the problems with their lines and exits 2 without calling the API for an invalid file", async () => {
    const file = writeStack("bad.yml", stackFile({ apiPort: 99999 }));
    const result = await cli("deploy", "-f", file, "--stack", "shop");
    expect(result.code).toBe(2);
    expect(result.err).toMatch(
      new RegExp(`^${file}:5:13 resources\\.api\\.properties\\.port: must be at most 65535`),
    );
    expect(server.requests).toEqual([]);
  });

  it("shows the API's error code, message and detail path for a refused request, and exits 2", async () => {
    const file = writeStack("berth.yml", stackFile());
    const result = await cli("deploy", "-f", file, "--stack", "Not_A_Stack");
    expect(result.code).toBe(2);
    expect(result.err).toMatch(/^berth: INVALID_INPUT \(HTTP 400\): invalid params: params\.stack: /);
    expect(result.err).toMatch(/\n {2}params\.stack: .+/);
  });

  it("says that Berth Local must be running when nothing listens, and exits 1", async () => {
    const file = writeStack("berth.yml", stackFile());
    const run = start(["deploy", "-f", file, "--stack", "shop"], { env: { BERTH_URL: await deadUrl() } });
    const result = await run.done;
    expect(result.code).toBe(1);
    expect(result.err).toMatch(
      /^berth: cannot reach the Berth API at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)\n/,
    );
    expect(result.err).toContain("Berth Local must be running (start it with `npm start`");
    expect(result.err).toContain("or BERTH_URL must name a running Berth API");
  });

  it("waits out a busy stack: an apply refused with 409 and Retry-After is sent again, and then goes through", async () => {
    const file = writeStack("berth.yml", stackFile());
    const applies = () =>
      server.requests.filter((request) => request.startsWith("PUT /v1/stacks/busy")).length;
    let run: Running | undefined;
    // Another apply holds the stack until the CLI has been refused once and has come back.
    await withStackLease(server.harness.store, "busy", 0, async () => {
      run = start(["deploy", "-f", file, "--stack", "busy", "--no-wait"]);
      await waitFor("the apply to be sent again", () => applies() >= 2);
    });
    const result = await (run as Running).done;
    expect(result.code).toBe(0);
    expect(await StackRecord.get(server.harness.store, "busy")).toBeDefined();
  });

  it("returns after the plan with --no-wait, and stops at --timeout saying the deployments keep running", async () => {
    const file = writeStack("berth.yml", stackFile());
    const noWait = await cli("deploy", "-f", file, "--stack", "shop", "--no-wait");
    expect(noWait.code).toBe(0);
    expect(noWait.out).toContain("Follow the deployments with: berth status --stack shop");
    expect(server.requests.some((request) => request.startsWith("GET /v1/deployments/"))).toBe(false);

    const changed = writeStack("changed.yml", stackFile({ greeting: "hej" }));
    const timedOut = await cli("deploy", "-f", changed, "--stack", "shop", "--timeout", "200ms");
    expect(timedOut.code).toBe(1);
    expect(timedOut.err).toContain("timed out after 200ms");
    expect(timedOut.err).toContain(
      "with 1 of 1 deployments not final; they keep running without the CLI. Follow them with: berth status --stack shop",
    );
    expect(timedOut.out).toMatch(/\n {2}api +PENDING +- +/);
  });

  it("stops following on Ctrl-C without cancelling anything", async () => {
    const file = writeStack("berth.yml", stackFile({ withWorker: false }));
    const interrupt = new AbortController();
    const run = start(["deploy", "-f", file, "--stack", "shop"], { signal: interrupt.signal });
    await waitFor("the first poll", () =>
      server.requests.some((request) => request.startsWith("GET /v1/deployments/")),
    );
    interrupt.abort();
    const result = await run.done;
    expect(result.code).toBe(130);
    expect(result.err).toContain("Stopped following; the deployments continue.");
    expect(server.requests.some((request) => request.includes("/cancel"))).toBe(false);
    const api = await deploymentOf("shop", "api");
    expect((await DeploymentRecord.get(server.harness.store, api))?.status).toBe("PENDING");
  });
});

describe("berth deploy: the source", () => {
  it("applies with the file's directory when the API keeps no uploaded sources (Berth Local)", async () => {
    const file = writeStack("berth.yml", stackFile());
    const result = await cli("deploy", "-f", file, "--stack", "shop", "--no-wait");
    expect(result.code).toBe(0);
    expect(result.out).not.toContain("uploading source");
    expect(server.requests.slice(0, 2)).toEqual([
      "POST /v1/sources",
      `PUT /v1/stacks/shop?source=${encodeURIComponent(pathToFileURL(dir).href)}`,
    ]);
  });

  describe.skipIf(!hasS3Emulator)("with a source bucket (moto's S3)", () => {
    let s3: S3Emulator;
    beforeAll(async () => {
      s3 = await startS3Emulator();
    });
    afterAll(() => s3?.stop());
    const useBucket = async (bucket: string) => {
      await server.stop();
      server = await startApiServer({ sources: { bucket, client: async () => s3.client } });
    };

    it("packs the directory without .git, node_modules and .berth, uploads it and applies with its s3:// URL", async () => {
      await useBucket(s3.bucket);
      const file = writeStack("berth.yml", stackFile());
      for (const [path, text] of [
        ["app/main.ts", "console.log('hi');\n"],
        [".git/HEAD", "ref: refs/heads/main\n"],
        ["node_modules/left-pad/index.js", "module.exports = 1;\n"],
        [".berth/admin-token", "secret\n"],
        ["app/node_modules/x.js", "1\n"],
      ] as const) {
        mkdirSync(join(dir, path, ".."), { recursive: true });
        writeFileSync(join(dir, path), text);
      }
      const result = await cli("deploy", "-f", file, "--stack", "shop", "--no-wait");
      expect(result.err).toBe("");
      expect(result.code).toBe(0);
      expect(result.out).toMatch(/^uploading source \(\d+ KiB\)$/m);

      const put = server.requests.filter((request) => request.startsWith("PUT "));
      expect(put).toHaveLength(1);
      const source = new URL(put[0]?.split(" ")[1] ?? "", server.url).searchParams.get("source") ?? "";
      expect(source).toMatch(new RegExp(`^s3://${s3.bucket}/sources/[0-9a-f-]{36}\\.tar\\.gz$`));
      expect(server.harness.workflows.starts.map((start) => start.source)).toEqual([source, source]);

      const stored = await s3.read(source);
      const unpacked = mkdtempSync(join(tmpdir(), "berth-cli-unpacked-"));
      try {
        writeFileSync(join(unpacked, "source.tar.gz"), stored.body);
        mkdirSync(join(unpacked, "tree"));
        execFileSync("tar", ["-xzf", join(unpacked, "source.tar.gz"), "-C", join(unpacked, "tree")]);
        const files = readdirSync(join(unpacked, "tree"), { recursive: true }).map(String).sort();
        expect(files).toEqual(["app", "app/main.ts", "berth.yml"]);
      } finally {
        rmSync(unpacked, { recursive: true, force: true });
      }
    });

    it("exits 1 and applies nothing when the upload is refused", async () => {
      // A real refusal of S3's: the URL names a bucket that does not exist.
      await useBucket("no-such-bucket");
      const file = writeStack("berth.yml", stackFile());
      const result = await cli("deploy", "-f", file, "--stack", "shop", "--no-wait");
      expect(result.code).toBe(1);
      expect(result.err).toMatch(
        new RegExp(
          `^berth: could not upload the source of ${dir} \\(HTTP 404: .*NoSuchBucket.*\\); nothing was applied$`,
        ),
      );
      expect(server.requests.filter((request) => !request.startsWith("POST /v1/sources"))).toEqual([]);
      expect(await StackRecord.get(server.harness.store, "shop")).toBeUndefined();
    });
  });
});

describe("berth status", () => {
  it("lists the stacks, then one stack's services with their last deployment", async () => {
    expect((await cli("status")).out).toContain("No stacks yet");
    await settledStack("shop", stackFile());
    const file = writeStack("berth.yml", stackFile({ greeting: "salut" }));
    expect((await cli("deploy", "-f", file, "--stack", "shop", "--no-wait")).code).toBe(0);
    const api = await deploymentOf("shop", "api");

    const list = await cli("status");
    expect(list.code).toBe(0);
    expect(list.out).toMatch(/^STACK +STAGE +APPLIED +FILE SHA-256\nshop +test +\S+ ago +[0-9a-f]{12}$/);

    const detail = await cli("status", "--stack", "shop");
    expect(detail.code).toBe(0);
    const lines = detail.out.split("\n");
    expect(lines[0]).toMatch(/^Stack shop \(stage test\), applied \S+ ago$/);
    expect(lines[1]).toMatch(
      /^SERVICE +TYPE +STATUS +RUNNING\/DESIRED +ADDRESS +LAST DEPLOYMENT +AGE +BY +REASON$/,
    );
    expect(lines[2]).toMatch(
      new RegExp(
        `^api +private-service +DEPLOYING +-/- +api\\.shop:3000 +${api} +PENDING +\\S+ ago +cli \\(token [^)]+\\) +stack file applied: 1 field changed$`,
      ),
    );
    expect(lines[3]).toMatch(
      /^worker +worker-service +NOT_DEPLOYED +-\/- +- +\S+ +SUCCEEDED +\S+ ago +api \(token deploy token\) +healthy$/,
    );

    const json = JSON.parse((await cli("status", "--stack", "shop", "--json")).out);
    expect(json.stack.stack.name).toBe("shop");
    expect(json.services.api.service.activeDeployment).toMatchObject({ id: api, trigger: "cli" });
    expect(json.services.worker.deployments.deployments[0].status).toBe("SUCCEEDED");
  });

  it("reads Berth Local's admin token from the data dir when BERTH_TOKEN is unset, and says so on a 401", async () => {
    const withoutToken = await start(["status"], { env: { BERTH_TOKEN: undefined } }).done;
    expect(withoutToken.code).toBe(2);
    expect(withoutToken.err).toContain("berth: UNAUTHORIZED (HTTP 401)");
    expect(withoutToken.err).toContain("Set BERTH_TOKEN");

    mkdirSync(join(dir, "data"));
    writeFileSync(join(dir, "data", "admin-token"), `${server.harness.tokens.admin}\n`);
    const fromFile = await start(["status"], { env: { BERTH_TOKEN: undefined, BERTH_DATA_DIR: "data" } })
      .done;
    expect(fromFile.code).toBe(0);
    expect(fromFile.out).toContain("No stacks yet");
  });

  it("finds the admin token under the repository's data dir from any directory", () => {
    const repository = mkdtempSync(join(tmpdir(), "berth-repo-"));
    mkdirSync(join(repository, ".berth"));
    writeFileSync(join(repository, ".berth", "admin-token"), "berth_from_the_repository\n");
    const elsewhere = mkdtempSync(join(tmpdir(), "berth-elsewhere-"));
    expect(resolveCredentials({}, elsewhere, repository)).toEqual({
      token: "berth_from_the_repository",
      source: join(repository, ".berth", "admin-token"),
    });
    // The current directory's data dir comes first, and an absolute BERTH_DATA_DIR is used as is.
    mkdirSync(join(elsewhere, ".berth"));
    writeFileSync(join(elsewhere, ".berth", "admin-token"), "berth_here\n");
    expect(resolveCredentials({}, elsewhere, repository).token).toBe("berth_here");
    expect(
      resolveCredentials({ BERTH_DATA_DIR: join(repository, ".berth") }, elsewhere, "/nowhere").token,
    ).toBe("berth_from_the_repository");
    expect(
      resolveCredentials({}, mkdtempSync(join(tmpdir(), "berth-empty-")), "/nowhere").token,
    ).toBeUndefined();
  });

  it("exits 2 with the API's NOT_FOUND for a stack that does not exist", async () => {
    const result = await cli("status", "--stack", "nope");
    expect(result.code).toBe(2);
    expect(result.err).toBe("berth: NOT_FOUND (HTTP 404): stack nope does not exist");
  });
});

describe("berth cancel", () => {
  it("cancels a waiting deployment", async () => {
    const file = writeStack("berth.yml", stackFile({ withWorker: false }));
    await cli("deploy", "-f", file, "--stack", "shop", "--no-wait");
    const api = await deploymentOf("shop", "api");
    const result = await cli("cancel", api, "--reason", "wrong branch");
    expect(result.code).toBe(0);
    expect(result.out).toBe(`Deployment ${api} (shop/api) is CANCELLED.`);
    expect(await DeploymentRecord.get(server.harness.store, api)).toMatchObject({
      status: "CANCELLED",
      reason: "wrong branch",
    });
  });

  it("waits while the workflow of a deploying deployment undoes it, and prints how it ended", async () => {
    const file = writeStack("berth.yml", stackFile({ withWorker: false }));
    await cli("deploy", "-f", file, "--stack", "shop", "--no-wait");
    const api = await deploymentOf("shop", "api");
    await Deployment.transition(server.harness.store, api, "PENDING", "DEPLOYING", "updating the service");
    const running = start(["cancel", api, "--reason", "wrong branch"]);
    await waitFor("the cancellation to be requested", async () =>
      Boolean((await DeploymentRecord.get(server.harness.store, api))?.cancelRequestedAt),
    );
    // The workflow returns the service to its previous revision, then ends the deployment.
    const undone = "wrong branch; undone: the rollout of td:2 was stopped and the service is back on td:1";
    await Deployment.transition(server.harness.store, api, "DEPLOYING", "CANCELLED", undone);
    const result = await running.done;
    expect(result.code).toBe(0);
    expect(result.out.split("\n")).toEqual([
      `Cancellation of ${api} (shop/api) requested: it is DEPLOYING; waiting while its workflow stops it and undoes what it changed in ECS…`,
      `Deployment ${api} (shop/api) is CANCELLED: ${undone}`,
    ]);
  });

  it("fails when the deployment ends otherwise, and returns at once with --no-wait", async () => {
    const file = writeStack("berth.yml", stackFile({ withWorker: false }));
    await cli("deploy", "-f", file, "--stack", "shop", "--no-wait");
    const api = await deploymentOf("shop", "api");
    await Deployment.transition(server.harness.store, api, "PENDING", "DEPLOYING", "updating the service");
    const requested = await cli("cancel", api, "--no-wait");
    expect(requested.code).toBe(0);
    expect(requested.out).toContain("requested: it is DEPLOYING");
    const running = start(["cancel", api]);
    await waitFor("the CLI to wait", () => running.out.some((line) => line.includes("waiting while")));
    await Deployment.transition(
      server.harness.store,
      api,
      "DEPLOYING",
      "FAILED",
      "the return to td:1 failed",
    );
    const failed = await running.done;
    expect(failed.code).toBe(1);
    expect(failed.out).toContain(`Deployment ${api} (shop/api) is FAILED: the return to td:1 failed`);
  });
});

describe("berth logs", () => {
  const at = (second: number) => Date.UTC(2030, 0, 1, 12, 0, second);
  const event = (second: number, message: string, stream = "ecs/api/task-1") => ({
    timestamp: at(second),
    logStreamName: stream,
    message,
  });

  /** CloudWatch Logs' answers to FilterLogEvents, one per call in order (the last one repeats). */
  function scriptLogs(pages: { events: ReturnType<typeof event>[]; nextToken?: string }[]) {
    const { calls } = server.harness.logsEndpoint;
    const before = calls.length;
    // The endpoint records each call before it asks for the answer.
    Object.defineProperty(server.harness, "logsAnswer", {
      configurable: true,
      get: () => ({ status: 200, body: pages[Math.min(calls.length - before, pages.length) - 1] }),
    });
    return calls;
  }

  beforeEach(async () => {
    await settledStack("shop", stackFile({ withWorker: false }));
  });

  it("prints every page with timestamp and stream; --limit keeps the newest lines", async () => {
    scriptLogs([
      { events: [event(1, "one"), event(2, "two")], nextToken: "page-2" },
      { events: [event(3, "three")] },
    ]);
    const all = await cli("logs", "--stack", "shop", "--service", "api", "--since", "2h");
    expect(all.code).toBe(0);
    expect(all.out.split("\n")).toEqual([
      "2030-01-01T12:00:01.000Z [ecs/api/task-1] one",
      "2030-01-01T12:00:02.000Z [ecs/api/task-1] two",
      "2030-01-01T12:00:03.000Z [ecs/api/task-1] three",
    ]);
    const calls = server.harness.logsEndpoint.calls;
    expect(calls[0]?.body).toMatchObject({ logGroupName: "/berth/shop/api", limit: 1000 });
    expect(calls[1]?.body.nextToken).toBe("page-2");

    scriptLogs([
      { events: [event(1, "one"), event(2, "two")], nextToken: "page-2" },
      { events: [event(3, "three")] },
    ]);
    const newest = await cli("logs", "--stack", "shop", "--service", "api", "--limit", "2");
    expect(newest.out.split("\n").map((line) => line.split(" ").at(-1))).toEqual(["two", "three"]);
  });

  it("--follow prints nothing older than --since, in time order, even from reads that overlap", async () => {
    const calls = scriptLogs([
      // Two streams interleave: a page may list a later line first.
      { events: [event(3, "three"), event(2, "two")] },
      // The overlap reaches back before the cutoff, where a late line shows up.
      { events: [event(1, "late, older than the cutoff"), event(3, "three"), event(4, "four")] },
    ]);
    const stop = new AbortController();
    const cutoff = new Date(at(2)).toISOString();
    const run = start(["logs", "--stack", "shop", "--service", "api", "--follow", "--since", cutoff], {
      signal: stop.signal,
    });
    await waitFor("three reads", () => calls.length >= 3);
    stop.abort();
    const result = await run.done;
    expect(result.out.split("\n")).toEqual([
      "2030-01-01T12:00:02.000Z [ecs/api/task-1] two",
      "2030-01-01T12:00:03.000Z [ecs/api/task-1] three",
      "2030-01-01T12:00:04.000Z [ecs/api/task-1] four",
    ]);
    expect(calls[0]?.body.startTime).toBe(at(2));
    // The newest line minus the overlap would be before the cutoff: the cutoff holds.
    expect(calls[1]?.body.startTime).toBe(at(2));
    expect(calls[2]?.body.startTime).toBe(at(2));
  });

  it("--since 5s counts back from the command's start, once, for every read", async () => {
    const calls = scriptLogs([{ events: [] }]);
    const before = Date.now();
    const result = await cli("logs", "--stack", "shop", "--service", "api", "--since", "5s");
    expect(result.code).toBe(0);
    const startTime = calls[0]?.body.startTime as number;
    expect(startTime).toBeGreaterThanOrEqual(before - 5_000);
    expect(startTime).toBeLessThanOrEqual(Date.now() - 5_000);
  });

  it("--follow reads on with nextToken, then from the newest line, and prints each line once", async () => {
    const calls = scriptLogs([
      { events: [event(1, "one"), event(2, "two")], nextToken: "page-2" },
      { events: [event(3, "three")] },
      // Read again from the newest line: what was printed comes back, beside what is new.
      { events: [event(2, "two"), event(3, "three"), event(3, "three", "ecs/api/task-2"), event(4, "four")] },
      { events: [event(3, "three"), event(4, "four"), event(4, "four")] },
    ]);
    const stop = new AbortController();
    const run = start(["logs", "--stack", "shop", "--service", "api", "--follow"], { signal: stop.signal });
    await waitFor("five reads", () => calls.length >= 5);
    stop.abort();
    const result = await run.done;

    expect(result.code).toBe(0);
    expect(result.out.split("\n")).toEqual([
      "2030-01-01T12:00:01.000Z [ecs/api/task-1] one",
      "2030-01-01T12:00:02.000Z [ecs/api/task-1] two",
      "2030-01-01T12:00:03.000Z [ecs/api/task-1] three",
      "2030-01-01T12:00:03.000Z [ecs/api/task-2] three",
      "2030-01-01T12:00:04.000Z [ecs/api/task-1] four",
      // A second identical line in the same millisecond is a line of its own.
      "2030-01-01T12:00:04.000Z [ecs/api/task-1] four",
    ]);
    expect(calls[1]?.body.nextToken).toBe("page-2");
    expect(calls[2]?.body.nextToken).toBeUndefined();
    expect(calls[2]?.body.startTime).toBe(at(3) - 10_000);
    expect(calls[3]?.body.startTime).toBe(at(4) - 10_000);
  });
});

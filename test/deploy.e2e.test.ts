import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DescribeServicesCommand, DescribeTaskDefinitionCommand, type ECSClient } from "@aws-sdk/client-ecs";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { httpApp, waitFor } from "./support/apps.ts";
import {
  BerthApi,
  type Deployment,
  type DeploymentEvent,
  type RequestedDeployment,
  requested,
} from "./support/berth-api.ts";
import {
  awsCli,
  type BerthLocalProcess,
  logTail,
  processesUnder,
  startBerthLocalProcess,
} from "./support/berth-local-process.ts";
import {
  appStack,
  e2eWorkspace,
  eventsOfType,
  gatedHealthCheck,
  getText,
  keepAsking,
  localEcsClient,
  newestDeployment as newestDeploymentOf,
  processEnvironment,
  runBerth,
  runningTasks,
  serviceConnectAliases,
  taskDefinitionIn,
} from "./support/e2e.ts";

/**
 * End to end on Berth Local, no mocks: one Berth Local child process (`packages/local/src/main.ts`,
 * what `npm start` runs, with its own data dir, ports and admin token), the `berth` CLI's `main`,
 * the HTTP API, the `aws` CLI, real task processes. The tests run in order and build on each
 * other; the last one restarts Berth Local on the same data dir.
 */

const { work, dataDir, logFile, adminToken } = e2eWorkspace("berth-e2e-");
const gates = join(work, "gates");
mkdirSync(gates);
const STATE_MACHINE_ARN = "arn:aws:states:us-east-1:000000000000:stateMachine:berth-deploy";

/** The test app's directory for stack `rb` (service `api`) and for the restart test's stack. */
const rbApp = httpApp();
const restartApp = httpApp();
const progressApp = httpApp();
/** Where task processes run: their image directories (built artifacts live under the data dir). */
const taskDirs = [dataDir, rbApp.dir, restartApp.dir, progressApp.dir];

let local: BerthLocalProcess | undefined;
let api: BerthApi;
let ecs: ECSClient;

async function startLocal(): Promise<BerthLocalProcess> {
  const started = await startBerthLocalProcess({ dataDir, adminToken, logFile });
  local = started;
  api = new BerthApi(started.apiUrl, adminToken);
  ecs?.destroy();
  ecs = localEcsClient(started.awsUrl);
  return started;
}

function current(): BerthLocalProcess {
  if (!local) throw new Error("Berth Local is not running");
  return local;
}

/** `berth …` in-process, against the running Berth Local; `lines` receives its output as it comes. */
function berth(
  args: string[],
  options: { lines?: string[]; progressIntervalMs?: number } = {},
): Promise<{ code: number; output: string }> {
  return runBerth(args, { apiUrl: current().apiUrl, token: adminToken, ...options });
}

function writeStack(name: string, yaml: string): string {
  const dir = join(work, "stacks", name);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, "berth.yml");
  writeFileSync(file, yaml);
  return file;
}

/** `berth deploy` of stack `rb`: its one service `api` at `version`, with extra environment. */
function deployRb(version: string, environment: Record<string, string> = {}) {
  const yaml = appStack({ service: "api", image: rbApp.image, version, environment });
  return berth(["deploy", "-f", writeStack(`rb-${version}`, yaml), "--stack", "rb", "--timeout", "2m"]);
}

function newestDeployment(stack: string, service: string): Promise<Deployment> {
  return newestDeploymentOf(api, stack, service);
}

function taskDefinitionOf(events: DeploymentEvent[]): string {
  return taskDefinitionIn(events, "task-definition");
}

async function executionNames(): Promise<string[]> {
  const { executions } = (await awsCli(current().awsUrl, [
    "stepfunctions",
    "list-executions",
    "--state-machine-arn",
    STATE_MACHINE_ARN,
  ])) as { executions: { name: string }[] };
  return executions.map((execution) => execution.name);
}

/** The single task of `service` serving `/whoami`, once it runs the given task definition. */
async function servingTask(service: string, taskDefinitionArn: string) {
  return waitFor(
    `${service} to run ${taskDefinitionArn} alone`,
    async () => {
      const tasks = await runningTasks(ecs, service);
      const [task] = tasks;
      return tasks.length === 1 && task?.taskDefinitionArn === taskDefinitionArn && task.hostPort > 0
        ? task
        : undefined;
    },
    30_000,
    250,
  );
}

async function aliasAddress(alias: string): Promise<string> {
  return waitFor(`Service Connect alias ${alias}`, async () => {
    const found = (await serviceConnectAliases(current().awsUrl)).find((entry) => entry.alias === alias);
    return found && found.healthyTasks.length > 0 ? found.address : undefined;
  });
}

beforeAll(async () => {
  await startLocal();
});

afterAll(async () => {
  const exit = await local?.stop();
  ecs?.destroy();
  // Nothing Berth Local started may outlive it: end what did (by pid) and fail loudly.
  const leftovers = await waitFor(
    "task processes to end",
    () => {
      const remaining = processesUnder(taskDirs);
      return remaining.length === 0 ? [] : undefined;
    },
    10_000,
    200,
  ).catch(() => processesUnder(taskDirs));
  for (const leftover of leftovers) {
    try {
      process.kill(leftover.pid, "SIGKILL");
    } catch {
      // Ended meanwhile.
    }
  }
  if (leftovers.length > 0) {
    throw new Error(
      `task processes outlived Berth Local (exit ${String(exit)}): ${JSON.stringify(leftovers)}\n${logTail(logFile)}`,
    );
  }
  if (!process.env.BERTH_TEST_KEEP) {
    for (const dir of [work, rbApp.dir, restartApp.dir, progressApp.dir])
      rmSync(dir, { recursive: true, force: true });
  }
});

beforeEach(({ onTestFailed }) => {
  onTestFailed(() => {
    console.error(`--- Berth Local log (${logFile}), last lines ---\n${logTail(logFile, 80)}`);
  });
});

/**
 * Applies a revision of rb's app whose health check fails until `gate` exists, and waits until
 * it is DEPLOYING: a deployment that keeps its service busy for as long as the test needs.
 */
async function deployHeldAtTheGate(gate: string, version: string) {
  const slow = requested(
    await api.applyStack(
      "rb",
      appStack({
        service: "api",
        image: rbApp.image,
        version,
        healthCheckCommand: gatedHealthCheck(gate),
        startPeriodSeconds: 120,
      }),
    ),
    "api",
  );
  expect(slow.placement).toBe("active");
  await api.waitForStatus(slow.deployment.id, ["DEPLOYING"], 30_000);
  return slow;
}

describe("deploying on Berth Local end to end", { shuffle: false }, () => {
  it("deploys the private API and its consumer from source with the CLI; the consumer reaches the API through the injected address", async () => {
    const { code, output } = await berth([
      "deploy",
      "-f",
      "examples/private-api/berth.yml",
      "--stack",
      "demo",
      "--timeout",
      "3m",
    ]);
    expect(code, output).toBe(0);
    // Progress, as it happened, then the summary.
    expect(output).toMatch(/^\s*\d+:\d\d privateApi\s+PENDING → BUILDING/m);
    expect(output).toMatch(/^\s*\d+:\d\d publicService\s+BUILDING → DEPLOYING/m);
    expect(output).toMatch(/^\s*\d+:\d\d privateApi\s+DEPLOYING → SUCCEEDED/m);
    const summary = output.slice(output.indexOf("Summary:"));
    expect(output).toContain("Summary:");
    expect(summary).toMatch(/^\s*privateApi\s+SUCCEEDED\s/m);
    expect(summary).toMatch(/^\s*publicService\s+SUCCEEDED\s/m);

    for (const service of ["privateApi", "publicService"]) {
      const deployment = await newestDeployment("demo", service);
      expect(deployment.status).toBe("SUCCEEDED");
      const { events } = await api.deployment(deployment.id);
      expect(eventsOfType(events, "built")).toHaveLength(1);
    }

    // The control plane injects the alias; the task sees the local Service Connect proxy instead.
    const [consumer] = await runningTasks(ecs, "demo-publicService");
    expect(consumer?.hostPort).toBeGreaterThan(0);
    const { taskDefinition } = await ecs.send(
      new DescribeTaskDefinitionCommand({ taskDefinition: consumer?.taskDefinitionArn }),
    );
    const injected = taskDefinition?.containerDefinitions?.[0]?.environment?.find(
      (variable) => variable.name === "PRIVATE_ADDRESS",
    );
    expect(injected?.value).toBe("privateapi.demo:3000");
    const proxy = await aliasAddress("privateapi.demo:3000");
    const consumerProcess = processesUnder([join(dataDir, "artifacts")]).find(
      (candidate) => processEnvironment(candidate.pid)?.PORT === String(consumer?.hostPort),
    );
    expect(consumerProcess, "the publicService task's process").toBeDefined();
    const seen = processEnvironment(consumerProcess?.pid ?? 0)?.PRIVATE_ADDRESS;

    const response = await fetch(`http://127.0.0.1:${consumer?.hostPort}/`, {
      signal: AbortSignal.timeout(5_000),
    });
    const answer = (await response.json()) as { servedBy?: string; quote?: unknown; error?: string };
    const evidence = JSON.stringify({ answer, PRIVATE_ADDRESS: seen, proxy, output });
    expect(response.status, evidence).toBe(200);
    expect(answer.servedBy).toBe("publicService");
    expect(answer.quote).toEqual({
      id: expect.any(Number),
      text: expect.any(String),
      author: expect.any(String),
    });
    expect(seen, evidence).toBe(proxy);
  }, 180_000);

  let v1TaskDefinition = "";

  it("prints the new revision's tasks and ECS's latest event while a deployment waits on its health checks", async () => {
    const gate = join(gates, "progress");
    const lines: string[] = [];
    const file = writeStack(
      "progress",
      appStack({
        service: "api",
        image: progressApp.image,
        version: "v1",
        healthCheckCommand: gatedHealthCheck(gate),
        startPeriodSeconds: 120,
      }),
    );
    const deploying = berth(["deploy", "-f", file, "--stack", "progress", "--timeout", "3m"], {
      lines,
      progressIntervalMs: 1_000,
    });
    // The task runs but its health check fails until the gate opens: ECS counts it running, not healthy.
    await waitFor(
      "a progress line with the task running and not yet healthy",
      () =>
        lines.some((line) =>
          /api {2}deploying: revision \d+: 1 of 1 running, 0 healthy, 0 stopped$/.test(line),
        ),
      120_000,
      250,
    );
    await waitFor(
      "ECS's latest service event under a progress line",
      () => lines.some((line) => /^ +ECS: \(service progress-api\) .+/.test(line)) || undefined,
      60_000,
      250,
    );
    writeFileSync(gate, "open");
    const result = await deploying;
    expect(result.code, result.output).toBe(0);
    expect(result.output).toMatch(/^ {2}api +SUCCEEDED /m);
  }, 240_000);

  it("rolls back a revision that fails its health check while v1 keeps serving", async () => {
    const v1 = await deployRb("v1");
    expect(v1.code, v1.output).toBe(0);
    const first = await newestDeployment("rb", "api");
    expect(first.status).toBe("SUCCEEDED");
    v1TaskDefinition = taskDefinitionOf((await api.deployment(first.id)).events);
    const task = await servingTask("rb-api", v1TaskDefinition);
    const v1Answer = await getText(`http://127.0.0.1:${task.hostPort}/whoami`);
    expect(v1Answer).toMatch(/^v1:\d+$/);
    const proxy = await aliasAddress("api.rb:3000");

    const direct = keepAsking(() => getText(`http://127.0.0.1:${task.hostPort}/whoami`));
    const throughServiceConnect = keepAsking(() => getText(`http://${proxy}/whoami`));
    const v2 = await deployRb("v2", { UNHEALTHY: "1" });
    const directAnswers = await direct.stop();
    const proxiedAnswers = await throughServiceConnect.stop();

    expect(v2.code, v2.output).toBe(1);
    expect(v2.output).toMatch(/task-failed: .*health checks/);
    expect(v2.output).toMatch(/DEPLOYING → ROLLING_BACK/);
    expect(v2.output).toMatch(/^\s*api\s+ROLLED_BACK\s/m);
    const failed = await newestDeployment("rb", "api");
    expect(failed.id).not.toBe(first.id);
    expect(failed.status).toBe("ROLLED_BACK");
    expect(failed.reason).toContain(v1TaskDefinition);
    expect(failed.reason).toContain("health checks");
    const { events } = await api.deployment(failed.id);
    const taskFailures = eventsOfType(events, "task-failed");
    expect(taskFailures.length).toBeGreaterThanOrEqual(1);
    for (const failure of taskFailures) {
      expect(failure.data?.stoppedReason).toMatch(/^Task failed container health checks/);
      expect(String(failure.data?.stoppedReason)).toContain("500 health: database unreachable");
      expect(failure.data?.logLines).toEqual(
        expect.arrayContaining([expect.stringMatching(/listening on \d+ as v2/)]),
      );
    }

    // While v2 failed, the v1 process kept answering on its port; the rollback may replace it
    // with a fresh v1 task (a new ECS deployment), but through Service Connect every request,
    // during and after, was answered by v1.
    const rollingBack = events.find((event) => event.type === "status" && event.data?.to === "ROLLING_BACK");
    expect(rollingBack, JSON.stringify(events)).toBeDefined();
    const beforeRollback = directAnswers.filter((answer) => answer.at < Date.parse(rollingBack?.at ?? ""));
    expect(beforeRollback.length).toBeGreaterThan(10);
    expect(new Set(beforeRollback.map((answer) => answer.text))).toEqual(new Set([v1Answer]));
    expect(proxiedAnswers.length).toBeGreaterThan(10);
    expect(proxiedAnswers.filter((answer) => !/^v1:\d+$/.test(answer.text))).toEqual([]);
    const after = await servingTask("rb-api", v1TaskDefinition);
    expect(await getText(`http://127.0.0.1:${after.hostPort}/whoami`)).toMatch(/^v1:\d+$/);

    // The health check's output belongs in the event's data, not only in its stoppedReason.
    for (const failure of taskFailures) {
      expect(failure.data?.healthCheckOutput, JSON.stringify(failure.data)).toContain(
        "500 health: database unreachable",
      );
    }
  });

  it("rolls back a revision that crashes on start, with its exit code and last log line", async () => {
    const proxy = await aliasAddress("api.rb:3000");
    const throughServiceConnect = keepAsking(() => getText(`http://${proxy}/whoami`));
    const crash = await deployRb("v3", { CRASH: "1" });
    const proxiedAnswers = await throughServiceConnect.stop();
    expect(crash.code, crash.output).toBe(1);
    expect(crash.output).toMatch(/^\s*api\s+ROLLED_BACK\s/m);
    const failed = await newestDeployment("rb", "api");
    expect(failed.status).toBe("ROLLED_BACK");
    expect(failed.reason).toContain("exit code 3");
    expect(failed.reason).toContain(v1TaskDefinition);
    const { events } = await api.deployment(failed.id);
    const taskFailures = eventsOfType(events, "task-failed");
    expect(taskFailures.length).toBeGreaterThanOrEqual(1);
    for (const failure of taskFailures) {
      expect(failure.data?.exitCode).toBe(3);
      expect(failure.data?.stopCode).toBe("EssentialContainerExited");
      expect(failure.data?.logLines).toEqual(
        expect.arrayContaining([expect.stringContaining("crashing on start")]),
      );
    }
    expect(proxiedAnswers.length).toBeGreaterThan(5);
    expect(proxiedAnswers.filter((answer) => !/^v1:\d+$/.test(answer.text))).toEqual([]);
    const task = await servingTask("rb-api", v1TaskDefinition);
    expect(await getText(`http://127.0.0.1:${task.hostPort}/whoami`)).toMatch(/^v1:\d+$/);
  });

  it("supersedes a queued deployment with a newer one; the newest runs once the running one ends", async () => {
    const gate = join(gates, "supersede");
    const slow = await deployHeldAtTheGate(gate, "v4");

    const middle = requested(
      await api.applyStack("rb", appStack({ service: "api", image: rbApp.image, version: "v5" })),
      "api",
    );
    expect(middle.placement).toBe("queued");
    const last = requested(
      await api.applyStack("rb", appStack({ service: "api", image: rbApp.image, version: "v6" })),
      "api",
    );
    expect(last.placement).toBe("queued");
    const superseded = await api.waitForStatus(middle.deployment.id, ["SUPERSEDED"], 10_000);
    expect(superseded.deployment.reason).toBe(`superseded by ${last.deployment.id}`);
    // Still gated: the running deployment has not moved on.
    expect((await api.deployment(slow.deployment.id)).deployment.status).toBe("DEPLOYING");

    writeFileSync(gate, "open");
    const slowEnd = await api.waitForStatus(slow.deployment.id, undefined, 60_000);
    expect(slowEnd.deployment.status, slowEnd.deployment.reason).toBe("SUCCEEDED");
    const lastEnd = await api.waitForStatus(last.deployment.id, undefined, 60_000);
    expect(lastEnd.deployment.status, lastEnd.deployment.reason).toBe("SUCCEEDED");
    const middleEnd = await api.deployment(middle.deployment.id);
    expect(middleEnd.deployment.status).toBe("SUPERSEDED");
    expect(middleEnd.deployment.executionArn).toBeUndefined();
    expect(await executionNames()).not.toContain(middle.deployment.id);

    const task = await servingTask("rb-api", taskDefinitionOf(lastEnd.events));
    expect(await getText(`http://127.0.0.1:${task.hostPort}/whoami`)).toMatch(/^v6:\d+$/);
    expect(await getText(`http://${await aliasAddress("api.rb:3000")}/whoami`)).toMatch(/^v6:\d+$/);
  });

  let cancelledId = "";

  it("cancels a queued deployment: it ends CANCELLED and never runs", async () => {
    const gate = join(gates, "cancel");
    const slow = await deployHeldAtTheGate(gate, "v7");
    const queued = requested(
      await api.applyStack("rb", appStack({ service: "api", image: rbApp.image, version: "v8" })),
      "api",
    );
    expect(queued.placement).toBe("queued");
    cancelledId = queued.deployment.id;

    const cancel = await api.request<{ outcome: string; deployment: Deployment }>(
      "POST",
      `/v1/deployments/${cancelledId}/cancel`,
      { body: JSON.stringify({ reason: "e2e: not this one" }) },
    );
    expect(cancel.outcome).toBe("cancelled");
    expect(cancel.deployment.status).toBe("CANCELLED");
    expect(cancel.deployment.reason).toContain("e2e: not this one");

    writeFileSync(gate, "open");
    const slowEnd = await api.waitForStatus(slow.deployment.id, undefined, 60_000);
    expect(slowEnd.deployment.status, slowEnd.deployment.reason).toBe("SUCCEEDED");
    const v7Task = await servingTask("rb-api", taskDefinitionOf(slowEnd.events));
    // Give a wrongly promoted deployment time to show itself.
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const { deployment, events } = await api.deployment(cancelledId);
    expect(deployment.status).toBe("CANCELLED");
    expect(deployment.startedAt).toBeUndefined();
    expect(deployment.executionArn).toBeUndefined();
    expect(eventsOfType(events, "task-definition")).toEqual([]);
    expect(eventsOfType(events, "activated")).toEqual([]);
    expect(await executionNames()).not.toContain(cancelledId);
    expect((await newestDeployment("rb", "api")).id).toBe(cancelledId);
    expect(await getText(`http://127.0.0.1:${v7Task.hostPort}/whoami`)).toMatch(/^v7:\d+$/);
    expect(await runningTasks(ecs, "rb-api")).toHaveLength(1);
  });

  it("scales through the API, then rolls back to a named earlier deployment", async () => {
    const scaled = await api.request<RequestedDeployment>("PUT", "/v1/stacks/rb/services/api/scale", {
      body: JSON.stringify({ min: 2, max: 2 }),
    });
    const scaledEnd = await api.waitForStatus(scaled.deployment.id, undefined, 60_000);
    expect(scaledEnd.deployment.status, scaledEnd.deployment.reason).toBe("SUCCEEDED");
    // Scaling runs the revision that runs: no build, no new task definition.
    expect(eventsOfType(scaledEnd.events, "task-definition")).toEqual([]);
    await waitFor("two running tasks", async () =>
      (await runningTasks(ecs, "rb-api")).length === 2 ? true : undefined,
    );

    // Back to an earlier deployment that succeeded with another version than the one running.
    const listed = await api.request<{ deployments: Deployment[] }>(
      "GET",
      "/v1/stacks/rb/services/api/deployments?limit=50",
    );
    const before = await ecs.send(new DescribeServicesCommand({ cluster: "berth", services: ["rb-api"] }));
    const live = before.services?.[0]?.taskDefinition;
    let target: { id: string; taskDefinitionArn: string } | undefined;
    for (const candidate of listed.deployments) {
      if (candidate.status !== "SUCCEEDED") continue;
      const { events } = await api.deployment(candidate.id);
      const registered = eventsOfType(events, "task-definition")[0]?.data?.taskDefinitionArn;
      if (typeof registered === "string" && registered !== live) {
        target = { id: candidate.id, taskDefinitionArn: registered };
        break;
      }
    }
    if (!target) throw new Error("no earlier successful deployment with another revision");
    const rolledBack = await api.request<RequestedDeployment>("POST", "/v1/stacks/rb/services/api/rollback", {
      body: JSON.stringify({ deploymentId: target.id }),
    });
    const rollbackEnd = await api.waitForStatus(rolledBack.deployment.id, undefined, 60_000);
    expect(rollbackEnd.deployment.status, rollbackEnd.deployment.reason).toBe("SUCCEEDED");
    const { services = [] } = await ecs.send(
      new DescribeServicesCommand({ cluster: "berth", services: ["rb-api"] }),
    );
    expect(services[0]?.taskDefinition).toBe(target.taskDefinitionArn);
    // Both tasks (the scaled count stays) run the earlier revision, and answer as it does.
    const tasks = await waitFor("both tasks to run the earlier revision", async () => {
      const running = await runningTasks(ecs, "rb-api");
      return running.length === 2 &&
        running.every((task) => task.taskDefinitionArn === target?.taskDefinitionArn)
        ? running
        : undefined;
    });
    for (const task of tasks) {
      expect(await getText(`http://127.0.0.1:${task.hostPort}/whoami`)).toMatch(/^v[0-6]:\d+$/);
    }
  });

  it("deletes the stack: its delete deployment succeeds, the ECS service goes and its processes end", async () => {
    expect(processesUnder([rbApp.dir]).length).toBeGreaterThan(0);
    const deleted = await api.request<{
      services: { service: string; deployment?: { deployment: Deployment; placement: string } }[];
    }>("DELETE", "/v1/stacks/rb");
    const deletion = deleted.services.find((entry) => entry.service === "api")?.deployment;
    expect(deletion?.placement).toBe("active");
    const ended = await api.waitForStatus(deletion?.deployment.id ?? "", undefined, 60_000);
    expect(ended.deployment.status, ended.deployment.reason).toBe("SUCCEEDED");

    // DeleteService leaves the service DRAINING until the engine's next pass sees no task; the
    // delete deployment waited for the tasks to go, so INACTIVE (or missing) follows at once.
    let seen = "";
    await waitFor(
      "ECS service rb-api to be INACTIVE or missing",
      async () => {
        const { services = [], failures = [] } = await ecs.send(
          new DescribeServicesCommand({ cluster: "berth", services: ["rb-api"] }),
        );
        seen = JSON.stringify({ services: services.map((service) => service.status), failures });
        const missing = services.length === 0 && failures.some((failure) => failure.reason === "MISSING");
        return missing || (services.length === 1 && services[0]?.status === "INACTIVE") || undefined;
      },
      5_000,
      100,
    ).catch((error: Error) => {
      throw new Error(`${error.message}; last DescribeServices: ${seen}`);
    });
    await waitFor(
      "rb's task processes to end",
      () => processesUnder([rbApp.dir]).length === 0 || undefined,
      15_000,
    );
    await api.request("GET", "/v1/stacks/rb", { expect: [404] });
  });

  it("lists the workflow executions and one execution's history with the aws CLI", async () => {
    const privateApi = await newestDeployment("demo", "privateApi");
    const { executions } = (await awsCli(current().awsUrl, [
      "stepfunctions",
      "list-executions",
      "--state-machine-arn",
      STATE_MACHINE_ARN,
    ])) as { executions: { name: string; executionArn: string; status: string }[] };
    const execution = executions.find((candidate) => candidate.name === privateApi.id);
    expect(execution, JSON.stringify(executions)).toBeDefined();
    expect(execution?.status).toBe("SUCCEEDED");
    expect(execution?.executionArn).toBe(privateApi.executionArn);
    expect(executions.map((candidate) => candidate.name)).not.toContain(cancelledId);

    const { events } = (await awsCli(current().awsUrl, [
      "stepfunctions",
      "get-execution-history",
      "--execution-arn",
      execution?.executionArn ?? "",
    ])) as { events: { type: string; executionStartedEventDetails?: { input: string } }[] };
    const types = events.map((event) => event.type);
    expect(types[0]).toBe("ExecutionStarted");
    expect(types.at(-1)).toBe("ExecutionSucceeded");
    expect(types).toContain("TaskStateEntered");
    expect(JSON.parse(events[0]?.executionStartedEventDetails?.input ?? "{}")).toMatchObject({
      deploymentId: privateApi.id,
      stack: "demo",
      service: "privateApi",
    });
  });

  it("ends a deployment truthfully when Berth Local restarts under it, and releases its service", async () => {
    const gate = join(gates, "never");
    const slow = requested(
      await api.applyStack(
        "rs",
        appStack({
          service: "slow",
          image: restartApp.image,
          version: "r1",
          healthCheckCommand: gatedHealthCheck(gate),
          startPeriodSeconds: 120,
        }),
      ),
      "slow",
    );
    expect(slow.placement).toBe("active");
    await api.waitForStatus(slow.deployment.id, ["DEPLOYING"], 30_000);
    await waitFor("the new revision's task to run", async () => {
      const [task] = await runningTasks(ecs, "rs-slow");
      return task?.lastStatus === "RUNNING" || undefined;
    });
    expect(processesUnder([restartApp.dir]).length).toBeGreaterThan(0);

    // Stopping Berth Local stops every task it runs.
    const exit = await current().stop();
    expect(exit).toBe(0);
    local = undefined;
    expect(processesUnder(taskDirs)).toEqual([]);

    await startLocal();
    // Ended by the restart's recovery (its reason says so), not by the wait's timeout, which is minutes.
    const ended = await api.waitForStatus(slow.deployment.id, undefined, 90_000);
    expect(ended.deployment.status).toBe("FAILED");
    expect(ended.deployment.reason).toMatch(/workflow execution ended ABORTED.*Berth Local stopped/);
    const { status, error } = (await awsCli(current().awsUrl, [
      "stepfunctions",
      "describe-execution",
      "--execution-arn",
      ended.deployment.executionArn ?? "",
    ])) as { status: string; error?: string };
    expect({ status, error }).toEqual({ status: "ABORTED", error: "Berth.LocalRestart" });

    // The service is free again: the next deployment takes the active slot and runs.
    const next = requested(
      await api.applyStack("rs", appStack({ service: "slow", image: restartApp.image, version: "r2" })),
      "slow",
    );
    expect(next.placement).toBe("active");
    const nextEnd = await api.waitForStatus(next.deployment.id, undefined, 60_000);
    expect(nextEnd.deployment.status, nextEnd.deployment.reason).toBe("SUCCEEDED");
    const task = await servingTask("rs-slow", taskDefinitionOf(nextEnd.events));
    expect(await getText(`http://127.0.0.1:${task.hostPort}/whoami`)).toMatch(/^r2:\d+$/);
  }, 150_000);
});

import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DescribeServicesCommand, type ECSClient } from "@aws-sdk/client-ecs";
import { DescribeExecutionCommand, SFNClient } from "@aws-sdk/client-sfn";
import { afterAll, describe, expect, it } from "vitest";
import { httpApp, waitFor } from "./support/apps.ts";
import {
  type BerthApi,
  type Deployment,
  type DeploymentEvent,
  type RequestedDeployment,
  requested,
} from "./support/berth-api.ts";
import { type BerthLocalProcess, processesUnder } from "./support/berth-local-process.ts";
import {
  aliasAddress as aliasAddressOn,
  appStack,
  berthLocalForFile,
  deployExecutionNames,
  e2eWorkspace,
  eventsOfType,
  expectTaskFailures,
  gatedHealthCheck,
  getText,
  keepAsking,
  localAwsConfig,
  localEcsClient,
  newestDeployment as newestDeploymentOf,
  runBerth,
  runningTasks,
  soleTask,
  taskDefinitionIn,
  writeStackFile,
} from "./support/e2e.ts";

/**
 * End to end on Berth Local, no mocks: one service's life through the CLI and the API on a Berth
 * Local child process (`packages/local/src/main.ts`, what `npm start` runs), real task processes.
 * Stack `rb` deploys v1, then revisions that fail their health check or crash (rolled back while
 * v1 keeps serving), deployments queued behind a running one (superseded, cancelled), a scale
 * and a rollback to a named deployment, then its deletion. The tests run in order and build on
 * each other.
 */

const workspace = e2eWorkspace("berth-e2e-rb-");
const { work, adminToken } = workspace;
const gates = join(work, "gates");
mkdirSync(gates);

/** The test app's directory for stack `rb` (service `api`): its task processes run there. */
const rbApp = httpApp();

let local: BerthLocalProcess;
let api: BerthApi;
let ecs: ECSClient;
let sfn: SFNClient;

berthLocalForFile(
  workspace,
  (running) => {
    ({ local, api } = running);
    ecs?.destroy();
    ecs = localEcsClient(local.awsUrl);
    sfn?.destroy();
    sfn = new SFNClient(localAwsConfig(local.awsUrl));
  },
  { appDirs: [rbApp.dir] },
);

afterAll(() => {
  ecs?.destroy();
  sfn?.destroy();
});

/** `berth deploy` of stack `rb`: its one service `api` at `version`, with extra environment. */
function deployRb(version: string, environment: Record<string, string> = {}) {
  const yaml = appStack({ service: "api", image: rbApp.image, version, environment });
  return runBerth(
    ["deploy", "-f", writeStackFile(work, `rb-${version}`, yaml), "--stack", "rb", "--timeout", "2m"],
    { apiUrl: local.apiUrl, token: adminToken },
  );
}

function newestDeployment(stack: string, service: string): Promise<Deployment> {
  return newestDeploymentOf(api, stack, service);
}

function taskDefinitionOf(events: DeploymentEvent[]): string {
  return taskDefinitionIn(events, "task-definition");
}

function executionNames(): Promise<string[]> {
  return deployExecutionNames(local.awsUrl);
}

function servingTask(service: string, taskDefinitionArn: string) {
  return soleTask(ecs, service, taskDefinitionArn);
}

function aliasAddress(alias: string): Promise<string> {
  return aliasAddressOn(local.awsUrl, alias);
}

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

/** Applies version `version` of api while another deployment of it runs: it waits in the queue. */
async function queuedBehind(version: string) {
  const queued = requested(
    await api.applyStack("rb", appStack({ service: "api", image: rbApp.image, version })),
    "api",
  );
  expect(queued.placement).toBe("queued");
  return queued;
}

describe("a service's rollbacks, queue and deletion on Berth Local", { shuffle: false }, () => {
  let v1TaskDefinition = "";

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
    expectTaskFailures(events, {
      exitCode: 3,
      stopCode: "EssentialContainerExited",
      logLine: "crashing on start",
    });
    expect(proxiedAnswers.length).toBeGreaterThan(5);
    expect(proxiedAnswers.filter((answer) => !/^v1:\d+$/.test(answer.text))).toEqual([]);
    const task = await servingTask("rb-api", v1TaskDefinition);
    expect(await getText(`http://127.0.0.1:${task.hostPort}/whoami`)).toMatch(/^v1:\d+$/);
  });

  it("supersedes a queued deployment with a newer one; the newest runs once the running one ends", async () => {
    const gate = join(gates, "supersede");
    const slow = await deployHeldAtTheGate(gate, "v4");

    const middle = await queuedBehind("v5");
    const last = await queuedBehind("v6");
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
    const queued = await queuedBehind("v8");
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
    // A queued deployment is promoted by the release of the one before it, the last step of that
    // one's workflow: once its execution has ended, a wrongly promoted deployment has started.
    await waitFor(
      "the v7 deployment's workflow to end",
      async () => {
        const { status } = await sfn.send(
          new DescribeExecutionCommand({ executionArn: slowEnd.deployment.executionArn }),
        );
        return status !== "RUNNING" ? status : undefined;
      },
      60_000,
      200,
    );
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
    // To the end, the cancelled deployment never got a workflow execution.
    expect(await executionNames()).not.toContain(cancelledId);
  });
});

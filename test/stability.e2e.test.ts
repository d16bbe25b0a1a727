import { existsSync, mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { DescribeServicesCommand, type ECSClient } from "@aws-sdk/client-ecs";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { httpApp, waitFor } from "./support/apps.ts";
import { BerthApi, type DeploymentEvent, requested } from "./support/berth-api.ts";
import {
  type BerthLocalProcess,
  logTail,
  processesUnder,
  startBerthLocalProcess,
} from "./support/berth-local-process.ts";
import {
  appStack,
  e2eWorkspace,
  eventsOfType,
  expectTaskFailures,
  gatedHealthCheck,
  getText,
  localEcsClient,
  runBerth,
  runningTasks,
  taskDefinitionIn,
} from "./support/e2e.ts";

/**
 * The stability gate and cancelling mid-rollout, end to end on Berth Local (its own child process,
 * data dir and app): a revision whose process exits a few hundred ms after it starts is never
 * SUCCEEDED, a healthy one still is, and a cancel while the new revision waits on its health check
 * returns the service to the revision it ran before.
 */

const { work, dataDir, logFile, adminToken } = e2eWorkspace("berth-stability-e2e-");
const gates = join(work, "gates");
mkdirSync(gates);
const app = httpApp();
const STACK = "st";
const ECS_SERVICE = `${STACK}-api`;

let local: BerthLocalProcess | undefined;
let api: BerthApi;
let ecs: ECSClient;

function current(): BerthLocalProcess {
  if (!local) throw new Error("Berth Local is not running");
  return local;
}

function berth(args: string[]): Promise<{ code: number; output: string }> {
  return runBerth(args, { apiUrl: current().apiUrl, token: adminToken });
}

function taskDefinitionOf(events: DeploymentEvent[]): string {
  return taskDefinitionIn(events, "service-updated");
}

/** Applies `yaml` to `stack` and waits for the one deployment of `api` to be final. */
async function deployAndWait(stack: string, yaml: string) {
  const deployment = requested(await api.applyStack(stack, yaml), "api");
  return api.waitForStatus(deployment.deployment.id, undefined, 150_000);
}

async function ecsService(name: string) {
  const { services } = await ecs.send(new DescribeServicesCommand({ cluster: "berth", services: [name] }));
  return services?.[0];
}

/** The service runs `taskDefinitionArn` alone, and its task answers. */
async function servesOnly(service: string, taskDefinitionArn: string): Promise<string> {
  const task = await waitFor(
    `${service} to run ${taskDefinitionArn} alone`,
    async () => {
      const tasks = await runningTasks(ecs, service);
      return tasks.length === 1 && tasks[0]?.taskDefinitionArn === taskDefinitionArn && tasks[0].hostPort > 0
        ? tasks[0]
        : undefined;
    },
    60_000,
    250,
  );
  return waitFor("its answer", () => getText(`http://127.0.0.1:${task.hostPort}/whoami`), 20_000, 250);
}

function crashingSoon(version: string): string {
  return appStack({
    service: "api",
    image: app.image,
    version,
    healthCheck: false,
    environment: { CRASH_AFTER_MS: "300" },
    // These tests are about Berth's own window (10 s without a health check).
    stabilitySeconds: "default",
  });
}

beforeAll(async () => {
  local = await startBerthLocalProcess({ dataDir, adminToken, logFile });
  api = new BerthApi(local.apiUrl, adminToken);
  ecs = localEcsClient(local.awsUrl);
});

afterAll(async () => {
  const exit = await local?.stop();
  ecs?.destroy();
  const taskDirs = [dataDir, app.dir];
  const leftovers = await waitFor(
    "task processes to end",
    () => (processesUnder(taskDirs).length === 0 ? [] : undefined),
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
  if (!process.env.BERTH_TEST_KEEP) {
    for (const dir of [work, app.dir]) rmSync(dir, { recursive: true, force: true });
  }
  if (leftovers.length > 0) {
    throw new Error(
      `task processes outlived Berth Local (exit ${String(exit)}): ${JSON.stringify(leftovers)}`,
    );
  }
});

beforeEach(({ onTestFailed }) => {
  onTestFailed(() => {
    console.error(`--- Berth Local log (${logFile}), last lines ---\n${logTail(logFile, 80)}`);
  });
});

/** The good revision the later tests go back to. */
let v1 = "";

// The cancel test goes back to the v1 the gate's tests deployed: one story, told in order.
describe("stability on Berth Local", { shuffle: false }, () => {
  describe("the stability gate on Berth Local", () => {
    it("fails a first deploy whose process exits 300 ms after it starts, with the exit code and its last log lines", async () => {
      const { deployment, events } = await deployAndWait("first", crashingSoon("v0"));
      expect(deployment.status, deployment.reason).toBe("FAILED");
      expect(deployment.reason).toContain("exit code 3");
      expect(deployment.reason).toContain("scaled to 0");
      expectTaskFailures(events, { exitCode: 3, logLine: "exiting with 3 in 300 ms" });
      expect(eventsOfType(events, "status").map((event) => event.data?.to)).not.toContain("SUCCEEDED");
      expect((await ecsService("first-api"))?.desiredCount).toBe(0);
    }, 180_000);

    it("still succeeds a healthy service without a health check, once it stayed up for the window", async () => {
      const { deployment, events } = await deployAndWait(
        STACK,
        appStack({
          service: "api",
          image: app.image,
          version: "v1",
          healthCheck: false,
          stabilitySeconds: "default",
        }),
      );
      expect(deployment.status, deployment.reason).toBe("SUCCEEDED");
      expect(deployment.reason).toContain("stability window");
      expect(eventsOfType(events, "rollout-completed")).toHaveLength(1);
      v1 = taskDefinitionOf(events);
      expect(await servesOnly(ECS_SERVICE, v1)).toMatch(/^v1:\d+$/);
    }, 180_000);

    it("rolls back a revision whose process exits 300 ms after it starts, with the exit code and its last log lines", async () => {
      const { deployment, events } = await deployAndWait(STACK, crashingSoon("v2"));
      expect(deployment.status, deployment.reason).toBe("ROLLED_BACK");
      expect(deployment.reason).toContain("exit code 3");
      expect(deployment.reason).toContain(v1);
      expectTaskFailures(events, {
        exitCode: 3,
        stopCode: "EssentialContainerExited",
        logLine: "exiting with 3 in 300 ms",
      });
      const service = await api.request<{ service?: { lastGoodTaskDefinitionArn?: string } }>(
        "GET",
        `/v1/stacks/${STACK}/services/api`,
      );
      expect(JSON.stringify(service)).toContain(v1);
      expect(await servesOnly(ECS_SERVICE, v1)).toMatch(/^v1:\d+$/);
    }, 180_000);
  });

  describe("cancelling mid-rollout on Berth Local", () => {
    it("stops a rollout waiting on its health check and returns the service to the revision it ran before", async () => {
      expect(v1, "the gate's tests deployed v1").not.toBe("");
      const gate = join(gates, "cancel");
      const slow = requested(
        await api.applyStack(
          STACK,
          appStack({
            service: "api",
            image: app.image,
            version: "v3",
            healthCheckCommand: gatedHealthCheck(gate),
            startPeriodSeconds: 120,
          }),
        ),
        "api",
      );
      const id = slow.deployment.id;
      // ECS runs the new revision beside v1, which is held at its health check.
      const v3 = await waitFor(
        "ECS to run the new revision",
        async () => {
          const { events } = await api.deployment(id);
          const updated = eventsOfType(events, "service-updated")[0]?.data?.taskDefinitionArn;
          if (typeof updated !== "string") return undefined;
          const tasks = await runningTasks(ecs, ECS_SERVICE);
          return tasks.some((task) => task.taskDefinitionArn === updated) ? updated : undefined;
        },
        60_000,
        250,
      );
      expect(v3).not.toBe(v1);

      const cancelled = await berth(["cancel", id, "--reason", "wrong branch", "--timeout", "2m"]);
      expect(cancelled.code, cancelled.output).toBe(0);
      expect(cancelled.output).toContain("waiting while its workflow stops it");
      expect(cancelled.output).toMatch(/is CANCELLED: wrong branch; undone: /);

      const { deployment, events } = await api.deployment(id);
      expect(deployment.status).toBe("CANCELLED");
      expect(deployment.reason).toContain(`the rollout of ${v3} was stopped`);
      expect(deployment.reason).toContain(`back on ${v1}`);
      expect(eventsOfType(events, "cancel-undo")).toHaveLength(1);
      expect(eventsOfType(events, "status").map((event) => event.data?.to)).toEqual([
        "DEPLOYING",
        "CANCELLED",
      ]);
      expect((await ecsService(ECS_SERVICE))?.taskDefinition).toBe(v1);
      expect(existsSync(gate)).toBe(false);
      expect(await servesOnly(ECS_SERVICE, v1)).toMatch(/^v1:\d+$/);
    }, 180_000);
  });
});

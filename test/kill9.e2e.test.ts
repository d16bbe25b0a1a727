import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DescribeServicesCommand, DescribeTasksCommand, type ECSClient } from "@aws-sdk/client-ecs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { httpApp, waitFor } from "./support/apps.ts";
import { BerthApi, requested } from "./support/berth-api.ts";
import {
  type BerthLocalProcess,
  logTail,
  processesUnder,
  startBerthLocalProcess,
} from "./support/berth-local-process.ts";
import { appStack, e2eWorkspace, localEcsClient, runningTasks, taskDefinitionIn } from "./support/e2e.ts";

/**
 * Berth Local killed with SIGKILL (no shutdown, no exit hook) while it runs tasks: no task
 * process may outlive it, and after a restart each service runs exactly its desired count again,
 * with the lost tasks' records saying what happened.
 */

const { work, dataDir, logFile, adminToken } = e2eWorkspace("berth-kill9-");
const app = httpApp();
const taskDirs = [dataDir, app.dir];
const LOST_REASON = /^Berth Local ended without stopping this task \(killed or crashed\)/;

let local: BerthLocalProcess | undefined;
let api: BerthApi;
let ecs: ECSClient;

async function startLocal(): Promise<void> {
  local = await startBerthLocalProcess({ dataDir, adminToken, logFile });
  api = new BerthApi(local.apiUrl, adminToken);
  ecs?.destroy();
  ecs = localEcsClient(local.awsUrl);
}

/** SIGKILL to Berth Local's own process only: its tasks are in process groups of their own. */
async function killBerthLocal(): Promise<void> {
  const running = local;
  if (!running) throw new Error("Berth Local is not running");
  local = undefined;
  process.kill(running.pid, "SIGKILL");
  expect(await running.exited).toBe("SIGKILL");
  await waitFor(
    "every task process to end with Berth Local",
    () => processesUnder(taskDirs).length === 0 || undefined,
    30_000,
    100,
  ).catch((error: Error) => {
    throw new Error(`${error.message}: ${JSON.stringify(processesUnder(taskDirs))}`);
  });
}

/** The app's server processes (not their supervisors or health checks). */
function servers(): number[] {
  return processesUnder([app.dir])
    .filter((found) => found.command.startsWith("node server.mjs"))
    .map((found) => found.pid);
}

async function describeTasks(taskArns: string[]) {
  const { tasks = [] } = await ecs.send(new DescribeTasksCommand({ cluster: "berth", tasks: taskArns }));
  return tasks;
}

beforeAll(async () => {
  await startLocal();
});

afterAll(async () => {
  await local?.stop();
  ecs?.destroy();
  const leftovers = processesUnder(taskDirs);
  for (const leftover of leftovers) {
    try {
      process.kill(leftover.pid, "SIGKILL");
    } catch {
      // Ended meanwhile.
    }
  }
  if (leftovers.length > 0)
    throw new Error(`task processes outlived Berth Local: ${JSON.stringify(leftovers)}`);
  rmSync(work, { recursive: true, force: true });
});

describe("kill -9 of Berth Local", { shuffle: false }, () => {
  // No health check: on a busy machine a node health check can time out, and that failure would
  // be counted where this test asserts that the lost tasks are not.
  it("takes every task with it, and a restart runs exactly the desired count with truthful records", async () => {
    const applied = requested(
      await api.applyStack(
        "k9",
        appStack({ service: "api", image: app.image, version: "v1", instances: 3, healthCheck: false }),
      ),
      "api",
    );
    const deployed = await api.waitForStatus(applied.deployment.id, undefined, 90_000);
    expect(deployed.deployment.status, deployed.deployment.reason).toBe("SUCCEEDED");
    const before = await waitFor("3 running tasks", async () => {
      const tasks = await runningTasks(ecs, "k9-api");
      return tasks.length === 3 && tasks.every((task) => task.lastStatus === "RUNNING") ? tasks : undefined;
    });
    expect(servers()).toHaveLength(3);

    await killBerthLocal();
    await startLocal();

    let seen: unknown;
    const after = await waitFor(
      "3 running tasks after the restart",
      async () => {
        const tasks = await runningTasks(ecs, "k9-api");
        seen = tasks;
        return tasks.length === 3 && tasks.every((task) => task.lastStatus === "RUNNING") ? tasks : undefined;
      },
      90_000,
      250,
    ).catch((error: Error) => {
      throw new Error(`${error.message}; last seen: ${JSON.stringify(seen)}\n${logTail(logFile, 20)}`);
    });
    const beforeArns = before.map((task) => task.taskArn);
    expect(after.map((task) => task.taskArn).filter((arn) => beforeArns.includes(arn))).toEqual([]);
    expect(servers(), logTail(logFile)).toHaveLength(3);

    // The lost tasks: STOPPED, by the infrastructure (not the app failing), and why.
    const lost = await describeTasks(beforeArns);
    expect(lost).toHaveLength(3);
    for (const task of lost) {
      expect(task.lastStatus).toBe("STOPPED");
      expect(task.stopCode).toBe("TerminationNotice");
      expect(task.stoppedReason).toMatch(LOST_REASON);
      expect(task.containers?.[0]?.exitCode).toBe(137);
    }
    // Not a deployment failure: the ECS deployment is not failed, and the Berth deployment stays SUCCEEDED.
    const { services = [] } = await ecs.send(
      new DescribeServicesCommand({ cluster: "berth", services: ["k9-api"] }),
    );
    expect(services[0]?.deployments?.map((deployment) => deployment.failedTasks)).toEqual([0]);
    expect((await api.deployment(applied.deployment.id)).deployment.status).toBe("SUCCEEDED");
    // Nothing more starts: the count stays at 3.
    expect(await runningTasks(ecs, "k9-api")).toHaveLength(3);
  }, 300_000);

  it("ends a rollback interrupted by the kill: the service returns to the good revision and the record says so", async () => {
    const gate = join(work, "gate");
    // A shell test rather than a node process, so that a busy machine cannot time the check out.
    const gateCheck = ["CMD-SHELL", `test -f ${gate}`];
    writeFileSync(gate, "open");
    const apply = async (version: string, environment: Record<string, string> = {}) =>
      requested(
        await api.applyStack(
          "rb9",
          appStack({
            service: "api",
            image: app.image,
            version,
            environment,
            healthCheckCommand: gateCheck,
            startPeriodSeconds: 120,
          }),
        ),
        "api",
      );
    const good = await apply("good");
    const goodEnd = await api.waitForStatus(good.deployment.id, undefined, 90_000);
    expect(goodEnd.deployment.status, goodEnd.deployment.reason).toBe("SUCCEEDED");

    // The rollback's tasks will not become healthy while the gate is closed: it stays in progress.
    rmSync(gate);
    const bad = await apply("bad", { CRASH: "1" });
    await api.waitForStatus(bad.deployment.id, ["ROLLING_BACK"], 120_000);

    await killBerthLocal();
    writeFileSync(gate, "open");
    await startLocal();

    const ended = await api.waitForStatus(bad.deployment.id, undefined, 120_000);
    // The record says the rollback was cut short by the restart, not that it succeeded.
    expect(ended.deployment.status).toBe("ROLLBACK_FAILED");
    expect(ended.deployment.reason).toMatch(/ABORTED/);
    // And nothing is left on the crashing revision: ECS finishes returning to the good one.
    const service = await waitFor(
      "ECS to complete the return to one healthy task",
      async () => {
        const tasks = await runningTasks(ecs, "rb9-api");
        const { services = [] } = await ecs.send(
          new DescribeServicesCommand({ cluster: "berth", services: ["rb9-api"] }),
        );
        const primary = services[0]?.deployments?.find((deployment) => deployment.status === "PRIMARY");
        return tasks.length === 1 &&
          tasks[0]?.healthStatus === "HEALTHY" &&
          primary?.rolloutState === "COMPLETED"
          ? { taskDefinition: services[0]?.taskDefinition, task: tasks[0].taskDefinitionArn }
          : undefined;
      },
      120_000,
      250,
    );
    expect(service.task).toBe(service.taskDefinition);
    const goodRevision = service.task;
    expect(goodRevision).toBe(taskDefinitionIn(goodEnd.events, "task-definition"));
  }, 400_000);
});

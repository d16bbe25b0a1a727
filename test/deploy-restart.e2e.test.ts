import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ECSClient } from "@aws-sdk/client-ecs";
import { DescribeExecutionCommand, SFNClient } from "@aws-sdk/client-sfn";
import { afterAll, describe, expect, it } from "vitest";
import { httpApp, waitFor } from "./support/apps.ts";
import { type BerthApi, requested } from "./support/berth-api.ts";
import { type BerthLocalProcess, processesUnder } from "./support/berth-local-process.ts";
import {
  appStack,
  berthLocalForFile,
  e2eWorkspace,
  gatedHealthCheck,
  getText,
  localAwsConfig,
  localEcsClient,
  runBerth,
  runningTasks,
  soleTask,
  taskDefinitionIn,
  writeStackFile,
} from "./support/e2e.ts";

/**
 * End to end on Berth Local, no mocks: a Berth Local child process (`packages/local/src/main.ts`,
 * what `npm start` runs), the `berth` CLI's `main`, the HTTP API, the AWS SDK, real task
 * processes. What the CLI prints while a deployment waits on its health checks; then Berth Local
 * restarted under a deployment on the same data dir. The tests run in order.
 */

const workspace = e2eWorkspace("berth-e2e-restart-");
const { work, dataDir, adminToken } = workspace;
const gates = join(work, "gates");
mkdirSync(gates);

/** The test apps' directories (the restart test's stack, the progress test's): task processes run there. */
const restartApp = httpApp();
const progressApp = httpApp();
const taskDirs = [dataDir, restartApp.dir, progressApp.dir];

let local: BerthLocalProcess | undefined;
let api: BerthApi;
let ecs: ECSClient;

const berthLocal = berthLocalForFile(
  workspace,
  (running) => {
    ({ local, api } = running);
    ecs?.destroy();
    ecs = localEcsClient(running.local.awsUrl);
  },
  { appDirs: [restartApp.dir, progressApp.dir] },
);

afterAll(() => {
  ecs?.destroy();
});

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

describe("deploying on Berth Local: progress, and a restart under a deployment", { shuffle: false }, () => {
  it("prints the new revision's tasks and ECS's latest event while a deployment waits on its health checks", async () => {
    const gate = join(gates, "progress");
    const lines: string[] = [];
    const file = writeStackFile(
      work,
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
    const exit = await berthLocal.stop();
    expect(exit).toBe(0);
    local = undefined;
    expect(processesUnder(taskDirs)).toEqual([]);

    await berthLocal.start();
    // Ended by the restart's recovery (its reason says so), not by the wait's timeout, which is minutes.
    const ended = await api.waitForStatus(slow.deployment.id, undefined, 90_000);
    expect(ended.deployment.status).toBe("FAILED");
    expect(ended.deployment.reason).toMatch(/workflow execution ended ABORTED.*Berth Local stopped/);
    const sfn = new SFNClient(localAwsConfig(current().awsUrl));
    const { status, error } = await sfn
      .send(new DescribeExecutionCommand({ executionArn: ended.deployment.executionArn ?? "" }))
      .finally(() => sfn.destroy());
    expect({ status, error }).toEqual({ status: "ABORTED", error: "Berth.LocalRestart" });

    // The service is free again: the next deployment takes the active slot and runs.
    const next = requested(
      await api.applyStack("rs", appStack({ service: "slow", image: restartApp.image, version: "r2" })),
      "slow",
    );
    expect(next.placement).toBe("active");
    const nextEnd = await api.waitForStatus(next.deployment.id, undefined, 60_000);
    expect(nextEnd.deployment.status, nextEnd.deployment.reason).toBe("SUCCEEDED");
    const task = await soleTask(ecs, "rs-slow", taskDefinitionIn(nextEnd.events, "task-definition"));
    expect(await getText(`http://127.0.0.1:${task.hostPort}/whoami`)).toMatch(/^r2:\d+$/);
  }, 150_000);
});

import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { availableParallelism, cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import {
  CreateClusterCommand,
  CreateServiceCommand,
  DescribeServicesCommand,
  DescribeTasksCommand,
  type ECSClient,
  ListTasksCommand,
  RegisterTaskDefinitionCommand,
  UpdateServiceCommand,
} from "@aws-sdk/client-ecs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BerthLocal, startBerthLocal } from "../packages/local/src/berth-local.ts";
import { appTaskDefinition, httpApp, waitFor } from "./support/apps.ts";
import { localEcsClient } from "./support/e2e.ts";
import { LOAD_PAUSE_MS } from "./support/load.ts";

/**
 * Rolling updates through Berth Local's Service Connect lose no request, for an app that closes
 * its server on SIGTERM and for one that exits at once: a 3-task HTTP service is rolled forward
 * twice while 4 loops send keep-alive GETs through its alias, with every core busy (a busy loop for
 * each core that was idle when the file started).
 */

const app = httpApp();
let local: BerthLocal;
let ecs: ECSClient;
const hogs: ChildProcess[] = [];

async function register(family: string, environment: Record<string, string>): Promise<string> {
  const { taskDefinition } = await ecs.send(
    new RegisterTaskDefinitionCommand(
      appTaskDefinition(app.image, family, environment, { appProtocol: "http", stopTimeout: 10 }),
    ),
  );
  return taskDefinition?.taskDefinitionArn ?? "";
}

/** The rollout to `taskDefinition` completed and every task it replaced is STOPPED. */
async function settled(service: string, taskDefinition: string): Promise<void> {
  await waitFor(
    `${service} on ${taskDefinition}, its old tasks stopped`,
    async () => {
      const { services = [] } = await ecs.send(
        new DescribeServicesCommand({ cluster: "lossless", services: [service] }),
      );
      const deployments = services[0]?.deployments ?? [];
      if (deployments.length !== 1 || deployments[0]?.taskDefinition !== taskDefinition) return undefined;
      if (deployments[0]?.rolloutState !== "COMPLETED" || services[0]?.runningCount !== 3) return undefined;
      const { taskArns = [] } = await ecs.send(
        new ListTasksCommand({ cluster: "lossless", serviceName: service, desiredStatus: "STOPPED" }),
      );
      if (taskArns.length === 0) return true;
      const { tasks = [] } = await ecs.send(
        new DescribeTasksCommand({ cluster: "lossless", tasks: taskArns }),
      );
      return tasks.every((task) => task.lastStatus === "STOPPED") || undefined;
    },
    240_000,
    250,
  );
}

/** The share of all cores' time spent idle over the next `ms` milliseconds (0 to 1). */
async function idleShare(ms: number): Promise<number> {
  const sample = () => {
    let idle = 0;
    let total = 0;
    for (const { times } of cpus()) {
      idle += times.idle;
      total += times.user + times.nice + times.sys + times.idle + times.irq;
    }
    return { idle, total };
  };
  const before = sample();
  await new Promise((resolve) => setTimeout(resolve, ms)); // a measuring window, not a wait
  const after = sample();
  return after.total > before.total ? (after.idle - before.idle) / (after.total - before.total) : 1;
}

beforeAll(async () => {
  local = await startBerthLocal({
    dataDir: mkdtempSync(join(tmpdir(), "berth-lossless-")),
    awsPort: 0,
    timedSchedules: false,
  });
  ecs = localEcsClient(local.awsEndpoint.url);
  await ecs.send(new CreateClusterCommand({ clusterName: "lossless" }));
  // CPU contention for the whole file: a busy loop for each core that is (nearly) idle now,
  // measured over a second. Run alone, that is one per core; inside `npm test` the files beside
  // this one keep the cores busy most of the time, and loops there would only take CPU from them.
  const idleCores = Math.floor((await idleShare(1000)) * availableParallelism() + 0.25);
  for (let core = 0; core < idleCores; core++) {
    hogs.push(spawn(process.execPath, ["-e", "for(;;){}"], { stdio: "ignore" }));
  }
}, 60_000);

afterAll(async () => {
  for (const hog of hogs) hog.kill("SIGKILL");
  ecs?.destroy();
  await local?.close();
});

describe.each([
  ["closes its server on SIGTERM", "close"],
  ["exits at once on SIGTERM", "exit"],
])("rolling updates through Service Connect of an app that %s", (_kind, onSigterm) => {
  it("fail no request over two rolling updates", async () => {
    const service = `app-${onSigterm}`;
    const environment = (version: string) => ({ VERSION: version, ON_SIGTERM: onSigterm, DELAY_MS: "5" });
    const first = await register(service, environment("v1"));
    await ecs.send(
      new CreateServiceCommand({
        cluster: "lossless",
        serviceName: service,
        taskDefinition: first,
        desiredCount: 3,
        serviceConnectConfiguration: {
          enabled: true,
          namespace: "berth.local",
          services: [
            {
              portName: "app-3000",
              discoveryName: service,
              clientAliases: [{ port: 3000, dnsName: service }],
            },
          ],
        },
      }),
    );
    await settled(service, first);
    const address = local.ecs.serviceConnect.addressOf("berth.local", `${service}:3000`);
    expect(address).toMatch(/^127\.0\.0\.1:\d+$/);

    let running = true;
    let sent = 0;
    const failures: string[] = [];
    const seen = new Set<string>();
    // Node's fetch keeps connections alive between a loop's requests (LOAD_PAUSE_MS apart).
    const loop = async () => {
      while (running) {
        sent += 1;
        try {
          const response = await fetch(`http://${address}/whoami`);
          const text = await response.text();
          if (response.status === 200) seen.add(text.split(":")[0] ?? "");
          else failures.push(`HTTP ${response.status}: ${text}`);
        } catch (error) {
          const cause = (error as { cause?: { code?: string; message?: string } }).cause;
          failures.push(`${(error as Error).message}: ${cause?.code ?? cause?.message ?? ""}`);
        }
        await delay(LOAD_PAUSE_MS); // a pace, not a wait: the test waits on the rollouts
      }
    };
    const loops = Array.from({ length: 4 }, loop);
    try {
      for (const version of ["v2", "v3"]) {
        const next = await register(service, environment(version));
        await ecs.send(new UpdateServiceCommand({ cluster: "lossless", service, taskDefinition: next }));
        await settled(service, next);
      }
    } finally {
      running = false;
      await Promise.all(loops);
    }
    expect(failures).toEqual([]);
    expect([...seen].sort()).toEqual(["v1", "v2", "v3"]);
    // Traffic flowed through both updates (answers from every version; how much depends on the
    // machine's load).
    expect(sent).toBeGreaterThan(20);
  }, 600_000);
});

import { setTimeout as delay } from "node:timers/promises";
import {
  CreateClusterCommand,
  CreateServiceCommand,
  DescribeServicesCommand,
  ECSClient,
  RegisterTaskDefinitionCommand,
  UpdateServiceCommand,
} from "@aws-sdk/client-ecs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { appTaskDefinition, httpApp, waitFor } from "../../../../test/support/apps.ts";
import { LOAD_PAUSE_MS } from "../../../../test/support/load.ts";
import type { BerthLocal } from "../berth-local.ts";
import { CANARY_10_PERCENT_5_MINUTES, localClientConfig, startTestLocal } from "../test-support.ts";

/**
 * Gradual deployments on Berth Local's ECS, under load through a Service Connect HTTP proxy
 * (the gateways order their targets with the same weighted selection): a canary gets about its
 * share of requests while it bakes, then all of them, and no request fails; a canary whose new
 * tasks fail their health checks once they take traffic is rolled back, traffic back on the old
 * tasks. A strategy minute lasts 8 s here (`strategyMinuteMs`, BERTH_LOCAL_MINUTE_MS in `npm start`).
 */

const app = httpApp();
let local: BerthLocal;
let ecs: ECSClient;
const CLUSTER = "shift";
const SERVICE = "web";

async function register(environment: Record<string, string>) {
  const { taskDefinition } = await ecs.send(
    new RegisterTaskDefinitionCommand(
      appTaskDefinition(app.image, "shift-web", environment, { appProtocol: "http" }),
    ),
  );
  return taskDefinition?.taskDefinitionArn ?? "";
}

interface TrafficDeployment {
  id: string;
  status: string;
  rolloutState: string;
  shift?: { state: string };
  trafficPercent?: number;
  healthyTasks: number;
}

async function traffic(): Promise<TrafficDeployment[]> {
  const response = await fetch(`${local.awsEndpoint.url}/_local/ecs/traffic`);
  const { services } = (await response.json()) as {
    services: { service: string; deployments: TrafficDeployment[] }[];
  };
  return services.find((entry) => entry.service === SERVICE)?.deployments ?? [];
}

/** The shifting deployment's state and share ("none" when no shift is under way or undone). */
function shiftPhase(deployments: TrafficDeployment[]): string {
  const shifting =
    deployments.find((d) => d.status === "PRIMARY" && d.shift) ??
    deployments.find((d) => d.shift?.state === "ROLLED_BACK");
  return shifting?.shift ? `${shifting.shift.state}:${shifting.trafficPercent ?? "?"}` : "none";
}

let proxyUrl = "";

async function ask(): Promise<{ status: number; body: string }> {
  const response = await fetch(`${proxyUrl}/`, { signal: AbortSignal.timeout(15_000) });
  return { status: response.status, body: await response.text() };
}

/**
 * Four clients asking one request after another, `LOAD_PAUSE_MS` apart, until `until` holds; each
 * answer is counted under the shift phase seen both when it was sent and, read again, after it
 * came back (answers across a change are left out).
 */
async function underLoad(
  until: () => Promise<boolean>,
  /** Also wait for this, unless the phase it needs is over (answers counted so far, current phase). */
  enough?: (share: (of: string, version: string) => number, phase: string) => boolean,
) {
  let phase = shiftPhase(await traffic());
  let changes = 0;
  const phasesSeen = [phase];
  let running = true;
  const watcher = (async () => {
    while (running) {
      const next = shiftPhase(await traffic().catch(() => []));
      if (next !== phase) {
        phase = next;
        changes += 1;
        phasesSeen.push(next);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  })();
  const failures: string[] = [];
  const answers = new Map<string, Map<string, number>>();
  let total = 0;
  const clients = Array.from({ length: 4 }, async () => {
    while (running) {
      const before = changes;
      const seen = phase;
      try {
        const answer = await ask();
        total += 1;
        // The watcher polls: read the phase again, so an answer sent after a change the watcher
        // had not seen yet is not counted under the phase before it (phases only move forward).
        const after = answer.status === 200 ? shiftPhase(await traffic().catch(() => [])) : seen;
        if (answer.status !== 200) failures.push(`${answer.status} ${answer.body}`);
        else if (changes === before && after === seen) {
          const counts = answers.get(seen) ?? new Map<string, number>();
          counts.set(answer.body, (counts.get(answer.body) ?? 0) + 1);
          answers.set(seen, counts);
        }
      } catch (error) {
        failures.push(String(error));
      }
      await delay(LOAD_PAUSE_MS); // a pace, not a wait: the test waits on `until`
    }
  });
  const share = (of: string, version: string) => answers.get(of)?.get(version) ?? 0;
  try {
    await waitFor(
      "the deployment to end",
      async () => (await until()) && (enough ? enough(share, phase) : true),
      300_000,
      250,
    );
  } finally {
    running = false;
    await Promise.all([...clients, watcher]);
  }
  return { failures, answers, total, phasesSeen, share };
}

async function deployments() {
  const { services } = await ecs.send(new DescribeServicesCommand({ cluster: CLUSTER, services: [SERVICE] }));
  return services?.[0]?.deployments ?? [];
}

beforeAll(async () => {
  local = await startTestLocal("shift", { strategyMinuteMs: 8_000 });
  ecs = new ECSClient(localClientConfig(local.awsEndpoint.url));
  await ecs.send(new CreateClusterCommand({ clusterName: CLUSTER }));
});

afterAll(async () => {
  await local?.close();
});

describe("canary deployments on Berth Local", { shuffle: false }, () => {
  it("starts the first deployment at once: there is no traffic to shift from", async () => {
    await ecs.send(
      new CreateServiceCommand({
        cluster: CLUSTER,
        serviceName: SERVICE,
        taskDefinition: await register({ VERSION: "v1" }),
        desiredCount: 2,
        deploymentConfiguration: CANARY_10_PERCENT_5_MINUTES,
        serviceConnectConfiguration: {
          enabled: true,
          namespace: "berth.local",
          services: [{ portName: "app-3000", clientAliases: [{ port: 3000, dnsName: "web" }] }],
        },
      }),
    );
    await waitFor(
      "v1 to complete",
      async () => (await deployments())[0]?.rolloutState === "COMPLETED",
      120_000,
      250,
    );
    expect((await traffic()).every((d) => d.shift === undefined)).toBe(true);
    proxyUrl = `http://${local.ecs.serviceConnect.addressOf("berth.local", "web:3000")}`;
    expect((await ask()).body).toBe("v1");
  }, 200_000);

  it("sends about 10% of requests to the canary while it bakes, then all, losing none", async () => {
    await ecs.send(
      new UpdateServiceCommand({
        cluster: CLUSTER,
        service: SERVICE,
        taskDefinition: await register({ VERSION: "v2" }),
      }),
    );
    const run = await underLoad(async () => (await deployments())[0]?.rolloutState !== "IN_PROGRESS");
    expect((await deployments())[0]?.rolloutState).toBe("COMPLETED");
    expect(run.failures, `${run.failures.length} of ${run.total} requests failed`).toEqual([]);
    // The schedule: no traffic until every new task is healthy, the canary's 10%, then all.
    expect(run.phasesSeen).toContain("SHIFTING:10");
    const done = run.phasesSeen.findIndex((phase) => phase.startsWith("DONE"));
    expect(done, run.phasesSeen.join(" ")).toBeGreaterThan(run.phasesSeen.indexOf("SHIFTING:10"));
    expect(run.share("PENDING:0", "v2")).toBe(0);
    const canary = run.share("SHIFTING:10", "v2");
    const measured = canary + run.share("SHIFTING:10", "v1");
    const seen = JSON.stringify([...run.answers].map(([phase, counts]) => [phase, [...counts]]));
    expect(measured, seen).toBeGreaterThanOrEqual(30);
    // 10% by weight: a tolerant band for the answers at the edges of the phase.
    expect(canary / measured, seen).toBeGreaterThanOrEqual(0.03);
    expect(canary / measured, seen).toBeLessThanOrEqual(0.25);
    // Afterwards only the new version answers.
    for (let index = 0; index < 10; index += 1) expect((await ask()).body).toBe("v2");
  }, 400_000);

  it("rolls a canary back when its new tasks fail health checks while taking traffic", async () => {
    await ecs.send(
      new UpdateServiceCommand({
        cluster: CLUSTER,
        service: SERVICE,
        taskDefinition: await register({ VERSION: "v3", UNHEALTHY_ONCE_SERVING: "1" }),
      }),
    );
    const failed = (await deployments())[0]?.id ?? "";
    const run = await underLoad(
      async () => {
        const [newest] = await deployments();
        return newest?.id !== failed && newest?.rolloutState === "COMPLETED";
      },
      // The rollback deployment completes at once (the old tasks never left); keep asking while
      // the failed canary is still listed as rolled back, until answers were counted under it.
      (share, phase) => share("ROLLED_BACK:0", "v2") > 0 || !phase.startsWith("ROLLED_BACK"),
    );
    const all = await deployments();
    expect(all[0]?.rolloutStateReason).toContain(`rolled back from deployment ${failed}`);
    expect(all[0]?.rolloutStateReason).toContain("shifted to it");
    expect(run.failures, `${run.failures.length} of ${run.total} requests failed`).toEqual([]);
    // The canary took its share, failed, and traffic went back to the old tasks at once.
    expect(run.share("SHIFTING:10", "v3")).toBeGreaterThan(0);
    expect(run.phasesSeen).toContain("ROLLED_BACK:0");
    expect(run.share("ROLLED_BACK:0", "v3")).toBe(0);
    expect(run.share("ROLLED_BACK:0", "v2")).toBeGreaterThan(0);
    for (let index = 0; index < 10; index += 1) expect((await ask()).body).toBe("v2");
  }, 400_000);
});

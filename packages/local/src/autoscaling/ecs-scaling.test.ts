import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  ApplicationAutoScalingClient,
  DescribeScalingActivitiesCommand,
  PutScalingPolicyCommand,
  RegisterScalableTargetCommand,
} from "@aws-sdk/client-application-auto-scaling";
import {
  CreateClusterCommand,
  CreateServiceCommand,
  DescribeServicesCommand,
  ECSClient,
  RegisterTaskDefinitionCommand,
} from "@aws-sdk/client-ecs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "../../../../test/support/apps.ts";
import type { BerthLocal } from "../berth-local.ts";
import { localClientConfig, startTestLocal } from "../test-support.ts";

// A worker that burns CPU on four threads while the flag file exists, and idles otherwise. Four
// threads, so that even on a machine whose cores are taken by other work the task still measures
// far above its 256 units and the scale-out goes to the maximum in one step.
const WORKER = `
const { Worker } = await import("node:worker_threads");
const BURN = \`
const flag = process.env.BURN_FILE;
const fs = require("node:fs");
function loop() {
  const until = Date.now() + 90;
  if (fs.existsSync(flag)) while (Date.now() < until) {}
  setTimeout(loop, 10);
}
loop();
\`;
for (let i = 0; i < 4; i++) new Worker(BURN, { eval: true });
process.on("SIGTERM", () => process.exit(0));
`;

const dir = mkdtempSync(join(tmpdir(), "berth-scaling-"));
const burn = join(dir, "burn");
let local: BerthLocal;
let ecs: ECSClient;
let scaling: ApplicationAutoScalingClient;

beforeAll(async () => {
  writeFileSync(join(dir, "worker.mjs"), WORKER);
  local = await startTestLocal("scaling", { dataDir: join(dir, "data"), scalingIntervalMs: 300 });
  const config = localClientConfig(local.awsEndpoint.url);
  ecs = new ECSClient(config);
  scaling = new ApplicationAutoScalingClient(config);
});
afterAll(async () => {
  await local?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function desired(): Promise<{ desired: number; running: number }> {
  const service = (await ecs.send(new DescribeServicesCommand({ cluster: "scaling", services: ["worker"] })))
    .services?.[0];
  return { desired: service?.desiredCount ?? -1, running: service?.runningCount ?? -1 };
}

describe("autoscaling an ECS service of Berth Local", () => {
  it("scales out under CPU load and back in after the scale-in cooldown once the load ends", async () => {
    await ecs.send(new CreateClusterCommand({ clusterName: "scaling" }));
    const { taskDefinition } = await ecs.send(
      new RegisterTaskDefinitionCommand({
        family: "worker",
        cpu: "256",
        memory: "512",
        containerDefinitions: [
          {
            name: "worker",
            image: `file://${dir}`,
            command: ["node", "worker.mjs"],
            environment: [{ name: "BURN_FILE", value: burn }],
          },
        ],
      }),
    );
    await ecs.send(
      new CreateServiceCommand({
        cluster: "scaling",
        serviceName: "worker",
        taskDefinition: taskDefinition?.taskDefinitionArn,
        desiredCount: 1,
      }),
    );
    const target = {
      ServiceNamespace: "ecs" as const,
      ResourceId: "service/scaling/worker",
      ScalableDimension: "ecs:service:DesiredCount" as const,
    };
    await scaling.send(new RegisterScalableTargetCommand({ ...target, MinCapacity: 1, MaxCapacity: 3 }));
    await scaling.send(
      new PutScalingPolicyCommand({
        ...target,
        PolicyName: "cpu",
        PolicyType: "TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration: {
          TargetValue: 50,
          PredefinedMetricSpecification: { PredefinedMetricType: "ECSServiceAverageCPUUtilization" },
          ScaleOutCooldown: 0,
          ScaleInCooldown: 3,
        },
      }),
    );
    await waitFor("one running task", async () => ((await desired()).running === 1 ? true : undefined));

    writeFileSync(burn, "");
    await waitFor(
      "the scale-out to 3 running tasks",
      async () => {
        const counts = await desired();
        return counts.desired === 3 && counts.running === 3 ? true : undefined;
      },
      120_000,
    );

    rmSync(burn);
    expect(existsSync(burn)).toBe(false);
    const idleSince = Date.now();
    await waitFor(
      "the scale-in to 1",
      async () => ((await desired()).desired === 1 ? true : undefined),
      120_000,
    );
    // No scale-in before the 3-second scale-in cooldown.
    expect(Date.now() - idleSince).toBeGreaterThanOrEqual(3000);
    await waitFor(
      "one running task again",
      async () => ((await desired()).running === 1 ? true : undefined),
      120_000,
    );

    const { ScalingActivities = [] } = await scaling.send(
      new DescribeScalingActivitiesCommand({ ServiceNamespace: "ecs", ResourceId: target.ResourceId }),
    );
    const descriptions = ScalingActivities.map((activity) => activity.Description ?? "");
    expect(descriptions.some((text) => /to 3/.test(text))).toBe(true);
    expect(descriptions.some((text) => /to 1/.test(text))).toBe(true);
    const events =
      (await ecs.send(new DescribeServicesCommand({ cluster: "scaling", services: ["worker"] })))
        .services?.[0]?.events ?? [];
    // One step from 1 to 3 on a quiet machine; on a busy one the tasks' measured CPU can be lower
    // and the policy goes there in two steps (1 to 2, then 2 to 3): either way ECS records it.
    expect(
      events.some((event) => /has changed its desired count from [12] to 3/.test(event.message ?? "")),
    ).toBe(true);
  }, 420_000); // three waits of up to 2 minutes on a busy machine
});

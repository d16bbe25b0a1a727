/**
 * Berth Local's ECS: how long a rolling update of a 3-task HTTP service takes compared with its
 * lower bound, and how long a bad revision runs before the circuit breaker starts the rollback.
 *
 *   npm run bench -- ecs-rollout      (or: npx tsx bench/ecs-rollout.ts)
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startBerthLocal } from "../packages/local/src/berth-local.ts";
import type { BusEvent } from "../packages/local/src/events.ts";
import { httpApp } from "../test/support/apps.ts";
import { machine, ms } from "./machine.ts";
import * as Bench from "./support/ecs.ts";

type TaskDetail = {
  taskArn: string;
  taskDefinitionArn: string;
  lastStatus: string;
  healthStatus: string;
  createdAt: number;
};

const dataDir = mkdtempSync(join(tmpdir(), "berth-bench-rollout-"));
const app = httpApp();
const local = await startBerthLocal({ dataDir, awsPort: 0, tickMs: 100 });
const events: { at: number; event: BusEvent }[] = [];
local.bus.subscribe((event) => events.push({ at: Date.now(), event }));
const ecs = Bench.localEcs(local);

const register = (environment: Record<string, string>) =>
  Bench.registerWeb(ecs, "bench", app.image, environment);
const completed = (taskDefinition: string) => Bench.deploymentCompleted(ecs, "bench", "web", taskDefinition);

/** Per task of a revision: ms from its creation to its first HEALTHY state. */
function timeToHealthy(taskDefinition: string): number[] {
  const seen = new Map<string, number>();
  for (const { at, event } of events) {
    if (event["detail-type"] !== "ECS Task State Change") continue;
    const task = event.detail as TaskDetail;
    if (task.taskDefinitionArn !== taskDefinition || seen.has(task.taskArn)) continue;
    if (task.lastStatus === "RUNNING" && task.healthStatus === "HEALTHY")
      seen.set(task.taskArn, at - task.createdAt * 1000);
  }
  return [...seen.values()];
}

const v1 = await register({ VERSION: "v1" });
await Bench.createWebService(ecs, v1);
await completed(v1);

const rollouts: { duration: number; lowerBound: number }[] = [];
for (const version of ["v2", "v3", "v4"]) {
  const next = await register({ VERSION: version });
  const started = Date.now();
  await Bench.updateWeb(ecs, next);
  await completed(next);
  // The three new tasks start together (maximumPercent 200), so no rollout can beat the
  // slowest of them from start to first passing health check.
  rollouts.push({ duration: Date.now() - started, lowerBound: Math.max(...timeToHealthy(next)) });
}

const { bad, updatedAt: badStarted } = await Bench.rollOutBadRevision(ecs, register);
const firstUnhealthy = events.find(({ event }) => {
  const task = event.detail as TaskDetail;
  return (
    event["detail-type"] === "ECS Task State Change" &&
    task.taskDefinitionArn === bad &&
    task.healthStatus === "UNHEALTHY"
  );
});
const rollbackStarted = events.find(
  ({ event }) =>
    event["detail-type"] === "ECS Deployment State Change" &&
    (event.detail as { eventName: string }).eventName === "SERVICE_DEPLOYMENT_FAILED",
);

console.log(`Berth Local ECS rollout benchmark — ${machine()}`);
console.log(
  "service: 3 tasks of a Node HTTP server, health check every 5 s (first after 1 s), maximumPercent 200, minimumHealthyPercent 100",
);
rollouts.forEach((rollout, index) => {
  console.log(
    `rollout ${index + 1}: ${ms(rollout.duration)} (lower bound: slowest new task start → first passing health check ${ms(rollout.lowerBound)}; overhead ${ms(rollout.duration - rollout.lowerBound)})`,
  );
});
const firstFailedCheck = Bench.firstFailedHealthCheck(local, bad);
if (firstUnhealthy && rollbackStarted) {
  console.log(
    `bad revision: first failed health check → rollback started ${ms(rollbackStarted.at - firstFailedCheck)} (ECS's circuit breaker waits for 3 failed tasks; each is UNHEALTHY after 2 failed checks 5 s apart)`,
  );
  console.log(
    `bad revision: first task marked UNHEALTHY ${ms(firstUnhealthy.at - badStarted)} after the update; rollback started ${ms(rollbackStarted.at - firstUnhealthy.at)} after that (circuit breaker: 3 failed tasks)`,
  );
  console.log(
    `bad revision: update → rollback started ${ms(rollbackStarted.at - badStarted)}; update → service back on the good revision ${ms(Date.now() - badStarted)}`,
  );
}
await local.close();
rmSync(dataDir, { recursive: true, force: true });
rmSync(app.dir, { recursive: true, force: true });

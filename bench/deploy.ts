/**
 * A deploy through Berth's control plane on Berth Local, as a client sees it: `--runs` image-only
 * redeploys of a one-task private service (`POST /v1/stacks/{stack}/services/{service}/deployments`
 * with a new image) and `--bad-runs` redeploys of an image whose health check fails. Prints the
 * control plane's own time (request → UpdateService), the workflow's state transitions and
 * service integrations (from GetExecutionHistory), the end-to-end time, how soon a bad revision is
 * rolled back, and what the workflow's transitions would cost on Step Functions Standard against
 * a polling loop. `--crash-runs` redeploys of a second service without a health check, whose
 * process exits 300 ms after it starts (a crash loop ECS may call a completed rollout), measure
 * how soon the stability gate rolls it back after the new revision's first task exits.
 *
 * With `--baseline COMMIT`, the same runs on that commit's Berth Local first, and a side-by-side
 * summary of both at the end.
 *
 *   npm run bench -- deploy      (or: npx tsx bench/deploy.ts [--runs 10] [--bad-runs 3] [--crash-runs 3] [--baseline 2654d46])
 */
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { DescribeServicesCommand, DescribeTasksCommand, ECSClient, type Task } from "@aws-sdk/client-ecs";
import {
  DescribeExecutionCommand,
  GetExecutionHistoryCommand,
  type HistoryEvent,
  SFNClient,
} from "@aws-sdk/client-sfn";
import { DeploymentStatus } from "../packages/core/src/deployments/index.ts";
import { httpApp } from "../test/support/apps.ts";
import type { Deployment, DeploymentEvent, RequestedDeployment } from "../test/support/berth-api.ts";
import {
  type BerthLocalProcess,
  logTail,
  newAdminToken,
  processesUnder,
  startBerthLocalProcess,
} from "../test/support/berth-local-process.ts";
import { machine, ms, percentile } from "./machine.ts";
import { storeArtifact } from "./support/artifacts.ts";
import { type Tree, treesToCompare } from "./support/baseline.ts";

const { values: args } = parseArgs({
  options: {
    runs: { type: "string", default: "10" },
    "bad-runs": { type: "string", default: "3" },
    "crash-runs": { type: "string", default: "3" },
    baseline: { type: "string" },
  },
});
const RUNS = Number(args.runs);
const BAD_RUNS = Number(args["bad-runs"]);
const CRASH_RUNS = Number(args["crash-runs"]);
if (
  !Number.isInteger(RUNS) ||
  RUNS < 1 ||
  !Number.isInteger(BAD_RUNS) ||
  BAD_RUNS < 0 ||
  !Number.isInteger(CRASH_RUNS) ||
  CRASH_RUNS < 0
) {
  console.error("--runs must be a whole number ≥ 1, --bad-runs and --crash-runs ≥ 0");
  process.exit(2);
}

const STACK = "bench";
const SERVICE = "api";
/** The crash-loop case's service: no health check, so ECS calls a task healthy once it runs. */
const LOOP_SERVICE = "loop";
/** Its stability window: the default without a health check. */
const LOOP_STABILITY_SECONDS = 10;
const CLUSTER = "berth";
const REPOSITORY = "berth.local/bench/api";
/** Step Functions Standard, us-east-1: $0.025 per 1,000 state transitions (beyond the free tier). */
const PRICE_PER_TRANSITION = 0.025 / 1000;
const POLL_INTERVAL_SECONDS = 10;
/** Wait (10 s) → Task (DescribeServices) → Choice (done?) per iteration of a polling loop. */
const POLL_TRANSITIONS_PER_ITERATION = 3;
const DEPLOY_TIMEOUT_MS = 180_000;

/** A private service running the test app's image; what follows it in the file is its own. */
const serviceHead = (name: string, image: string) => `
  ${name}:
    type: private-service
    properties:
      packaging:
        type: prebuilt-image
        properties:
          image: ${image}
          command: ["node", "server.mjs"]
      resources: { cpu: 0.25, memory: 512 }
`;

const stackFile = (
  image: string,
  loopImage?: string,
) => `resources:${loopImage ? serviceHead(LOOP_SERVICE, loopImage) : ""}${serviceHead(SERVICE, image).trimEnd()}
      environment:
        - name: VERSION
          value: v1
      internalHealthCheck:
        healthCheckCommand: ["CMD", "node", "-e", "fetch('http://127.0.0.1:'+process.env.PORT+'/health').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
        intervalSeconds: 5
        timeoutSeconds: 2
        retries: 1
        startPeriodSeconds: 0
`;

const sleep = (millis: number) => new Promise((resolve) => setTimeout(resolve, millis));
const time = (iso: string | Date | undefined) => (iso === undefined ? Number.NaN : new Date(iso).getTime());
const dollars = (value: number) => `$${value < 0.01 ? value.toFixed(6) : value.toFixed(4)}`;
/** p50, p99 and max of the runs that measured it (a rolled-back run's ECS deployment may be gone). */
const spread = (all: number[]) => {
  const values = all.filter((value) => !Number.isNaN(value));
  const missing = all.length - values.length;
  return `p50 ${ms(percentile(values, 50))}, p99 ${ms(percentile(values, 99))}, max ${ms(Math.max(...values))}${missing > 0 ? ` (${missing} run(s) not measured)` : ""}`;
};
const measured = (values: number[]) => values.filter((value) => !Number.isNaN(value));

let dataDir = mkdtempSync(join(tmpdir(), "berth-bench-deploy-"));
const app = httpApp();
const adminToken = newAdminToken();
let local: BerthLocalProcess | undefined;
let ecs: ECSClient | undefined;

async function api<T>(method: string, path: string, body?: string, contentType?: string) {
  const response = await fetch(`${local?.apiUrl}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${adminToken}`,
      ...(body === undefined ? {} : { "content-type": contentType ?? "application/json" }),
    },
    ...(body === undefined ? {} : { body }),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path}: HTTP ${response.status}: ${text.slice(0, 500)}`);
  return JSON.parse(text) as T;
}

interface Finished {
  deployment: Deployment;
  events: DeploymentEvent[];
  history: HistoryEvent[];
}

/** Waits for the deployment to end and for its execution to close (the service is released then). */
async function finished(requested: RequestedDeployment, sfn: SFNClient): Promise<Finished> {
  const deadline = Date.now() + DEPLOY_TIMEOUT_MS;
  const id = requested.deployment.id;
  let found: { deployment: Deployment; events: DeploymentEvent[] };
  for (;;) {
    found = await api<{ deployment: Deployment; events: DeploymentEvent[] }>("GET", `/v1/deployments/${id}`);
    if (DeploymentStatus.TERMINAL.includes(found.deployment.status as DeploymentStatus.Status)) break;
    if (Date.now() > deadline)
      throw new Error(`deployment ${id} still ${found.deployment.status} after 180 s`);
    await sleep(100);
  }
  const executionArn = found.deployment.executionArn ?? requested.workflow.executionArn;
  if (!executionArn) throw new Error(`deployment ${id} has no execution`);
  while ((await sfn.send(new DescribeExecutionCommand({ executionArn }))).status === "RUNNING") {
    if (Date.now() > deadline) throw new Error(`the execution of ${id} still runs after 180 s`);
    await sleep(100);
  }
  const history: HistoryEvent[] = [];
  let nextToken: string | undefined;
  do {
    const page = await sfn.send(
      new GetExecutionHistoryCommand({ executionArn, maxResults: 1000, nextToken }),
    );
    history.push(...(page.events ?? []));
    nextToken = page.nextToken;
  } while (nextToken);
  // The events once more: finalize and release may have added some after the status.
  const final = await api<{ deployment: Deployment; events: DeploymentEvent[] }>(
    "GET",
    `/v1/deployments/${id}`,
  );
  return { ...final, history };
}

async function redeploy(image: string, service = SERVICE) {
  const sent = Date.now();
  const requested = await api<RequestedDeployment>(
    "POST",
    `/v1/stacks/${STACK}/services/${service}/deployments`,
    JSON.stringify({ image: { [service]: image } }),
  );
  const accepted = Date.now();
  if (requested.placement !== "active" || !requested.workflow.started) {
    throw new Error(
      `deployment ${requested.deployment.id} was ${requested.placement}, not started: ${requested.workflow.reason ?? ""}`,
    );
  }
  return { sent, accepted, requested };
}

/** One `name` state's entry and exit in the history. */
function stateSpan(history: HistoryEvent[], name: string) {
  const entered = history.find((event) => event.stateEnteredEventDetails?.name === name);
  const exitedIndex = history.findIndex((event) => event.stateExitedEventDetails?.name === name);
  const succeeded = history
    .slice(0, Math.max(0, exitedIndex))
    .findLast((event) => event.type === "TaskSucceeded");
  return {
    entered: time(entered?.timestamp),
    exited: time(history[exitedIndex]?.timestamp),
    taskSucceeded: time(succeeded?.timestamp),
  };
}

/** What a TaskScheduled event called: `lambda:invoke (apply-service)`. */
function integration(event: HistoryEvent): string {
  const details = event.taskScheduledEventDetails;
  let target = "";
  try {
    const parameters = JSON.parse(details?.parameters ?? "{}") as {
      FunctionName?: string;
      ProjectName?: string;
    };
    const name = parameters.FunctionName ?? parameters.ProjectName ?? "";
    target = name.slice(name.lastIndexOf(":") + 1);
  } catch {
    // parameters are not JSON: the resource alone says enough
  }
  return `${details?.resourceType}:${details?.resource}${target ? ` (${target})` : ""}`;
}

/**
 * Each state's time in one execution, in the order entered: StateEntered → its StateExited (a
 * state entered twice, e.g. "Wait answered", counts both visits). Between one state's exit and
 * the next one's entry is the runner's own time, reported as "between states".
 */
function stateTimes(history: HistoryEvent[]): Map<string, number> {
  const times = new Map<string, number>();
  let between = 0;
  let lastExit: number | undefined;
  history.forEach((event, index) => {
    const name = event.stateEnteredEventDetails?.name;
    if (!name) return;
    const entered = time(event.timestamp);
    if (lastExit !== undefined) between += entered - lastExit;
    const exit = history.slice(index + 1).find((later) => later.stateExitedEventDetails?.name === name);
    if (!exit) return;
    lastExit = time(exit.timestamp);
    times.set(name, (times.get(name) ?? 0) + (lastExit - entered));
  });
  times.set("(between states)", between);
  return times;
}

const transitionsOf = (history: HistoryEvent[]) =>
  history.filter((event) => event.type?.endsWith("StateEntered")).length;

function countBy(items: string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const item of items) counts.set(item, (counts.get(item) ?? 0) + 1);
  return counts;
}

/** Transitions of the same deploy if its wait were a 10-second polling loop instead of the one task-token state. */
function pollingTransitions(eventDriven: number, waitMs: number): number {
  const iterations = Math.max(1, Math.ceil(waitMs / 1000 / POLL_INTERVAL_SECONDS));
  return eventDriven - 1 + POLL_TRANSITIONS_PER_ITERATION * iterations;
}

/** What the side-by-side summary compares, per tree. */
interface Summary {
  label: string;
  load: string;
  acceptedToUpdate: number[];
  sentToUpdate: number[];
  transitions: number[];
  integrations: number[];
}
const summaries: Summary[] = [];

async function main(tree: Tree): Promise<string[]> {
  const started = Date.now();
  const loadAtStart = loadavg()[0] ?? Number.NaN;
  // Images: one for the first deploy, one per redeploy, and a bad one (its ENV makes /health answer 500).
  const good: string[] = [];
  for (let index = 0; index <= RUNS; index++)
    good.push(`${REPOSITORY}@${await storeArtifact(dataDir, app.dir, `good-${index}`)}`);
  const bad = `${REPOSITORY}@${await storeArtifact(dataDir, app.dir, "bad", { UNHEALTHY: "1" })}`;
  const loopGood = `${REPOSITORY}@${await storeArtifact(dataDir, app.dir, "loop-good")}`;
  const crashing = `${REPOSITORY}@${await storeArtifact(dataDir, app.dir, "crash", { CRASH_AFTER_MS: "300" })}`;

  local = await startBerthLocalProcess({
    dataDir,
    adminToken,
    logFile: join(dataDir, "berth-local.log"),
    root: tree.root,
  });
  const aws = {
    endpoint: local.awsUrl,
    region: "us-east-1",
    credentials: { accessKeyId: "bench", secretAccessKey: "bench" },
  };
  ecs = new ECSClient(aws);
  const sfn = new SFNClient(aws);
  const booted = Date.now();

  // The first deploy creates the ECS service (and loads every step handler): not measured.
  const applied = await api<{ plan: { deployment?: RequestedDeployment }[] }>(
    "PUT",
    `/v1/stacks/${STACK}`,
    stackFile(good[0] ?? ""),
    "application/yaml",
  );
  const first = applied.plan.find((entry) => entry.deployment)?.deployment;
  if (!first) throw new Error("applying the stack requested no deployment");
  const created = await finished(first, sfn);
  if (created.deployment.status !== "SUCCEEDED")
    throw new Error(`the first deployment ended ${created.deployment.status}: ${created.deployment.reason}`);
  const desiredCount = created.events.find((event) => event.type === "service-updated")?.data?.desiredCount;

  interface Run {
    apiMs: number;
    toEcsDeployment: number;
    acceptedToEcsDeployment: number;
    toServiceUpdatedEvent: number;
    toApplyTaskSucceeded: number;
    toSucceeded: number;
    toExecutionEnd: number;
    waitMs: number;
    transitions: number;
    integrations: string[];
    states: Map<string, number>;
  }
  const runs: Run[] = [];
  const endedOtherwise: string[] = [];
  for (let index = 1; index <= RUNS; index++) {
    const { sent, accepted, requested } = await redeploy(good[index] ?? "");
    const done = await finished(requested, sfn);
    // On a loaded machine a health check may time out and the good revision be rolled back: the
    // control plane's part (request → UpdateService) is still measured, and the ending reported.
    if (done.deployment.status !== "SUCCEEDED") endedOtherwise.push(`${index}: ${done.deployment.status}`);
    const updated = done.events.find((event) => event.type === "service-updated");
    const ecsService = String(updated?.data?.ecsService ?? `${STACK}-${SERVICE}`);
    const ecsDeploymentId = String(updated?.data?.ecsDeploymentId ?? "");
    const { services = [] } = await ecs.send(
      new DescribeServicesCommand({ cluster: CLUSTER, services: [ecsService] }),
    );
    const ecsDeployment = services[0]?.deployments?.find((candidate) => candidate.id === ecsDeploymentId);
    // The state that sent UpdateService: "Apply service", or "Load deployment" when it applied a
    // deploy that builds nothing itself (its answer then goes through the "Applied" Pass state).
    const applied = done.history.some((event) => event.stateEnteredEventDetails?.name === "Applied");
    const apply = stateSpan(done.history, applied ? "Load deployment" : "Apply service");
    const wait = stateSpan(done.history, "Wait for deployment");
    const end = done.history.find((event) => event.type === "ExecutionSucceeded");
    runs.push({
      apiMs: accepted - sent,
      toEcsDeployment: time(ecsDeployment?.createdAt) - sent,
      acceptedToEcsDeployment: time(ecsDeployment?.createdAt) - accepted,
      toServiceUpdatedEvent: time(updated?.at) - sent,
      toApplyTaskSucceeded: apply.taskSucceeded - sent,
      toSucceeded: time(done.deployment.finishedAt) - sent,
      toExecutionEnd: time(end?.timestamp) - sent,
      waitMs: wait.exited - wait.entered,
      transitions: transitionsOf(done.history),
      integrations: done.history.filter((event) => event.type === "TaskScheduled").map(integration),
      states: stateTimes(done.history),
    });
  }

  interface BadRun {
    status: string;
    failures: number;
    firstStoppedToRollback: number;
    firstStoppingToRollback: number;
    firstEventToRollback: number;
    lastStoppedToRollback: number;
    requestToRollback: number;
    requestToEnd: number;
    transitions: number;
    waitMs: number;
  }
  const badRuns: BadRun[] = [];
  for (let index = 1; index <= BAD_RUNS; index++) {
    const { sent, requested } = await redeploy(bad);
    const done = await finished(requested, sfn);
    const failed = done.events.filter((event) => event.type === "task-failed");
    const rollingBack = done.events.find(
      (event) => event.type === "status" && event.data?.to === "ROLLING_BACK",
    );
    const arns = failed.map((event) => String(event.data?.taskArn ?? "")).filter((arn) => arn);
    const tasks: Task[] =
      arns.length === 0
        ? []
        : ((await ecs.send(new DescribeTasksCommand({ cluster: CLUSTER, tasks: arns }))).tasks ?? []);
    const taskOf = (arn: string) => tasks.find((task) => task.taskArn === arn);
    const firstTask = taskOf(arns[0] ?? "");
    const lastTask = taskOf(arns.at(-1) ?? "");
    const rollback = time(rollingBack?.at);
    const wait = stateSpan(done.history, "Wait for deployment");
    badRuns.push({
      status: done.deployment.status,
      failures: failed.length,
      firstStoppedToRollback: rollback - time(firstTask?.stoppedAt),
      firstStoppingToRollback: rollback - time(firstTask?.stoppingAt),
      firstEventToRollback: rollback - time(failed[0]?.at),
      lastStoppedToRollback: rollback - time(lastTask?.stoppedAt),
      requestToRollback: rollback - sent,
      requestToEnd: time(done.deployment.finishedAt) - sent,
      transitions: transitionsOf(done.history),
      waitMs: wait.exited - wait.entered,
    });
  }

  interface CrashRun {
    status: string;
    failures: number;
    /** The rollback came from the stability window, not from the fail-fast threshold. */
    byGate: boolean;
    firstExitToRollback: number;
    requestToRollback: number;
    requestToEnd: number;
  }
  const crashRuns: CrashRun[] = [];
  if (CRASH_RUNS > 0) {
    // The second service, with a revision that stays up, so a crashing one has one to return to.
    const withLoop = await api<{ plan: { service: string; deployment?: RequestedDeployment }[] }>(
      "PUT",
      `/v1/stacks/${STACK}`,
      stackFile(good[RUNS] ?? "", loopGood),
      "application/yaml",
    );
    const loopFirst = withLoop.plan.find((entry) => entry.service === LOOP_SERVICE)?.deployment;
    if (!loopFirst) throw new Error("adding the crash-loop service requested no deployment");
    const loopCreated = await finished(loopFirst, sfn);
    if (loopCreated.deployment.status !== "SUCCEEDED")
      throw new Error(`the crash-loop service's first deployment ended ${loopCreated.deployment.status}`);
  }
  for (let index = 1; index <= CRASH_RUNS; index++) {
    const { sent, requested } = await redeploy(crashing, LOOP_SERVICE);
    const done = await finished(requested, sfn);
    const failed = done.events.filter((event) => event.type === "task-failed");
    const rollingBack = done.events.find(
      (event) => event.type === "status" && event.data?.to === "ROLLING_BACK",
    );
    const firstArn = String(failed[0]?.data?.taskArn ?? "");
    const [firstTask] = firstArn
      ? ((await ecs.send(new DescribeTasksCommand({ cluster: CLUSTER, tasks: [firstArn] }))).tasks ?? [])
      : [];
    const rollback = time(rollingBack?.at);
    crashRuns.push({
      status: done.deployment.status,
      failures: failed.length,
      byGate: done.deployment.reason.includes("stability window"),
      // The process exits; ECS (Berth Local) records the task STOPPED when it sees the exit.
      firstExitToRollback: rollback - time(firstTask?.stoppedAt),
      requestToRollback: rollback - sent,
      requestToEnd: time(done.deployment.finishedAt) - sent,
    });
  }

  // The report -------------------------------------------------------------------------------
  const pick = <K extends keyof Run>(key: K) => runs.map((run) => run[key] as number);
  const lines = [
    `deploy through the control plane on Berth Local (${tree.label}) — ${machine()}`,
    `settings: --runs ${RUNS} --bad-runs ${BAD_RUNS} --crash-runs ${CRASH_RUNS}; Berth Local (packages/local/src/main.ts, what \`npm start\` runs) in its own process (ECS tick 200 ms), stack "${STACK}", one private-service "${SERVICE}" (desired ${String(desiredCount)} task, the test HTTP app), health check every 5 s with 1 retry (Berth Local runs the first check 1 s after start), fail-fast threshold 2 (the default); 1-minute load average at start ${loadAtStart.toFixed(2)}, at end ${(loadavg()[0] ?? Number.NaN).toFixed(2)}`,
    `each run: POST /v1/stacks/${STACK}/services/${SERVICE}/deployments with a new image (an artifact of its own, berth.local/bench/api@sha256:…), then GET /v1/deployments/{id} every 100 ms until it ends and DescribeExecution until its execution closes; the next run starts after that`,
    `Berth Local started in ${ms(booted - started)}; first deploy (creates the ECS service; not counted) ${ms(time(created.deployment.finishedAt) - time(created.deployment.createdAt))}`,
    "",
    `image-only redeploys (${RUNS}; p99 of fewer than 100 runs is close to their maximum)${endedOtherwise.length > 0 ? `; not SUCCEEDED (health checks timing out on a loaded machine): ${endedOtherwise.join(", ")}` : ""}:`,
    `  API answered 202:                               ${spread(pick("apiMs"))}`,
    `  control-plane overhead, request sent → UpdateService handled by ECS (the ECS deployment's createdAt): ${spread(pick("toEcsDeployment"))}`,
    `  API accepted (202 received) → UpdateService handled by ECS: ${spread(pick("acceptedToEcsDeployment"))}`,
    `  request sent → \`service-updated\` event (written after UpdateService, the wait record and the live revision): ${spread(pick("toServiceUpdatedEvent"))}`,
    `  request sent → TaskSucceeded of the state that updated the service ("Apply service", or "Load deployment" when it applied the deploy itself) in the execution history: ${spread(pick("toApplyTaskSucceeded"))}`,
    `  end to end, request sent → deployment SUCCEEDED (finishedAt): ${spread(pick("toSucceeded"))}`,
    `  request sent → execution SUCCEEDED (after release-service): ${spread(pick("toExecutionEnd"))}`,
    `  time in "Wait for deployment" (ECS rolling the one task, answered by the ECS event handler): ${spread(pick("waitMs"))}`,
  ];
  const transitionCounts = [...new Set(pick("transitions"))].sort((a, b) => a - b);
  lines.push(
    `  state transitions per deploy (StateEntered events in GetExecutionHistory): ${transitionCounts.join(" or ")}`,
  );
  lines.push(
    "  time per state (StateEntered → StateExited, p50 of the runs; a Task's time is its Lambda step's):",
  );
  const stateNames = [...new Set(runs.flatMap((run) => [...run.states.keys()]))];
  for (const name of stateNames) {
    const values = runs.map((run) => run.states.get(name)).filter((value) => value !== undefined);
    lines.push(
      `    ${name.padEnd(30)} ${ms(percentile(values, 50)).padStart(9)}  (in ${values.length} of ${runs.length} runs)`,
    );
  }
  const integrationCounts = [...new Set(runs.map((run) => run.integrations.length))].sort((a, b) => a - b);
  const byResource = countBy(runs[0]?.integrations ?? []);
  const same = runs.every((run) => run.integrations.join("|") === runs[0]?.integrations.join("|"));
  lines.push(
    `  service integrations per deploy (TaskScheduled events): ${integrationCounts.join(" or ")}${same ? ", the same in every run" : " (runs differ)"}:`,
  );
  for (const [resource, count] of byResource) lines.push(`    ${count} × ${resource}`);
  lines.push(
    "  (the AWS calls the functions make inside those tasks — DynamoDB, ECS, ECR, Secrets Manager — are not in the history and not counted)",
  );
  summaries.push({
    label: tree.label,
    load: `${loadAtStart.toFixed(2)} → ${(loadavg()[0] ?? Number.NaN).toFixed(2)}`,
    acceptedToUpdate: pick("acceptedToEcsDeployment"),
    sentToUpdate: pick("toEcsDeployment"),
    transitions: pick("transitions"),
    integrations: runs.map((run) => run.integrations.length),
  });
  const columns = ["run", "API 202", "→UpdateService", "→SUCCEEDED", "wait", "transitions", "integrations"];
  const row = (cells: string[]) =>
    `  ${cells.map((cell, index) => cell.padStart(Math.max(7, columns[index]?.length ?? 0))).join("  ")}`;
  lines.push("", row(columns));
  runs.forEach((run, index) => {
    lines.push(
      row([
        String(index + 1),
        ms(run.apiMs),
        ms(run.toEcsDeployment),
        ms(run.toSucceeded),
        ms(run.waitMs),
        String(run.transitions),
        String(run.integrations.length),
      ]),
    );
  });

  if (BAD_RUNS > 0) {
    const pickBad = <K extends keyof BadRun>(key: K) => badRuns.map((run) => run[key] as number);
    const p50max = (values: number[]) => `p50 ${ms(percentile(values, 50))}, max ${ms(Math.max(...values))}`;
    lines.push(
      "",
      `bad revision (${BAD_RUNS} redeploy${BAD_RUNS === 1 ? "" : "s"} of an image whose /health answers 500; ends: ${[...countBy(pickBad("status").map(String))].map(([status, count]) => `${count} ${status}`).join(", ")}; failed tasks recorded per run: ${pickBad("failures").join(", ")}):`,
      `  first failed task's stoppedAt (ECS) → ROLLING_BACK: ${p50max(pickBad("firstStoppedToRollback"))}`,
      `  first failed task's stoppingAt (ECS found it UNHEALTHY) → ROLLING_BACK: ${p50max(pickBad("firstStoppingToRollback"))}`,
      `  first \`task-failed\` event → ROLLING_BACK: ${p50max(pickBad("firstEventToRollback"))}`,
      `  the failure that reached the threshold (its task's stoppedAt) → ROLLING_BACK: ${p50max(pickBad("lastStoppedToRollback"))}`,
      `  request sent → ROLLING_BACK: ${p50max(pickBad("requestToRollback"))}; request sent → ${badRuns[0]?.status ?? "end"}: ${p50max(pickBad("requestToEnd"))}`,
      "  (with threshold 2 the rollback waits for a second task: ECS replaces the first failed one and it has to fail its check too)",
    );
  }

  if (CRASH_RUNS > 0) {
    const pickCrash = <K extends keyof CrashRun>(key: K) => crashRuns.map((run) => run[key] as number);
    const p50max = (values: number[]) => `p50 ${ms(percentile(values, 50))}, max ${ms(Math.max(...values))}`;
    const byGate = crashRuns.filter((run) => run.byGate).length;
    lines.push(
      "",
      `crash loop (${CRASH_RUNS} redeploy${CRASH_RUNS === 1 ? "" : "s"} of "${LOOP_SERVICE}", no health check, stability window ${LOOP_STABILITY_SECONDS} s, an image whose process exits with 3 300 ms after it listens; ends: ${[...countBy(crashRuns.map((run) => run.status))].map(([status, count]) => `${count} ${status}`).join(", ")}; rolled back by the stability gate in ${byGate}, by the fail-fast threshold in ${CRASH_RUNS - byGate}; failed tasks recorded per run: ${pickCrash("failures").join(", ")}):`,
      `  new revision's first task exit (its stoppedAt) → ROLLING_BACK: ${p50max(pickCrash("firstExitToRollback"))} (goal: within the window + 1 s, ${ms((LOOP_STABILITY_SECONDS + 1) * 1000)})`,
      `  request sent → ROLLING_BACK: ${p50max(pickCrash("requestToRollback"))}; request sent → ${crashRuns[0]?.status ?? "end"}: ${p50max(pickCrash("requestToEnd"))}`,
    );
  }

  // Cost ---------------------------------------------------------------------------------------
  const costLine = (label: string, transitions: number[], waits: number[]) => {
    const eventDriven = percentile(transitions, 50);
    const wait = percentile(waits, 50);
    const polling = pollingTransitions(eventDriven, wait);
    return `  ${label}: ${eventDriven} transitions → ${dollars(eventDriven * PRICE_PER_TRANSITION)} per deploy, ${dollars(eventDriven * PRICE_PER_TRANSITION * 1000)} per 1,000; polling the same ${ms(wait)} wait: ${polling} transitions → ${dollars(polling * PRICE_PER_TRANSITION)} per deploy, ${dollars(polling * PRICE_PER_TRANSITION * 1000)} per 1,000 (${(polling / eventDriven).toFixed(1)}×)`;
  };
  lines.push(
    "",
    `cost on Step Functions Standard at $0.025 per 1,000 state transitions (free tier, Lambda, DynamoDB and EventBridge left out); the polling variant replaces the one "Wait for deployment" task-token state with a loop of Wait ${POLL_INTERVAL_SECONDS} s → Task (DescribeServices) → Choice, ${POLL_TRANSITIONS_PER_ITERATION} transitions per iteration, at least one iteration:`,
    costLine("image-only redeploy (p50)", pick("transitions"), pick("waitMs")),
  );
  if (BAD_RUNS > 0)
    lines.push(
      costLine(
        "bad revision rolled back (p50)",
        badRuns.map((run) => run.transitions),
        badRuns.map((run) => run.waitMs),
      ),
    );
  // An assumption, not a measurement: on AWS, Fargate pulls the image and starts the task.
  const fargateWaitMs = 3 * 60_000;
  const eventDriven = percentile(pick("transitions"), 50);
  const pollingFargate = pollingTransitions(eventDriven, fargateWaitMs);
  lines.push(
    `  assuming a 3-minute wait on Fargate (not measured here): ${eventDriven} transitions (${dollars(eventDriven * PRICE_PER_TRANSITION * 1000)} per 1,000 deploys) against ${pollingFargate} polling (${dollars(pollingFargate * PRICE_PER_TRANSITION * 1000)} per 1,000)`,
    "",
    `total benchmark time ${ms(Date.now() - started)}`,
  );
  return lines;
}

let stopping: Promise<void> | undefined;
/** Stops Berth Local and every task, once, whoever asks first. */
const stopAll = () => {
  stopping ??= (async () => {
    if (!local) return;
    await local.stop(30_000);
    // Task processes run in their image directories: the app's, or artifacts under the data dir.
    const leftovers = processesUnder([dataDir, app.dir]);
    for (const leftover of leftovers) {
      try {
        process.kill(leftover.pid, "SIGKILL");
      } catch {
        // gone meanwhile
      }
    }
    if (leftovers.length > 0)
      console.error(
        `killed ${leftovers.length} task process(es) that outlived Berth Local: ${leftovers.map((found) => found.pid).join(", ")}`,
      );
  })();
  return stopping;
};
let interrupted = false;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    interrupted = true;
    void stopAll().finally(() => {
      rmSync(dataDir, { recursive: true, force: true });
      rmSync(app.dir, { recursive: true, force: true });
      process.exit(130);
    });
  });
}
let failed = false;
for (const tree of treesToCompare(args.baseline)) {
  if (failed) break;
  dataDir = mkdtempSync(join(tmpdir(), "berth-bench-deploy-"));
  local = undefined;
  stopping = undefined;
  try {
    const lines = await main(tree);
    await stopAll();
    console.log(lines.join("\n"));
  } catch (error) {
    // Interrupted: the signal handler stops everything and exits.
    if (interrupted) await new Promise(() => {});
    failed = true;
    console.error(`deploy benchmark failed (${tree.label}): ${(error as Error).stack ?? error}`);
    const running = local as BerthLocalProcess | undefined;
    if (running) console.error(`Berth Local's last log lines:\n${logTail(running.logFile, 40)}`);
    await stopAll();
    console.error(`kept the data dir for a look: ${dataDir}`);
  }
  if (!failed) rmSync(dataDir, { recursive: true, force: true });
  tree.remove();
}
if (summaries.length > 1) {
  console.log("\nside by side (image-only redeploys):");
  for (const summary of summaries) {
    console.log(
      `  ${summary.label.padEnd(24)} accepted → UpdateService p50 ${ms(percentile(measured(summary.acceptedToUpdate), 50))} (sent → UpdateService p50 ${ms(percentile(measured(summary.sentToUpdate), 50))}); transitions ${[...new Set(summary.transitions)].join(" or ")}; Lambda/service integrations ${[...new Set(summary.integrations)].join(" or ")}; load ${summary.load}`,
    );
  }
}
rmSync(app.dir, { recursive: true, force: true });
process.exit(failed ? 1 : 0);

import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "./support/apps.ts";
import { BerthApi, type Deployment, type DeploymentEvent } from "./support/berth-api.ts";
import {
  type BerthLocalProcess,
  logTail,
  newAdminToken,
  processesUnder,
  startBerthLocalProcess,
} from "./support/berth-local-process.ts";
import { newestDeployment as newestDeploymentOf, runBerth } from "./support/e2e.ts";

/**
 * Batch jobs end to end on Berth Local: `examples/worker-and-job` deployed with the CLI, as a
 * user would, in a Berth Local child process of its own.
 */

const work = mkdtempSync(join(tmpdir(), "berth-jobs-e2e-"));
const dataDir = join(work, "data");
const logFile = join(work, "berth-local.log");
const adminToken = newAdminToken();
const STACK = "jobs";

let local: BerthLocalProcess | undefined;
let api: BerthApi;

function current(): BerthLocalProcess {
  if (!local) throw new Error("Berth Local is not running");
  return local;
}

function berth(args: string[]): Promise<{ code: number; output: string }> {
  return runBerth(current().apiUrl, adminToken, args);
}

function newestDeployment(service: string): Promise<Deployment> {
  return newestDeploymentOf(api, STACK, service);
}

beforeAll(async () => {
  local = await startBerthLocalProcess({ dataDir, adminToken, logFile });
  api = new BerthApi(local.apiUrl, adminToken);
}, 90_000);

afterAll(async () => {
  await local?.stop();
  const leftovers = await waitFor(
    "task processes to end",
    () => (processesUnder([dataDir]).length === 0 ? [] : undefined),
    10_000,
    200,
  ).catch(() => processesUnder([dataDir]));
  expect(leftovers, logTail(logFile)).toEqual([]);
}, 120_000);

describe("batch jobs on Berth Local", () => {
  it("deploys examples/worker-and-job: the job is registered and its deployment SUCCEEDED, the worker runs", async () => {
    const { code, output } = await berth([
      "deploy",
      "-f",
      "examples/worker-and-job/berth.yml",
      "--stack",
      STACK,
      "--timeout",
      "5m",
    ]);
    expect(code, `${output}\n${logTail(logFile)}`).toBe(0);
    const report = await newestDeployment("report");
    expect(report.status).toBe("SUCCEEDED");
    const { events } = await api.deployment(report.id);
    const registered = events.find((event: DeploymentEvent) => event.type === "job-registered");
    expect(registered?.data?.taskDefinitionArn).toMatch(/:task-definition\/jobs-report:\d+$/);
    expect(events.map((event) => event.type)).not.toContain("service-updated");
    expect((await newestDeployment("mailer")).status).toBe("SUCCEEDED");
  }, 360_000);
});

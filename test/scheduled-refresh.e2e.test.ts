import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { GetScheduleCommand, paginateListSchedules, SchedulerClient } from "@aws-sdk/client-scheduler";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { refreshLines } from "../packages/cli/src/refreshes.ts";
import { appPackaging, HEALTH_CHECK_TIMING, HTTP_HEALTH_CHECK, waitFor } from "./support/apps.ts";
import { type Deployment, requested } from "./support/berth-api.ts";
import { logTail } from "./support/berth-local-process.ts";
import {
  getText,
  localAwsConfig,
  localSuite,
  runningTasks,
  TEST_STABILITY_SECONDS,
  withClient,
} from "./support/e2e.ts";

/**
 * A stack's own refresh schedule end to end on Berth Local: applying a stack with a refresh cron
 * creates its EventBridge Scheduler schedule (the Scheduler API lists it), firing it starts a refresh
 * deployment, `off` and deleting the stack delete it. A service whose tasks crash once
 * refreshed is reported: its refresh does not end SUCCEEDED. No mocks.
 */

const suite = localSuite("berth-scheduled-refresh-e2e-");
const { work, logFile } = suite;
const GROUP = "berth-local";

/** An app that answers over HTTP, or exits at start while `crashFile` exists. */
function app(crashFile: string): string {
  const dir = join(work, "app");
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, "server.mjs"),
    `import { existsSync } from "node:fs";
import { createServer } from "node:http";
if (existsSync(${JSON.stringify(crashFile)})) {
  console.error("crashing on start: the crash file exists");
  process.exit(3);
}
const server = createServer((request, response) => response.end(request.url === "/health" ? "ok" : "up"));
server.listen(Number(process.env.PORT), "127.0.0.1");
process.on("SIGTERM", () => server.close(() => process.exit(0)));
`,
  );
  return `file://${dir}`;
}

const crashFile = join(work, "crash");

function stackFile(refresh: Record<string, unknown> | undefined): string {
  return stringify({
    resources: {
      web: {
        type: "private-service",
        properties: {
          packaging: appPackaging(app(crashFile)),
          resources: { cpu: 0.25, memory: 512 },
          failFast: { stabilitySeconds: TEST_STABILITY_SECONDS },
          internalHealthCheck: {
            healthCheckCommand: HTTP_HEALTH_CHECK,
            ...HEALTH_CHECK_TIMING,
            retries: 1,
            startPeriodSeconds: 0,
          },
        },
      },
    },
    ...(refresh ? { berth: { refresh } } : {}),
  });
}

type RefreshView = Parameters<typeof refreshLines>[0];

/** Runs `read` with a Scheduler client on Berth Local's endpoint, destroyed afterwards. */
const withScheduler = <T>(read: (scheduler: SchedulerClient) => Promise<T>) =>
  withClient(new SchedulerClient(localAwsConfig(suite.local.awsUrl)), read);

/** The names of the group's schedules, all pages. */
const schedules = () =>
  withScheduler(async (scheduler) => {
    const names: string[] = [];
    for await (const page of paginateListSchedules({ client: scheduler }, { GroupName: GROUP })) {
      if (!page.Schedules) throw new Error("ListSchedules answered no Schedules");
      names.push(...page.Schedules.map((schedule) => schedule.Name ?? ""));
    }
    return names;
  });

async function fire(stack: string): Promise<void> {
  const response = await fetch(`${suite.local.awsUrl}/_local/scheduler/${GROUP}/refresh-${stack}/fire`, {
    method: "POST",
  });
  expect(response.status, await response.clone().text()).toBe(200);
}

/** The newest deployment of the service with trigger `schedule`, once there are `count` of them. */
async function scheduledRefresh(stack: string, service: string, count: number): Promise<Deployment> {
  return waitFor(
    `refresh ${count} of ${stack}/${service} to be requested`,
    async () => {
      const { deployments } = await suite.api.request<{ deployments: (Deployment & { trigger?: string })[] }>(
        "GET",
        `/v1/stacks/${stack}/services/${service}/deployments?limit=100`,
      );
      const refreshes = deployments.filter((deployment) => deployment.trigger === "schedule");
      return refreshes.length >= count ? refreshes[0] : undefined;
    },
    60_000,
    250,
  );
}

describe("a stack's own refresh schedule on Berth Local", { shuffle: false }, () => {
  const nightly = { schedule: "cron(30 2 * * ? *)", timeZone: "Europe/Berlin", flexibleWindowMinutes: 20 };

  it("is created when the stack is applied, and applying the same file again changes nothing", async () => {
    const applied = await suite.api.applyStack("shop", stackFile(nightly));
    expect(applied).toMatchObject({ refreshSchedule: { change: "created" } });
    const { deployment } = await suite.api.waitForStatus(
      requested(applied, "web").deployment.id,
      undefined,
      180_000,
    );
    expect(deployment.status, logTail(logFile)).toBe("SUCCEEDED");
    expect(await schedules()).toEqual(["refresh-shop"]);
    const again = await suite.api.applyStack("shop", stackFile(nightly));
    expect(again).toMatchObject({ refreshSchedule: { change: "unchanged" } });
    const moved = await suite.api.applyStack("shop", stackFile({ ...nightly, timeZone: "Asia/Tokyo" }));
    expect(moved).toMatchObject({ refreshSchedule: { change: "updated" } });
    const got = await withScheduler((scheduler) =>
      scheduler.send(new GetScheduleCommand({ Name: "refresh-shop", GroupName: GROUP })),
    );
    expect(got.ScheduleExpressionTimezone).toBe("Asia/Tokyo");
  }, 300_000);

  it("starts a refresh deployment of the stack's services when it fires, which succeeds", async () => {
    await fire("shop");
    const refresh = await scheduledRefresh("shop", "web", 1);
    const { deployment } = await suite.api.waitForStatus(refresh.id, undefined, 180_000);
    expect(deployment.status, `${deployment.reason}\n${logTail(logFile)}`).toBe("SUCCEEDED");
  }, 240_000);

  it("reports a refresh whose new tasks crash: the deployment does not end SUCCEEDED, and says why", async () => {
    writeFileSync(crashFile, "crash");
    try {
      await fire("shop");
      const refresh = await scheduledRefresh("shop", "web", 2);
      const { deployment } = await suite.api.waitForStatus(refresh.id, undefined, 240_000);
      expect(["ROLLED_BACK", "FAILED"], `${deployment.status}: ${deployment.reason}`).toContain(
        deployment.status,
      );
      expect(deployment.status).toBe("FAILED");
      expect(deployment.reason).toMatch(/exit code 3/);
      expect(deployment.reason).toMatch(/same revision as the ones before them, which keep running/);
      // Not scaled to 0: the tasks started before the refresh still serve.
      const [task] = await runningTasks(suite.ecs, "shop-web");
      expect(task?.hostPort, logTail(logFile)).toBeDefined();
      expect(await getText(`http://127.0.0.1:${task?.hostPort}/`)).toBe("up");

      // The refresh is recorded, and where a user looks (GET /v1/refreshes, `berth refreshes`)
      // it is FAILED, naming the service and why; the earlier one succeeded.
      const { refreshes } = await suite.api.request<{ refreshes: RefreshView[] }>("GET", "/v1/refreshes");
      const [latest, earlier] = refreshes;
      expect(latest).toMatchObject({ trigger: "stack", stack: "shop", status: "failed" });
      expect(latest?.failed).toEqual([
        expect.objectContaining({
          stack: "shop",
          service: "web",
          deploymentId: refresh.id,
          status: "FAILED",
        }),
      ]);
      expect(latest?.failed[0]?.reason).toMatch(/exit code 3/);
      expect(earlier).toMatchObject({ trigger: "stack", stack: "shop", status: "succeeded", failed: [] });
      const one = await suite.api.request<RefreshView>("GET", `/v1/refreshes/${latest?.id}`);
      expect(one.status).toBe("failed");
      const lines = refreshLines(one).join("\n");
      expect(lines).toContain("FAILED shop/web");
      expect(lines).toMatch(/exit code 3/);
    } finally {
      // The old tasks kept serving; later tests start clean.
      rmSync(crashFile, { force: true });
    }
  }, 300_000);

  it("is deleted when the refresh is turned off, and when the stack is deleted", async () => {
    const off = await suite.api.applyStack("shop", stackFile({ schedule: "off" }));
    expect(off).toMatchObject({ refreshSchedule: { change: "deleted" } });
    expect(await schedules()).toEqual([]);

    const on = await suite.api.applyStack("shop", stackFile(nightly));
    expect(on).toMatchObject({ refreshSchedule: { change: "created" } });
    expect(await schedules()).toEqual(["refresh-shop"]);
    await suite.api.request("DELETE", "/v1/stacks/shop");
    expect(await schedules()).toEqual([]);
  }, 240_000);
});

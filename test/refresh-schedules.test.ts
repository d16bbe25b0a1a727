import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ListSchedulesCommand, SchedulerClient } from "@aws-sdk/client-scheduler";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RefreshSchedule } from "../packages/core/src/deployments/index.ts";
import { type BerthLocal, startBerthLocal } from "../packages/local/src/berth-local.ts";
import { LOCAL_SCHEDULE_GROUP } from "../packages/local/src/installation.ts";
import { awsCli } from "./support/berth-local-process.ts";
import { type ContractRequest, validateWithBotocore } from "./support/botocore.ts";

/**
 * A stack's own refresh schedule, kept by the control plane's `syncSchedule` in Berth Local's
 * EventBridge Scheduler through the real SDK client; every request it sends is checked with
 * botocore's ParamValidator, and the aws CLI lists what it made.
 */

let local: BerthLocal;
let client: SchedulerClient;
const recorded: ContractRequest[] = [];
let scheduler: RefreshSchedule.RefreshScheduler;

const TARGET = "arn:aws:lambda:us-east-1:000000000000:function:scheduled-refresh";
const ROLE = "arn:aws:iam::000000000000:role/berth-scheduler";

const stackFile = (berth: string) =>
  `resources:\n  api:\n    type: worker-service\n    properties:\n      packaging: { type: prebuilt-image, properties: { image: registry.example/r/api:1 } }\n      resources: { cpu: 0.25, memory: 512 }\n${berth}`;

beforeAll(async () => {
  local = await startBerthLocal({
    dataDir: mkdtempSync(join(tmpdir(), "berth-schedules-")),
    awsPort: 0,
    timedSchedules: false,
  });
  client = new SchedulerClient({
    endpoint: local.awsEndpoint.url,
    region: "us-east-1",
    credentials: { accessKeyId: "berth-local", secretAccessKey: "berth-local" },
  });
  const sender = client;
  scheduler = {
    group: LOCAL_SCHEDULE_GROUP,
    roleArn: ROLE,
    targetArn: TARGET,
    client: {
      send: ((command: { input: unknown; constructor: { name: string } }) => {
        recorded.push({
          service: "scheduler",
          operation: command.constructor.name.replace(/Command$/, ""),
          input: command.input,
        });
        return sender.send(command as never);
      }) as SchedulerClient["send"],
    },
  };
});
afterAll(async () => {
  client?.destroy();
  await local?.close();
});

const operations = (from: number) => recorded.slice(from).map((request) => request.operation);

describe("a stack's refresh schedule", { shuffle: false }, () => {
  it("is created from the file, left alone when unchanged, updated when changed, deleted when off", async () => {
    const weekly = stackFile(
      'berth:\n  refresh: { schedule: "cron(30 2 ? * SUN *)", timeZone: Europe/Berlin, flexibleWindowMinutes: 30 }\n',
    );
    let from = recorded.length;
    expect(await RefreshSchedule.syncSchedule(scheduler, "shop", weekly)).toBe("created");
    expect(operations(from)).toEqual(["GetSchedule", "CreateSchedule"]);

    const listed = (await awsCli(local.awsEndpoint.url, [
      "scheduler",
      "list-schedules",
      "--group-name",
      LOCAL_SCHEDULE_GROUP,
    ])) as { Schedules: { Name: string; State: string; Target: { Arn: string } }[] };
    expect(listed.Schedules).toEqual([
      expect.objectContaining({ Name: "refresh-shop", State: "ENABLED", Target: { Arn: TARGET } }),
    ]);
    const got = (await awsCli(local.awsEndpoint.url, [
      "scheduler",
      "get-schedule",
      "--name",
      "refresh-shop",
      "--group-name",
      LOCAL_SCHEDULE_GROUP,
    ])) as Record<string, unknown>;
    expect(got).toMatchObject({
      ScheduleExpression: "cron(30 2 ? * SUN *)",
      ScheduleExpressionTimezone: "Europe/Berlin",
      FlexibleTimeWindow: { Mode: "FLEXIBLE", MaximumWindowInMinutes: 30 },
      Target: { Arn: TARGET, RoleArn: ROLE, Input: JSON.stringify({ stack: "shop" }) },
    });

    // The same file again: one read, no write.
    from = recorded.length;
    expect(await RefreshSchedule.syncSchedule(scheduler, "shop", weekly)).toBe("unchanged");
    expect(operations(from)).toEqual(["GetSchedule"]);

    from = recorded.length;
    const moved = weekly.replace("Europe/Berlin", "America/New_York");
    expect(await RefreshSchedule.syncSchedule(scheduler, "shop", moved)).toBe("updated");
    expect(operations(from)).toEqual(["GetSchedule", "UpdateSchedule"]);

    // A second stack has its own schedule; turning the first off deletes only the first.
    expect(await RefreshSchedule.syncSchedule(scheduler, "blog", weekly)).toBe("created");
    from = recorded.length;
    expect(
      await RefreshSchedule.syncSchedule(
        scheduler,
        "shop",
        stackFile('berth:\n  refresh: { schedule: "off" }\n'),
      ),
    ).toBe("deleted");
    expect(operations(from)).toEqual(["GetSchedule", "DeleteSchedule"]);
    const names = (
      await client.send(new ListSchedulesCommand({ GroupName: LOCAL_SCHEDULE_GROUP }))
    ).Schedules?.map((schedule) => schedule.Name);
    expect(names).toEqual(["refresh-blog"]);

    // No refresh settings (the weekly refresh covers it), or the stack deleted: nothing to keep.
    expect(await RefreshSchedule.syncSchedule(scheduler, "shop", stackFile(""))).toBe("unchanged");
    expect(await RefreshSchedule.syncSchedule(scheduler, "blog", undefined)).toBe("deleted");
    expect(await RefreshSchedule.syncSchedule(scheduler, "blog", undefined)).toBe("unchanged");
    expect(
      (await client.send(new ListSchedulesCommand({ GroupName: LOCAL_SCHEDULE_GROUP }))).Schedules,
    ).toEqual([]);
  });

  it("reports a failure instead of throwing, so an apply's deployments still start", async () => {
    const missingGroup = { ...scheduler, group: "no-such-group" };
    const warnings: string[] = [];
    const outcome = await RefreshSchedule.reconcile(
      missingGroup,
      { warn: (message) => warnings.push(message) },
      "shop",
      stackFile('berth:\n  refresh: { schedule: "cron(0 4 * * ? *)" }\n'),
    );
    expect(outcome).toEqual({
      error: expect.stringMatching(/ResourceNotFoundException.*apply the stack again/),
    });
    expect(warnings).toHaveLength(1);
  });

  it("sends only requests botocore's ParamValidator accepts", () => {
    expect(new Set(recorded.map((request) => request.operation))).toEqual(
      new Set(["GetSchedule", "CreateSchedule", "UpdateSchedule", "DeleteSchedule"]),
    );
    const { results } = validateWithBotocore(recorded);
    expect(
      results.flatMap((problems, index) => problems.map((p) => `${recorded[index]?.operation}: ${p}`)),
    ).toEqual([]);
  });

  it("fires at the cron's local times across daylight saving changes", async () => {
    await RefreshSchedule.syncSchedule(
      scheduler,
      "dst",
      stackFile('berth:\n  refresh: { schedule: "cron(30 2 * * ? *)", timeZone: Europe/Berlin }\n'),
    );
    // 2027-03-28: Berlin skips 02:00-03:00, so 02:30 does not happen that day.
    const spring = local.scheduler.nextFireTimes(
      LOCAL_SCHEDULE_GROUP,
      "refresh-dst",
      3,
      new Date("2027-03-26T12:00:00Z"),
    );
    expect(spring.map((time) => time.toISOString())).toEqual([
      "2027-03-27T01:30:00.000Z", // CET, UTC+1
      "2027-03-29T00:30:00.000Z", // CEST, UTC+2
      "2027-03-30T00:30:00.000Z",
    ]);
    // 2027-10-31: 02:30 happens twice; it fires once, at the first.
    const autumn = local.scheduler.nextFireTimes(
      LOCAL_SCHEDULE_GROUP,
      "refresh-dst",
      2,
      new Date("2027-10-30T12:00:00Z"),
    );
    expect(autumn.map((time) => time.toISOString())).toEqual([
      "2027-10-31T00:30:00.000Z",
      "2027-11-01T01:30:00.000Z",
    ]);
    // The same answer over HTTP, for people and other tests.
    const asked = Date.now();
    const response = await fetch(
      `${local.awsEndpoint.url}/_local/scheduler/${LOCAL_SCHEDULE_GROUP}/refresh-dst/next?count=2`,
    );
    const body = (await response.json()) as { next: string[] };
    expect(body.next).toHaveLength(2);
    // After the moment it was asked (not the moment the answer is read: a fire time can fall between).
    expect(new Date(body.next[0] ?? "").getTime()).toBeGreaterThan(asked);
  });

  it("refuses what it cannot run, as EventBridge Scheduler would", async () => {
    await expect(
      awsCli(local.awsEndpoint.url, [
        "scheduler",
        "get-schedule",
        "--name",
        "refresh-nobody",
        "--group-name",
        LOCAL_SCHEDULE_GROUP,
      ]),
    ).rejects.toThrow(/ResourceNotFoundException/);
    await expect(
      awsCli(local.awsEndpoint.url, [
        "scheduler",
        "create-schedule",
        "--name",
        "bad",
        "--group-name",
        LOCAL_SCHEDULE_GROUP,
        "--schedule-expression",
        "cron(0 4 * * * *)",
        "--flexible-time-window",
        "Mode=OFF",
        "--target",
        `Arn=${TARGET},RoleArn=${ROLE}`,
      ]),
    ).rejects.toThrow(/ValidationException/);
  });
});

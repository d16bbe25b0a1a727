import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { type BusEvent, EventBus } from "../events.ts";
import { type Deliver, EventRouter, nextCronTime } from "./router.ts";
import { RuleStore } from "./store.ts";

const OPTIONS = { account: "000000000000", region: "us-east-1" };
const ECS_PATTERN = JSON.stringify({
  source: ["aws.ecs"],
  "detail-type": ["ECS Deployment State Change", "ECS Task State Change"],
});

let dir: string;
let bus: EventBus;
let rules: RuleStore;
let delivered: { arn: string; payload: unknown }[];
let errors: unknown[];
let router: EventRouter;

function startRouter(
  deliver: Deliver = (arn, payload) => void delivered.push({ arn, payload }),
  timedSchedules?: boolean,
) {
  router = new EventRouter({
    bus,
    rules,
    deliver,
    onError: (error) => errors.push(error),
    ...(timedSchedules === undefined ? {} : { timedSchedules }),
  });
  router.start();
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "berth-router-"));
  bus = new EventBus(OPTIONS);
  rules = new RuleStore(join(dir, "rules.json"), OPTIONS);
  delivered = [];
  errors = [];
});

afterEach(() => {
  router?.stop();
  vi.useRealTimers();
  rmSync(dir, { recursive: true, force: true });
});

describe("EventRouter", () => {
  it("delivers matching events to the targets of ENABLED rules only, with Input replacing the event", () => {
    rules.put("ecs", { eventPattern: ECS_PATTERN, state: "ENABLED" });
    rules.putTargets("ecs", [
      { Id: "fn", Arn: "arn:fn:ecs" },
      { Id: "fixed", Arn: "arn:fn:fixed", Input: '{"constant":true}' },
    ]);
    rules.put("off", { eventPattern: ECS_PATTERN, state: "DISABLED" });
    rules.putTargets("off", [{ Id: "fn", Arn: "arn:fn:off" }]);
    rules.put("ecr", { eventPattern: JSON.stringify({ source: ["aws.ecr"] }), state: "ENABLED" });
    rules.putTargets("ecr", [{ Id: "fn", Arn: "arn:fn:ecr" }]);
    startRouter();

    const event = bus.publish("aws.ecs", "ECS Task State Change", ["arn:task"], { lastStatus: "STOPPED" });
    bus.publish("aws.ecs", "ECS Container Instance State Change", [], {});

    expect(delivered).toEqual([
      { arn: "arn:fn:ecs", payload: event },
      { arn: "arn:fn:fixed", payload: { constant: true } },
    ]);
  });

  it("follows rule changes made after it started, and stops delivering on stop()", () => {
    startRouter();
    bus.publish("aws.ecs", "ECS Task State Change", [], {});
    expect(delivered).toEqual([]);
    rules.put("ecs", { eventPattern: ECS_PATTERN, state: "ENABLED" });
    rules.putTargets("ecs", [{ Id: "fn", Arn: "arn:fn" }]);
    bus.publish("aws.ecs", "ECS Task State Change", [], {});
    expect(delivered).toHaveLength(1);
    router.stop();
    bus.publish("aws.ecs", "ECS Task State Change", [], {});
    expect(delivered).toHaveLength(1);
  });

  it("reports a throwing or rejecting deliver through onError without breaking the publisher", async () => {
    rules.put("ecs", { eventPattern: ECS_PATTERN, state: "ENABLED" });
    rules.putTargets("ecs", [
      { Id: "sync", Arn: "arn:sync" },
      { Id: "async", Arn: "arn:async" },
      { Id: "ok", Arn: "arn:ok" },
    ]);
    const other: BusEvent[] = [];
    startRouter((arn) => {
      if (arn === "arn:sync") throw new Error("sync failure");
      if (arn === "arn:async") return Promise.reject(new Error("async failure"));
      delivered.push({ arn, payload: undefined });
      return undefined;
    });
    bus.subscribe((event) => other.push(event));

    const event = bus.publish("aws.ecs", "ECS Deployment State Change", [], {});
    expect(event.id).toEqual(expect.any(String));
    expect(other).toEqual([event]);
    expect(delivered.map((d) => d.arn)).toEqual(["arn:ok"]);
    await vi.waitFor(() => expect(errors).toHaveLength(2));
    expect(errors.map((error) => (error as Error).message).sort()).toEqual(["async failure", "sync failure"]);
  });

  it("fires rate(1 minute) rules with a Scheduled Event", () => {
    vi.useFakeTimers();
    vi.setSystemTime(new Date("2025-01-01T00:00:00Z"));
    rules.put("tick", { scheduleExpression: "rate(1 minute)", state: "ENABLED" });
    rules.putTargets("tick", [{ Id: "fn", Arn: "arn:fn:tick" }]);
    rules.put("off", { scheduleExpression: "rate(1 minute)", state: "DISABLED" });
    rules.putTargets("off", [{ Id: "fn", Arn: "arn:fn:off" }]);
    startRouter();

    vi.advanceTimersByTime(59_999);
    expect(delivered).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(delivered).toEqual([
      {
        arn: "arn:fn:tick",
        payload: expect.objectContaining({
          version: "0",
          source: "aws.events",
          "detail-type": "Scheduled Event",
          account: "000000000000",
          region: "us-east-1",
          resources: ["arn:aws:events:us-east-1:000000000000:rule/tick"],
          detail: {},
          time: "2025-01-01T00:01:00.000Z",
        }),
      },
    ]);
    vi.advanceTimersByTime(2 * 60_000);
    expect(delivered).toHaveLength(3);

    rules.put("tick", { scheduleExpression: "rate(1 minute)", state: "DISABLED" });
    vi.advanceTimersByTime(5 * 60_000);
    expect(delivered).toHaveLength(3);
  });

  it("fires cron rules at their next fire time, again and again", () => {
    vi.useFakeTimers();
    vi.setSystemTime(new Date("2025-01-01T10:00:30Z"));
    rules.put("quarter", { scheduleExpression: "cron(*/15 * * * ? *)", state: "ENABLED" });
    rules.putTargets("quarter", [{ Id: "fn", Arn: "arn:fn" }]);
    startRouter();

    vi.advanceTimersByTime(14 * 60_000);
    expect(delivered).toEqual([]);
    vi.advanceTimersByTime(30_000);
    expect(delivered.map((d) => (d.payload as BusEvent).time)).toEqual(["2025-01-01T10:15:00.000Z"]);
    vi.advanceTimersByTime(30 * 60_000);
    expect(delivered.map((d) => (d.payload as BusEvent).time)).toEqual([
      "2025-01-01T10:15:00.000Z",
      "2025-01-01T10:30:00.000Z",
      "2025-01-01T10:45:00.000Z",
    ]);
  });

  it("with timedSchedules off, fires no scheduled rule by the clock, and still routes events", () => {
    vi.useFakeTimers();
    vi.setSystemTime(new Date("2025-01-05T02:59:00Z"));
    rules.put("weekly", { scheduleExpression: "cron(0 3 ? * SUN *)", state: "ENABLED" });
    rules.putTargets("weekly", [{ Id: "fn", Arn: "arn:fn:weekly" }]);
    rules.put("tick", { scheduleExpression: "rate(1 minute)", state: "ENABLED" });
    rules.putTargets("tick", [{ Id: "fn", Arn: "arn:fn:tick" }]);
    rules.put("ecs", { eventPattern: ECS_PATTERN, state: "ENABLED" });
    rules.putTargets("ecs", [{ Id: "fn", Arn: "arn:fn:ecs" }]);
    startRouter(undefined, false);

    vi.advanceTimersByTime(8 * 24 * 3_600_000);
    rules.put("tick", { scheduleExpression: "rate(2 minutes)", state: "ENABLED" });
    vi.advanceTimersByTime(10 * 60_000);
    expect(delivered).toEqual([]);
    bus.publish("aws.ecs", "ECS Task State Change", ["arn:task"], { lastStatus: "STOPPED" });
    expect(delivered.map((d) => d.arn)).toEqual(["arn:fn:ecs"]);
  });
});

describe("nextCronTime", () => {
  const next = (expression: string, after: string) => nextCronTime(expression, new Date(after)).toISOString();

  it("finds the next Sunday 03:00 UTC for the weekly refresh", () => {
    // 2025-01-01 is a Wednesday.
    expect(next("cron(0 3 ? * SUN *)", "2025-01-01T12:00:00Z")).toBe("2025-01-05T03:00:00.000Z");
    expect(next("cron(0 3 ? * SUN *)", "2025-01-05T02:59:00Z")).toBe("2025-01-05T03:00:00.000Z");
    // Strictly after: at the fire time itself, the next one is a week later.
    expect(next("cron(0 3 ? * SUN *)", "2025-01-05T03:00:00Z")).toBe("2025-01-12T03:00:00.000Z");
    expect(next("cron(0 3 ? * 1 *)", "2025-01-01T12:00:00Z")).toBe("2025-01-05T03:00:00.000Z");
  });

  it("supports lists, ranges, steps, names and years", () => {
    expect(next("cron(0/20 * * * ? *)", "2025-01-01T10:41:00Z")).toBe("2025-01-01T11:00:00.000Z");
    expect(next("cron(15,45 8-9 ? * MON-FRI *)", "2025-01-03T09:50:00Z")).toBe("2025-01-06T08:15:00.000Z");
    expect(next("cron(0 12 1 JAN,JUL ? *)", "2025-02-01T00:00:00Z")).toBe("2025-07-01T12:00:00.000Z");
    expect(next("cron(0 0 31 * ? *)", "2025-04-01T00:00:00Z")).toBe("2025-05-31T00:00:00.000Z");
    expect(next("cron(0 0 29 2 ? *)", "2025-01-01T00:00:00Z")).toBe("2028-02-29T00:00:00.000Z");
    expect(next("cron(30 6 ? * 7 2026)", "2025-01-01T00:00:00Z")).toBe("2026-01-03T06:30:00.000Z");
    expect(next("cron(* * * * ? *)", "2025-01-01T10:00:30.500Z")).toBe("2025-01-01T10:01:00.000Z");
  });

  it("refuses malformed expressions", () => {
    const at = new Date("2025-01-01T00:00:00Z");
    expect(() => nextCronTime("cron(0 3 * * SUN *)", at)).toThrow(/ScheduleExpression/);
    expect(() => nextCronTime("cron(0 3 ? * SUN)", at)).toThrow(/6 fields/);
    expect(() => nextCronTime("cron(60 3 ? * SUN *)", at)).toThrow(/out of range/);
    expect(() => nextCronTime("cron(0 3 ? * FUNDAY *)", at)).toThrow(/out of range/);
    expect(() => nextCronTime("cron(0 0 1 1 ? 2020)", at)).toThrow(/never fires/);
    expect(() => nextCronTime("rate(1 minute)", at)).toThrow(/not a cron/);
  });
});

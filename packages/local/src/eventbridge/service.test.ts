import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type BusEvent, EventBus } from "../events.ts";
import { AwsError, type AwsJsonService, dispatch } from "../protocol.ts";
import { eventBridgeService, RuleStore } from "./service.ts";

// @aws-sdk/client-eventbridge is not installed, so the operations are exercised through dispatch.

const OPTIONS = { account: "000000000000", region: "us-east-1" };

let dir: string;
let bus: EventBus;
let rules: RuleStore;
let service: AwsJsonService;
let received: BusEvent[];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "berth-events-"));
  bus = new EventBus(OPTIONS);
  rules = new RuleStore(join(dir, "events", "rules.json"), OPTIONS);
  service = eventBridgeService(bus, rules);
  received = [];
  bus.subscribe((event) => received.push(event));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

// biome-ignore lint/suspicious/noExplicitAny: the responses are checked by the assertions
const call = (operation: string, body: unknown) => dispatch(service, operation, body) as Promise<any>;

async function failure(promise: Promise<unknown>): Promise<AwsError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(AwsError);
    return error as AwsError;
  }
  throw new Error("expected the call to fail");
}

describe("PutEvents", () => {
  it("publishes each entry on the bus in EventBridge's envelope", async () => {
    const result = await call("PutEvents", {
      Entries: [
        {
          Source: "berth.test",
          DetailType: "Thing Happened",
          Detail: JSON.stringify({ n: 1 }),
          Resources: ["arn:aws:x:::thing/1"],
          Time: 1_700_000_000,
        },
        { Source: "berth.test", DetailType: "Other", Detail: "{}", EventBusName: "default" },
      ],
    });
    expect(result.FailedEntryCount).toBe(0);
    expect(result.Entries).toHaveLength(2);
    expect(received).toHaveLength(2);
    expect(result.Entries[0].EventId).toBe(received[0]?.id);
    expect(received[0]).toMatchObject({
      version: "0",
      source: "berth.test",
      "detail-type": "Thing Happened",
      account: "000000000000",
      region: "us-east-1",
      resources: ["arn:aws:x:::thing/1"],
      detail: { n: 1 },
      time: new Date(1_700_000_000_000).toISOString(),
    });
    expect(received[1]?.resources).toEqual([]);
  });

  it("fails an entry whose Detail is not a JSON object, and publishes the others", async () => {
    const result = await call("PutEvents", {
      Entries: [
        { Source: "s", DetailType: "d", Detail: "not json" },
        { Source: "s", DetailType: "d", Detail: "[1,2]" },
        { Source: "s", DetailType: "d", Detail: '{"ok":true}' },
      ],
    });
    expect(result.FailedEntryCount).toBe(2);
    expect(result.Entries[0]).toEqual({ ErrorCode: "MalformedDetail", ErrorMessage: expect.any(String) });
    expect(result.Entries[1].ErrorCode).toBe("MalformedDetail");
    expect(result.Entries[2].EventId).toEqual(expect.any(String));
    expect(received.map((event) => event.detail)).toEqual([{ ok: true }]);
  });

  it("refuses no entries, more than 10 and entries without a Source", async () => {
    const entry = { Source: "s", DetailType: "d", Detail: "{}" };
    expect((await failure(call("PutEvents", { Entries: [] }))).type).toBe("ValidationException");
    expect((await failure(call("PutEvents", { Entries: Array(11).fill(entry) }))).type).toBe(
      "ValidationException",
    );
    expect((await failure(call("PutEvents", { Entries: [{ DetailType: "d", Detail: "{}" }] }))).type).toBe(
      "ValidationException",
    );
    expect(received).toEqual([]);
  });
});

describe("rules and targets", () => {
  const pattern = JSON.stringify({ source: ["aws.ecs"] });

  it("creates, describes, lists, updates and deletes rules", async () => {
    const created = await call("PutRule", { Name: "ecs-events", EventPattern: pattern });
    expect(created.RuleArn).toBe("arn:aws:events:us-east-1:000000000000:rule/ecs-events");
    await call("PutRule", {
      Name: "weekly",
      ScheduleExpression: "cron(0 3 ? * SUN *)",
      State: "DISABLED",
      Description: "weekly refresh",
    });

    expect(await call("DescribeRule", { Name: "ecs-events" })).toEqual({
      Name: "ecs-events",
      Arn: created.RuleArn,
      EventPattern: pattern,
      State: "ENABLED",
      EventBusName: "default",
    });
    expect((await call("ListRules", {})).Rules.map((rule: { Name: string }) => rule.Name)).toEqual([
      "ecs-events",
      "weekly",
    ]);
    expect((await call("ListRules", { NamePrefix: "we" })).Rules).toEqual([
      expect.objectContaining({
        Name: "weekly",
        ScheduleExpression: "cron(0 3 ? * SUN *)",
        State: "DISABLED",
      }),
    ]);
    const page = await call("ListRules", { Limit: 1 });
    expect(page.Rules).toHaveLength(1);
    expect((await call("ListRules", { NextToken: page.NextToken })).Rules[0].Name).toBe("weekly");

    await call("PutRule", { Name: "weekly", ScheduleExpression: "rate(1 day)" });
    expect(await call("DescribeRule", { Name: "weekly" })).toMatchObject({
      ScheduleExpression: "rate(1 day)",
      State: "ENABLED",
    });

    await call("DeleteRule", { Name: "weekly" });
    const missing = await failure(call("DescribeRule", { Name: "weekly" }));
    expect(missing.type).toBe("ResourceNotFoundException");
    await call("DeleteRule", { Name: "weekly" }); // deleting a missing rule succeeds, as on AWS
  });

  it("refuses malformed rules", async () => {
    const bad = (body: unknown) => failure(call("PutRule", body)).then((error) => error.type);
    expect(await bad({ Name: "r", EventPattern: '{"source":"aws.ecs"}' })).toBe(
      "InvalidEventPatternException",
    );
    expect(await bad({ Name: "r", EventPattern: "{" })).toBe("InvalidEventPatternException");
    expect(await bad({ Name: "r", ScheduleExpression: "rate(5 fortnights)" })).toBe("ValidationException");
    expect(await bad({ Name: "r", ScheduleExpression: "cron(0 3 * * SUN *)" })).toBe("ValidationException");
    expect(await bad({ Name: "r" })).toBe("ValidationException");
    expect(await bad({ Name: "bad name", EventPattern: pattern })).toBe("ValidationException");
    expect(await bad({ Name: "r", EventPattern: pattern, EventBusName: "custom" })).toBe(
      "ValidationException",
    );
  });

  it("puts, lists and removes targets, and keeps a rule with targets from deletion", async () => {
    await call("PutRule", { Name: "ecs-events", EventPattern: pattern });
    const put = await call("PutTargets", {
      Rule: "ecs-events",
      Targets: [
        { Id: "fn", Arn: "arn:aws:lambda:us-east-1:000000000000:function:ecs-events" },
        { Id: "fixed", Arn: "arn:aws:lambda:us-east-1:000000000000:function:other", Input: '{"a":1}' },
      ],
    });
    expect(put).toEqual({ FailedEntryCount: 0, FailedEntries: [] });
    await call("PutTargets", { Rule: "ecs-events", Targets: [{ Id: "fn", Arn: "arn:new" }] });
    expect((await call("ListTargetsByRule", { Rule: "ecs-events" })).Targets).toEqual([
      { Id: "fn", Arn: "arn:new" },
      { Id: "fixed", Arn: "arn:aws:lambda:us-east-1:000000000000:function:other", Input: '{"a":1}' },
    ]);

    // PutRule on an existing rule keeps its targets.
    await call("PutRule", { Name: "ecs-events", EventPattern: pattern, State: "DISABLED" });
    expect((await call("ListTargetsByRule", { Rule: "ecs-events" })).Targets).toHaveLength(2);

    expect((await failure(call("DeleteRule", { Name: "ecs-events" }))).type).toBe("ValidationException");
    expect(await call("RemoveTargets", { Rule: "ecs-events", Ids: ["fn", "fixed"] })).toEqual({
      FailedEntryCount: 0,
      FailedEntries: [],
    });
    expect((await call("ListTargetsByRule", { Rule: "ecs-events" })).Targets).toEqual([]);
    await call("DeleteRule", { Name: "ecs-events" });

    const missing = (operation: string, body: unknown) =>
      failure(call(operation, body)).then((error) => error.type);
    expect(await missing("PutTargets", { Rule: "nope", Targets: [{ Id: "a", Arn: "b" }] })).toBe(
      "ResourceNotFoundException",
    );
    expect(await missing("ListTargetsByRule", { Rule: "nope" })).toBe("ResourceNotFoundException");
    expect(await missing("RemoveTargets", { Rule: "nope", Ids: ["a"] })).toBe("ResourceNotFoundException");
  });

  it("persists rules and targets across a restart", async () => {
    await call("PutRule", { Name: "ecs-events", EventPattern: pattern });
    await call("PutTargets", { Rule: "ecs-events", Targets: [{ Id: "fn", Arn: "arn:fn", Input: "{}" }] });

    const reopened = eventBridgeService(bus, new RuleStore(join(dir, "events", "rules.json"), OPTIONS));
    expect(await dispatch(reopened, "DescribeRule", { Name: "ecs-events" })).toMatchObject({
      EventPattern: pattern,
      State: "ENABLED",
    });
    expect(await dispatch(reopened, "ListTargetsByRule", { Rule: "ecs-events" })).toEqual({
      Targets: [{ Id: "fn", Arn: "arn:fn", Input: "{}" }],
    });
  });
});

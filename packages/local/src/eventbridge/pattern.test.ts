import { FUNCTIONS } from "@berth/core/functions";
import { describe, expect, it } from "vitest";
import { EventBus } from "../events.ts";
import { AwsError } from "../protocol.ts";
import { matches, parsePattern, validatePattern } from "./pattern.ts";

const bus = new EventBus({ account: "000000000000", region: "us-east-1" });

/** Events shaped as the ECS engine publishes them. */
const taskEvent = bus.publish("aws.ecs", "ECS Task State Change", ["arn:aws:ecs:us-east-1:0:task/c/abc"], {
  taskArn: "arn:aws:ecs:us-east-1:0:task/c/abc",
  clusterArn: "arn:aws:ecs:us-east-1:0:cluster/c",
  group: "service:web",
  lastStatus: "STOPPED",
  desiredStatus: "STOPPED",
  stopCode: "EssentialContainerExited",
  containers: [
    { name: "web", lastStatus: "STOPPED", exitCode: 1 },
    { name: "sidecar", lastStatus: "STOPPED", exitCode: 0 },
  ],
  updatedAt: new Date().toISOString(),
});
const deploymentEvent = bus.publish(
  "aws.ecs",
  "ECS Deployment State Change",
  ["arn:aws:ecs:us-east-1:0:service/c/web"],
  {
    eventType: "INFO",
    eventName: "SERVICE_DEPLOYMENT_COMPLETED",
    deploymentId: "ecs-svc/123",
    updatedAt: new Date().toISOString(),
    reason: "ECS deployment ecs-svc/123 completed.",
  },
);
const otherEvent = bus.publish("aws.ecr", "ECR Image Action", [], {
  "action-type": "PUSH",
  result: "SUCCESS",
  "repository-name": "web",
  "image-tag": "latest",
});

function manifestPattern(name: string): Record<string, unknown> {
  const trigger = FUNCTIONS.find((f) => f.name === name)?.triggers.find((t) => t.kind === "eventbridge");
  if (trigger?.kind !== "eventbridge") throw new Error(`no eventbridge trigger on ${name}`);
  validatePattern(trigger.pattern);
  return trigger.pattern;
}

describe("matches", () => {
  it("matches the manifest's ECS pattern against the ECS engine's events only", () => {
    const pattern = manifestPattern("ecs-events");
    expect(matches(pattern, taskEvent)).toBe(true);
    expect(matches(pattern, deploymentEvent)).toBe(true);
    expect(matches(pattern, otherEvent)).toBe(false);
    expect(matches(pattern, { ...taskEvent, "detail-type": "ECS Container Instance State Change" })).toBe(
      false,
    );
  });

  it("matches the manifest's ECR pattern on nested detail fields", () => {
    const pattern = manifestPattern("registry-push");
    expect(matches(pattern, otherEvent)).toBe(true);
    expect(matches(pattern, { ...otherEvent, detail: { ...otherEvent.detail, result: "FAILURE" } })).toBe(
      false,
    );
    expect(matches(pattern, { ...otherEvent, detail: "PUSH" })).toBe(false);
    expect(matches(pattern, taskEvent)).toBe(false);
  });

  it("matches account, region and array-valued fields like resources", () => {
    expect(matches({ account: ["000000000000"], region: ["us-east-1"] }, taskEvent)).toBe(true);
    expect(matches({ region: ["eu-west-1"] }, taskEvent)).toBe(false);
    expect(matches({ resources: ["x", "arn:aws:ecs:us-east-1:0:service/c/web"] }, deploymentEvent)).toBe(
      true,
    );
    expect(matches({ resources: ["arn:aws:ecs:us-east-1:0:service/c/api"] }, deploymentEvent)).toBe(false);
    expect(matches({ resources: ["anything"] }, otherEvent)).toBe(false);
  });

  it("matches fields of objects inside arrays", () => {
    expect(matches({ detail: { containers: { exitCode: [1] } } }, taskEvent)).toBe(true);
    expect(matches({ detail: { containers: { exitCode: [137] } } }, taskEvent)).toBe(false);
    expect(matches({ detail: { containers: { name: ["web"] } } }, taskEvent)).toBe(true);
  });

  it("treats scalars by type: numbers, booleans and null", () => {
    const event = { detail: { n: 5, flag: true, gone: null, s: "5" } };
    expect(matches({ detail: { n: [5] } }, event)).toBe(true);
    expect(matches({ detail: { n: ["5"] } }, event)).toBe(false);
    expect(matches({ detail: { flag: [true] } }, event)).toBe(true);
    expect(matches({ detail: { gone: [null] } }, event)).toBe(true);
    expect(matches({ detail: { s: [null] } }, event)).toBe(false);
  });

  it("applies prefix, suffix and equals-ignore-case", () => {
    expect(matches({ detail: { eventName: [{ prefix: "SERVICE_DEPLOYMENT" }] } }, deploymentEvent)).toBe(
      true,
    );
    expect(matches({ detail: { eventName: [{ prefix: "TASK" }] } }, deploymentEvent)).toBe(false);
    expect(matches({ detail: { eventName: [{ suffix: "_COMPLETED" }] } }, deploymentEvent)).toBe(true);
    expect(matches({ detail: { eventName: [{ suffix: "_FAILED" }] } }, deploymentEvent)).toBe(false);
    expect(matches({ detail: { lastStatus: [{ "equals-ignore-case": "stopped" }] } }, taskEvent)).toBe(true);
    expect(matches({ detail: { lastStatus: [{ "equals-ignore-case": "running" }] } }, taskEvent)).toBe(false);
    expect(matches({ detail: { exitCode: [{ prefix: "1" }] } }, { detail: { exitCode: 1 } })).toBe(false);
  });

  it("applies anything-but with a value, a list and a prefix", () => {
    expect(matches({ detail: { lastStatus: [{ "anything-but": "RUNNING" }] } }, taskEvent)).toBe(true);
    expect(matches({ detail: { lastStatus: [{ "anything-but": "STOPPED" }] } }, taskEvent)).toBe(false);
    expect(matches({ detail: { lastStatus: [{ "anything-but": ["PENDING", "STOPPED"] }] } }, taskEvent)).toBe(
      false,
    );
    expect(matches({ detail: { lastStatus: [{ "anything-but": ["PENDING", "RUNNING"] }] } }, taskEvent)).toBe(
      true,
    );
    expect(matches({ detail: { group: [{ "anything-but": { prefix: "service:" } }] } }, taskEvent)).toBe(
      false,
    );
    expect(matches({ detail: { group: [{ "anything-but": { prefix: "family:" } }] } }, taskEvent)).toBe(true);
    expect(matches({ detail: { n: [{ "anything-but": 0 }] } }, { detail: { n: 1 } })).toBe(true);
    // A missing field matches no anything-but.
    expect(matches({ detail: { missing: [{ "anything-but": "x" }] } }, taskEvent)).toBe(false);
  });

  it("applies numeric ranges", () => {
    const pattern = { detail: { n: [{ numeric: [">", 0, "<=", 5] }] } };
    expect(matches(pattern, { detail: { n: 5 } })).toBe(true);
    expect(matches(pattern, { detail: { n: 0.5 } })).toBe(true);
    expect(matches(pattern, { detail: { n: 0 } })).toBe(false);
    expect(matches(pattern, { detail: { n: 6 } })).toBe(false);
    expect(matches(pattern, { detail: { n: "3" } })).toBe(false);
    expect(matches({ detail: { n: [{ numeric: ["=", 3] }] } }, { detail: { n: 3 } })).toBe(true);
    expect(matches({ detail: { n: [{ numeric: [">=", 3, "<", 4] }] } }, { detail: { n: 4 } })).toBe(false);
    expect(matches({ detail: { containers: { exitCode: [{ numeric: [">", 0] }] } } }, taskEvent)).toBe(true);
  });

  it("applies exists", () => {
    expect(matches({ detail: { stopCode: [{ exists: true }] } }, taskEvent)).toBe(true);
    expect(matches({ detail: { stopCode: [{ exists: false }] } }, taskEvent)).toBe(false);
    expect(matches({ detail: { stopCode: [{ exists: false }] } }, deploymentEvent)).toBe(true);
    expect(matches({ detail: { stopCode: [{ exists: true }] } }, deploymentEvent)).toBe(false);
  });

  it("applies $or alongside the other fields", () => {
    const pattern = {
      source: ["aws.ecs"],
      $or: [{ detail: { eventName: [{ suffix: "_FAILED" }] } }, { detail: { stopCode: [{ exists: true }] } }],
    };
    expect(matches(pattern, taskEvent)).toBe(true);
    expect(matches(pattern, deploymentEvent)).toBe(false);
    expect(
      matches(pattern, {
        ...deploymentEvent,
        detail: { ...deploymentEvent.detail, eventName: "SERVICE_DEPLOYMENT_FAILED" },
      }),
    ).toBe(true);
    expect(matches(pattern, { ...taskEvent, source: "aws.ecr" })).toBe(false);
  });

  it("matches everything with an empty pattern", () => {
    expect(matches({}, otherEvent)).toBe(true);
  });
});

describe("validatePattern", () => {
  function error(pattern: unknown): AwsError {
    try {
      validatePattern(pattern);
    } catch (caught) {
      expect(caught).toBeInstanceOf(AwsError);
      return caught as AwsError;
    }
    throw new Error("expected the pattern to be refused");
  }

  it("accepts every supported filter", () => {
    expect(() =>
      validatePattern({
        source: ["aws.ecs", null, 1, true],
        detail: {
          a: [{ prefix: "x" }, { suffix: "y" }, { "equals-ignore-case": "z" }],
          b: [{ "anything-but": "x" }, { "anything-but": [1, 2] }, { "anything-but": { prefix: "p" } }],
          c: [{ numeric: [">", 0, "<=", 5] }, { exists: false }],
        },
        $or: [{ account: ["1"] }, { region: ["r"] }],
      }),
    ).not.toThrow();
  });

  it.each([
    ["a non-object pattern", ["aws.ecs"]],
    ["a leaf that is not an array", { source: "aws.ecs" }],
    ["an empty leaf", { source: [] }],
    ["an unknown filter", { source: [{ wildcard2: "x" }] }],
    ["a filter with two keys", { source: [{ prefix: "a", suffix: "b" }] }],
    ["a prefix that is not a string", { source: [{ prefix: 1 }] }],
    ["exists that is not a boolean", { source: [{ exists: "yes" }] }],
    ["an unknown numeric operator", { detail: { n: [{ numeric: ["!=", 1] }] } }],
    ["an odd numeric list", { detail: { n: [{ numeric: [">", 1, "<"] }] } }],
    ["a numeric bound that is not a number", { detail: { n: [{ numeric: [">", "1"] }] } }],
    ["a malformed anything-but", { detail: { n: [{ "anything-but": { wildcard: "x" } }] } }],
    ["an $or that is not a list of patterns", { $or: { a: ["b"] } }],
    ["a nested array", { source: [["aws.ecs"]] }],
  ])("refuses %s", (_, pattern) => {
    expect(error(pattern).type).toBe("InvalidEventPatternException");
  });

  it("refuses JSON that does not parse", () => {
    expect(() => parsePattern("{source:")).toThrow(/not valid JSON/);
  });
});

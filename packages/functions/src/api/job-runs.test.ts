import { ServiceRecord } from "@berth/core/store";
import { beforeEach, describe, expect, it } from "vitest";
import { harnessForFile, JSON_TYPE, storeJob } from "./test-support.ts";

const MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:berth-job-shop-report";
const WORKER_SPEC = {
  type: "worker-service",
  properties: {
    packaging: {
      type: "prebuilt-image",
      properties: { image: "public.ecr.aws/docker/library/busybox:1.36" },
    },
    resources: { cpu: 0.25, memory: 512 },
  },
};

const harness = harnessForFile({}, async ({ store }) => {
  await storeJob(store, "shop", "report", MACHINE);
  await storeJob(store, "shop", "nightly");
  await ServiceRecord.create(store, { stack: "shop", name: "worker", spec: WORKER_SPEC });
});

beforeEach(() => {
  harness.sfnEndpoint.calls.length = 0;
  harness.sfnAnswer = undefined;
});

const startRun = (job: string, body?: unknown, headers: Record<string, string> = {}) =>
  harness.call({
    method: "POST",
    path: `/v1/stacks/shop/jobs/${job}/runs`,
    token: harness.tokens.deploy,
    headers: { ...JSON_TYPE, ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });

/** GET the report job's runs, or what `suffix` (`/{id}`, `?cursor=…`) names under them. */
const readRuns = (suffix = "") =>
  harness.call({
    method: "GET",
    path: `/v1/stacks/shop/jobs/report/runs${suffix}`,
    token: harness.tokens.read,
  });

describe("POST /v1/stacks/{stack}/jobs/{job}/runs", () => {
  it("starts an execution of the job's run state machine named after a new run id, with the job's container overrides", async () => {
    const reply = await startRun("report", {
      command: ["node", "report.js", "--days", "1"],
      environment: { A: "1" },
    });
    expect(reply.status).toBe(202);
    expect(reply.json).toMatchObject({ status: "RUNNING", id: expect.stringMatching(/^[0-9A-Z]{26}$/) });
    expect(reply.json.executionArn).toBe(
      `${MACHINE.replace(":stateMachine:", ":execution:")}:${reply.json.id}`,
    );
    const [call] = harness.sfnEndpoint.calls;
    expect(call?.target).toBe("AWSStepFunctions.StartExecution");
    expect(call?.body.stateMachineArn).toBe(MACHINE);
    expect(call?.body.name).toBe(reply.json.id);
    expect(JSON.parse(String(call?.body.input))).toEqual({
      overrides: {
        ContainerOverrides: [
          {
            Name: "report",
            Command: ["node", "report.js", "--days", "1"],
            Environment: [{ Name: "A", Value: "1" }],
          },
        ],
      },
    });
  });

  it("runs the job as declared without a body", async () => {
    const reply = await startRun("report");
    expect(reply.status).toBe(202);
    expect(JSON.parse(String(harness.sfnEndpoint.calls[0]?.body.input))).toEqual({});
  });

  it("answers a repeated request with the same Idempotency-Key with the same run, starting one execution", async () => {
    const first = await startRun("report", {}, { "Idempotency-Key": "run-1" });
    const second = await startRun("report", {}, { "Idempotency-Key": "run-1" });
    expect(second.status).toBe(202);
    expect(second.json.id).toBe(first.json.id);
    expect(harness.sfnEndpoint.calls).toHaveLength(1);
  });

  it("answers 404 for an unknown job and for a resource that is not a batch job, 409 for a job never deployed", async () => {
    expect((await startRun("missing")).status).toBe(404);
    expect((await startRun("worker")).status).toBe(404);
    const never = await startRun("nightly");
    expect(never.status).toBe(409);
    expect(never.json.error.code).toBe("CONFLICT");
    expect(harness.sfnEndpoint.calls).toHaveLength(0);
  });

  it("answers 400 for overrides that are not a command and an environment", async () => {
    expect((await startRun("report", { command: "echo hi" })).status).toBe(400);
    expect((await startRun("report", { environment: { "1BAD": "x" } })).status).toBe(400);
    expect((await startRun("report", { image: "x" })).status).toBe(400);
    expect(harness.sfnEndpoint.calls).toHaveLength(0);
  });

  it("needs the deploy scope", async () => {
    const reply = await harness.call({
      method: "POST",
      path: "/v1/stacks/shop/jobs/report/runs",
      token: harness.tokens.read,
    });
    expect(reply.status).toBe(403);
  });
});

describe("GET /v1/stacks/{stack}/jobs/{job}/runs[/{id}]", () => {
  it("answers 404 for a run Step Functions does not know, and for an id that cannot be one", async () => {
    harness.sfnAnswer = {
      status: 400,
      body: { __type: "ExecutionDoesNotExist", message: "Execution Does Not Exist" },
    };
    const missing = await readRuns("/01NOPE");
    expect(missing.status).toBe(404);
    const bad = await readRuns("/a.b");
    expect(bad.status).toBe(400);
  });

  it("answers 409 when the job's run state machine is gone", async () => {
    harness.sfnAnswer = { status: 400, body: { __type: "StateMachineDoesNotExist", message: "gone" } };
    const list = await readRuns();
    expect(list.status).toBe(409);
    expect((await startRun("report")).status).toBe(409);
  });

  it("answers 400 for a cursor Step Functions refuses", async () => {
    harness.sfnAnswer = { status: 400, body: { __type: "InvalidToken", message: "Invalid Token" } };
    const reply = await readRuns("?cursor=bogus");
    expect(reply.status).toBe(400);
    expect(reply.json.error.code).toBe("INVALID_CURSOR");
  });
});

import { SFNClient } from "@aws-sdk/client-sfn";
import { afterEach, describe, expect, it } from "vitest";
import { executionArnOf, stepFunctionsStarter } from "./step-functions.ts";
import { type AwsJsonAnswer, startAwsJsonEndpoint } from "./test-support.ts";

const STATE_MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:berth-deploy";
const ARNS = {
  deploy: STATE_MACHINE,
  "delete-service": "arn:aws:states:us-east-1:123456789012:stateMachine:berth-delete-service",
  rollback: "arn:aws:states:us-east-1:123456789012:stateMachine:berth-rollback",
};
const DEPLOYMENT = "01ARZ3NDEKTSV4RRFFQ69G5FAV";
const INPUT = { action: "deploy" as const, deploymentId: DEPLOYMENT, stack: "shop", service: "api" };

let stop: (() => Promise<void>) | undefined;

afterEach(async () => {
  await stop?.();
});

async function starterAnswering(answer: AwsJsonAnswer) {
  const endpoint = await startAwsJsonEndpoint(() => answer);
  const client = new SFNClient({
    endpoint: endpoint.url,
    region: "us-east-1",
    credentials: { accessKeyId: "local", secretAccessKey: "local" },
    maxAttempts: 1,
  });
  stop = async () => {
    client.destroy();
    await endpoint.stop();
  };
  return { start: stepFunctionsStarter(client, ARNS), calls: endpoint.calls };
}

describe("stepFunctionsStarter", () => {
  it("starts an execution named after the deployment, with the input as JSON", async () => {
    const arn = executionArnOf(STATE_MACHINE, DEPLOYMENT);
    const { start, calls } = await starterAnswering({
      status: 200,
      body: { executionArn: arn, startDate: 0 },
    });

    expect(await start(DEPLOYMENT, INPUT)).toEqual({ executionArn: arn });
    expect(calls).toEqual([
      {
        target: "AWSStepFunctions.StartExecution",
        body: { stateMachineArn: STATE_MACHINE, name: DEPLOYMENT, input: JSON.stringify(INPUT) },
      },
    ]);
    expect(arn).toBe(`arn:aws:states:us-east-1:123456789012:execution:berth-deploy:${DEPLOYMENT}`);
  });

  it("starts the state machine of the deployment's action", async () => {
    const { start, calls } = await starterAnswering({
      status: 200,
      body: { executionArn: "x", startDate: 0 },
    });
    await start(DEPLOYMENT, { ...INPUT, action: "delete" });
    await start(DEPLOYMENT, { ...INPUT, action: "rollback" });
    await start(DEPLOYMENT, { ...INPUT, action: "scale" });
    expect(calls.map((call) => (call.body as { stateMachineArn: string }).stateMachineArn)).toEqual([
      ARNS["delete-service"],
      ARNS.rollback,
      ARNS.deploy,
    ]);
  });

  it("treats an execution that already exists for the deployment as started", async () => {
    const { start } = await starterAnswering({
      status: 400,
      body: { __type: "ExecutionAlreadyExists", message: "Execution Already Exists" },
    });
    expect(await start(DEPLOYMENT, INPUT)).toEqual({
      executionArn: executionArnOf(STATE_MACHINE, DEPLOYMENT),
    });
  });

  it("passes on any other failure", async () => {
    const { start } = await starterAnswering({
      status: 400,
      body: { __type: "StateMachineDoesNotExist", message: "no such state machine" },
    });
    await expect(start(DEPLOYMENT, INPUT)).rejects.toThrow("no such state machine");
  });
});

import {
  CreateStateMachineCommand,
  DescribeStateMachineCommand,
  SendTaskSuccessCommand,
  StartExecutionCommand,
} from "@aws-sdk/client-sfn";
import { FUNCTIONS } from "@berth/core/functions";
import { Workflows } from "@berth/core/workflows";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Harness, historyOf, ROLE_ARN, settled, startHarness, until } from "./test-support.ts";

const lambdaArn = (name: string) => `arn:aws:lambda:us-east-1:123456789012:function:${name}`;
const VALUES: Record<string, string> = {
  ...Object.fromEntries(FUNCTIONS.map((fn) => [`Function:${fn.name}`, lambdaArn(fn.name)])),
  CodeBuildProject: "berth-build",
  Cluster: "berth",
};

/**
 * Stand-ins for the workflow steps, at the manifest's handler paths: each records its event
 * (keyed by deployment) and answers what the next states read.
 */
const recorder = `
const calls = (globalThis.berthWorkflowTest ??= []);
export const record = (step, event) => { calls.push({ step, event }); };
`;
const STEPS: Record<string, string> = {
  "load-deployment": `export const handler = async (event) => {
    record("load-deployment", event);
    // "applied…" deployments are applied by load-deployment itself (the deploy workflow's apply).
    if (event.deploymentId.startsWith("applied"))
      return { waitTimeoutSeconds: 1, build: { needed: false, items: [] }, applied: { ecsDeploymentId: "ecs-svc/7" } };
    // "build…" deployments build and are answered; the others time out after 1 s.
    if (!event.deploymentId.startsWith("build")) return { waitTimeoutSeconds: 1, build: { needed: false } };
    const environmentVariables = [{ Name: "OUTCOME", Value: "SUCCEEDED", Type: "PLAINTEXT" }];
    const items = [{ environmentVariables, buildspec: "version: 0.2" }];
    return { waitTimeoutSeconds: 60, build: { needed: true, environmentVariables, items } };
  };`,
  "prepare-resources": `export const handler = async (event) => {
    record("prepare-resources", event);
    return { taskDefinitionArn: "arn:aws:ecs:us-east-1:123456789012:task-definition/shop-api:1" };
  };`,
  "apply-service": `export const handler = async (event) => {
    record("apply-service", event);
    return { ecsDeploymentId: "ecs-svc/1" };
  };`,
  "wait-for-deployment": `export const handler = async (event) => { record("wait-for-deployment", event); return null; };`,
  reconcile: `export const handler = async (event) => { record("reconcile", event); return { status: "SUCCEEDED", reconciled: true }; };`,
  "advance-wait": `export const handler = async (event) => { record("advance-wait", event); return { status: "SUCCEEDED", advanced: true }; };`,
  "delete-service": `export const handler = async (event) => {
    record("delete-service", event);
    if (event.service === "broken") throw new Error("cannot delete");
    return { deleted: true };
  };`,
  finalize: `export const handler = async (event) => { record("finalize", event); return null; };`,
  "release-service": `export const handler = async (event) => { record("release-service", event); return null; };`,
};

function calls(): { step: string; event: Record<string, unknown> }[] {
  const store = globalThis as { berthWorkflowTest?: { step: string; event: Record<string, unknown> }[] };
  store.berthWorkflowTest ??= [];
  return store.berthWorkflowTest;
}

const callsFor = (deploymentId: string) => calls().filter((call) => call.event.deploymentId === deploymentId);

let harness: Harness;

beforeAll(async () => {
  const files: Record<string, string> = { "packages/functions/src/steps/record.mjs": recorder };
  for (const [step, source] of Object.entries(STEPS)) {
    files[`packages/functions/src/steps/${step}.mjs`] = `import { record } from "./record.mjs";\n${source}`;
  }
  harness = await startHarness({
    registry: {
      definitions: FUNCTIONS.filter((fn) => fn.handler.startsWith("packages/functions/src/steps/")).map(
        (fn) => ({
          name: fn.name,
          handler: fn.handler,
          timeoutSeconds: fn.timeoutSeconds,
        }),
      ),
      files,
    },
  });
  harness.engine.installStateMachines(
    Workflows.WORKFLOWS.map((workflow) => ({
      name: `berth-${workflow.name}`,
      definition: Workflows.substitute(workflow.definition, VALUES),
      roleArn: ROLE_ARN,
    })),
  );
});

afterAll(async () => {
  await harness.close();
  // The stand-ins' record, on the global object: gone, so a file after this one in the same worker sees none of it.
  delete (globalThis as { berthWorkflowTest?: unknown }).berthWorkflowTest;
});

const machineArn = (name: string) => `arn:aws:states:us-east-1:123456789012:stateMachine:berth-${name}`;

async function start(workflow: string, name: string, input: unknown): Promise<string> {
  const started = await harness.sfn.send(
    new StartExecutionCommand({ stateMachineArn: machineArn(workflow), name, input: JSON.stringify(input) }),
  );
  return started.executionArn ?? "";
}

/** The wait-for-deployment call of a deployment once its workflow is there, then its token answered with `outcome`. */
async function answerWait(deploymentId: string, outcome: unknown) {
  const wait = await until("wait-for-deployment", () =>
    callsFor(deploymentId).find((call) => call.step === "wait-for-deployment"),
  );
  await harness.sfn.send(
    new SendTaskSuccessCommand({ taskToken: String(wait.event.taskToken), output: JSON.stringify(outcome) }),
  );
  return wait;
}

describe("Berth's workflows", () => {
  it("are accepted by CreateStateMachine after substitution, schema validation included", async () => {
    for (const workflow of Workflows.WORKFLOWS) {
      const definition = JSON.stringify(Workflows.substitute(workflow.definition, VALUES));
      const created = await harness.sfn.send(
        new CreateStateMachineCommand({ name: `api-${workflow.name}`, definition, roleArn: ROLE_ARN }),
      );
      const described = await harness.sfn.send(
        new DescribeStateMachineCommand({ stateMachineArn: created.stateMachineArn }),
      );
      expect(described.definition, workflow.name).toBe(definition);
    }
  });

  it("are installed once; a changed definition updates its state machine", async () => {
    const before = harness.engine.store.machine(machineArn("deploy"));
    const install = (comment?: string) =>
      harness.engine.installStateMachines([
        {
          name: "berth-deploy",
          definition: {
            ...Workflows.substitute(Workflows.deploy.definition, VALUES),
            ...(comment ? { Comment: comment } : {}),
          },
          roleArn: ROLE_ARN,
        },
      ])[0];
    expect(install()?.revisionId).toBe(before?.revisionId);
    const changed = install("changed");
    expect(changed?.revisionId).not.toBe(before?.revisionId);
    expect(JSON.parse(changed?.definition ?? "{}").Comment).toBe("changed");
    install();
  });

  it("deploy: builds, waits for the token and finalizes with the answered outcome", async () => {
    const input = { deploymentId: "build-1", stack: "shop", service: "api", action: "deploy" };
    const executionArn = await start("deploy", "build-1", input);
    const wait = await answerWait("build-1", { status: "SUCCEEDED", runningTasks: 2 });
    expect(wait.event).toEqual({
      deploymentId: "build-1",
      stack: "shop",
      service: "api",
      applied: { ecsDeploymentId: "ecs-svc/1" },
      taskToken: expect.stringMatching(/^[A-Za-z0-9_-]{64}$/),
    });
    const described = await settled(harness, executionArn);
    expect(described.status).toBe("SUCCEEDED");
    // The build's id reaches prepare-resources (whatever shape the workflow gives the builds).
    const prepared = callsFor("build-1").find((call) => call.step === "prepare-resources");
    expect(JSON.stringify(prepared?.event)).toMatch(/"berth-build:[0-9a-f-]{36}"/);
    const finalized = callsFor("build-1").find((call) => call.step === "finalize");
    expect(finalized?.event.outcome).toEqual({ status: "SUCCEEDED", runningTasks: 2 });
    expect(callsFor("build-1").map((call) => call.step)).toEqual([
      "load-deployment",
      "prepare-resources",
      "apply-service",
      "wait-for-deployment",
      "finalize",
      "release-service",
    ]);
    // The build and the callback each report their submission.
    const history = await historyOf(harness, executionArn);
    expect(history.filter((event) => event.type === "TaskSubmitted")).toHaveLength(2);
  });

  it("deploy: a STABILIZING answer waits out the window, then advance-wait decides", async () => {
    const input = { deploymentId: "build-stable", stack: "shop", service: "api", action: "deploy" };
    const executionArn = await start("deploy", "build-stable", input);
    const wait = await until("wait-for-deployment", () =>
      callsFor("build-stable").find((call) => call.step === "wait-for-deployment"),
    );
    await harness.sfn.send(
      new SendTaskSuccessCommand({
        taskToken: String(wait.event.taskToken),
        output: JSON.stringify({ status: "STABILIZING", stabilitySeconds: 1 }),
      }),
    );
    const described = await settled(harness, executionArn);
    expect(described.status).toBe("SUCCEEDED");
    const steps = callsFor("build-stable");
    expect(steps.map((call) => call.step).slice(-4)).toEqual([
      "wait-for-deployment",
      "advance-wait",
      "finalize",
      "release-service",
    ]);
    expect(steps.find((call) => call.step === "advance-wait")?.event).toMatchObject({
      deploymentId: "build-stable",
      applied: { ecsDeploymentId: "ecs-svc/1" },
    });
    expect(steps.find((call) => call.step === "finalize")?.event.outcome).toEqual({
      status: "SUCCEEDED",
      advanced: true,
    });
    const history = await historyOf(harness, executionArn);
    expect(history.some((event) => event.type === "WaitStateEntered")).toBe(true);
  });

  it("deploy: without a build, a wait that times out is reconciled", async () => {
    const input = { deploymentId: "plain-1", stack: "shop", service: "api", action: "deploy" };
    const described = await settled(harness, await start("deploy", "plain-1", input));
    expect(described.status).toBe("SUCCEEDED");
    const steps = callsFor("plain-1");
    // Nothing built: no prepare-resources; apply-service is told to register the revision itself.
    expect(steps.map((call) => call.step)).not.toContain("prepare-resources");
    expect(steps.find((call) => call.step === "load-deployment")?.event).toMatchObject({ preflight: true });
    expect(steps.find((call) => call.step === "apply-service")?.event).toMatchObject({
      resources: { register: true },
    });
    expect(steps.map((call) => call.step)).toContain("reconcile");
    expect(steps.find((call) => call.step === "finalize")?.event.outcome).toEqual({
      status: "SUCCEEDED",
      reconciled: true,
    });
  });

  it("deploy: a deploy load-deployment applied itself goes straight to the wait on what it answered", async () => {
    const input = { deploymentId: "applied-1", stack: "shop", service: "api", action: "deploy" };
    const executionArn = await start("deploy", "applied-1", input);
    const wait = await answerWait("applied-1", { status: "SUCCEEDED", runningTasks: 1 });
    expect(wait.event).toEqual({
      deploymentId: "applied-1",
      stack: "shop",
      service: "api",
      applied: { ecsDeploymentId: "ecs-svc/7" },
      taskToken: expect.stringMatching(/^[A-Za-z0-9_-]{64}$/),
    });
    const described = await settled(harness, executionArn);
    expect(described.status).toBe("SUCCEEDED");
    const steps = callsFor("applied-1");
    expect(steps.find((call) => call.step === "load-deployment")?.event).toMatchObject({
      preflight: true,
      apply: true,
    });
    // Neither prepare-resources nor apply-service: load-deployment did their work.
    expect(steps.map((call) => call.step)).toEqual([
      "load-deployment",
      "wait-for-deployment",
      "finalize",
      "release-service",
    ]);
    const history = await historyOf(harness, executionArn);
    expect(history.filter((event) => event.type?.endsWith("StateEntered")).length).toBeLessThanOrEqual(15);
  });

  it("delete-stack: each service in the Map, one failing without stopping the others", async () => {
    const input = {
      stack: "shop",
      deployments: [
        { deploymentId: "del-1", service: "api" },
        { deploymentId: "del-2", service: "broken" },
      ],
    };
    const described = await settled(harness, await start("delete-stack", "delete-shop", input));
    expect(described.status).toBe("SUCCEEDED");
    const results = JSON.parse(described.output ?? "{}").results;
    expect(results[0]).toMatchObject({ deploymentId: "del-1", service: "api" });
    expect(results[1]).toEqual({
      deploymentId: "del-2",
      service: "broken",
      failed: true,
      error: "Berth.DeploymentFailed",
    });
    const finalized = callsFor("del-2").find((call) => call.step === "finalize");
    expect((finalized?.event.error as { Error: string }).Error).toBe("Error");
  });
});

import {
  type HistoryEvent,
  SendTaskFailureCommand,
  SendTaskHeartbeatCommand,
  SendTaskSuccessCommand,
  StartExecutionCommand,
  StopExecutionCommand,
} from "@aws-sdk/client-sfn";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { failure } from "../test-support.ts";
import {
  callbacks,
  createMachine,
  type Harness,
  historyOf,
  settled,
  startHarness,
  until,
} from "./test-support.ts";

/** The history of one `.sync` or callback Task that succeeds at once. */
const SYNC_TASK_HISTORY = [
  "ExecutionStarted",
  "TaskStateEntered",
  "TaskScheduled",
  "TaskStarted",
  "TaskSubmitted",
  "TaskSucceeded",
  "TaskStateExited",
  "ExecutionSucceeded",
];

let harness: Harness;
let machines = 0;

beforeAll(async () => {
  harness = await startHarness();
});

afterAll(async () => {
  await harness.close();
});

const lambdaArn = (name: string) => `arn:aws:lambda:us-east-1:123456789012:function:${name}`;

/** Creates a machine for the definition and starts it; answers the execution's ARN. */
async function start(definition: unknown, input: unknown = {}): Promise<string> {
  machines += 1;
  const stateMachineArn = await createMachine(harness, `runner-${machines}`, definition);
  const started = await harness.sfn.send(
    new StartExecutionCommand({ stateMachineArn, input: JSON.stringify(input) }),
  );
  return started.executionArn ?? "";
}

async function run(definition: unknown, input: unknown = {}) {
  const executionArn = await start(definition, input);
  const described = await settled(harness, executionArn);
  return {
    executionArn,
    described,
    output: described.output === undefined ? undefined : JSON.parse(described.output),
    history: await historyOf(harness, executionArn),
  };
}

const types = (history: HistoryEvent[]) => history.map((event) => event.type);

function invoke(functionName: string, payload: unknown, extra: Record<string, unknown> = {}) {
  return {
    Type: "Task",
    Resource: "arn:aws:states:::lambda:invoke",
    Parameters: { FunctionName: lambdaArn(functionName), Payload: payload },
    ...extra,
  };
}

/** The token a callback function received for the execution, once it arrives. */
function tokenFor(executionName: string): Promise<string> {
  return until(`the task token of ${executionName}`, () => {
    const found = callbacks().find((event) => event.execution === executionName);
    return found?.taskToken;
  });
}

function waitForToken(extra: Record<string, unknown> = {}) {
  return {
    Type: "Task",
    Resource: "arn:aws:states:::lambda:invoke.waitForTaskToken",
    Parameters: {
      FunctionName: lambdaArn("callback"),
      Payload: { "execution.$": "$$.Execution.Name", "taskToken.$": "$$.Task.Token", "input.$": "$" },
    },
    ...extra,
  };
}

describe("lambda:invoke", () => {
  it("invokes through the Lambda endpoint and wraps the answer as Step Functions does", async () => {
    const { described, output } = await run(
      {
        StartAt: "Call",
        States: {
          Call: invoke("echo", { "value.$": "$.value", "execution.$": "$$.Execution.Name" }, { End: true }),
        },
      },
      { value: 42 },
    );
    expect(described.status).toBe("SUCCEEDED");
    expect(output).toEqual({
      ExecutedVersion: "$LATEST",
      Payload: { received: { value: 42, execution: described.name } },
      SdkHttpMetadata: {
        AllHttpHeaders: expect.objectContaining({ "X-Amz-Executed-Version": ["$LATEST"] }),
        HttpHeaders: expect.objectContaining({ "X-Amz-Executed-Version": "$LATEST" }),
        HttpStatusCode: 200,
      },
      SdkResponseMetadata: { RequestId: expect.stringMatching(/^[0-9a-f-]{36}$/) },
      StatusCode: 200,
    });
  });

  it("fails the task with the function's errorType, which Retry matches by name", async () => {
    const { output, history } = await run(
      {
        StartAt: "Delete",
        States: {
          Delete: invoke(
            "flaky",
            { key: "retry-test", succeedOn: 2 },
            {
              Retry: [
                { ErrorEquals: ["Lambda.ServiceException"], MaxAttempts: 3 },
                {
                  ErrorEquals: ["Berth.ServiceDraining"],
                  IntervalSeconds: 1,
                  MaxAttempts: 2,
                  BackoffRate: 1,
                },
              ],
              ResultSelector: { "Payload.$": "$.Payload" },
              End: true,
            },
          ),
        },
      },
      {},
    );
    expect(output).toEqual({ Payload: { calls: 2 } });
    expect(types(history)).toEqual([
      "ExecutionStarted",
      "TaskStateEntered",
      "TaskScheduled",
      "TaskStarted",
      "TaskFailed",
      "TaskScheduled",
      "TaskStarted",
      "TaskSucceeded",
      "TaskStateExited",
      "ExecutionSucceeded",
    ]);
    const failed = history.find((event) => event.type === "TaskFailed")?.taskFailedEventDetails;
    expect(failed?.error).toBe("Berth.ServiceDraining");
    expect(JSON.parse(failed?.cause ?? "{}")).toMatchObject({
      errorType: "Berth.ServiceDraining",
      errorMessage: "draining, call 1",
    });
  });

  it("lets Catch see Lambda's error names: function errors and function timeouts", async () => {
    const catchTo = (resultPath: string, next: string) => [
      { ErrorEquals: ["States.ALL"], ResultPath: resultPath, Next: next },
    ];
    const { output } = await run({
      StartAt: "Draining",
      States: {
        Draining: invoke("draining", {}, { Catch: catchTo("$.draining", "Slow"), Next: "Slow" }),
        Slow: invoke("slow", { ms: 3000 }, { Catch: catchTo("$.slow", "Done"), Next: "Done" }),
        Done: { Type: "Pass", End: true },
      },
    });
    expect(output.draining.Error).toBe("Berth.ServiceDraining");
    expect(JSON.parse(output.draining.Cause)).toMatchObject({ errorMessage: "the service still drains" });
    expect(output.slow.Error).toBe("Sandbox.Timedout");
    expect(JSON.parse(output.slow.Cause).errorMessage).toMatch(/Task timed out after 1\.00 seconds$/);
  });

  it("names an unknown function Lambda.ResourceNotFoundException", async () => {
    const { output } = await run({
      StartAt: "Missing",
      States: {
        Missing: invoke(
          "no-such-function",
          {},
          {
            Catch: [{ ErrorEquals: ["Lambda.ResourceNotFoundException"], Next: "Caught" }],
            End: true,
          },
        ),
        Caught: { Type: "Pass", End: true },
      },
    });
    expect(output.Error).toBe("Lambda.ResourceNotFoundException");
    expect(output.Cause).toContain("Function not found");
  });

  it("runs a plain function ARN resource with its payload as the result", async () => {
    const { output, history } = await run(
      { StartAt: "Call", States: { Call: { Type: "Task", Resource: lambdaArn("echo"), End: true } } },
      { plain: true },
    );
    expect(output).toEqual({ received: { plain: true } });
    expect(types(history)).toContain("LambdaFunctionSucceeded");
  });
});

describe("lambda:invoke.waitForTaskToken", () => {
  it("waits for SendTaskSuccess and takes its output as the task's result", async () => {
    const executionArn = await start({
      StartAt: "Wait",
      States: { Wait: waitForToken({ ResultSelector: { "Payload.$": "$" }, TimeoutSeconds: 30, End: true }) },
    });
    const name = executionArn.split(":").at(-1) ?? "";
    const token = await tokenFor(name);
    expect(token).toMatch(/^[A-Za-z0-9_-]{64}$/);
    await harness.sfn.send(
      new SendTaskSuccessCommand({ taskToken: token, output: JSON.stringify({ ok: 1 }) }),
    );
    const described = await settled(harness, executionArn);
    expect(JSON.parse(described.output ?? "")).toEqual({ Payload: { ok: 1 } });
    const history = await historyOf(harness, executionArn);
    expect(types(history)).toEqual(SYNC_TASK_HISTORY);
    const scheduled = history[2]?.taskScheduledEventDetails;
    expect(scheduled).toMatchObject({
      resourceType: "lambda",
      resource: "invoke.waitForTaskToken",
      region: "us-east-1",
      timeoutInSeconds: 30,
    });
    expect(JSON.parse(scheduled?.parameters ?? "{}").Payload.taskToken).toBe(token);

    const again = await failure(
      harness.sfn.send(new SendTaskSuccessCommand({ taskToken: token, output: "{}" })),
    );
    expect(again.name).toBe("TaskTimedOut");
    const unknown = await failure(
      harness.sfn.send(new SendTaskSuccessCommand({ taskToken: "A".repeat(64), output: "{}" })),
    );
    expect(unknown.name).toBe("TaskDoesNotExist");
    const malformed = await failure(
      harness.sfn.send(new SendTaskHeartbeatCommand({ taskToken: "not a token" })),
    );
    expect(malformed.name).toBe("InvalidToken");
  });

  it("fails the task with SendTaskFailure's error and cause", async () => {
    const executionArn = await start({
      StartAt: "Wait",
      States: {
        Wait: waitForToken({
          Catch: [{ ErrorEquals: ["Deploy.Failed"], ResultPath: "$.error", Next: "Failed" }],
          Next: "Unreachable",
        }),
        Unreachable: { Type: "Succeed" },
        Failed: { Type: "Fail", Error: "Berth.DeploymentFailed", CausePath: "$.error.Cause" },
      },
    });
    const token = await tokenFor(executionArn.split(":").at(-1) ?? "");
    const output = "x";
    await harness.sfn.send(
      new SendTaskFailureCommand({
        taskToken: token,
        error: "Deploy.Failed",
        cause: `tasks crashed ${output}`,
      }),
    );
    const described = await settled(harness, executionArn);
    expect(described).toMatchObject({
      status: "FAILED",
      error: "Berth.DeploymentFailed",
      cause: "tasks crashed x",
    });
    const history = await historyOf(harness, executionArn);
    expect(history.find((event) => event.type === "TaskFailed")?.taskFailedEventDetails).toMatchObject({
      error: "Deploy.Failed",
      cause: "tasks crashed x",
    });
    expect(types(history).slice(-2)).toEqual(["FailStateEntered", "ExecutionFailed"]);
  });

  it("times out after TimeoutSecondsPath with States.Timeout, which States.TaskFailed does not catch", async () => {
    const { output, history } = await run(
      {
        StartAt: "Wait",
        States: {
          Wait: waitForToken({
            TimeoutSecondsPath: "$.deployment.waitTimeoutSeconds",
            Catch: [
              { ErrorEquals: ["States.TaskFailed"], Next: "Wrong catcher" },
              { ErrorEquals: ["States.Timeout"], ResultPath: "$.waitError", Next: "Reconcile" },
            ],
            Next: "Wrong catcher",
          }),
          "Wrong catcher": { Type: "Fail", Error: "Test.WrongCatcher" },
          Reconcile: { Type: "Pass", End: true },
        },
      },
      { deployment: { waitTimeoutSeconds: 1 } },
    );
    expect(output.waitError.Error).toBe("States.Timeout");
    const timedOut = history.find((event) => event.type === "TaskTimedOut");
    expect(timedOut?.taskTimedOutEventDetails).toMatchObject({
      resourceType: "lambda",
      resource: "invoke.waitForTaskToken",
      error: "States.Timeout",
    });
    expect(
      history.find((event) => event.type === "TaskScheduled")?.taskScheduledEventDetails?.timeoutInSeconds,
    ).toBe(1);
  });

  it("fails the execution with States.Runtime when TimeoutSecondsPath is not a positive integer", async () => {
    const { described } = await run(
      { StartAt: "Wait", States: { Wait: waitForToken({ TimeoutSecondsPath: "$.seconds", End: true }) } },
      { seconds: "soon" },
    );
    expect(described).toMatchObject({ status: "FAILED", error: "States.Runtime" });
  });

  it("keeps a task alive past HeartbeatSeconds while heartbeats arrive", async () => {
    const executionArn = await start({
      StartAt: "Wait",
      States: { Wait: waitForToken({ HeartbeatSeconds: 1, TimeoutSeconds: 10, End: true }) },
    });
    const token = await tokenFor(executionArn.split(":").at(-1) ?? "");
    for (let beat = 0; beat < 4; beat += 1) {
      await new Promise((resolve) => setTimeout(resolve, 400));
      await harness.sfn.send(new SendTaskHeartbeatCommand({ taskToken: token }));
    }
    await harness.sfn.send(new SendTaskSuccessCommand({ taskToken: token, output: '"alive"' }));
    const described = await settled(harness, executionArn);
    expect(described.status).toBe("SUCCEEDED");
    expect(described.output).toBe('"alive"');
  });
});

describe("executions", () => {
  it("records the history in Step Functions' event vocabulary, with ids and previous ids", async () => {
    const { history } = await run(
      {
        StartAt: "Prepare",
        States: {
          Prepare: { Type: "Pass", Result: { needed: false }, ResultPath: "$.build", Next: "Build needed?" },
          "Build needed?": {
            Type: "Choice",
            Choices: [{ Variable: "$.build.needed", BooleanEquals: true, Next: "Call" }],
            Default: "Call",
          },
          Call: invoke("echo", { "build.$": "$.build" }, { ResultPath: null, Next: "Done" }),
          Done: { Type: "Succeed" },
        },
      },
      { service: "api" },
    );
    expect(types(history)).toEqual([
      "ExecutionStarted",
      "PassStateEntered",
      "PassStateExited",
      "ChoiceStateEntered",
      "ChoiceStateExited",
      "TaskStateEntered",
      "TaskScheduled",
      "TaskStarted",
      "TaskSucceeded",
      "TaskStateExited",
      "SucceedStateEntered",
      "SucceedStateExited",
      "ExecutionSucceeded",
    ]);
    expect(history.map((event) => event.id)).toEqual(history.map((_, index) => index + 1));
    expect(history.map((event) => event.previousEventId)).toEqual(history.map((_, index) => index));
    expect(history[0]?.executionStartedEventDetails).toMatchObject({
      input: JSON.stringify({ service: "api" }),
      inputDetails: { truncated: false },
      roleArn: "arn:aws:iam::123456789012:role/berth-test",
    });
    expect(history[1]?.stateEnteredEventDetails?.name).toBe("Prepare");
    expect(JSON.parse(history[2]?.stateExitedEventDetails?.output ?? "")).toEqual({
      service: "api",
      build: { needed: false },
    });
    expect(history[0]?.timestamp).toBeInstanceOf(Date);
  });

  it("passes a Pass state's null Result on (not its input), and ResultPath $ replaces the input", async () => {
    const { output } = await run(
      {
        StartAt: "No build",
        States: {
          "No build": { Type: "Pass", Result: null, ResultPath: "$.build", Next: "Replace" },
          Replace: { Type: "Pass", Parameters: { "build.$": "$.build" }, ResultPath: "$", Next: "Present?" },
          "Present?": {
            Type: "Choice",
            Choices: [{ Variable: "$.missing", IsPresent: false, Next: "Absent" }],
            Default: "Wrong",
          },
          Absent: { Type: "Succeed" },
          Wrong: { Type: "Fail" },
        },
      },
      { image: "x" },
    );
    expect(output).toEqual({ build: null });
  });

  it("publishes every status change on the bus as aws.states events", async () => {
    const { executionArn, described } = await run(
      { StartAt: "Fail", States: { Fail: { Type: "Fail", Error: "Test.Failed", Cause: "on purpose" } } },
      { n: 1 },
    );
    expect(described).toMatchObject({ status: "FAILED", error: "Test.Failed", cause: "on purpose" });
    const changes = harness.events.filter((event) => event.resources[0] === executionArn);
    expect(changes.map((event) => (event.detail as { status: string }).status)).toEqual([
      "RUNNING",
      "FAILED",
    ]);
    expect(changes[1]).toMatchObject({
      source: "aws.states",
      "detail-type": "Step Functions Execution Status Change",
      account: "123456789012",
      region: "us-east-1",
      detail: {
        executionArn,
        stateMachineArn: described.stateMachineArn,
        name: described.name,
        status: "FAILED",
        startDate: described.startDate?.getTime(),
        stopDate: described.stopDate?.getTime(),
        input: '{"n":1}',
        output: null,
        error: "Test.Failed",
        cause: "on purpose",
      },
    });
  });

  it("ends an execution past its TimeoutSeconds TIMED_OUT", async () => {
    const { executionArn, described, history } = await run({
      TimeoutSeconds: 1,
      StartAt: "Wait",
      States: { Wait: { Type: "Wait", Seconds: 30, End: true } },
    });
    expect(described).toMatchObject({ status: "TIMED_OUT", error: "States.Timeout" });
    expect(types(history)).toEqual(["ExecutionStarted", "WaitStateEntered", "ExecutionTimedOut"]);
    const change = harness.events.filter((event) => event.resources[0] === executionArn).at(-1);
    expect((change?.detail as { status: string }).status).toBe("TIMED_OUT");
  });

  it("StopExecution aborts a waiting execution, and its token is then refused", async () => {
    const executionArn = await start({ StartAt: "Wait", States: { Wait: waitForToken({ End: true }) } });
    const token = await tokenFor(executionArn.split(":").at(-1) ?? "");
    const stopped = await harness.sfn.send(
      new StopExecutionCommand({ executionArn, error: "Berth.Cancelled", cause: "superseded" }),
    );
    expect(stopped.stopDate).toBeInstanceOf(Date);
    const described = await settled(harness, executionArn);
    expect(described).toMatchObject({ status: "ABORTED", error: "Berth.Cancelled", cause: "superseded" });
    const history = await historyOf(harness, executionArn);
    expect(history.at(-1)).toMatchObject({
      type: "ExecutionAborted",
      executionAbortedEventDetails: { error: "Berth.Cancelled", cause: "superseded" },
    });
    const late = await failure(
      harness.sfn.send(new SendTaskSuccessCommand({ taskToken: token, output: "{}" })),
    );
    expect(late.name).toBe("TaskTimedOut");
    const change = harness.events.filter((event) => event.resources[0] === executionArn).at(-1);
    expect(change?.detail).toMatchObject({ status: "ABORTED", error: "Berth.Cancelled" });
  });
});

describe("Map", () => {
  it("runs each item through the processor with ItemSelector and $$.Map.Item.Value", async () => {
    const { output, history } = await run(
      {
        StartAt: "Each",
        States: {
          Each: {
            Type: "Map",
            ItemsPath: "$.deployments",
            ItemSelector: {
              "stack.$": "$.stack",
              "deploymentId.$": "$$.Map.Item.Value.deploymentId",
              "index.$": "$$.Map.Item.Index",
            },
            MaxConcurrency: 2,
            ItemProcessor: {
              ProcessorConfig: { Mode: "INLINE" },
              StartAt: "Item",
              States: {
                Item: invoke(
                  "echo",
                  { "deploymentId.$": "$.deploymentId", "stack.$": "$.stack" },
                  {
                    ResultSelector: { "Payload.$": "$.Payload.received" },
                    End: true,
                  },
                ),
              },
            },
            ResultPath: "$.results",
            End: true,
          },
        },
      },
      {
        stack: "shop",
        deployments: [{ deploymentId: "d1" }, { deploymentId: "d2" }, { deploymentId: "d3" }],
      },
    );
    expect(output.results).toEqual([
      { Payload: { deploymentId: "d1", stack: "shop" } },
      { Payload: { deploymentId: "d2", stack: "shop" } },
      { Payload: { deploymentId: "d3", stack: "shop" } },
    ]);
    const names = types(history);
    expect(names.slice(0, 3)).toEqual(["ExecutionStarted", "MapStateEntered", "MapStateStarted"]);
    expect(history[2]?.mapStateStartedEventDetails).toEqual({ length: 3 });
    expect(names.filter((name) => name === "MapIterationStarted")).toHaveLength(3);
    expect(names.filter((name) => name === "TaskSucceeded")).toHaveLength(3);
    expect(names.slice(-3)).toEqual(["MapStateSucceeded", "MapStateExited", "ExecutionSucceeded"]);
    const iterations = history
      .filter((event) => event.type === "MapIterationSucceeded")
      .map((event) => event.mapIterationSucceededEventDetails);
    expect(iterations).toEqual(
      expect.arrayContaining([
        { name: "Each", index: 0 },
        { name: "Each", index: 1 },
        { name: "Each", index: 2 },
      ]),
    );
  });

  it("fails the Map when an iteration fails, for the Map's Catch to handle", async () => {
    const { output, history } = await run(
      {
        StartAt: "Each",
        States: {
          Each: {
            Type: "Map",
            ItemsPath: "$.items",
            ItemProcessor: {
              ProcessorConfig: { Mode: "INLINE" },
              StartAt: "Item",
              States: { Item: invoke("draining", {}, { End: true }) },
            },
            Catch: [{ ErrorEquals: ["States.ALL"], ResultPath: "$.error", Next: "Not deleted" }],
            End: true,
          },
          "Not deleted": { Type: "Pass", End: true },
        },
      },
      { items: [1] },
    );
    expect(output.error.Error).toBe("Berth.ServiceDraining");
    expect(types(history)).toEqual(expect.arrayContaining(["MapIterationFailed", "MapStateFailed"]));
    expect(types(history)).not.toContain("MapStateExited");
  });
});

describe("codebuild:startBuild.sync", () => {
  const build = (outcome: string) => ({
    StartAt: "Build",
    States: {
      Build: {
        Type: "Task",
        Resource: "arn:aws:states:::codebuild:startBuild.sync",
        Parameters: {
          ProjectName: "berth-build",
          EnvironmentVariablesOverride: [
            { Name: "OUTCOME", Value: outcome, Type: "PLAINTEXT" },
            { Name: "POLLS", Value: "3", Type: "PLAINTEXT" },
          ],
        },
        Catch: [{ ErrorEquals: ["States.TaskFailed"], ResultPath: "$.error", Next: "Failed" }],
        End: true,
      },
      Failed: { Type: "Pass", End: true },
    },
  });

  it("waits for the build and answers it in Step Functions' PascalCase", async () => {
    const { output, history } = await run(build("SUCCEEDED"));
    expect(output.Build).toMatchObject({
      Id: expect.stringMatching(/^berth-build:/),
      Arn: expect.stringMatching(/^arn:aws:codebuild:us-east-1:123456789012:build\/berth-build:/),
      BuildStatus: "SUCCEEDED",
      ProjectName: "berth-build",
      ExportedEnvironmentVariables: [{ Name: "IMAGE_DIGEST", Value: "sha256:feed" }],
      Environment: {
        EnvironmentVariables: [
          { Name: "OUTCOME", Value: "SUCCEEDED", Type: "PLAINTEXT" },
          { Name: "POLLS", Value: "3", Type: "PLAINTEXT" },
        ],
      },
      Logs: { GroupName: "/aws/codebuild/berth-build" },
    });
    expect(typeof output.Build.StartTime).toBe("number");
    expect(types(history)).toEqual(SYNC_TASK_HISTORY);
    expect(history[2]?.taskScheduledEventDetails).toMatchObject({
      resourceType: "codebuild",
      resource: "startBuild.sync",
    });
  });

  it("fails with States.TaskFailed and the build as cause when the build fails", async () => {
    const { output } = await run(build("FAILED"));
    expect(output.error.Error).toBe("States.TaskFailed");
    expect(JSON.parse(output.error.Cause)).toMatchObject({
      BuildStatus: "FAILED",
      ProjectName: "berth-build",
    });
  });

  it("stops the build when the execution is stopped", async () => {
    const executionArn = await start({
      StartAt: "Build",
      States: {
        Build: {
          Type: "Task",
          Resource: "arn:aws:states:::codebuild:startBuild.sync",
          Parameters: {
            ProjectName: "berth-build",
            EnvironmentVariablesOverride: [{ Name: "POLLS", Value: "100000" }],
          },
          End: true,
        },
      },
    });
    const buildId = await until("the build", async () => {
      const history = await historyOf(harness, executionArn);
      const submitted = history.find((event) => event.type === "TaskSubmitted");
      return submitted ? JSON.parse(submitted.taskSubmittedEventDetails?.output ?? "{}").Build.Id : undefined;
    });
    await harness.sfn.send(new StopExecutionCommand({ executionArn }));
    await until("StopBuild", () => (harness.codeBuild.stopped.includes(buildId) ? true : undefined));
    expect(harness.codeBuild.builds.get(buildId)?.buildStatus).toBe("STOPPED");
  });
});

describe("ecs:runTask.sync", () => {
  const runJob = (exitCode: number, retry?: { MaxAttempts: number }) => ({
    StartAt: "Run",
    States: {
      Run: {
        Type: "Task",
        Resource: "arn:aws:states:::ecs:runTask.sync",
        Parameters: {
          Cluster: "berth",
          TaskDefinition: "arn:aws:ecs:us-east-1:123456789012:task-definition/jobs-report:1",
          Overrides: {
            ContainerOverrides: [
              { Name: "report", Environment: [{ Name: "EXIT_CODE", Value: String(exitCode) }] },
            ],
          },
        },
        ...(retry ? { Retry: [{ ErrorEquals: ["States.TaskFailed"], IntervalSeconds: 0, ...retry }] } : {}),
        Catch: [{ ErrorEquals: ["States.TaskFailed"], ResultPath: "$.error", Next: "Failed" }],
        End: true,
      },
      Failed: { Type: "Pass", End: true },
    },
  });

  it("runs the task until it stops and answers it in Step Functions' PascalCase", async () => {
    const { output, history } = await run(runJob(0));
    expect(output).toMatchObject({
      TaskArn: expect.stringMatching(/^arn:aws:ecs:us-east-1:123456789012:task\/berth\//),
      LastStatus: "STOPPED",
      Containers: [{ Name: "report", ExitCode: 0 }],
    });
    expect(types(history)).toEqual(SYNC_TASK_HISTORY);
    expect(history[2]?.taskScheduledEventDetails).toMatchObject({
      resourceType: "ecs",
      resource: "runTask.sync",
    });
  });

  it("fails with States.TaskFailed and the stopped task as cause when a container exits non-zero; Retry runs it again", async () => {
    const before = harness.ecs.started.length;
    const { output, history } = await run(runJob(3, { MaxAttempts: 1 }));
    expect(output.error.Error).toBe("States.TaskFailed");
    expect(JSON.parse(output.error.Cause)).toMatchObject({
      LastStatus: "STOPPED",
      Containers: [{ Name: "report", ExitCode: 3 }],
    });
    expect(harness.ecs.started.length - before).toBe(2);
    expect(types(history).filter((type) => type === "TaskFailed")).toHaveLength(2);
  });

  it("stops the task when the execution is stopped", async () => {
    const definition = runJob(0);
    const parameters = definition.States.Run.Parameters.Overrides.ContainerOverrides[0];
    parameters?.Environment.push({ Name: "POLLS", Value: "100000" });
    const executionArn = await start(definition);
    const taskArn = await until("the task", async () => {
      const history = await historyOf(harness, executionArn);
      const submitted = history.find((event) => event.type === "TaskSubmitted");
      return submitted ? JSON.parse(submitted.taskSubmittedEventDetails?.output ?? "{}").TaskArn : undefined;
    });
    await harness.sfn.send(new StopExecutionCommand({ executionArn }));
    await until("StopTask", () => (harness.ecs.stopped.includes(taskArn) ? true : undefined));
  });
});

import { setTimeout as sleep } from "node:timers/promises";
import {
  BatchGetBuildsCommand,
  type Build,
  type CodeBuildClient,
  StartBuildCommand,
  type StartBuildCommandInput,
  StopBuildCommand,
} from "@aws-sdk/client-codebuild";
import {
  DescribeTasksCommand,
  type ECSClient,
  RunTaskCommand,
  type RunTaskCommandInput,
  StopTaskCommand,
  type Task,
} from "@aws-sdk/client-ecs";
import {
  InvokeCommand,
  type InvokeCommandInput,
  type InvokeCommandOutput,
  type LambdaClient,
} from "@aws-sdk/client-lambda";
import { StateMachine, type StateMachineDefinition } from "aws-local-stepfunctions";

/**
 * A failure named as Step Functions names it: `name` is the Error Retry and Catch match,
 * `message` the Cause. Non-retryable, non-catchable errors end the execution (States.Runtime).
 */
export class StatesError extends Error {
  private readonly retryable: boolean;
  private readonly catchable: boolean;

  constructor(error: string, cause: string, options: { retryable?: boolean; catchable?: boolean } = {}) {
    super(cause);
    this.name = error;
    this.retryable = options.retryable ?? true;
    this.catchable = options.catchable ?? true;
  }

  /** Read by the library before it applies Retry. */
  get isRetryable(): boolean {
    return this.retryable;
  }

  /** Read by the library before it applies Catch. */
  get isCatchable(): boolean {
    return this.catchable;
  }
}

export function runtimeError(cause: string): StatesError {
  return new StatesError("States.Runtime", cause, { retryable: false, catchable: false });
}

type TimeoutErrorClass = new () => Error;
let timeoutClass: Promise<TimeoutErrorClass | undefined> | undefined;

/**
 * The library's own `States.Timeout` class, which it does not export: `States.TaskFailed` in a
 * Retry or Catch matches every Task error but instances of that class, as on AWS. A Task with a
 * 1 ms timeout that never answers makes the library throw one, once per process.
 */
function libraryTimeoutClass(): Promise<TimeoutErrorClass | undefined> {
  timeoutClass ??= (async () => {
    const probe = new StateMachine(
      {
        StartAt: "probe",
        States: { probe: { Type: "Task", Resource: "probe", TimeoutSeconds: 0.001, End: true } },
      } as unknown as StateMachineDefinition,
      { validationOptions: { noValidate: true } },
    );
    const never = () => new Promise<null>(() => {});
    try {
      await probe.run(null, { overrides: { taskResourceLocalHandlers: { probe: never } } }).result;
    } catch (error) {
      const cause = (error as Error).cause;
      if (cause instanceof Error && cause.name === "States.Timeout")
        return cause.constructor as TimeoutErrorClass;
    }
    return undefined;
  })();
  return timeoutClass;
}

/** A `States.Timeout` the library treats as its own (see `libraryTimeoutClass`). */
export async function timeoutError(cause: string): Promise<Error> {
  const Class = await libraryTimeoutClass();
  const error = Class ? new Class() : new StatesError("States.Timeout", cause);
  error.message = cause;
  return error;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

interface SdkError {
  name?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number; requestId?: string };
}

/**
 * An SDK call's failure as Step Functions reports it: `<Service>.<Exception>` for the service's
 * 4xx answers, `<Service>.ServiceException` for its 5xx answers and when it cannot be reached.
 */
function serviceError(service: string, label: string, error: unknown): StatesError {
  const failure = (error ?? {}) as SdkError;
  const status = failure.$metadata?.httpStatusCode;
  const code = failure.name ?? "Error";
  const name = status !== undefined && status < 500 ? `${service}.${code}` : `${service}.ServiceException`;
  const cause = `${failure.message ?? String(error)} (Service: ${label}; Status Code: ${status ?? "none"}; Error Code: ${code}; Request ID: ${failure.$metadata?.requestId ?? "none"})`;
  return new StatesError(name, cause);
}

export interface LambdaInvocation {
  /** `lambda:invoke`'s result, as Step Functions shapes it. */
  result: {
    ExecutedVersion: string;
    Payload: unknown;
    SdkHttpMetadata: {
      AllHttpHeaders: Record<string, string[]>;
      HttpHeaders: Record<string, string>;
      HttpStatusCode: number;
    };
    SdkResponseMetadata: { RequestId: string };
    StatusCode: number;
  };
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/**
 * Invokes a function through the Lambda endpoint with the task's Parameters (`FunctionName`,
 * `Payload`, and optionally `InvocationType`, `Qualifier`, `ClientContext`). A function error
 * fails the task with the function's `errorType` as Error and its error body as Cause.
 */
export async function invokeLambda(
  lambda: LambdaClient,
  parameters: unknown,
  signal: AbortSignal,
): Promise<LambdaInvocation> {
  if (!isObject(parameters) || typeof parameters.FunctionName !== "string") {
    throw runtimeError("The Parameters of a lambda:invoke task must include FunctionName (a string).");
  }
  const input: InvokeCommandInput = { FunctionName: parameters.FunctionName };
  if (parameters.Payload !== undefined)
    input.Payload = new TextEncoder().encode(JSON.stringify(parameters.Payload));
  if (typeof parameters.InvocationType === "string")
    input.InvocationType = parameters.InvocationType as InvokeCommandInput["InvocationType"];
  if (typeof parameters.Qualifier === "string") input.Qualifier = parameters.Qualifier;
  if (typeof parameters.ClientContext === "string") input.ClientContext = parameters.ClientContext;
  let response: InvokeCommandOutput;
  try {
    response = await lambda.send(new InvokeCommand(input), { abortSignal: signal });
  } catch (error) {
    throw serviceError("Lambda", "AWSLambda", error);
  }
  const text = response.Payload ? new TextDecoder().decode(response.Payload) : "";
  if (response.FunctionError) {
    const body = parseJson(text);
    const errorType = isObject(body) && typeof body.errorType === "string" ? body.errorType : "";
    throw new StatesError(errorType || "Lambda.Unknown", text);
  }
  const statusCode = response.StatusCode ?? 200;
  const requestId = response.$metadata.requestId ?? "";
  const version = response.ExecutedVersion ?? "$LATEST";
  const headers: Record<string, string> = {
    "Content-Type": "application/json",
    "Content-Length": String(Buffer.byteLength(text)),
    "X-Amz-Executed-Version": version,
    "x-amzn-RequestId": requestId,
  };
  return {
    result: {
      ExecutedVersion: version,
      Payload: text === "" ? "" : parseJson(text),
      SdkHttpMetadata: {
        AllHttpHeaders: Object.fromEntries(Object.entries(headers).map(([key, value]) => [key, [value]])),
        HttpHeaders: headers,
        HttpStatusCode: statusCode,
      },
      SdkResponseMetadata: { RequestId: requestId },
      StatusCode: statusCode,
    },
  };
}

/** Step Functions' CodeBuild Parameters are PascalCase; the API's members are camelCase. */
function camelKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(camelKeys);
  if (!isObject(value)) return value;
  return Object.fromEntries(
    Object.entries(value).map(([key, item]) => [key.charAt(0).toLowerCase() + key.slice(1), camelKeys(item)]),
  );
}

/** A build as Step Functions returns it: PascalCase members, dates in epoch milliseconds. */
export function pascalKeys(value: unknown): unknown {
  if (value instanceof Date) return value.getTime();
  if (Array.isArray(value)) return value.map(pascalKeys);
  if (!isObject(value)) return value;
  return Object.fromEntries(
    Object.entries(value)
      .filter(([, item]) => item !== undefined)
      .map(([key, item]) => [key.charAt(0).toUpperCase() + key.slice(1), pascalKeys(item)]),
  );
}

/** What a `.sync` integration is told by the Task that runs it. */
export interface BuildTask {
  signal: AbortSignal;
  /** `.sync` waits for the build's end; otherwise the started build is the result. */
  sync: boolean;
  pollMs: number;
  /** Called once the build started (the TaskSubmitted event of `.sync`). */
  submitted(output: unknown): void;
  /** Registers what to do when the task is given up (execution stopped, task timed out). */
  onAbandon(cleanup: () => void): void;
}

/**
 * A `.sync` wait: polls every `pollMs` until `done`, stopping the work if the Task is given up
 * first (the execution stopped, the Task timed out). What vanished fails the Task.
 */
async function untilDone<T>(
  task: BuildTask,
  first: T,
  how: { done(current: T): boolean; poll(): Promise<T | undefined>; gone: string; stop(): unknown },
): Promise<T> {
  let finished = false;
  task.onAbandon(() => {
    if (!finished) how.stop();
  });
  let current = first;
  try {
    while (!how.done(current)) {
      await sleep(task.pollMs, undefined, { signal: task.signal });
      let polled: T | undefined;
      try {
        polled = await how.poll();
      } catch (error) {
        if (task.signal.aborted) throw error;
        // A failed poll is retried at the next interval; the task's timeout bounds the wait.
        continue;
      }
      if (polled === undefined) {
        finished = true;
        throw new StatesError("States.TaskFailed", how.gone);
      }
      current = polled;
    }
  } finally {
    if (how.done(current)) finished = true;
  }
  return current;
}

/**
 * `codebuild:startBuild(.sync)`: StartBuild with the task's Parameters, then (for `.sync`)
 * BatchGetBuilds until the build leaves IN_PROGRESS. A build that does not succeed fails the task
 * with `States.TaskFailed` and the build as Cause; an abandoned build is stopped.
 */
export async function startBuild(
  codeBuild: CodeBuildClient,
  parameters: unknown,
  task: BuildTask,
): Promise<{ Build: unknown }> {
  let build: Build | undefined;
  try {
    ({ build } = await codeBuild.send(
      new StartBuildCommand(camelKeys(parameters) as StartBuildCommandInput),
      {
        abortSignal: task.signal,
      },
    ));
  } catch (error) {
    throw serviceError("CodeBuild", "AWSCodeBuild", error);
  }
  const id = build?.id;
  if (!build || !id) throw new StatesError("States.TaskFailed", "StartBuild answered without a build");
  if (!task.sync) return { Build: pascalKeys(build) };
  task.submitted({ Build: pascalKeys(build) });
  build = await untilDone(task, build, {
    done: (current) => current.buildStatus !== "IN_PROGRESS" && current.buildStatus !== undefined,
    poll: async () =>
      (await codeBuild.send(new BatchGetBuildsCommand({ ids: [id] }), { abortSignal: task.signal }))
        .builds?.[0],
    gone: `build ${id} no longer exists`,
    // The build may have ended meanwhile; there is nothing else to stop.
    stop: () => codeBuild.send(new StopBuildCommand({ id })).catch(() => {}),
  });
  const result = pascalKeys(build);
  if (build.buildStatus !== "SUCCEEDED") throw new StatesError("States.TaskFailed", JSON.stringify(result));
  return { Build: result };
}

/** A task ran to completion when every container it started exited 0. */
function succeeded(task: Task): boolean {
  const containers = task.containers ?? [];
  return containers.length > 0 && containers.every((container) => container.exitCode === 0);
}

/**
 * `ecs:runTask(.sync)`: RunTask with the task's Parameters (one task), then (for `.sync`)
 * DescribeTasks until it is STOPPED. A task whose containers do not all exit 0 fails the Task
 * with `States.TaskFailed` and the task as Cause, as Step Functions does; an abandoned task
 * (the execution stopped, the Task timed out) is stopped.
 */
export async function runTask(ecs: ECSClient, parameters: unknown, task: BuildTask): Promise<unknown> {
  const input = camelKeys(parameters) as RunTaskCommandInput;
  let started: Task | undefined;
  try {
    const answer = await ecs.send(new RunTaskCommand(input), { abortSignal: task.signal });
    if (!task.sync) return pascalKeys(answer);
    if (answer.failures?.length)
      throw new StatesError("States.TaskFailed", JSON.stringify(pascalKeys(answer)));
    started = answer.tasks?.[0];
  } catch (error) {
    if (error instanceof StatesError) throw error;
    throw serviceError("ECS", "AmazonECS", error);
  }
  const taskArn = started?.taskArn;
  if (!started || !taskArn) throw new StatesError("States.TaskFailed", "RunTask answered without a task");
  task.submitted(pascalKeys(started));
  const current = await untilDone(task, started, {
    done: (polled) => polled.lastStatus === "STOPPED",
    poll: async () =>
      (
        await ecs.send(new DescribeTasksCommand({ cluster: input.cluster, tasks: [taskArn] }), {
          abortSignal: task.signal,
        })
      ).tasks?.[0],
    gone: `task ${taskArn} no longer exists`,
    // The task may have stopped meanwhile; there is nothing else to stop.
    stop: () =>
      ecs
        .send(
          new StopTaskCommand({
            cluster: input.cluster,
            task: taskArn,
            reason: "Task stopped by Step Functions",
          }),
        )
        .catch(() => {}),
  });
  const result = pascalKeys(current);
  if (!succeeded(current)) throw new StatesError("States.TaskFailed", JSON.stringify(result));
  return result;
}

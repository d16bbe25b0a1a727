import "./polyfill.ts";
import type { CodeBuildClient } from "@aws-sdk/client-codebuild";
import type { ECSClient } from "@aws-sdk/client-ecs";
import type { LambdaClient } from "@aws-sdk/client-lambda";
import {
  type AslState,
  type CompiledDefinition,
  TASK_TOKEN_SENTINEL,
  type TaskStateInfo,
  WRAPPED,
} from "./definition.ts";
import {
  invokeLambda,
  runTask,
  runtimeError,
  StatesError,
  startBuild,
  timeoutError,
} from "./integrations.ts";
import type {
  ExecutionRecord,
  ExecutionStatus,
  HistoryEvent,
  HistoryLog,
  StateMachineRecord,
} from "./store.ts";

/** Step Functions' size bound on inputs, outputs and the data in history events. */
const MAX_DATA_CHARS = 256 * 1024;
/** Step Functions fails an execution whose history would grow beyond this. */
const MAX_HISTORY_EVENTS = 25_000;
/** setTimeout's largest delay; longer waits are reached in hops. */
const MAX_TIMER_MS = 2_147_483_647;

function after(ms: number, fire: () => void): () => void {
  const deadline = Date.now() + ms;
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    const left = deadline - Date.now();
    if (left <= 0) {
      fire();
      return;
    }
    timer = setTimeout(arm, Math.min(left, MAX_TIMER_MS));
  };
  timer = setTimeout(arm, Math.min(Math.max(ms, 0), MAX_TIMER_MS));
  return () => clearTimeout(timer);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** `input`/`output` of a history event, cut at Step Functions' bound. */
function data(field: "input" | "output", value: unknown): Record<string, unknown> {
  const text = JSON.stringify(value === undefined ? null : value);
  const truncated = text.length > MAX_DATA_CHARS;
  return {
    [field]: truncated ? text.slice(0, MAX_DATA_CHARS) : text,
    [`${field}Details`]: { truncated },
  };
}

/** Puts the token wherever the rewritten Parameters hold the sentinel. */
function withToken(value: unknown, token: string): unknown {
  if (value === TASK_TOKEN_SENTINEL) return token;
  if (Array.isArray(value)) return value.map((item) => withToken(item, token));
  if (!isObject(value)) return value;
  return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, withToken(item, token)]));
}

function holdsSentinel(value: unknown): boolean {
  if (value === TASK_TOKEN_SENTINEL) return true;
  if (Array.isArray(value)) return value.some(holdsSentinel);
  return isObject(value) && Object.values(value).some(holdsSentinel);
}

/** A reference path of the simple kind (`$.a.b`, `$['a']`, `$.a[0]`), for MapStateStarted's length. */
function simplePath(value: unknown, path: string): unknown {
  if (!path.startsWith("$")) return undefined;
  let current: unknown = value;
  const step = /^(?:\.([A-Za-z_][A-Za-z0-9_-]*)|\['([^']*)'\]|\[(\d+)\])/;
  let rest = path.slice(1);
  while (rest.length > 0) {
    const match = step.exec(rest);
    if (!match) return undefined;
    const key = match[1] ?? match[2];
    if (key !== undefined) current = isObject(current) ? current[key] : undefined;
    else current = Array.isArray(current) ? current[Number(match[3])] : undefined;
    rest = rest.slice(match[0].length);
  }
  return current;
}

function itemsLength(state: AslState, input: unknown): number | undefined {
  let effective = input;
  if (typeof state.InputPath === "string") effective = simplePath(effective, state.InputPath);
  const items = simplePath(effective, typeof state.ItemsPath === "string" ? state.ItemsPath : "$");
  return Array.isArray(items) ? items.length : undefined;
}

/** An answer to a task token: the waiting task resolves or fails with it. */
export interface TokenWaiter {
  resolve(output: unknown): void;
  reject(error: Error): void;
  heartbeat(): void;
}

/** Ends a task attempt early: stopped or detached with its execution, or timed out. */
class AttemptEnded extends Error {
  constructor(
    readonly reason: "stopped" | "detached" | "timeout",
    message: string = reason,
  ) {
    super(message);
  }
}

type EventBody = { type: string } & Record<string, unknown>;

/** The history events of one Task attempt. */
interface TaskEvents {
  scheduled(parameters: unknown, timeoutInSeconds?: number, heartbeatInSeconds?: number): EventBody;
  started(): EventBody;
  /** `.sync` and `.waitForTaskToken` tasks only: the call was made, the task waits on. */
  submitted?(output: unknown): EventBody;
  succeeded(output: unknown): EventBody;
  failed(error: string, cause: string): EventBody;
  timedOut(error: string, cause: string): EventBody;
}

/** A plain function ARN has Step Functions' LambdaFunction* events, every integration Task*. */
function taskEvents(task: TaskStateInfo, region: string): TaskEvents {
  const { resourceType, resource } = task.integration;
  const optional = (name: string, value: number | undefined) =>
    value !== undefined ? { [name]: value } : {};
  if (task.integration.kind === "lambda:function") {
    return {
      scheduled: (parameters, timeoutInSeconds) => ({
        type: "LambdaFunctionScheduled",
        lambdaFunctionScheduledEventDetails: {
          resource,
          ...data("input", parameters),
          ...optional("timeoutInSeconds", timeoutInSeconds),
        },
      }),
      started: () => ({ type: "LambdaFunctionStarted" }),
      succeeded: (output) => ({
        type: "LambdaFunctionSucceeded",
        lambdaFunctionSucceededEventDetails: data("output", output),
      }),
      failed: (error, cause) => ({
        type: "LambdaFunctionFailed",
        lambdaFunctionFailedEventDetails: { error, cause },
      }),
      timedOut: (error, cause) => ({
        type: "LambdaFunctionTimedOut",
        lambdaFunctionTimedOutEventDetails: { error, cause },
      }),
    };
  }
  return {
    scheduled: (parameters, timeoutInSeconds, heartbeatInSeconds) => ({
      type: "TaskScheduled",
      taskScheduledEventDetails: {
        resourceType,
        resource,
        region,
        parameters: JSON.stringify(parameters),
        ...optional("timeoutInSeconds", timeoutInSeconds),
        ...optional("heartbeatInSeconds", heartbeatInSeconds),
      },
    }),
    started: () => ({ type: "TaskStarted", taskStartedEventDetails: { resourceType, resource } }),
    submitted: (output) => ({
      type: "TaskSubmitted",
      taskSubmittedEventDetails: { resourceType, resource, ...data("output", output) },
    }),
    succeeded: (output) => ({
      type: "TaskSucceeded",
      taskSucceededEventDetails: { resourceType, resource, ...data("output", output) },
    }),
    failed: (error, cause) => ({
      type: "TaskFailed",
      taskFailedEventDetails: { resourceType, resource, error, cause },
    }),
    timedOut: (error, cause) => ({
      type: "TaskTimedOut",
      taskTimedOutEventDetails: { resourceType, resource, error, cause },
    }),
  };
}

export interface RunHost {
  region: string;
  buildPollMs: number;
  lambda(): LambdaClient | undefined;
  codeBuild(): CodeBuildClient | undefined;
  ecs(): ECSClient | undefined;
  newToken(waiter: TokenWaiter): string;
  releaseToken(token: string): void;
  ended(run: ExecutionRun): void;
  log(line: string): void;
}

/**
 * One running execution: the library runs its states, the Task handlers here call the
 * integrations, and every step lands in the history in Step Functions' event vocabulary.
 */
export class ExecutionRun {
  readonly record: ExecutionRecord;
  readonly log: HistoryLog;
  private readonly compiled: CompiledDefinition;
  private readonly host: RunHost;
  /** Aborted when the execution ends or is detached: in-flight tasks give up. */
  private readonly controller = new AbortController();
  private abortLibrary: (() => void) | undefined;
  private cancelTimeout: (() => void) | undefined;
  /** Set once the execution's end is recorded (or it is detached): later events are dropped. */
  private over = false;
  /** States whose error a Catch handled, by name and Map index: they have no Exited event. */
  private readonly caught = new Set<string>();

  constructor(record: ExecutionRecord, log: HistoryLog, compiled: CompiledDefinition, host: RunHost) {
    this.record = record;
    this.log = log;
    this.compiled = compiled;
    this.host = host;
  }

  start(stateMachine: StateMachineRecord, input: unknown): void {
    this.append({
      type: "ExecutionStarted",
      executionStartedEventDetails: { ...data("input", input), roleArn: this.record.roleArn },
    });
    const handlers = Object.fromEntries(
      [...this.compiled.tasks.values()].map((task) => [
        task.name,
        (parameters: unknown) => this.runTask(task, parameters) as Promise<never>,
      ]),
    );
    const execution = this.compiled.machine.run(input as never, {
      overrides: { taskResourceLocalHandlers: handlers },
      noThrowOnAbort: true,
      context: {
        Execution: {
          Id: this.record.executionArn,
          Name: this.record.name,
          RoleArn: this.record.roleArn,
          StartTime: new Date(this.record.startDate).toISOString(),
        },
        StateMachine: { Id: stateMachine.arn, Name: stateMachine.name },
      },
    });
    this.abortLibrary = execution.abort;
    const consumed = (async () => {
      try {
        for await (const event of execution.eventLogs) this.onLibraryEvent(event as unknown as LibraryEvent);
      } catch (error) {
        this.host.log(`stepfunctions: history of ${this.record.executionArn}: ${error}`);
      }
    })();
    if (this.compiled.timeoutSeconds !== undefined) {
      const seconds = this.compiled.timeoutSeconds;
      this.cancelTimeout = after(seconds * 1000, () =>
        this.stop(
          "TIMED_OUT",
          "States.Timeout",
          `The execution ran longer than its TimeoutSeconds (${seconds} s).`,
        ),
      );
    }
    execution.result.then(
      async (output) => {
        await consumed;
        if (!this.over) this.succeed(output);
      },
      async (error: unknown) => {
        await consumed;
        if (!this.over) this.fail(error);
      },
    );
  }

  /** Ends the execution ABORTED or TIMED_OUT: recorded at once, in-flight tasks given up. */
  stop(status: "ABORTED" | "TIMED_OUT", error: string | undefined, cause: string | undefined): void {
    if (this.over) return;
    const details = {
      ...(error !== undefined ? { error } : {}),
      ...(cause !== undefined ? { cause } : {}),
    };
    this.end(
      status,
      status === "ABORTED"
        ? { type: "ExecutionAborted", executionAbortedEventDetails: details }
        : { type: "ExecutionTimedOut", executionTimedOutEventDetails: details },
      details,
    );
    this.abortLibrary?.();
  }

  /**
   * Lets go of the execution without recording an end (Berth Local is closing): it stays
   * RUNNING on disk, and the next start's recovery ends it.
   */
  detach(): void {
    if (this.over) return;
    this.over = true;
    this.cancelTimeout?.();
    this.controller.abort(new AttemptEnded("detached"));
    this.abortLibrary?.();
  }

  private succeed(output: unknown): void {
    const text = JSON.stringify(output === undefined ? null : output);
    if (text.length > MAX_DATA_CHARS) {
      const details = {
        error: "States.DataLimitExceeded",
        cause: `The execution's output is ${text.length} characters, above the limit of ${MAX_DATA_CHARS}.`,
      };
      this.end("FAILED", { type: "ExecutionFailed", executionFailedEventDetails: details }, details);
      return;
    }
    this.end(
      "SUCCEEDED",
      { type: "ExecutionSucceeded", executionSucceededEventDetails: data("output", output) },
      { output: text },
    );
  }

  private fail(failure: unknown): void {
    const error = failure instanceof Error && failure.cause instanceof Error ? failure.cause : failure;
    let name = error instanceof Error ? error.name : "States.Runtime";
    let cause = error instanceof Error ? error.message : String(error);
    // A Fail state without Error or Cause: the library fills in its own words, AWS leaves them out.
    if (name === "FailStateError") name = "";
    if (cause === "Execution failed because of a Fail state") cause = "";
    const details = { ...(name ? { error: name } : {}), ...(cause ? { cause } : {}) };
    this.end("FAILED", { type: "ExecutionFailed", executionFailedEventDetails: details }, details);
  }

  private end(
    status: ExecutionStatus,
    event: EventBody,
    fields: { output?: string; error?: string; cause?: string },
  ): void {
    this.over = true;
    this.cancelTimeout?.();
    this.append(event, true);
    Object.assign(this.record, { status, stopDate: Date.now() }, fields);
    this.controller.abort(new AttemptEnded("stopped"));
    this.host.ended(this);
  }

  private append(body: EventBody, terminal = false): void {
    if (this.over && !terminal) return;
    const id = this.log.lastId + 1;
    if (id >= MAX_HISTORY_EVENTS && !terminal) {
      const details = {
        error: "States.Runtime",
        cause: `The execution reached Step Functions' limit of ${MAX_HISTORY_EVENTS} history events.`,
      };
      this.end("FAILED", { type: "ExecutionFailed", executionFailedEventDetails: details }, details);
      this.abortLibrary?.();
      return;
    }
    const { type, ...details } = body;
    this.log.append({
      timestamp: Date.now(),
      type,
      id,
      previousEventId: type === "ExecutionStarted" ? 0 : id - 1,
      ...details,
    } as HistoryEvent);
  }

  private onLibraryEvent(event: LibraryEvent): void {
    const key = `${event.state?.name}#${event.index ?? ""}`;
    switch (event.type) {
      case "StateEntered": {
        const { name, type, input } = event.state as LibraryState;
        this.append({
          type: `${type}StateEntered`,
          stateEnteredEventDetails: { name, ...data("input", input) },
        });
        if (type === "Map") {
          const state = this.compiled.states.get(name);
          const length = state ? itemsLength(state, input) : undefined;
          this.append({
            type: "MapStateStarted",
            mapStateStartedEventDetails: length !== undefined ? { length } : {},
          });
        }
        if (type === "Parallel") this.append({ type: "ParallelStateStarted" });
        return;
      }
      case "StateExited": {
        const { name, type, output } = event.state as LibraryState;
        if (this.caught.delete(key)) return;
        if (type === "Map") this.append({ type: "MapStateSucceeded" });
        if (type === "Parallel") this.append({ type: "ParallelStateSucceeded" });
        this.append({
          type: `${type}StateExited`,
          stateExitedEventDetails: { name, ...data("output", output) },
        });
        return;
      }
      case "StateFailed": {
        const type = event.state?.type;
        if (type === "Map" || type === "Parallel") this.append({ type: `${type}StateFailed` });
        return;
      }
      case "StateCaught":
        this.caught.add(key);
        return;
      case "MapIterationStarted":
      case "MapIterationSucceeded":
      case "MapIterationFailed": {
        const detailsKey = `mapIteration${event.type.slice("MapIteration".length)}EventDetails`;
        this.append({
          type: event.type,
          [detailsKey]: { name: event.parentState?.name, index: event.index },
        });
        return;
      }
      default:
        // Execution events are recorded by the run itself; retries and Parallel branches have
        // no events of their own in Step Functions' history.
        return;
    }
  }

  /** The Task handler the library calls with the state's (wrapped) effective parameters. */
  private async runTask(task: TaskStateInfo, wrapped: unknown): Promise<unknown> {
    // The library calls the handler before its StateEntered event reaches the history; the
    // events travel through promise callbacks only, so one macrotask puts them in order.
    await new Promise((resolve) => setImmediate(resolve));
    if (this.over) throw runtimeError("The execution has ended.");
    const unwrapped = isObject(wrapped) ? wrapped : {};
    const timeoutSeconds = this.seconds(task, "timeoutSeconds", unwrapped[WRAPPED.timeoutSeconds]);
    const heartbeatSeconds = this.seconds(task, "heartbeatSeconds", unwrapped[WRAPPED.heartbeatSeconds]);
    const raw = unwrapped[WRAPPED.parameters];
    const waits = task.integration.kind === "lambda:invoke.waitForTaskToken";
    const events = taskEvents(task, this.host.region);
    // Aborted when the attempt ends in any way: cancels its HTTP calls, build polling and timers.
    const attempt = new AbortController();
    const endAttempt = (reason: AttemptEnded) => {
      if (!attempt.signal.aborted) attempt.abort(reason);
    };
    const onRunAbort = () => endAttempt(this.controller.signal.reason as AttemptEnded);
    this.controller.signal.addEventListener("abort", onRunAbort, { once: true });
    const timers: (() => void)[] = [];
    const abandonments: (() => void)[] = [];
    let token: string | undefined;
    let settled = false;
    try {
      const output = await new Promise<unknown>((resolve, reject) => {
        attempt.signal.addEventListener("abort", () => reject(attempt.signal.reason), { once: true });
        let rearmHeartbeat = () => {};
        if (waits || holdsSentinel(raw)) {
          token = this.host.newToken({ resolve, reject, heartbeat: () => rearmHeartbeat() });
        }
        const parameters = token ? withToken(raw, token) : raw;
        this.append(events.scheduled(parameters, timeoutSeconds, heartbeatSeconds));
        this.append(events.started());
        if (timeoutSeconds !== undefined) {
          const cause = `The task ran longer than its TimeoutSeconds (${timeoutSeconds} s).`;
          timers.push(after(timeoutSeconds * 1000, () => endAttempt(new AttemptEnded("timeout", cause))));
        }
        if (heartbeatSeconds !== undefined) {
          const cause = `The task sent no heartbeat for its HeartbeatSeconds (${heartbeatSeconds} s).`;
          let cancel = () => {};
          rearmHeartbeat = () => {
            cancel();
            cancel = after(heartbeatSeconds * 1000, () => endAttempt(new AttemptEnded("timeout", cause)));
          };
          rearmHeartbeat();
          timers.push(() => cancel());
        }
        this.integrate(task, parameters, attempt.signal, {
          submitted: (submitted) => {
            if (!settled && events.submitted) this.append(events.submitted(submitted));
          },
          onAbandon: (cleanup) => abandonments.push(cleanup),
          waits,
        }).then((value) => {
          // A callback task's result is the token's answer, not the invocation's.
          if (!waits) resolve(value);
        }, reject);
      });
      settled = true;
      this.append(events.succeeded(output));
      return output;
    } catch (error) {
      settled = true;
      if (error instanceof AttemptEnded) {
        if (error.reason !== "detached") for (const cleanup of abandonments) cleanup();
        if (error.reason === "timeout" && !this.over) {
          this.append(events.timedOut("States.Timeout", error.message));
          throw await timeoutError(error.message);
        }
        throw runtimeError("The execution has ended.");
      }
      if (this.over) throw runtimeError("The execution has ended.");
      const failure =
        error instanceof StatesError
          ? error
          : new StatesError(
              error instanceof Error && error.name ? error.name : "States.TaskFailed",
              error instanceof Error ? error.message : String(error),
            );
      this.append(events.failed(failure.name, failure.message));
      throw failure;
    } finally {
      settled = true;
      for (const cancel of timers) cancel();
      this.controller.signal.removeEventListener("abort", onRunAbort);
      endAttempt(new AttemptEnded("stopped"));
      if (token) this.host.releaseToken(token);
    }
  }

  /** A Task's TimeoutSeconds or HeartbeatSeconds: the literal, or its path's value (checked as AWS does). */
  private seconds(
    task: TaskStateInfo,
    field: "timeoutSeconds" | "heartbeatSeconds",
    fromPath: unknown,
  ): number | undefined {
    const path = field === "timeoutSeconds" ? task.timeoutSecondsPath : task.heartbeatSecondsPath;
    if (path === undefined) return task[field];
    if (typeof fromPath !== "number" || !Number.isInteger(fromPath) || fromPath < 1) {
      throw runtimeError(
        `The value at ${field === "timeoutSeconds" ? "TimeoutSecondsPath" : "HeartbeatSecondsPath"} ${path} must be a positive integer, got ${JSON.stringify(fromPath)}.`,
      );
    }
    return fromPath;
  }

  private async integrate(
    task: TaskStateInfo,
    parameters: unknown,
    signal: AbortSignal,
    hooks: { submitted(output: unknown): void; onAbandon(cleanup: () => void): void; waits: boolean },
  ): Promise<unknown> {
    switch (task.integration.kind) {
      case "lambda:invoke":
      case "lambda:invoke.waitForTaskToken":
      case "lambda:function": {
        const lambda = this.host.lambda();
        if (!lambda)
          throw new StatesError(
            "Lambda.ServiceException",
            "Berth Local's Step Functions has no endpoint yet.",
          );
        if (task.integration.kind === "lambda:function") {
          const { result } = await invokeLambda(
            lambda,
            { FunctionName: task.integration.resource, Payload: parameters },
            signal,
          );
          return result.Payload;
        }
        const { result } = await invokeLambda(lambda, parameters, signal);
        if (hooks.waits) hooks.submitted(result);
        return result;
      }
      case "codebuild:startBuild":
      case "codebuild:startBuild.sync":
      case "ecs:runTask":
      case "ecs:runTask.sync": {
        const ecs = task.integration.resourceType === "ecs";
        const client = ecs ? this.host.ecs() : this.host.codeBuild();
        if (!client)
          throw new StatesError(
            `${ecs ? "ECS" : "CodeBuild"}.ServiceException`,
            "Berth Local's Step Functions has no endpoint yet.",
          );
        const options = {
          signal,
          sync: task.integration.kind.endsWith(".sync"),
          pollMs: this.host.buildPollMs,
          submitted: hooks.submitted,
          onAbandon: hooks.onAbandon,
        };
        return ecs
          ? runTask(client as ECSClient, parameters, options)
          : startBuild(client as CodeBuildClient, parameters, options);
      }
    }
  }
}

interface LibraryState {
  name: string;
  type: string;
  input?: unknown;
  output?: unknown;
}

/** The library's event log entries, as far as the history needs them. */
interface LibraryEvent {
  type: string;
  index?: number;
  state?: LibraryState;
  parentState?: LibraryState;
}

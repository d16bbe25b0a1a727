import "./polyfill.ts";
import { randomBytes, randomUUID } from "node:crypto";
import { CodeBuildClient } from "@aws-sdk/client-codebuild";
import { LambdaClient } from "@aws-sdk/client-lambda";
import type { EventBus } from "../events.ts";
import { AwsError } from "../protocol.ts";
import {
  type AslState,
  type CompiledDefinition,
  checkDefinition,
  compileDefinition,
  InvalidDefinitionError,
  TASK_TOKEN_SENTINEL,
  type TaskStateInfo,
  WRAPPED,
} from "./definition.ts";
import { invokeLambda, runtimeError, StatesError, startBuild, timeoutError } from "./integrations.ts";
import {
  type ExecutionRecord,
  type ExecutionStatus,
  type HistoryEvent,
  type HistoryLog,
  type StateMachineRecord,
  StepFunctionsStore,
} from "./store.ts";
import { DefinitionValidator } from "./validator.ts";

export interface StepFunctionsEngineOptions {
  /** `<data dir>/stepfunctions`. */
  dir: string;
  bus: EventBus;
  account?: string;
  region?: string;
  /** How often a `codebuild:startBuild.sync` task polls BatchGetBuilds; default 500 ms. */
  buildPollMs?: number;
  log?: (line: string) => void;
}

export interface StateMachineInstall {
  name: string;
  /** The ASL, as an object or as its JSON text. */
  definition: unknown;
  roleArn: string;
}

/** What an execution's Step Functions event carries, as AWS sends it on the default bus. */
export interface ExecutionStatusChange {
  executionArn: string;
  stateMachineArn: string;
  name: string;
  status: ExecutionStatus;
  startDate: number;
  stopDate: number | null;
  input: string;
  inputDetails: { included: boolean };
  output: string | null;
  outputDetails: { included: boolean } | null;
  error: string | null;
  cause: string | null;
}

/** The error and cause Berth Local gives executions it lost by stopping while they ran. */
export const LOCAL_RESTART = {
  error: "Berth.LocalRestart",
  cause: "Berth Local stopped while this execution ran; its state was lost",
} as const;

/** Step Functions' size bound on inputs, outputs and the data in history events. */
export const MAX_DATA_CHARS = 256 * 1024;
/** Step Functions fails an execution whose history would grow beyond this. */
const MAX_HISTORY_EVENTS = 25_000;
/** setTimeout's largest delay; longer waits are reached in hops. */
const MAX_TIMER_MS = 2_147_483_647;
/** Used tokens remembered to answer TaskTimedOut rather than TaskDoesNotExist. */
const CLOSED_TOKENS_KEPT = 10_000;

/** What AWS allows in state machine and execution names: no whitespace, brackets, wildcards, punctuation or control characters. */
const NAME = /^[^\s<>{}[\]?*"#%\\^|~`$&,;:/\p{Cc}]{1,80}$/u;
const ROLE_ARN = /^arn:aws(?:-[a-z]+)*:iam::\d{12}:role\/.+$/;
const TOKEN = /^[A-Za-z0-9_-]{64}$/;

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
interface TokenWaiter {
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

/** The Task event names of an integration: the optimized integrations' or a plain function's. */
function taskEvents(task: TaskStateInfo) {
  const { resourceType, resource } = task.integration;
  if (task.integration.kind === "lambda:function") {
    return {
      scheduled: (parameters: unknown, timeoutInSeconds: number | undefined) => ({
        type: "LambdaFunctionScheduled",
        lambdaFunctionScheduledEventDetails: {
          resource,
          ...data("input", parameters),
          ...(timeoutInSeconds !== undefined ? { timeoutInSeconds } : {}),
        },
      }),
      started: () => ({ type: "LambdaFunctionStarted" }),
      succeeded: (output: unknown) => ({
        type: "LambdaFunctionSucceeded",
        lambdaFunctionSucceededEventDetails: data("output", output),
      }),
      failed: (error: string, cause: string) => ({
        type: "LambdaFunctionFailed",
        lambdaFunctionFailedEventDetails: { error, cause },
      }),
      timedOut: (error: string, cause: string) => ({
        type: "LambdaFunctionTimedOut",
        lambdaFunctionTimedOutEventDetails: { error, cause },
      }),
    };
  }
  return {
    scheduled: (
      parameters: unknown,
      timeoutInSeconds: number | undefined,
      heartbeatInSeconds?: number,
      region = "",
    ) => ({
      type: "TaskScheduled",
      taskScheduledEventDetails: {
        resourceType,
        resource,
        region,
        parameters: JSON.stringify(parameters),
        ...(timeoutInSeconds !== undefined ? { timeoutInSeconds } : {}),
        ...(heartbeatInSeconds !== undefined ? { heartbeatInSeconds } : {}),
      },
    }),
    started: () => ({ type: "TaskStarted", taskStartedEventDetails: { resourceType, resource } }),
    submitted: (output: unknown) => ({
      type: "TaskSubmitted",
      taskSubmittedEventDetails: { resourceType, resource, ...data("output", output) },
    }),
    succeeded: (output: unknown) => ({
      type: "TaskSucceeded",
      taskSucceededEventDetails: { resourceType, resource, ...data("output", output) },
    }),
    failed: (error: string, cause: string) => ({
      type: "TaskFailed",
      taskFailedEventDetails: { resourceType, resource, error, cause },
    }),
    timedOut: (error: string, cause: string) => ({
      type: "TaskTimedOut",
      taskTimedOutEventDetails: { resourceType, resource, error, cause },
    }),
  };
}

type EventBody = { type: string } & Record<string, unknown>;

interface RunHost {
  region: string;
  buildPollMs: number;
  lambda(): LambdaClient | undefined;
  codeBuild(): CodeBuildClient | undefined;
  newToken(waiter: TokenWaiter): string;
  releaseToken(token: string): void;
  ended(run: ExecutionRun): void;
  log(line: string): void;
}

/**
 * One running execution: the library runs its states, the Task handlers here call the
 * integrations, and every step lands in the history in Step Functions' event vocabulary.
 */
class ExecutionRun {
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

  get running(): boolean {
    return !this.over;
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
    this.controller.abort(new AttemptEnded("stopped"));
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
    const events = taskEvents(task);
    const attempt = new AbortController();
    const onRunAbort = () => attempt.abort(this.controller.signal.reason);
    this.controller.signal.addEventListener("abort", onRunAbort, { once: true });
    const abandonments: (() => void)[] = [];
    let heartbeat: () => void = () => {};
    let token: string | undefined;
    let settled = false;

    const work = new Promise<unknown>((resolve, reject) => {
      if (waits || holdsSentinel(raw)) {
        token = this.host.newToken({
          resolve,
          reject,
          heartbeat: () => heartbeat(),
        });
      }
      const parameters = token ? withToken(raw, token) : raw;
      this.append(events.scheduled(parameters, timeoutSeconds, heartbeatSeconds, this.host.region));
      this.append(events.started());
      const fail = (reason: AttemptEnded) => {
        if (!attempt.signal.aborted) attempt.abort(reason);
        reject(reason);
      };
      attempt.signal.addEventListener("abort", () => reject(attempt.signal.reason), { once: true });
      const cancels: (() => void)[] = [];
      if (timeoutSeconds !== undefined) {
        cancels.push(
          after(timeoutSeconds * 1000, () =>
            fail(
              new AttemptEnded(
                "timeout",
                `The task ran longer than its TimeoutSeconds (${timeoutSeconds} s).`,
              ),
            ),
          ),
        );
      }
      if (heartbeatSeconds !== undefined) {
        let cancelHeartbeat = () => {};
        heartbeat = () => {
          cancelHeartbeat();
          cancelHeartbeat = after(heartbeatSeconds * 1000, () =>
            fail(
              new AttemptEnded(
                "timeout",
                `The task sent no heartbeat for its HeartbeatSeconds (${heartbeatSeconds} s).`,
              ),
            ),
          );
        };
        heartbeat();
        cancels.push(() => cancelHeartbeat());
      }
      attempt.signal.addEventListener("abort", () => {
        for (const cancel of cancels) cancel();
      });
      const done = (value: unknown) => {
        for (const cancel of cancels) cancel();
        resolve(value);
      };
      const failed = (error: unknown) => {
        for (const cancel of cancels) cancel();
        reject(error);
      };
      this.integrate(task, parameters, attempt.signal, {
        submitted: (output) => {
          if (!settled && !this.over)
            this.append((events as { submitted: (o: unknown) => EventBody }).submitted(output));
        },
        onAbandon: (cleanup) => abandonments.push(cleanup),
        waits,
      }).then((value) => {
        // A callback task's answer is the token's, not the invocation's.
        if (!waits) done(value);
      }, failed);
    });

    try {
      const output = await work;
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
      this.controller.signal.removeEventListener("abort", onRunAbort);
      if (!attempt.signal.aborted) attempt.abort(new AttemptEnded("stopped"));
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
      case "codebuild:startBuild.sync": {
        const codeBuild = this.host.codeBuild();
        if (!codeBuild)
          throw new StatesError(
            "CodeBuild.ServiceException",
            "Berth Local's Step Functions has no endpoint yet.",
          );
        return startBuild(codeBuild, parameters, {
          signal,
          sync: task.integration.kind === "codebuild:startBuild.sync",
          pollMs: this.host.buildPollMs,
          submitted: hooks.submitted,
          onAbandon: hooks.onAbandon,
        });
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

/**
 * Berth Local's Step Functions: state machines and executions (persisted by the store), run
 * with aws-local-stepfunctions and integrated with the endpoint's Lambda and CodeBuild. Every
 * execution status change is published on the bus as AWS publishes it.
 */
export class StepFunctionsEngine {
  readonly store: StepFunctionsStore;
  private readonly bus: EventBus;
  private readonly region: string;
  private readonly buildPollMs: number;
  private readonly logLine: (line: string) => void;
  private readonly compiled = new Map<string, { revisionId: string; compiled: CompiledDefinition }>();
  private readonly runs = new Map<string, ExecutionRun>();
  private readonly validator = new DefinitionValidator();
  private readonly tokens = new Map<string, TokenWaiter>();
  private readonly closedTokens = new Set<string>();
  /** Executions RUNNING on disk when this engine started: a previous process lost them. */
  private readonly orphans: Set<string>;
  private lambda: LambdaClient | undefined;
  private codeBuild: CodeBuildClient | undefined;
  private closed = false;

  constructor(options: StepFunctionsEngineOptions) {
    this.bus = options.bus;
    this.region = options.region ?? "us-east-1";
    this.buildPollMs = options.buildPollMs ?? 500;
    this.logLine = options.log ?? (() => {});
    this.store = new StepFunctionsStore(options.dir, {
      account: options.account ?? "000000000000",
      region: this.region,
      onError: (error) => this.logLine(`stepfunctions: ${error}`),
    });
    this.orphans = new Set(
      this.store.listExecutions((record) => record.status === "RUNNING").map((record) => record.executionArn),
    );
  }

  /** Points the integrations' SDK clients at the AWS endpoint (Lambda, CodeBuild). */
  connect(endpointUrl: string): void {
    const config = {
      endpoint: endpointUrl,
      region: this.region,
      credentials: { accessKeyId: "berth-local", secretAccessKey: "berth-local" },
      // Step Functions does not retry a failed call by itself: the state's Retry decides.
      maxAttempts: 1,
    };
    this.lambda?.destroy();
    this.codeBuild?.destroy();
    this.lambda = new LambdaClient(config);
    this.codeBuild = new CodeBuildClient(config);
  }

  // State machines

  async createStateMachine(input: {
    name: string;
    definition: string;
    roleArn: string;
    type?: string;
  }): Promise<StateMachineRecord> {
    if (!NAME.test(input.name)) throw new AwsError("InvalidName", `Invalid Name: '${input.name}'`);
    if (input.type !== undefined && input.type !== "STANDARD") {
      throw new AwsError("StateMachineTypeNotSupported", "Berth Local runs STANDARD state machines only");
    }
    this.checkRoleArn(input.roleArn);
    const compiled = await this.compileValidated(input.definition);
    return this.putNew(input, compiled);
  }

  /** Executions already running keep the definition they started with, as on AWS. */
  async updateStateMachine(input: {
    stateMachineArn: string;
    definition?: string;
    roleArn?: string;
  }): Promise<StateMachineRecord> {
    this.machine(input.stateMachineArn);
    if (input.definition === undefined && input.roleArn === undefined) {
      throw new AwsError(
        "MissingRequiredParameter",
        "Either the definition or the roleArn must be specified.",
      );
    }
    if (input.roleArn !== undefined) this.checkRoleArn(input.roleArn);
    const compiled =
      input.definition !== undefined ? await this.compileValidated(input.definition) : undefined;
    return this.putUpdate(this.machine(input.stateMachineArn), input, compiled);
  }

  /** The state machine, or StateMachineDoesNotExist (InvalidArn for what is not a state machine ARN). */
  machine(arn: string): StateMachineRecord {
    if (!/^arn:aws(?:-[a-z]+)*:states:[a-z0-9-]+:\d{12}:stateMachine:[^:]+$/.test(arn)) {
      throw new AwsError("InvalidArn", `Invalid Arn: 'Resource type not valid in this context: ${arn}'`);
    }
    const machine = this.store.machine(arn);
    if (!machine) throw new AwsError("StateMachineDoesNotExist", `State Machine Does Not Exist: '${arn}'`);
    return machine;
  }

  deleteStateMachine(arn: string): void {
    if (!/^arn:aws(?:-[a-z]+)*:states:[a-z0-9-]+:\d{12}:stateMachine:[^:]+$/.test(arn)) {
      throw new AwsError("InvalidArn", `Invalid Arn: 'Resource type not valid in this context: ${arn}'`);
    }
    this.store.deleteMachine(arn);
    this.compiled.delete(arn);
  }

  /**
   * Creates each state machine, or updates it when its definition or role changed: what the
   * installation does on AWS, done by Berth Local at every start. The definitions are the
   * repository's own, checked against the ASL schema by its tests, so only Berth Local's own
   * checks run here, not the schema validator (seconds of CPU for the five workflows). Throws on
   * a definition Berth Local cannot run.
   */
  installStateMachines(machines: readonly StateMachineInstall[]): StateMachineRecord[] {
    return machines.map((machine) => {
      const definition =
        typeof machine.definition === "string" ? machine.definition : JSON.stringify(machine.definition);
      if (!NAME.test(machine.name)) throw new AwsError("InvalidName", `Invalid Name: '${machine.name}'`);
      this.checkRoleArn(machine.roleArn);
      const existing = this.store.machine(this.store.stateMachineArn(machine.name));
      if (existing?.definition === definition && existing.roleArn === machine.roleArn) return existing;
      const compiled = this.compileChecked(definition);
      return existing
        ? this.putUpdate(existing, { definition, roleArn: machine.roleArn }, compiled)
        : this.putNew({ name: machine.name, definition, roleArn: machine.roleArn }, compiled);
    });
  }

  // Executions

  /**
   * Starts an execution. Names are idempotent as on AWS: the same name and input as a RUNNING
   * execution answers that execution; any other reuse of a name is ExecutionAlreadyExists.
   */
  startExecution(input: {
    stateMachineArn: string;
    name?: string;
    input?: string;
    traceHeader?: string;
  }): ExecutionRecord {
    if (this.closed) throw new AwsError("ServiceUnavailable", "Berth Local is stopping", 503);
    const machine = this.machine(input.stateMachineArn);
    const name = input.name ?? randomUUID();
    if (!NAME.test(name)) throw new AwsError("InvalidName", `Invalid Name: '${name}'`);
    const inputText = input.input ?? "{}";
    let parsed: unknown;
    try {
      parsed = JSON.parse(inputText);
    } catch (error) {
      throw new AwsError("InvalidExecutionInput", `Invalid State Machine Execution Input: '${error}'`);
    }
    const executionArn = this.store.executionArn(machine.name, name);
    const existing = this.store.execution(executionArn);
    if (existing) {
      if (existing.status === "RUNNING" && existing.input === inputText) return existing;
      throw new AwsError("ExecutionAlreadyExists", `Execution Already Exists: '${executionArn}'`);
    }
    const compiled = this.compiledFor(machine);
    const record: ExecutionRecord = {
      id: randomUUID(),
      executionArn,
      stateMachineArn: machine.arn,
      name,
      status: "RUNNING",
      startDate: Date.now(),
      input: inputText,
      roleArn: machine.roleArn,
      ...(input.traceHeader !== undefined ? { traceHeader: input.traceHeader } : {}),
    };
    this.store.putExecution(record);
    const run = new ExecutionRun(record, this.store.openHistory(record.id), compiled, this.host());
    this.runs.set(executionArn, run);
    this.publish(record);
    run.start(machine, parsed);
    return record;
  }

  /** The execution, or ExecutionDoesNotExist (InvalidArn for what is not an execution ARN). */
  execution(arn: string): ExecutionRecord {
    if (!/^arn:aws(?:-[a-z]+)*:states:[a-z0-9-]+:\d{12}:execution:[^:]+:[^:]+$/.test(arn)) {
      throw new AwsError("InvalidArn", `Invalid Arn: 'Resource type not valid in this context: ${arn}'`);
    }
    const record = this.store.execution(arn);
    if (!record) throw new AwsError("ExecutionDoesNotExist", `Execution Does Not Exist: '${arn}'`);
    return record;
  }

  /** StopExecution: a RUNNING execution ends ABORTED; a closed one is left as it is. */
  stopExecution(arn: string, error?: string, cause?: string): ExecutionRecord {
    const record = this.execution(arn);
    this.runs.get(arn)?.stop("ABORTED", error, cause);
    return record;
  }

  history(arn: string): Promise<HistoryEvent[]> {
    return this.store.readHistory(this.execution(arn).id);
  }

  // Task tokens

  sendTaskSuccess(token: string, output: string): void {
    let value: unknown;
    try {
      value = JSON.parse(output);
    } catch (error) {
      throw new AwsError("InvalidOutput", `Invalid Output: '${error}'`);
    }
    this.waiter(token).resolve(value);
  }

  sendTaskFailure(token: string, error?: string, cause?: string): void {
    this.waiter(token).reject(new StatesError(error ?? "", cause ?? ""));
  }

  sendTaskHeartbeat(token: string): void {
    this.waiter(token).heartbeat();
  }

  /**
   * Ends, ABORTED with `Berth.LocalRestart`, every execution a previous Berth Local left RUNNING
   * (its state died with that process), and publishes their status change. Call it once the
   * bus's routing runs. Answers how many it ended.
   */
  async recover(): Promise<number> {
    const orphans = [...this.orphans]
      .map((arn) => this.store.execution(arn))
      .filter(
        (record): record is ExecutionRecord =>
          record?.status === "RUNNING" && !this.runs.has(record.executionArn),
      );
    this.orphans.clear();
    for (const record of orphans) {
      const events = await this.store.readHistory(record.id);
      const last = events.at(-1)?.id ?? 0;
      const stopDate = Date.now();
      await this.store.appendToClosedHistory(record.id, {
        timestamp: stopDate,
        type: "ExecutionAborted",
        id: last + 1,
        previousEventId: last,
        executionAbortedEventDetails: { ...LOCAL_RESTART },
      });
      const ended: ExecutionRecord = { ...record, status: "ABORTED", stopDate, ...LOCAL_RESTART };
      this.store.putExecution(ended);
      this.publish(ended);
    }
    return orphans.length;
  }

  /**
   * Stops running executions' timers and in-flight tasks without recording an end: they stay
   * RUNNING on disk, and `recover()` at the next start ends them.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const runs = [...this.runs.values()];
    this.runs.clear();
    for (const run of runs) run.detach();
    this.tokens.clear();
    await Promise.all(runs.map((run) => this.store.closeHistory(run.record.id)));
    await this.validator.close();
    this.lambda?.destroy();
    this.codeBuild?.destroy();
  }

  private waiter(token: string): TokenWaiter {
    if (!TOKEN.test(token)) throw new AwsError("InvalidToken", "Invalid Token: 'Invalid token'");
    const waiter = this.tokens.get(token);
    if (waiter) return waiter;
    if (this.closedTokens.has(token)) {
      throw new AwsError("TaskTimedOut", "Task Timed Out: 'Provided task does not exist anymore'");
    }
    throw new AwsError("TaskDoesNotExist", "Task Does Not Exist: 'Provided task does not exist'");
  }

  private host(): RunHost {
    return {
      region: this.region,
      buildPollMs: this.buildPollMs,
      lambda: () => this.lambda,
      codeBuild: () => this.codeBuild,
      newToken: (waiter) => {
        const token = randomBytes(48).toString("base64url");
        this.tokens.set(token, waiter);
        return token;
      },
      releaseToken: (token) => {
        if (!this.tokens.delete(token)) return;
        this.closedTokens.add(token);
        if (this.closedTokens.size > CLOSED_TOKENS_KEPT) {
          const oldest = this.closedTokens.values().next().value;
          if (oldest !== undefined) this.closedTokens.delete(oldest);
        }
      },
      ended: (run) => {
        this.store.putExecution(run.record);
        this.runs.delete(run.record.executionArn);
        this.publish(run.record);
        void this.store.closeHistory(run.record.id);
      },
      log: this.logLine,
    };
  }

  private publish(record: ExecutionRecord): void {
    const detail: ExecutionStatusChange = {
      executionArn: record.executionArn,
      stateMachineArn: record.stateMachineArn,
      name: record.name,
      status: record.status,
      startDate: record.startDate,
      stopDate: record.stopDate ?? null,
      input: record.input,
      inputDetails: { included: true },
      output: record.output ?? null,
      outputDetails: record.output !== undefined ? { included: true } : null,
      error: record.error ?? null,
      cause: record.cause ?? null,
    };
    this.bus.publish("aws.states", "Step Functions Execution Status Change", [record.executionArn], detail);
  }

  private checkRoleArn(roleArn: string): void {
    if (!ROLE_ARN.test(roleArn))
      throw new AwsError("InvalidArn", `Invalid Arn: 'Invalid role ARN: ${roleArn}'`);
  }

  private putNew(
    input: { name: string; definition: string; roleArn: string },
    compiled: CompiledDefinition,
  ): StateMachineRecord {
    const arn = this.store.stateMachineArn(input.name);
    const existing = this.store.machine(arn);
    if (existing) {
      if (existing.definition === input.definition && existing.roleArn === input.roleArn) return existing;
      throw new AwsError("StateMachineAlreadyExists", `State Machine Already Exists: '${arn}'`);
    }
    const record: StateMachineRecord = {
      name: input.name,
      arn,
      definition: input.definition,
      roleArn: input.roleArn,
      type: "STANDARD",
      creationDate: Date.now(),
      revisionId: randomUUID(),
    };
    this.store.putMachine(record);
    this.compiled.set(arn, { revisionId: record.revisionId, compiled });
    return record;
  }

  private putUpdate(
    existing: StateMachineRecord,
    input: { definition?: string; roleArn?: string },
    compiled: CompiledDefinition | undefined,
  ): StateMachineRecord {
    const record: StateMachineRecord = {
      ...existing,
      ...(input.definition !== undefined ? { definition: input.definition } : {}),
      ...(input.roleArn !== undefined ? { roleArn: input.roleArn } : {}),
      updateDate: Date.now(),
      revisionId: randomUUID(),
    };
    this.store.putMachine(record);
    if (compiled) this.compiled.set(record.arn, { revisionId: record.revisionId, compiled });
    return record;
  }

  private compileChecked(definition: string): CompiledDefinition {
    try {
      return compileDefinition(checkDefinition(definition));
    } catch (error) {
      if (error instanceof InvalidDefinitionError) throw new AwsError("InvalidDefinition", error.message);
      throw error;
    }
  }

  /** What CreateStateMachine accepts: Berth Local's checks, then the ASL schema. */
  private async compileValidated(definition: string): Promise<CompiledDefinition> {
    const compiled = this.compileChecked(definition);
    const problem = await this.validator.validate(JSON.parse(definition));
    if (problem !== null) throw new AwsError("InvalidDefinition", problem);
    return compiled;
  }

  private compiledFor(machine: StateMachineRecord): CompiledDefinition {
    const cached = this.compiled.get(machine.arn);
    if (cached?.revisionId === machine.revisionId) return cached.compiled;
    const compiled = this.compileChecked(machine.definition);
    this.compiled.set(machine.arn, { revisionId: machine.revisionId, compiled });
    return compiled;
  }
}

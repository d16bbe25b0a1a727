import "./polyfill.ts";
import { randomBytes, randomUUID } from "node:crypto";
import { CodeBuildClient } from "@aws-sdk/client-codebuild";
import { ECSClient } from "@aws-sdk/client-ecs";
import { LambdaClient } from "@aws-sdk/client-lambda";
import type { EventBus } from "../events.ts";
import { AwsError } from "../protocol.ts";
import {
  type CompiledDefinition,
  checkDefinition,
  compileDefinition,
  InvalidDefinitionError,
} from "./definition.ts";
import { ExecutionRun, type RunHost, type TokenWaiter } from "./execution.ts";
import { StatesError } from "./integrations.ts";
import {
  type ExecutionRecord,
  type ExecutionStatus,
  type HistoryEvent,
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

/** Used tokens remembered to answer TaskTimedOut rather than TaskDoesNotExist. */
const CLOSED_TOKENS_KEPT = 10_000;

/** What AWS allows in state machine and execution names: no whitespace, brackets, wildcards, punctuation or control characters. */
const NAME = /^[^\s<>{}[\]?*"#%\\^|~`$&,;:/\p{Cc}]{1,80}$/u;
const ROLE_ARN = /^arn:aws(?:-[a-z]+)*:iam::\d{12}:role\/.+$/;
const TOKEN = /^[A-Za-z0-9_-]{64}$/;

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
  private ecs: ECSClient | undefined;
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
    this.ecs?.destroy();
    this.lambda = new LambdaClient(config);
    this.codeBuild = new CodeBuildClient(config);
    this.ecs = new ECSClient(config);
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
    this.ecs?.destroy();
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
      ecs: () => this.ecs,
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

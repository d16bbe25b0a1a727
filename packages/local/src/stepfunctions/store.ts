import { createWriteStream, mkdirSync, readdirSync, rmSync, type WriteStream } from "node:fs";
import { appendFile, readFile } from "node:fs/promises";
import { join } from "node:path";
import { JsonFile } from "../state.ts";

export type ExecutionStatus = "RUNNING" | "SUCCEEDED" | "FAILED" | "TIMED_OUT" | "ABORTED";

export interface StateMachineRecord {
  name: string;
  arn: string;
  /** The definition's text, as CreateStateMachine received it (DescribeStateMachine returns it). */
  definition: string;
  roleArn: string;
  type: "STANDARD";
  /** Epoch milliseconds. */
  creationDate: number;
  updateDate?: number;
  revisionId: string;
}

export interface ExecutionRecord {
  /** The execution's file names; ARNs hold characters a file name should not. */
  id: string;
  executionArn: string;
  stateMachineArn: string;
  name: string;
  status: ExecutionStatus;
  /** Epoch milliseconds. */
  startDate: number;
  stopDate?: number;
  input: string;
  output?: string;
  error?: string;
  cause?: string;
  roleArn: string;
  traceHeader?: string;
}

/** One history event in GetExecutionHistory's shape, but with `timestamp` in epoch milliseconds. */
export interface HistoryEvent {
  id: number;
  previousEventId: number;
  timestamp: number;
  type: string;
  [details: string]: unknown;
}

interface MachinesDocument {
  stateMachines: StateMachineRecord[];
}

/** Step Functions keeps closed executions for 90 days; so does Berth Local. */
const RETENTION_MS = 90 * 24 * 60 * 60 * 1000;

/** The history of a running execution: kept in memory for reads, appended to its file as it grows. */
export class HistoryLog {
  readonly events: HistoryEvent[] = [];
  private readonly stream: WriteStream;

  constructor(path: string, onError: (error: unknown) => void, events: HistoryEvent[] = []) {
    this.events.push(...events);
    this.stream = createWriteStream(path, { flags: "a" });
    this.stream.on("error", onError);
  }

  get lastId(): number {
    return this.events.at(-1)?.id ?? 0;
  }

  append(event: HistoryEvent): void {
    this.events.push(event);
    this.stream.write(`${JSON.stringify(event)}\n`);
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.stream.closed || this.stream.destroyed) return resolve();
      this.stream.end(() => resolve());
      this.stream.once("error", () => resolve());
    });
  }
}

/**
 * Berth Local's Step Functions state under `<data dir>/stepfunctions/`: the state machines in one
 * JSON file, each execution in its own (written at start and at its end, atomically), and each
 * execution's history as an append-only JSON-lines file. Everything but histories is in memory.
 */
export class StepFunctionsStore {
  readonly account: string;
  readonly region: string;
  private readonly dir: string;
  private readonly machinesFile: JsonFile<MachinesDocument>;
  private readonly machines = new Map<string, StateMachineRecord>();
  private readonly executions = new Map<string, ExecutionRecord>();
  private readonly openLogs = new Map<string, HistoryLog>();
  private readonly onError: (error: unknown) => void;

  constructor(dir: string, options: { account: string; region: string; onError?: (error: unknown) => void }) {
    this.dir = dir;
    this.account = options.account;
    this.region = options.region;
    this.onError = options.onError ?? (() => {});
    mkdirSync(join(dir, "executions"), { recursive: true });
    mkdirSync(join(dir, "history"), { recursive: true });
    this.machinesFile = new JsonFile<MachinesDocument>(join(dir, "state-machines.json"));
    for (const machine of this.machinesFile.read({ stateMachines: [] }).stateMachines) {
      this.machines.set(machine.arn, machine);
    }
    const expired = Date.now() - RETENTION_MS;
    for (const file of readdirSync(join(dir, "executions"))) {
      if (!file.endsWith(".json")) continue;
      const record = new JsonFile<ExecutionRecord | null>(join(dir, "executions", file)).read(null);
      if (!record) continue;
      if (record.stopDate !== undefined && record.stopDate < expired) {
        this.removeFiles(record.id);
        continue;
      }
      this.executions.set(record.executionArn, record);
    }
  }

  stateMachineArn(name: string): string {
    return `arn:aws:states:${this.region}:${this.account}:stateMachine:${name}`;
  }

  executionArn(stateMachineName: string, name: string): string {
    return `arn:aws:states:${this.region}:${this.account}:execution:${stateMachineName}:${name}`;
  }

  machine(arn: string): StateMachineRecord | undefined {
    return this.machines.get(arn);
  }

  /** The state machines, sorted by name. */
  listMachines(): StateMachineRecord[] {
    return [...this.machines.values()].sort((a, b) => compare(a.name, b.name));
  }

  putMachine(record: StateMachineRecord): void {
    this.machines.set(record.arn, record);
    this.saveMachines();
  }

  deleteMachine(arn: string): boolean {
    const existed = this.machines.delete(arn);
    if (existed) this.saveMachines();
    return existed;
  }

  execution(arn: string): ExecutionRecord | undefined {
    return this.executions.get(arn);
  }

  /** Executions, newest first (ties by ARN), as ListExecutions orders them. */
  listExecutions(filter: (record: ExecutionRecord) => boolean = () => true): ExecutionRecord[] {
    return [...this.executions.values()]
      .filter(filter)
      .sort((a, b) => b.startDate - a.startDate || compare(a.executionArn, b.executionArn));
  }

  putExecution(record: ExecutionRecord): void {
    this.executions.set(record.executionArn, record);
    new JsonFile<ExecutionRecord>(this.executionFile(record.id)).write(record);
  }

  /** Starts (or, for recovery, continues) an execution's history log. */
  openHistory(id: string, events: HistoryEvent[] = []): HistoryLog {
    const log = new HistoryLog(this.historyFile(id), this.onError, events);
    this.openLogs.set(id, log);
    return log;
  }

  async closeHistory(id: string): Promise<void> {
    const log = this.openLogs.get(id);
    if (!log) return;
    await log.close();
    if (this.openLogs.get(id) === log) this.openLogs.delete(id);
  }

  /** An execution's history: from memory while its log is open, else from its file. */
  async readHistory(id: string): Promise<HistoryEvent[]> {
    const open = this.openLogs.get(id);
    if (open) return [...open.events];
    let text: string;
    try {
      text = await readFile(this.historyFile(id), "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw error;
    }
    const events: HistoryEvent[] = [];
    for (const line of text.split("\n")) {
      if (line.length === 0) continue;
      try {
        events.push(JSON.parse(line) as HistoryEvent);
      } catch {
        // A line cut short by a crash: the events before it are still the history.
      }
    }
    return events;
  }

  /**
   * Appends to the history of an execution whose log is not open (recovery). The leading newline
   * ends a line a crash may have cut short; empty lines are skipped when reading.
   */
  appendToClosedHistory(id: string, event: HistoryEvent): Promise<void> {
    return appendFile(this.historyFile(id), `\n${JSON.stringify(event)}\n`);
  }

  private executionFile(id: string): string {
    return join(this.dir, "executions", `${id}.json`);
  }

  private historyFile(id: string): string {
    return join(this.dir, "history", `${id}.jsonl`);
  }

  private removeFiles(id: string): void {
    rmSync(this.executionFile(id), { force: true });
    rmSync(this.historyFile(id), { force: true });
  }

  private saveMachines(): void {
    this.machinesFile.write({ stateMachines: [...this.machines.values()] });
  }
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

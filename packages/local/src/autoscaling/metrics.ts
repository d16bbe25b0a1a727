import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import type { ScalableTask } from "./types.ts";

/** ECS measures CPU in units: 1024 are one vCPU. */
const CPU_UNITS_PER_VCPU = 1024;
const DEFAULT_CLOCK_TICKS = 100;
/**
 * Below this, a CPU delta is mostly clock-tick rounding (a tick is 10 ms): a sample that comes
 * sooner keeps the previous one as its baseline and repeats the last utilization.
 */
const MIN_SAMPLE_INTERVAL_MS = 100;

let clockTicks: number | undefined;

/** `sysconf(_SC_CLK_TCK)`, the unit of /proc's CPU times: read once, 100 (Linux's value) if getconf fails. */
export function clockTicksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      const value = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim());
      clockTicks = Number.isInteger(value) && value > 0 ? value : DEFAULT_CLOCK_TICKS;
    } catch {
      clockTicks = DEFAULT_CLOCK_TICKS;
    }
  }
  return clockTicks;
}

/** The fields of `/proc/<pid>/stat` the metrics use. CPU times are in clock ticks. */
export interface ProcStat {
  pid: number;
  state: string;
  processGroupId: number;
  utime: number;
  stime: number;
  /** CPU time of children this process has waited for. */
  cutime: number;
  cstime: number;
}

/**
 * Parses `/proc/<pid>/stat`. The second field is the command name in parentheses, which may itself
 * contain spaces and parentheses, so the fixed fields are counted from its last `)`.
 */
export function parseProcStat(text: string): ProcStat | undefined {
  const open = text.indexOf(" (");
  const close = text.lastIndexOf(")");
  if (open < 0 || close < open) return undefined;
  // After ") " come the fields from the 3rd on (1-based, as proc(5) numbers them).
  const fields = text
    .slice(close + 2)
    .trim()
    .split(/\s+/);
  const field = (number: number) => Number(fields[number - 3]);
  const stat = {
    pid: Number(text.slice(0, open)),
    state: fields[0] ?? "",
    processGroupId: field(5),
    utime: field(14),
    stime: field(15),
    cutime: field(16),
    cstime: field(17),
  };
  const numbers = [stat.pid, stat.processGroupId, stat.utime, stat.stime, stat.cutime, stat.cstime];
  return stat.state !== "" && numbers.every(Number.isInteger) ? stat : undefined;
}

/** `VmRSS` of `/proc/<pid>/status` in kB; undefined for kernel threads and zombies, which have none. */
export function parseVmRssKiB(status: string): number | undefined {
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  return match?.[1] === undefined ? undefined : Number(match[1]);
}

/** What the processes of some process groups use at one moment. */
export interface ProcessGroupUsage {
  /** CPU time used so far, in seconds. */
  cpuSeconds: number;
  /** Resident memory, in MiB (the sum over the processes, as `ps` would add it up). */
  rssMiB: number;
  /** How many live (non-zombie) processes the groups have. */
  processes: number;
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    // The process exited between the directory scan and the read.
    return undefined;
  }
}

/**
 * Adds up the CPU time and resident memory of every process in the given process groups, found by
 * scanning /proc. CPU time includes the time of children each process has reaped (`cutime` +
 * `cstime`), so a short-lived helper a container runs (a shell's command, a spawned tool) still
 * counts once it has exited.
 */
export function readProcessGroupUsage(
  processGroups: readonly number[],
  procDir = "/proc",
): ProcessGroupUsage {
  const wanted = new Set(processGroups);
  const usage: ProcessGroupUsage = { cpuSeconds: 0, rssMiB: 0, processes: 0 };
  if (wanted.size === 0) return usage;
  let entries: string[];
  try {
    entries = readdirSync(procDir);
  } catch {
    return usage;
  }
  let ticks = 0;
  let rssKiB = 0;
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const statText = readText(`${procDir}/${entry}/stat`);
    const stat = statText === undefined ? undefined : parseProcStat(statText);
    if (!stat || !wanted.has(stat.processGroupId)) continue;
    ticks += stat.utime + stat.stime + stat.cutime + stat.cstime;
    if (stat.state === "Z") continue;
    usage.processes++;
    const status = readText(`${procDir}/${entry}/status`);
    rssKiB += (status === undefined ? undefined : parseVmRssKiB(status)) ?? 0;
  }
  usage.cpuSeconds = ticks / clockTicksPerSecond();
  usage.rssMiB = rssKiB / 1024;
  return usage;
}

/** A task's utilization in percent, as ECS reports `CPUUtilization` and `MemoryUtilization`. */
export interface TaskUtilization {
  /** CPU seconds per second against the task's CPU units (1024 units = one vCPU = 100 %). */
  cpu: number;
  /** Resident memory against the task's memory. */
  memory: number;
}

/** One reading of a task's processes, at `at` (milliseconds on a monotonic clock). */
export interface TaskSample {
  at: number;
  cpuSeconds: number;
  rssMiB: number;
}

/**
 * The utilization between two samples of one task. A size of 0 (no task-level CPU or memory)
 * leaves that figure undefined as NaN, which the scaler leaves out of its averages.
 */
export function utilizationBetween(
  previous: TaskSample,
  current: TaskSample,
  size: { cpuUnits: number; memoryMiB: number },
): TaskUtilization {
  const wallSeconds = (current.at - previous.at) / 1000;
  // A process that exits takes its CPU time with it unless a process of the group reaps it.
  const cpuSeconds = Math.max(0, current.cpuSeconds - previous.cpuSeconds);
  const vcpus = size.cpuUnits / CPU_UNITS_PER_VCPU;
  return {
    cpu: wallSeconds > 0 && vcpus > 0 ? (cpuSeconds / wallSeconds / vcpus) * 100 : Number.NaN,
    memory: size.memoryMiB > 0 ? (current.rssMiB / size.memoryMiB) * 100 : Number.NaN,
  };
}

/** Where the scaler gets each task's utilization from. */
export interface TaskMetrics {
  /** The task's utilization since its previous sample; undefined on its first sample. */
  sample(task: ScalableTask): TaskUtilization | undefined;
  /** Forgets the samples of tasks that are not in `liveTaskIds`. */
  retain(liveTaskIds: ReadonlySet<string>): void;
}

export interface ProcessMetricsOptions {
  procDir?: string;
  /** A monotonic clock in milliseconds (`performance.now` by default). */
  clock?: () => number;
}

/** Measures tasks from /proc, keeping each task's previous sample to turn CPU time into a rate. */
export class ProcessMetrics implements TaskMetrics {
  readonly #procDir: string;
  readonly #clock: () => number;
  readonly #previous = new Map<string, { sample: TaskSample; utilization?: TaskUtilization }>();

  constructor(options: ProcessMetricsOptions = {}) {
    this.#procDir = options.procDir ?? "/proc";
    this.#clock = options.clock ?? (() => performance.now());
  }

  sample(task: ScalableTask): TaskUtilization | undefined {
    const usage = readProcessGroupUsage(task.processGroups, this.#procDir);
    const current: TaskSample = { at: this.#clock(), cpuSeconds: usage.cpuSeconds, rssMiB: usage.rssMiB };
    const previous = this.#previous.get(task.taskId);
    if (!previous) {
      this.#previous.set(task.taskId, { sample: current });
      return undefined;
    }
    if (current.at - previous.sample.at < MIN_SAMPLE_INTERVAL_MS) return previous.utilization;
    const utilization = utilizationBetween(previous.sample, current, task);
    this.#previous.set(task.taskId, { sample: current, utilization });
    return utilization;
  }

  retain(liveTaskIds: ReadonlySet<string>): void {
    for (const taskId of this.#previous.keys()) if (!liveTaskIds.has(taskId)) this.#previous.delete(taskId);
  }
}

import { type ChildProcess, spawn } from "node:child_process";
import { signalProcessGroup } from "./process-group.ts";
import type { HealthCheckSpec, HealthStatus } from "./types.ts";

/** The output kept from a failing check, as ECS keeps a short tail. */
const HEALTH_OUTPUT_LIMIT_BYTES = 1024;

/**
 * ECS runs the first check `interval` seconds after the container starts. Berth Local runs it after
 * at most this long, so a healthy container is reported healthy within about a second (and tests
 * of health checks stay fast); later checks follow `interval` seconds after the previous one ends.
 */
const FIRST_CHECK_DELAY_LIMIT_SECONDS = 1;

export interface HealthCheckResult {
  passed: boolean;
  /** Combined stdout and stderr (last HEALTH_OUTPUT_LIMIT_BYTES), plus why it failed when it printed nothing. */
  output: string;
}

export interface HealthCheckEnvironment {
  cwd: string;
  env: Record<string, string>;
}

/** `["CMD", exe, ...args]` runs exe directly; `["CMD-SHELL", "cmd"]` runs `/bin/sh -c cmd`. */
function healthCheckArgv(command: readonly string[]): string[] | { invalid: string } {
  const [kind, ...rest] = command;
  if (kind === "CMD" && rest.length > 0) return rest;
  if (kind === "CMD-SHELL" && rest.length > 0) return ["/bin/sh", "-c", rest.join(" ")];
  return {
    invalid: `health check command ${JSON.stringify(command)} is neither ["CMD", exe, ...args] nor ["CMD-SHELL", command]`,
  };
}

/**
 * Runs one check in its own process group, so that a timeout or a stopping task kills whatever the
 * check started too. Never rejects: every way of failing is a failed check with an explanation.
 */
function runHealthCheck(
  command: readonly string[],
  where: HealthCheckEnvironment,
  timeoutSeconds: number,
  abort: AbortSignal,
): Promise<HealthCheckResult> {
  const argv = healthCheckArgv(command);
  if ("invalid" in argv) return Promise.resolve({ passed: false, output: argv.invalid });
  const [executable = "", ...args] = argv;
  return new Promise((resolve) => {
    let child: ChildProcess;
    try {
      child = spawn(executable, args, {
        cwd: where.cwd,
        env: where.env,
        detached: true,
        stdio: ["ignore", "pipe", "pipe"],
      });
    } catch (error) {
      resolve({ passed: false, output: `health check could not start: ${(error as Error).message}` });
      return;
    }
    const output = new OutputTail(HEALTH_OUTPUT_LIMIT_BYTES);
    child.stdout?.on("data", (chunk: Buffer) => output.add(chunk));
    child.stderr?.on("data", (chunk: Buffer) => output.add(chunk));
    const killGroup = () => {
      if (child.pid !== undefined) signalProcessGroup(child.pid, "SIGKILL");
    };
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup();
    }, timeoutSeconds * 1000);
    abort.addEventListener("abort", killGroup);
    let spawnError: Error | undefined;
    child.on("error", (error) => {
      spawnError ??= error;
    });
    // Whatever the check left running in the background would keep its pipes, and the check, open.
    child.on("exit", killGroup);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      abort.removeEventListener("abort", killGroup);
      const printed = output.text();
      if (code === 0 && !timedOut) {
        resolve({ passed: true, output: printed });
        return;
      }
      const why = spawnError
        ? `health check could not start: ${spawnError.message}`
        : timedOut
          ? `health check timed out after ${timeoutSeconds}s`
          : abort.aborted
            ? "health check cancelled: the task is stopping"
            : printed === ""
              ? `health check exited with ${code === null ? `signal ${signal}` : `code ${code}`} and printed nothing`
              : undefined;
      resolve({
        passed: false,
        output: why === undefined ? printed : printed === "" ? why : `${printed}\n${why}`,
      });
    });
  });
}

export interface HealthUpdate {
  status: HealthStatus;
  /** Output of the last failing check, if any check has failed. */
  lastFailureOutput?: string;
}

/**
 * Runs a container's health checks until stopped, following ECS's rules: `retries` consecutive
 * failures make the container UNHEALTHY; failures while the container is inside `startPeriod` do
 * not count, but a success there makes it HEALTHY and ends the start period.
 */
export class HealthMonitor {
  private status: HealthStatus = "UNKNOWN";
  private consecutiveFailures = 0;
  private hasPassed = false;
  private lastFailureOutput: string | undefined;
  private readonly startedAtMs = performance.now();
  private readonly abort = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> | undefined;

  constructor(
    private readonly spec: HealthCheckSpec,
    private readonly where: HealthCheckEnvironment,
    private readonly onUpdate: (update: HealthUpdate) => void,
  ) {}

  start(): void {
    this.schedule(Math.min(this.spec.interval, FIRST_CHECK_DELAY_LIMIT_SECONDS));
  }

  /** Stops checking; resolves once no check process is left. */
  async stop(): Promise<void> {
    this.abort.abort();
    clearTimeout(this.timer);
    await this.inFlight;
  }

  private schedule(delaySeconds: number): void {
    if (this.abort.signal.aborted) return;
    this.timer = setTimeout(() => {
      this.inFlight = this.check();
    }, delaySeconds * 1000);
  }

  private async check(): Promise<void> {
    const inStartPeriod =
      !this.hasPassed && performance.now() - this.startedAtMs < this.spec.startPeriod * 1000;
    const result = await runHealthCheck(this.spec.command, this.where, this.spec.timeout, this.abort.signal);
    if (this.abort.signal.aborted) return;
    if (result.passed) {
      this.hasPassed = true;
      this.consecutiveFailures = 0;
      this.status = "HEALTHY";
    } else {
      this.lastFailureOutput = result.output;
      if (!inStartPeriod) {
        this.consecutiveFailures += 1;
        if (this.consecutiveFailures >= Math.max(1, this.spec.retries)) this.status = "UNHEALTHY";
      }
    }
    this.onUpdate({
      status: this.status,
      ...(this.lastFailureOutput === undefined ? {} : { lastFailureOutput: this.lastFailureOutput }),
    });
    this.schedule(this.spec.interval);
  }
}

/** The last `limit` bytes written, decoded once at the end. */
class OutputTail {
  private chunks: Buffer[] = [];
  private size = 0;

  constructor(private readonly limit: number) {}

  add(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    if (this.size > this.limit * 4) this.compact();
  }

  text(): string {
    this.compact();
    return Buffer.concat(this.chunks).toString("utf8").trim();
  }

  private compact(): void {
    const all = Buffer.concat(this.chunks);
    const tail = all.subarray(Math.max(0, all.length - this.limit));
    this.chunks = [tail];
    this.size = tail.length;
  }
}

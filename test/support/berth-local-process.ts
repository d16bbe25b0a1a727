import { type ChildProcess, execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, openSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { executable } from "./executables.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));
const execFileAsync = promisify(execFile);

export function newAdminToken(): string {
  return `berth_${randomBytes(32).toString("base64url")}`;
}

export interface BerthLocalProcess {
  readonly apiUrl: string;
  readonly awsUrl: string;
  readonly pid: number;
  readonly logFile: string;
  /** Resolves with the exit code (or signal) once the process has ended. */
  readonly exited: Promise<number | string>;
  /** SIGTERM to the process group, then SIGKILL to it after `graceMs`; resolves once it exited. */
  stop(graceMs?: number): Promise<number | string>;
}

/**
 * Berth Local as `npm start` runs it, in a child process with its own process group (task
 * processes get groups of their own), ports chosen by the OS, stdout and stderr appended to
 * `logFile`.
 */
export async function startBerthLocalProcess(options: {
  dataDir: string;
  adminToken: string;
  logFile: string;
  startTimeoutMs?: number;
  /** The source tree to run (a benchmark's baseline); this one by default. */
  root?: string;
  /** Berth Local's own settings beside the ones set here (`BERTH_LOCAL_MINUTE_MS`). */
  env?: Record<string, string>;
}): Promise<BerthLocalProcess> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  // The child sets these for its own SDK clients unless they are already set: never inherit them.
  for (const name of Object.keys(env)) {
    if (name.startsWith("AWS_ENDPOINT_URL") || name.startsWith("BERTH_")) delete env[name];
  }
  Object.assign(env, {
    BERTH_DATA_DIR: options.dataDir,
    BERTH_PORT: "0",
    BERTH_AWS_PORT: "0",
    BERTH_ADMIN_TOKEN: options.adminToken,
    // The weekly refresh (Sundays 03:00 UTC) and stacks' own refresh crons would otherwise add
    // refresh deployments to whichever test runs at that time; tests fire schedules themselves.
    BERTH_LOCAL_TIMED_SCHEDULES: "off",
    NO_COLOR: "1",
    ...options.env,
  });
  const logOffset = fileLength(options.logFile);
  const fd = openSync(options.logFile, "a");
  let child: ChildProcess;
  try {
    // `npm start` runs `tsx packages/local/src/main.ts`; tsx's CLI wrapper relays SIGTERM to its
    // child and SIGKILLs it when the child does not acknowledge within about 60 ms (a busy event
    // loop on a loaded machine), which orphans every task. Node with tsx as a loader runs the
    // same file in one process that handles SIGTERM itself.
    child = spawn(process.execPath, ["--import", "tsx", "packages/local/src/main.ts"], {
      cwd: options.root ?? root,
      env,
      detached: true,
      stdio: ["ignore", fd, fd],
    });
  } finally {
    closeSync(fd);
  }
  const pid = child.pid;
  if (pid === undefined) throw new Error("could not start Berth Local");
  let exitedWith: number | string | undefined;
  const exited = new Promise<number | string>((resolve) => {
    child.once("exit", (code, signal) => {
      exitedWith = code ?? signal ?? "unknown";
      resolve(exitedWith);
    });
  });

  const stop = async (graceMs = 45_000): Promise<number | string> => {
    if (exitedWith !== undefined) return exitedWith;
    signalGroup(pid, "SIGTERM");
    const timer = setTimeout(() => signalGroup(pid, "SIGKILL"), graceMs);
    try {
      return await exited;
    } finally {
      clearTimeout(timer);
    }
  };

  const deadline = Date.now() + (options.startTimeoutMs ?? 60_000);
  for (;;) {
    const output = readFileSync(options.logFile, "utf8").slice(logOffset);
    const api = /^\s*API\s+(http:\/\/\S+)/m.exec(output)?.[1];
    const aws = /^\s*AWS-compatible endpoint\s+(http:\/\/\S+)/m.exec(output)?.[1];
    if (api && aws) return { apiUrl: api, awsUrl: aws, pid, logFile: options.logFile, exited, stop };
    if (exitedWith !== undefined || Date.now() > deadline) {
      await stop(1_000);
      throw new Error(
        `Berth Local did not start (${exitedWith !== undefined ? `exited with ${exitedWith}` : "timed out"}):\n` +
          logTail(options.logFile),
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ESRCH") throw error;
  }
}

function fileLength(path: string): number {
  try {
    return readFileSync(path).length;
  } catch {
    return 0;
  }
}

export function logTail(path: string, lines = 60): string {
  try {
    return readFileSync(path, "utf8").split("\n").slice(-lines).join("\n");
  } catch (error) {
    return `(no log: ${String(error)})`;
  }
}

export interface HostProcess {
  pid: number;
  cwd: string;
  command: string;
}

/**
 * Processes whose working directory is one of `dirs` or below: a task's containers run in their
 * image directory (a `file://` directory or an artifact under the data dir), so these are the
 * task processes (and health checks) that Berth Local started there. Linux only (/proc).
 */
export function processesUnder(dirs: readonly string[]): HostProcess[] {
  const found: HostProcess[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    try {
      const cwd = readlinkSync(`/proc/${entry}/cwd`);
      if (!dirs.some((dir) => cwd === dir || cwd.startsWith(`${dir}/`))) continue;
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      // A zombie has ended already; it is only waiting for its parent.
      if (/\) Z /.test(stat)) continue;
      const command = readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0").join(" ").trim();
      found.push({ pid, cwd, command });
    } catch {
      // Gone meanwhile, or not ours to read.
    }
  }
  return found;
}

/** Runs the `aws` CLI against Berth Local's endpoint and parses its JSON output. */
export async function awsCli(awsUrl: string, args: readonly string[]): Promise<unknown> {
  const { stdout } = await execFileAsync(
    executable("aws"),
    ["--endpoint-url", awsUrl, "--output", "json", ...args],
    {
      env: {
        ...process.env,
        AWS_ACCESS_KEY_ID: "berth-test",
        AWS_SECRET_ACCESS_KEY: "berth-test",
        AWS_DEFAULT_REGION: "us-east-1",
        AWS_PAGER: "",
      },
      timeout: 60_000,
      maxBuffer: 64 * 1024 * 1024,
    },
  );
  return stdout.trim() === "" ? {} : JSON.parse(stdout);
}

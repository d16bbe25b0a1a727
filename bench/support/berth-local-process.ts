import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../..", import.meta.url));

export interface BerthLocalProcess {
  api: string;
  aws: string;
  token: string;
  pid: number;
  /** The last lines Berth Local wrote to stderr (its log), for a failure report. */
  logTail(): string[];
  /** Task process groups to make sure of at the end (ECS's `runtimeId` of each container). */
  rememberTaskPids(pids: readonly number[]): void;
  /**
   * SIGTERM to Berth Local's process group (it stops every task, then exits), SIGKILL after
   * `graceMs`; then SIGKILL to any remembered task process group still alive. Answers the task
   * process groups it had to kill.
   */
  stop(graceMs?: number): Promise<number[]>;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/**
 * Berth Local (`packages/local/src/main.ts`, what `npm start` runs) as a process, and process
 * group, of its own: the control plane's functions run in-process in Berth Local and read
 * process.env, so they are kept out of the benchmark's process.
 */
export async function spawnBerthLocal(dataDir: string): Promise<BerthLocalProcess> {
  const token = `berth_${randomBytes(32).toString("base64url")}`;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    BERTH_DATA_DIR: dataDir,
    BERTH_PORT: "0",
    BERTH_AWS_PORT: "0",
    BERTH_ADMIN_TOKEN: token,
  };
  // Berth Local points the control plane at itself only when these are unset.
  delete env.AWS_ENDPOINT_URL;
  delete env.AWS_ENDPOINT_URL_DYNAMODB;
  // `node --import tsx`, not the `tsx` launcher: the launcher relays a signal to its child and
  // SIGKILLs the child when it does not acknowledge within 30 ms, which on a busy machine kills
  // Berth Local in the middle of stopping its tasks and leaves them running.
  const child = spawn(process.execPath, ["--import", "tsx", join(root, "packages/local/src/main.ts")], {
    cwd: root,
    env,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const pid = child.pid ?? 0;
  const log: string[] = [];
  let stdout = "";
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (chunk: string) => {
    log.push(...chunk.split("\n").filter((line) => line.length > 0));
    if (log.length > 200) log.splice(0, log.length - 200);
  });
  let exited = false;
  const exit = new Promise<void>((resolve) =>
    child.on("exit", () => {
      exited = true;
      resolve();
    }),
  );
  const taskPids = new Set<number>();

  const stop = async (graceMs = 30_000): Promise<number[]> => {
    const signalGroup = (signal: NodeJS.Signals) => {
      try {
        process.kill(-pid, signal);
      } catch {
        // the group is gone
      }
    };
    if (!exited) {
      signalGroup("SIGTERM");
      const timer = new Promise<"timeout">((resolve) => setTimeout(() => resolve("timeout"), graceMs));
      if ((await Promise.race([exit, timer])) === "timeout") {
        signalGroup("SIGKILL");
        await Promise.race([exit, new Promise((resolve) => setTimeout(resolve, 5000))]);
      }
    }
    // Anything left in the group (a health-check process, say) goes too.
    if (alive(-pid)) signalGroup("SIGKILL");
    const leftovers = [...taskPids].filter((taskPid) => alive(-taskPid));
    for (const taskPid of leftovers) {
      try {
        process.kill(-taskPid, "SIGKILL");
      } catch {
        // gone meanwhile
      }
    }
    return leftovers;
  };

  const endpoints = await new Promise<{ api: string; aws: string }>((resolve, reject) => {
    const timeout = setTimeout(
      () => reject(new Error("Berth Local did not print its endpoints within 120 s")),
      120_000,
    );
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (chunk: string) => {
      stdout += chunk;
      const api = /^\s*API\s+(http:\/\/\S+)/m.exec(stdout)?.[1];
      const aws = /AWS-compatible endpoint\s+(http:\/\/\S+)/.exec(stdout)?.[1];
      if (api && aws) {
        clearTimeout(timeout);
        resolve({ api, aws });
      }
    });
    void exit.then(() => {
      clearTimeout(timeout);
      reject(new Error(`Berth Local exited before it started:\n${log.slice(-20).join("\n")}`));
    });
  }).catch(async (error: unknown) => {
    await stop(5000);
    throw error;
  });

  return {
    ...endpoints,
    token,
    pid,
    logTail: () => [...log],
    rememberTaskPids: (pids) => {
      for (const taskPid of pids) if (taskPid > 0) taskPids.add(taskPid);
    },
    stop,
  };
}

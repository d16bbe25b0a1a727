import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import { CannotPullContainerError, resolveImage } from "./images.ts";
import { containerEnvironment } from "./ports.ts";
import { processGroupIsAlive } from "./process-group.ts";
import { liveTaskRuns, stopAll, TaskRun } from "./task-run.ts";
import type { ContainerSpec, HealthCheckSpec, LogSink, TaskState } from "./types.ts";

const NODE = process.execPath;
const execFileAsync = promisify(execFile);
const temporaryDirs: string[] = [];

afterEach(async () => {
  await stopAll("test finished");
  await Promise.all(temporaryDirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

async function workDir(files: Record<string, string> = {}): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), "berth-task-run-"));
  temporaryDirs.push(dir);
  for (const [name, text] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
    await writeFile(path.join(dir, name), text);
  }
  return dir;
}

function container(name: string, dir: string, overrides: Partial<ContainerSpec> = {}): ContainerSpec {
  return {
    name,
    essential: true,
    image: pathToFileURL(dir).href,
    environment: {},
    dependsOn: [],
    stopTimeout: 2,
    containerPorts: [],
    ...overrides,
  };
}

function healthCheck(command: string[], overrides: Partial<HealthCheckSpec> = {}): HealthCheckSpec {
  return { command, interval: 0.2, timeout: 2, retries: 2, startPeriod: 0, ...overrides };
}

let taskCounter = 0;
function startTask(
  containers: ContainerSpec[],
  options: Partial<ConstructorParameters<typeof TaskRun>[1]> = {},
) {
  taskCounter += 1;
  const run = new TaskRun(
    { taskId: `task${taskCounter}`, containers },
    { artifactsDir: path.join(tmpdir(), "berth-no-artifacts"), ...options },
  );
  run.start();
  return run;
}

/** Resolves with the first state that satisfies the predicate; fails if the task stops first. */
function waitForState(
  run: TaskRun,
  predicate: (state: TaskState) => boolean,
  timeoutMs = 10_000,
): Promise<TaskState> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      run.off("change", check);
      reject(new Error(`timed out waiting; last state ${JSON.stringify(run.state())}`));
    }, timeoutMs);
    function check(state: TaskState) {
      if (predicate(state)) {
        clearTimeout(timer);
        run.off("change", check);
        resolve(state);
      } else if (state.lastStatus === "STOPPED") {
        clearTimeout(timer);
        run.off("change", check);
        reject(new Error(`task stopped before the expected state: ${JSON.stringify(state)}`));
      }
    }
    run.on("change", check);
    check(run.state());
  });
}

async function waitUntil(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await sleep(20);
  }
}

async function waitForLine(
  run: TaskRun,
  containerName: string,
  line: string,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!run.recentLines(containerName).includes(line)) {
    if (Date.now() > deadline) {
      throw new Error(
        `${containerName} never printed ${line}: ${JSON.stringify(run.recentLines(containerName))}`,
      );
    }
    await sleep(20);
  }
}

function containerState(state: TaskState, name: string) {
  const found = state.containers.find((candidate) => candidate.name === name);
  if (!found) throw new Error(`no container ${name} in ${JSON.stringify(state)}`);
  return found;
}

/** Running, as opposed to gone or a zombie that only waits to be reaped. */
function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return process.platform !== "linux";
  }
}

function collectingSink() {
  const events: { group: string; stream: string; timestamp: number; message: string }[] = [];
  const sink: LogSink = {
    append(group, stream, batch) {
      for (const event of batch) events.push({ group, stream, ...event });
    },
  };
  return { sink, events };
}

const HTTP_SERVER = `
import { createServer } from "node:http";
import { writeFileSync } from "node:fs";
const server = createServer((request, response) => response.end("hello on " + process.env.PORT));
server.listen(Number(process.env.PORT), "127.0.0.1", () => console.log("listening"));
process.on("SIGTERM", () => {
  writeFileSync("sigterm-received", String(process.pid));
  server.close();
  process.exit(0);
});
`;

describe("TaskRun: lifecycle", () => {
  it("runs a one-container task with a port: RUNNING, answers HTTP on PORT, exits on SIGTERM when stopped", async () => {
    const dir = await workDir({ "server.mjs": HTTP_SERVER });
    const { sink, events } = collectingSink();
    const run = startTask(
      [
        container("web", dir, {
          command: [NODE, "server.mjs"],
          containerPorts: [8080],
          environment: { PORT: "8080" },
          log: { group: "/berth/web", stream: "web/web/task" },
        }),
      ],
      { logSink: sink },
    );
    const statuses: string[] = [];
    run.on("change", (state) => {
      if (statuses.at(-1) !== state.lastStatus) statuses.push(state.lastStatus);
    });

    const running = await waitForState(run, (state) => state.lastStatus === "RUNNING");
    const hostPort = containerState(running, "web").hostPorts[8080];
    expect(hostPort).toBeGreaterThan(0);
    expect(hostPort).not.toBe(8080);
    expect(running.startedAt).toBeInstanceOf(Date);
    await waitForLine(run, "web", "listening");
    const response = await fetch(`http://127.0.0.1:${hostPort}/`);
    expect(await response.text()).toBe(`hello on ${hostPort}`);

    await run.stop("Scaling down", "ServiceSchedulerInitiated");

    const stopped = run.state();
    expect(stopped.lastStatus).toBe("STOPPED");
    expect(stopped.stopCode).toBe("ServiceSchedulerInitiated");
    expect(stopped.stoppedReason).toBe("Scaling down");
    expect(containerState(stopped, "web")).toMatchObject({ lastStatus: "STOPPED", exitCode: 0 });
    expect(existsSync(path.join(dir, "sigterm-received"))).toBe(true);
    expect(statuses).toEqual(["PENDING", "RUNNING", "STOPPING", "STOPPED"]);
    expect(await run.done).toEqual(stopped);
    expect(events).toContainEqual(
      expect.objectContaining({ group: "/berth/web", stream: "web/web/task", message: "listening" }),
    );
  });

  it("SIGKILLs a container that ignores SIGTERM after its stopTimeout, and its process group is gone", async () => {
    const dir = await workDir({
      "stubborn.mjs": `
        process.on("SIGTERM", () => console.log("ignoring SIGTERM"));
        setInterval(() => {}, 1000);
        console.log("ready");
      `,
    });
    const run = startTask([container("stubborn", dir, { command: [NODE, "stubborn.mjs"], stopTimeout: 1 })]);
    await waitForLine(run, "stubborn", "ready");
    const pid = containerState(run.state(), "stubborn").pid;
    if (pid === undefined) throw new Error("no pid");

    const stopRequestedAt = performance.now();
    await run.stop("test", "UserInitiated");
    const elapsedMs = performance.now() - stopRequestedAt;

    // libuv timers measure from the loop's cached clock, which may lag a few milliseconds behind.
    expect(elapsedMs).toBeGreaterThanOrEqual(1000 - 10);
    expect(run.recentLines("stubborn")).toContain("ignoring SIGTERM");
    expect(containerState(run.state(), "stubborn").exitCode).toBe(137);
    // Nothing of the group runs (the supervisor's children may linger as zombies until init reaps them).
    expect(processGroupIsAlive(pid)).toBe(false);
  });

  it("stops the task when an essential container exits, SIGTERMing the others", async () => {
    const dir = await workDir();
    const run = startTask([
      container("main", dir, { command: ["sh", "-c", "sleep 0.3; exit 3"] }),
      container("sidecar", dir, { essential: false, command: ["sleep", "30"] }),
    ]);

    const stopped = await run.done;

    expect(stopped.stopCode).toBe("EssentialContainerExited");
    expect(stopped.stoppedReason).toBe("Essential container in task exited");
    expect(containerState(stopped, "main").exitCode).toBe(3);
    expect(containerState(stopped, "sidecar")).toMatchObject({ lastStatus: "STOPPED", exitCode: 143 });
    expect(stopped.stoppedAt).toBeInstanceOf(Date);
  });

  it("keeps running when a non-essential container exits", async () => {
    const dir = await workDir();
    const run = startTask([
      container("main", dir, { command: ["sleep", "30"] }),
      container("oneshot", dir, { essential: false, command: ["sh", "-c", "exit 5"] }),
    ]);

    await waitForState(run, (state) => containerState(state, "oneshot").lastStatus === "STOPPED");
    await sleep(200);

    const state = run.state();
    expect(state.lastStatus).toBe("RUNNING");
    expect(containerState(state, "oneshot").exitCode).toBe(5);
    expect(containerState(state, "main").lastStatus).toBe("RUNNING");
  });

  it("kills what a container started (its process group) when the task stops", async () => {
    const dir = await workDir();
    const run = startTask([
      container("parent", dir, {
        command: ["sh", "-c", "sleep 300 & echo $! > grandchild.pid; echo started; wait"],
      }),
    ]);
    await waitForLine(run, "parent", "started");
    const grandchildPid = Number(await readFile(path.join(dir, "grandchild.pid"), "utf8"));
    expect(isRunning(grandchildPid)).toBe(true);

    await run.stop("test", "UserInitiated");

    expect(isRunning(grandchildPid)).toBe(false);
  });

  it("stopAll stops every live task", async () => {
    const dir = await workDir();
    const first = startTask([container("a", dir, { command: ["sleep", "30"] })]);
    const second = startTask([container("b", dir, { command: ["sleep", "30"] })]);
    await waitForState(first, (state) => state.lastStatus === "RUNNING");
    await waitForState(second, (state) => state.lastStatus === "RUNNING");
    expect(liveTaskRuns()).toEqual(expect.arrayContaining([first, second]));

    await stopAll("shutting down");

    expect(first.state()).toMatchObject({ lastStatus: "STOPPED", stopCode: "UserInitiated" });
    expect(second.state()).toMatchObject({ lastStatus: "STOPPED", stoppedReason: "shutting down" });
    expect(liveTaskRuns()).toEqual([]);
  });

  it.each([
    ["exits without stopping its tasks", "process.exit(0)"],
    ["is killed with SIGKILL", 'process.kill(process.pid, "SIGKILL")'],
  ])("kills every process of every container when Berth Local %s", async (_how, end) => {
    const dir = await workDir();
    const spec = {
      taskId: "orphan",
      containers: [
        container("app", dir, {
          command: ["sh", "-c", "sleep 300 & echo $! > child.pid; echo $$ > app.pid; wait"],
        }),
      ],
    };
    const taskRunModule = new URL("./task-run.ts", import.meta.url).href;
    await writeFile(
      path.join(dir, "berth-local.ts"),
      `import { existsSync } from "node:fs";
       import { TaskRun } from ${JSON.stringify(taskRunModule)};
       const run = new TaskRun(${JSON.stringify(spec)}, { artifactsDir: ${JSON.stringify(dir)} });
       const ready = setInterval(() => {
         if (run.state().lastStatus === "RUNNING" && existsSync(${JSON.stringify(path.join(dir, "child.pid"))})) { clearInterval(ready); ${end}; }
       }, 50);
       run.start();`,
    );

    await execFileAsync(NODE, ["--import", "tsx", path.join(dir, "berth-local.ts")]).catch(
      (error: { signal?: string }) => {
        if (error.signal !== "SIGKILL") throw error;
      },
    );

    const pids = [
      await readFile(path.join(dir, "app.pid"), "utf8"),
      await readFile(path.join(dir, "child.pid"), "utf8"),
    ].map(Number);
    expect(pids.every((pid) => pid > 0)).toBe(true);
    const deadline = performance.now() + 30_000;
    while (pids.some(isRunning) && performance.now() < deadline) await sleep(50);
    expect(pids.filter(isRunning)).toEqual([]);
  });

  it("stops a task that was never started without running anything", async () => {
    const dir = await workDir();
    const run = new TaskRun(
      { taskId: "never", containers: [container("a", dir, { command: ["sleep", "30"] })] },
      { artifactsDir: dir },
    );

    await run.stop("cancelled", "UserInitiated");

    expect(run.state()).toMatchObject({ lastStatus: "STOPPED", stopCode: "UserInitiated" });
    expect(containerState(run.state(), "a").pid).toBeUndefined();
    expect(() => run.start()).toThrow(/already been started or stopped/);
  });
});

describe("TaskRun: dependsOn", () => {
  const RECORDER = `
    import { appendFileSync, writeFileSync } from "node:fs";
    const [name, behaviour] = process.argv.slice(2);
    const record = (event) => appendFileSync("order.log", name + " " + event + " " + Date.now() + "\\n");
    record("start");
    if (behaviour === "exit0") setTimeout(() => { record("exit"); process.exit(0); }, 300);
    if (behaviour === "exit1") setTimeout(() => process.exit(1), 100);
    if (behaviour === "ready-later") setTimeout(() => { writeFileSync("db-ready", ""); record("ready"); }, 300);
    setInterval(() => {}, 1000);
  `;

  function readOrder(dir: string): Map<string, number> {
    const entries = readFileSync(path.join(dir, "order.log"), "utf8").trim().split("\n");
    return new Map(
      entries.map((entry) => {
        const [name, event, time] = entry.split(" ");
        return [`${name} ${event}`, Number(time)];
      }),
    );
  }

  it("starts containers only when their START, SUCCESS and HEALTHY conditions hold", async () => {
    const dir = await workDir({ "record.mjs": RECORDER });
    const recorder = (name: string, behaviour = "run") => [NODE, "record.mjs", name, behaviour];
    const run = startTask([
      container("migrate", dir, { essential: false, command: recorder("migrate", "exit0") }),
      container("db", dir, {
        command: recorder("db", "ready-later"),
        healthCheck: healthCheck(["CMD-SHELL", "test -f db-ready"], { retries: 10 }),
      }),
      container("app", dir, {
        command: recorder("app"),
        dependsOn: [
          { containerName: "migrate", condition: "SUCCESS" },
          { containerName: "db", condition: "HEALTHY" },
        ],
      }),
      container("worker", dir, {
        command: recorder("worker"),
        dependsOn: [{ containerName: "app", condition: "START" }],
      }),
    ]);

    // START means "spawned", which a process cannot record itself, so that order comes from the states.
    const startOrder: string[] = [];
    run.on("change", (state) => {
      for (const { name, pid } of state.containers) {
        if (pid !== undefined && !startOrder.includes(name)) startOrder.push(name);
      }
    });

    const running = await waitForState(run, (state) => state.lastStatus === "RUNNING");
    expect(containerState(running, "worker").lastStatus).toBe("RUNNING");
    expect(startOrder.indexOf("worker")).toBeGreaterThan(startOrder.indexOf("app"));
    expect(startOrder.indexOf("app")).toBeGreaterThan(startOrder.indexOf("db"));
    expect(containerState(running, "migrate")).toMatchObject({ lastStatus: "STOPPED", exitCode: 0 });
    expect(running.healthStatus).toBe("HEALTHY");
    await waitUntil(() => {
      const order = readOrder(dir);
      return order.has("app start") && order.has("worker start");
    }, "app and worker recorded their start");

    const order = readOrder(dir);
    const at = (key: string) => order.get(key) ?? Number.NaN;
    expect(at("app start")).toBeGreaterThanOrEqual(at("migrate exit"));
    expect(at("app start")).toBeGreaterThanOrEqual(at("db ready"));
    expect(at("db start")).toBeLessThan(at("db ready"));
  });

  it("fails to start when a SUCCESS dependency exits non-zero", async () => {
    const dir = await workDir({ "record.mjs": RECORDER });
    const run = startTask([
      container("migrate", dir, { essential: false, command: [NODE, "record.mjs", "migrate", "exit1"] }),
      container("app", dir, {
        command: ["sleep", "30"],
        dependsOn: [{ containerName: "migrate", condition: "SUCCESS" }],
      }),
    ]);

    const stopped = await run.done;

    expect(stopped.stopCode).toBe("TaskFailedToStart");
    expect(stopped.stoppedReason).toBe(
      "CannotStartContainerError: app depends on migrate (condition SUCCESS), but migrate exited with code 1",
    );
    expect(containerState(stopped, "app")).toMatchObject({ lastStatus: "STOPPED" });
    expect(containerState(stopped, "app").pid).toBeUndefined();
  });

  it("fails to start when a HEALTHY dependency exits before it is healthy", async () => {
    const dir = await workDir();
    const run = startTask([
      container("db", dir, {
        essential: false,
        command: ["sh", "-c", "exit 2"],
        healthCheck: healthCheck(["CMD", "true"]),
      }),
      container("app", dir, {
        command: ["sleep", "30"],
        dependsOn: [{ containerName: "db", condition: "HEALTHY" }],
      }),
    ]);

    const stopped = await run.done;

    expect(stopped.stopCode).toBe("TaskFailedToStart");
    expect(stopped.stoppedReason).toMatch(
      /app depends on db \(condition HEALTHY\), but db exited with code 2/,
    );
  });

  it("fails to start when containers depend on each other in a cycle", async () => {
    const dir = await workDir();
    const run = startTask([
      container("a", dir, {
        command: ["sleep", "30"],
        dependsOn: [{ containerName: "b", condition: "START" }],
      }),
      container("b", dir, {
        command: ["sleep", "30"],
        dependsOn: [{ containerName: "a", condition: "START" }],
      }),
    ]);

    const stopped = await run.done;

    expect(stopped.stopCode).toBe("TaskFailedToStart");
    expect(stopped.stoppedReason).toMatch(/cycle: a → b → a/);
  });
});

describe("TaskRun: health checks", () => {
  it("marks a container UNHEALTHY after `retries` failing checks, keeping the output, without stopping the task", async () => {
    const dir = await workDir();
    const run = startTask([
      container("db", dir, {
        command: ["sleep", "30"],
        healthCheck: healthCheck(
          ["CMD-SHELL", "echo check >> checks.log; echo 'db: connection refused' >&2; exit 1"],
          {
            retries: 3,
          },
        ),
      }),
    ]);

    const unhealthy = await waitForState(
      run,
      (state) => containerState(state, "db").healthStatus === "UNHEALTHY",
    );

    expect(unhealthy.healthStatus).toBe("UNHEALTHY");
    expect(unhealthy.lastStatus).toBe("RUNNING");
    expect(containerState(unhealthy, "db").lastHealthOutput).toBe("db: connection refused");
    const checks = (await readFile(path.join(dir, "checks.log"), "utf8")).trim().split("\n");
    expect(checks.length).toBeGreaterThanOrEqual(3);
  });

  it("fails a check that outlives its timeout", async () => {
    const dir = await workDir();
    const run = startTask([
      container("slow", dir, {
        command: ["sleep", "30"],
        healthCheck: healthCheck(["CMD", "sleep", "5"], { timeout: 0.3, retries: 1 }),
      }),
    ]);

    const unhealthy = await waitForState(run, (state) => state.healthStatus === "UNHEALTHY");

    expect(containerState(unhealthy, "slow").lastHealthOutput).toBe("health check timed out after 0.3s");
  });

  it("ignores failures during startPeriod, and becomes HEALTHY once a check passes", async () => {
    const slowStarter = async (startPeriod: number) =>
      container("app", await workDir(), {
        command: ["sh", "-c", "sleep 1; touch ready; sleep 30"],
        healthCheck: healthCheck(["CMD-SHELL", "test -f ready || { echo not ready yet; exit 1; }"], {
          retries: 1,
          startPeriod,
        }),
      });
    const withStartPeriod = startTask([await slowStarter(5)]);
    const withoutStartPeriod = startTask([await slowStarter(0)]);
    const seen: string[] = [];
    withStartPeriod.on("change", (state) => seen.push(state.healthStatus));

    const [healthy, control] = await Promise.all([
      waitForState(withStartPeriod, (state) => state.healthStatus === "HEALTHY"),
      waitForState(withoutStartPeriod, (state) => state.healthStatus === "UNHEALTHY"),
    ]);

    expect(seen).not.toContain("UNHEALTHY");
    // The early checks did fail; they just did not count.
    expect(containerState(healthy, "app").lastHealthOutput).toBe("not ready yet");
    expect(containerState(control, "app").lastHealthOutput).toBe("not ready yet");
  });

  it("stops running health checks when the task stops", async () => {
    const dir = await workDir();
    const run = startTask([
      container("app", dir, {
        command: ["sleep", "30"],
        healthCheck: healthCheck(["CMD-SHELL", "echo check >> checks.log"]),
      }),
    ]);
    await waitForState(run, (state) => state.healthStatus === "HEALTHY");
    const countChecks = async () =>
      (await readFile(path.join(dir, "checks.log"), "utf8")).trim().split("\n").length;

    await run.stop("test", "UserInitiated");
    const checksAtStop = await countChecks();
    await sleep(700);

    expect(await countChecks()).toBe(checksAtStop);
  });
});

describe("TaskRun: images", () => {
  it("refuses registry images with CannotPullContainerError", async () => {
    const run = startTask([container("cache", "/", { image: "redis:alpine" })]);

    const stopped = await run.done;

    const reason =
      "CannotPullContainerError: Berth Local runs directories (file:///…) and built artifacts (berth.local/<repo>@sha256:…), not registry images: redis:alpine";
    expect(stopped).toMatchObject({
      lastStatus: "STOPPED",
      stopCode: "TaskFailedToStart",
      stoppedReason: reason,
    });
    expect(containerState(stopped, "cache")).toMatchObject({ lastStatus: "STOPPED", reason });
  });

  it("reports a missing directory image as CannotPullContainerError naming the directory", async () => {
    const dir = await workDir();
    const missing = path.join(dir, "does-not-exist");
    const run = startTask([container("app", dir, { image: pathToFileURL(missing).href, command: ["true"] })]);

    const stopped = await run.done;

    expect(stopped.stopCode).toBe("TaskFailedToStart");
    expect(stopped.stoppedReason).toBe(
      `CannotPullContainerError: the image directory ${missing} does not exist or is not a directory`,
    );
  });

  it("runs an artifact's start command in its working directory with its environment", async () => {
    const artifactsDir = await workDir();
    const digest = "ab".repeat(32);
    const artifactDir = path.join(artifactsDir, "sha256", digest);
    await mkdir(path.join(artifactDir, "app"), { recursive: true });
    await writeFile(
      path.join(artifactDir, "app", "main.mjs"),
      `import { writeFileSync } from "node:fs";
       writeFileSync("report.json", JSON.stringify({ cwd: process.cwd(), env: process.env }));`,
    );
    await writeFile(
      path.join(artifactDir, "manifest.json"),
      JSON.stringify({
        schemaVersion: 1,
        start: {
          command: [NODE, "main.mjs"],
          workingDirectory: "app",
          env: { GREETING: "from the manifest", OVERRIDDEN: "by the manifest" },
        },
      }),
    );
    const run = startTask(
      [
        container("app", artifactsDir, {
          image: `berth.local/shop/api@sha256:${digest}`,
          environment: { OVERRIDDEN: "by the task definition" },
          containerPorts: [3000],
        }),
      ],
      { artifactsDir },
    );

    const stopped = await run.done;

    expect(containerState(stopped, "app").exitCode).toBe(0);
    const report = JSON.parse(await readFile(path.join(artifactDir, "app", "report.json"), "utf8"));
    expect(report.cwd).toBe(path.join(artifactDir, "app"));
    expect(report.env).toMatchObject({
      GREETING: "from the manifest",
      OVERRIDDEN: "by the task definition",
      PORT: String(containerState(stopped, "app").hostPorts[3000]),
    });
    expect(Object.keys(report.env)).not.toContain("npm_lifecycle_event");
  });

  it("reports an artifact that is not there as CannotPullContainerError", async () => {
    const artifactsDir = await workDir();
    const image = `berth.local/shop/api@sha256:${"cd".repeat(32)}`;

    await expect(resolveImage(image, artifactsDir)).rejects.toThrow(CannotPullContainerError);
    await expect(resolveImage(image, artifactsDir)).rejects.toThrow(
      /the artifact of .* is not in this Berth Local/,
    );
    await expect(resolveImage("berth.local/shop/api:latest", artifactsDir)).rejects.toThrow(
      /addressed by digest/,
    );
  });

  it("rejects a manifest whose working directory leaves the artifact", async () => {
    const artifactsDir = await workDir();
    const digest = "ef".repeat(32);
    await mkdir(path.join(artifactsDir, "sha256", digest), { recursive: true });
    await writeFile(
      path.join(artifactsDir, "sha256", digest, "manifest.json"),
      JSON.stringify({ schemaVersion: 1, start: { command: ["true"], workingDirectory: "../.." } }),
    );

    await expect(resolveImage(`berth.local/x@sha256:${digest}`, artifactsDir)).rejects.toThrow(
      /workingDirectory "..\/.." leaves the artifact/,
    );
  });

  it("reports a directory image without a command as CannotStartContainerError", async () => {
    const dir = await workDir();
    const run = startTask([container("app", dir)]);

    const stopped = await run.done;

    expect(stopped.stopCode).toBe("TaskFailedToStart");
    expect(stopped.stoppedReason).toMatch(/^CannotStartContainerError: container app has no command/);
  });

  it("turns a command that does not exist into CannotStartContainerError instead of throwing", async () => {
    const dir = await workDir();
    const run = startTask([container("app", dir, { command: ["no-such-program-berth"] })]);

    const stopped = await run.done;

    expect(stopped.stopCode).toBe("TaskFailedToStart");
    expect(stopped.stoppedReason).toBe("CannotStartContainerError: spawn no-such-program-berth ENOENT");
    expect(containerState(stopped, "app").reason).toBe(stopped.stoppedReason);
  });
});

describe("TaskRun: ports and environment", () => {
  it("lets containers of one task reach each other through rewritten localhost addresses", async () => {
    const dir = await workDir({
      "backend.mjs": `
        import { createServer } from "node:http";
        createServer((request, response) => response.end("backend says hi")).listen(Number(process.env.PORT), "127.0.0.1");
      `,
      "frontend.mjs": `
        import { writeFileSync } from "node:fs";
        for (;;) {
          try {
            const body = await (await fetch(process.env.BACKEND_URL)).text();
            writeFileSync("frontend.json", JSON.stringify({ body, env: process.env }));
            break;
          } catch {
            await new Promise((resolve) => setTimeout(resolve, 50));
          }
        }
        setInterval(() => {}, 1000);
      `,
    });
    const run = startTask([
      container("backend", dir, { command: [NODE, "backend.mjs"], containerPorts: [3000] }),
      container("frontend", dir, {
        command: [NODE, "frontend.mjs"],
        containerPorts: [8080],
        environment: {
          BACKEND_URL: "http://localhost:3000/hello",
          OTHER_SERVICE: "http://127.0.0.1:30001",
          CACHE: "redis://localhost:6379",
        },
        dependsOn: [{ containerName: "backend", condition: "START" }],
      }),
    ]);
    const running = await waitForState(run, (state) => state.lastStatus === "RUNNING");
    const backendPort = containerState(running, "backend").hostPorts[3000];
    const frontendPort = containerState(running, "frontend").hostPorts[8080];

    const reportPath = path.join(dir, "frontend.json");
    await waitUntil(
      () => existsSync(reportPath) && readFileSync(reportPath, "utf8").length > 0,
      "the frontend reported",
    );
    const report = JSON.parse(await readFile(reportPath, "utf8"));

    expect(report.body).toBe("backend says hi");
    expect(report.env).toMatchObject({
      BACKEND_URL: `http://localhost:${backendPort}/hello`,
      OTHER_SERVICE: "http://127.0.0.1:30001",
      CACHE: "redis://localhost:6379",
      PORT: String(frontendPort),
      BERTH_HOST_PORT_3000: String(backendPort),
      BERTH_HOST_PORT_8080: String(frontendPort),
    });
    expect(backendPort).not.toBe(frontendPort);
  });

  it("sets PORT only for a container with exactly one port", () => {
    const taskHostPorts = new Map([
      [80, 41000],
      [443, 41001],
    ]);
    const environment = containerEnvironment({
      inherited: { PATH: "/bin" },
      image: {},
      container: { PORT: "80", UPSTREAM: "127.0.0.1:443,localhost:80" },
      containerPorts: [80, 443],
      taskHostPorts,
    });

    expect(environment).toEqual({
      PATH: "/bin",
      PORT: "80",
      UPSTREAM: "127.0.0.1:41001,localhost:41000",
      BERTH_HOST_PORT_80: "41000",
      BERTH_HOST_PORT_443: "41001",
    });
  });
});

describe("TaskRun: logs", () => {
  it("sends each output line to the log sink, keeps partial lines until exit, and remembers the last 50", async () => {
    const dir = await workDir();
    const { sink, events } = collectingSink();
    const script = [
      "for i in $(seq 1 60); do echo line $i; done",
      "echo oops >&2",
      "printf 'no newline at the end'",
    ].join("; ");
    const run = startTask(
      [container("app", dir, { command: ["sh", "-c", script], log: { group: "g", stream: "s" } })],
      { logSink: sink, now: () => new Date(1_700_000_000_000) },
    );

    await run.done;

    const messages = events.map((event) => event.message);
    expect(messages.filter((message) => message.startsWith("line "))).toHaveLength(60);
    expect(messages).toContain("oops");
    expect(messages.indexOf("no newline at the end")).toBeGreaterThan(messages.indexOf("line 60"));
    expect(events.every((event) => event.timestamp === 1_700_000_000_000 && event.group === "g")).toBe(true);
    const recent = run.recentLines("app");
    expect(recent).toHaveLength(50);
    expect(recent).toContain("no newline at the end");
    expect(recent).not.toContain("line 1");
  });
});

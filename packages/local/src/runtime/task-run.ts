/**
 * Runs one ECS task as processes on this machine: each container is a process group.
 *
 * Networking. In ECS (awsvpc) the containers of a task share one network namespace, and each
 * listens on its container port. On one machine many tasks run side by side, so before any
 * container starts, every container port of the task gets its own free host port on 127.0.0.1
 * (bind port 0, read it, close it). A container then learns where to listen and where its
 * siblings are through its environment:
 * - `PORT=<hostPort>` when the container has exactly one port, replacing any PORT the task
 *   definition set (the container must listen on PORT, not on its container port);
 * - `BERTH_HOST_PORT_<containerPort>=<hostPort>` for every port of every container of the task;
 * - every environment value that mentions `localhost:<containerPort>` or
 *   `127.0.0.1:<containerPort>` for a port of this task has that port replaced by its host port,
 *   so `BACKEND_URL=http://localhost:3000` between two containers of one workload still works.
 *   Health check commands are rewritten the same way, since ECS runs them inside the task's
 *   network namespace; entryPoint and command arguments are not.
 *
 * Processes. A container's process runs in its image directory (see images.ts) with an
 * environment of PATH and HOME from Berth Local, then the artifact's environment, then the
 * container's own. Its argv is entryPoint + command when either is set, else the artifact's start
 * command; there is no shell unless the command is one (`sh -c ...`). Each container gets its own
 * process group so that signals reach everything it started, led by a supervisor that kills the
 * group when Berth Local ends, even by SIGKILL (supervisor.ts). As in Docker, when the container's
 * main process exits the rest of its group is killed.
 *
 * Lifecycle, as ECS: PROVISIONING (images, ports) → PENDING (containers starting in dependsOn
 * order) → RUNNING (every essential container running) → STOPPING → STOPPED. Any container that
 * cannot start (its image, its command, an unsatisfiable dependency) stops the task with
 * TaskFailedToStart; an essential container's exit stops it with EssentialContainerExited. The
 * runtime reports health but never stops a task for being unhealthy: that is the scheduler's call.
 * Health checks follow ECS except that the first one runs after min(interval, 1 s), not after
 * `interval` (see health.ts).
 */

import { type ChildProcess, spawn } from "node:child_process";
import { EventEmitter } from "node:events";
import { constants as osConstants } from "node:os";
import { HealthMonitor } from "./health.ts";
import { CannotPullContainerError, type ResolvedImage, resolveImage } from "./images.ts";
import { LineSplitter, RecentLines } from "./lines.ts";
import { allocateHostPorts, containerEnvironment, rewriteLoopbackPorts } from "./ports.ts";
import { signalProcessGroup, waitForProcessGroupExit } from "./process-group.ts";
import { executableProblem, SUPERVISOR_SHELL, supervisedArgs } from "./supervisor.ts";
import type {
  ContainerSpec,
  ContainerState,
  DependencyCondition,
  HealthStatus,
  LogSink,
  StopCode,
  TaskSpec,
  TaskState,
} from "./types.ts";

export { CannotPullContainerError, type ResolvedImage, resolveImage } from "./images.ts";

export interface TaskRunOptions {
  /** Where built artifacts live: `${artifactsDir}/sha256/<hex>/manifest.json`. */
  artifactsDir: string;
  logSink?: LogSink;
  now?: () => Date;
}

const ESSENTIAL_CONTAINER_EXITED_REASON = "Essential container in task exited";

/** Lines of output kept per container for failure reasons. */
const RECENT_LINE_COUNT = 50;
/** How long to wait for a killed group to vanish, or for its output pipes to close, before moving on. */
const KILLED_GROUP_GRACE_MS = 2000;
/** Environment variables a container inherits from Berth Local itself; everything else is explicit. */
const INHERITED_VARIABLES = ["PATH", "HOME"] as const;

interface Container {
  readonly spec: ContainerSpec;
  readonly state: ContainerState;
  readonly recent: RecentLines;
  image?: ResolvedImage;
  environment?: Record<string, string>;
  launched: boolean;
  /** Its main process was spawned (it may have exited since). */
  started: boolean;
  /** Its main process was spawned and has exited. */
  exited: boolean;
  child?: ChildProcess;
  /** Resolves when none of its processes is left and its output is read. */
  finished?: Promise<void>;
  health?: HealthMonitor;
  killTimer?: NodeJS.Timeout;
}

type Readiness = { ready: true } | { ready: false; neverReason?: string };

/** Every TaskRun that has started and is not STOPPED, with a way to kill its processes at once. */
const liveRuns = new Map<TaskRun, () => void>();
let exitHookInstalled = false;

/**
 * Stops every live TaskRun and resolves when all their processes are gone. Berth Local calls it on
 * shutdown; tests call it after each test.
 */
export async function stopAll(
  reason = "Berth Local is shutting down",
  stopCode: StopCode = "UserInitiated",
): Promise<void> {
  await Promise.all([...liveRuns.keys()].map((run) => run.stop(reason, stopCode)));
}

/** The TaskRuns that have started and are not yet STOPPED. */
export function liveTaskRuns(): TaskRun[] {
  return [...liveRuns.keys()];
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Containers run in their own process groups, so nothing else kills them when Berth Local exits
  // without stopping its tasks (an uncaught error, process.exit). Only synchronous work is possible here.
  process.once("exit", () => {
    for (const killNow of liveRuns.values()) killNow();
  });
}

/** The events a TaskRun emits: "change" with the new state, every time anything in it changes. */
export interface TaskRunEvents {
  change: [state: TaskState];
}

export class TaskRun extends EventEmitter<TaskRunEvents> {
  /** Resolves with the final state once the task is STOPPED. */
  readonly done: Promise<TaskState>;

  private readonly spec: TaskSpec;
  private readonly artifactsDir: string;
  private readonly logSink: LogSink | undefined;
  private readonly now: () => Date;
  private readonly containers: Container[];
  private status: TaskState["lastStatus"] = "PROVISIONING";
  private healthStatus: HealthStatus = "UNKNOWN";
  private stopCode: StopCode | undefined;
  private stoppedReason: string | undefined;
  private startedAt: Date | undefined;
  private stoppingAt: Date | undefined;
  private stoppedAt: Date | undefined;
  private hasStarted = false;
  private stopRequested = false;
  private provisioning: Promise<void> = Promise.resolve();
  private lastPublished: string;
  private resolveDone!: (state: TaskState) => void;
  /** containerPort → hostPort for the whole task, known once provisioned. */
  private taskHostPorts: ReadonlyMap<number, number> = new Map();

  constructor(spec: TaskSpec, options: TaskRunOptions) {
    super();
    this.spec = spec;
    this.artifactsDir = options.artifactsDir;
    this.logSink = options.logSink;
    this.now = options.now ?? (() => new Date());
    this.containers = spec.containers.map((containerSpec) => ({
      spec: containerSpec,
      state: { name: containerSpec.name, lastStatus: "PENDING", healthStatus: "UNKNOWN", hostPorts: {} },
      recent: new RecentLines(RECENT_LINE_COUNT),
      launched: false,
      started: false,
      exited: false,
    }));
    this.done = new Promise((resolve) => {
      this.resolveDone = resolve;
    });
    this.lastPublished = JSON.stringify(this.state());
  }

  /** Begins the task. A TaskRun runs once. */
  start(): void {
    if (this.hasStarted || this.stopRequested)
      throw new Error(`task ${this.spec.taskId} has already been started or stopped`);
    this.hasStarted = true;
    liveRuns.set(this, () => this.killEverythingNow());
    installExitHook();
    this.provisioning = this.provision().catch((error: unknown) => {
      this.failToStart(`CannotStartContainerError: ${(error as Error).message}`);
    });
  }

  /** Stops the task (SIGTERM, then SIGKILL after each container's stopTimeout); resolves when it is STOPPED. */
  async stop(reason: string, stopCode: StopCode): Promise<void> {
    this.beginStopping(stopCode, reason);
    await this.done;
  }

  state(): TaskState {
    return {
      taskId: this.spec.taskId,
      lastStatus: this.status,
      healthStatus: this.healthStatus,
      containers: this.containers.map(({ state }) => ({ ...state, hostPorts: { ...state.hostPorts } })),
      ...(this.stopCode === undefined ? {} : { stopCode: this.stopCode }),
      ...(this.stoppedReason === undefined ? {} : { stoppedReason: this.stoppedReason }),
      ...(this.startedAt === undefined ? {} : { startedAt: new Date(this.startedAt) }),
      ...(this.stoppingAt === undefined ? {} : { stoppingAt: new Date(this.stoppingAt) }),
      ...(this.stoppedAt === undefined ? {} : { stoppedAt: new Date(this.stoppedAt) }),
    };
  }

  /** The last lines (at most 50) a container wrote to stdout or stderr, oldest first. */
  recentLines(containerName: string): string[] {
    const container = this.containers.find(({ spec }) => spec.name === containerName);
    if (!container) throw new Error(`task ${this.spec.taskId} has no container named ${containerName}`);
    return container.recent.snapshot();
  }

  private async provision(): Promise<void> {
    const invalid = taskSpecProblem(this.spec);
    if (invalid !== undefined) {
      this.failToStart(`CannotStartContainerError: ${invalid}`);
      return;
    }
    const images = await Promise.allSettled(
      this.containers.map(({ spec }) => resolveImage(spec.image, this.artifactsDir)),
    );
    if (this.stopRequested) return;
    let firstFailure: string | undefined;
    images.forEach((result, index) => {
      const container = this.containers[index];
      if (!container) return;
      if (result.status === "fulfilled") {
        container.image = result.value;
      } else {
        const reason =
          result.reason instanceof CannotPullContainerError
            ? result.reason.message
            : `CannotPullContainerError: ${(result.reason as Error).message}`;
        container.state.lastStatus = "STOPPED";
        container.state.reason = reason;
        firstFailure ??= reason;
      }
    });
    if (firstFailure !== undefined) {
      this.failToStart(firstFailure);
      return;
    }

    const portCount = this.containers.reduce((total, { spec }) => total + spec.containerPorts.length, 0);
    const hostPorts = await allocateHostPorts(portCount);
    if (this.stopRequested) return;
    const taskHostPorts = new Map<number, number>();
    for (const container of this.containers) {
      for (const containerPort of container.spec.containerPorts) {
        const hostPort = hostPorts[taskHostPorts.size];
        if (hostPort === undefined) throw new Error("fewer host ports than container ports");
        taskHostPorts.set(containerPort, hostPort);
        container.state.hostPorts[containerPort] = hostPort;
      }
    }
    const inherited: Record<string, string> = {};
    for (const name of INHERITED_VARIABLES) {
      const value = process.env[name];
      if (value !== undefined) inherited[name] = value;
    }
    for (const container of this.containers) {
      container.environment = containerEnvironment({
        inherited,
        image: container.image?.environment ?? {},
        container: container.spec.environment,
        containerPorts: container.spec.containerPorts,
        taskHostPorts,
      });
    }
    this.taskHostPorts = taskHostPorts;
    this.status = "PENDING";
    this.publish();
    this.launchReadyContainers();
  }

  /** Starts every container whose dependencies hold, until no more can start now. */
  private launchReadyContainers(): void {
    let launchedAny = true;
    while (launchedAny) {
      launchedAny = false;
      for (const container of this.containers) {
        if (this.stopRequested) return;
        if (container.launched || container.state.lastStatus !== "PENDING") continue;
        const readiness = this.readiness(container);
        if (!readiness.ready) {
          if (readiness.neverReason !== undefined) {
            this.failToStart(`CannotStartContainerError: ${readiness.neverReason}`);
            return;
          }
          continue;
        }
        this.launch(container);
        launchedAny = true;
      }
    }
    this.publish();
  }

  private readiness(container: Container): Readiness {
    for (const { containerName, condition } of container.spec.dependsOn) {
      const dependency = this.containers.find(({ spec }) => spec.name === containerName);
      if (!dependency) {
        return {
          ready: false,
          neverReason: `${container.spec.name} depends on unknown container ${containerName}`,
        };
      }
      const holds = conditionHolds(dependency, condition);
      if (holds === true) continue;
      if (holds === false) return { ready: false };
      return {
        ready: false,
        neverReason: `${container.spec.name} depends on ${containerName} (condition ${condition}), but ${holds.never}`,
      };
    }
    return { ready: true };
  }

  private launch(container: Container): void {
    container.launched = true;
    const { spec } = container;
    const image = container.image;
    const explicit = [...(spec.entryPoint ?? []), ...(spec.command ?? [])];
    const argv = explicit.length > 0 ? explicit : (image?.startCommand ?? []);
    const [executable, ...args] = argv;
    if (!image || executable === undefined) {
      this.containerCannotStart(
        container,
        `CannotStartContainerError: container ${spec.name} has no command: its image ${spec.image} has no start command and the task definition sets neither entryPoint nor command`,
      );
      return;
    }
    const environment = container.environment ?? {};
    const problem = executableProblem(executable, image.directory, environment.PATH);
    if (problem !== undefined) {
      this.containerCannotStart(container, `CannotStartContainerError: spawn ${executable} ${problem}`);
      return;
    }
    let child: ChildProcess;
    try {
      // The supervisor leads the container's process group and kills it when Berth Local ends
      // (supervisor.ts); its stdin is the pipe it watches, never written to.
      child = spawn(SUPERVISOR_SHELL, supervisedArgs([executable, ...args]), {
        cwd: image.directory,
        env: environment,
        detached: true,
        stdio: ["pipe", "pipe", "pipe"],
      });
    } catch (error) {
      this.containerCannotStart(container, `CannotStartContainerError: ${(error as Error).message}`);
      return;
    }
    container.child = child;
    const pid = child.pid;
    if (pid === undefined) {
      // The spawn failed (ENOENT, EACCES...); Node reports why with an "error" event, never an "exit".
      container.finished = new Promise((resolve) => {
        child.once("error", (error) => {
          this.containerCannotStart(container, `CannotStartContainerError: ${error.message}`);
          resolve();
        });
      });
      return;
    }
    child.on("error", () => {
      // After a successful spawn, errors come from signalling an exited process; the exit tells the rest.
    });
    // The pipe the supervisor watches: a write error (it is gone) is the exit's business, too.
    child.stdin?.on("error", () => {});
    container.started = true;
    container.state.lastStatus = "RUNNING";
    container.state.pid = pid;
    const outputClosed = [child.stdout, child.stderr].map((stream) => {
      if (!stream) return Promise.resolve();
      const lines = new LineSplitter((batch) => this.writeLines(container, batch));
      stream.setEncoding("utf8");
      stream.on("data", (text: string) => lines.push(text));
      return new Promise<void>((resolve) => {
        stream.once("close", () => {
          lines.flush();
          resolve();
        });
      });
    });
    container.finished = new Promise((resolve) => {
      child.once("exit", (code, signal) => {
        void this.containerExited(container, pid, code, signal, outputClosed).then(resolve);
      });
    });
    if (spec.healthCheck) {
      const healthCheck = {
        ...spec.healthCheck,
        command: spec.healthCheck.command.map((part) => rewriteLoopbackPorts(part, this.taskHostPorts)),
      };
      container.health = new HealthMonitor(
        healthCheck,
        { cwd: image.directory, env: container.environment ?? {} },
        (update) => {
          if (this.stopRequested || container.exited) return;
          container.state.healthStatus = update.status;
          if (update.lastFailureOutput !== undefined) {
            container.state.lastHealthOutput = update.lastFailureOutput;
            container.state.firstHealthFailureAt ??= new Date();
          }
          this.publish();
          this.launchReadyContainers();
        },
      );
      container.health.start();
    }
  }

  private async containerExited(
    container: Container,
    pid: number,
    code: number | null,
    signal: NodeJS.Signals | null,
    outputClosed: Promise<void>[],
  ): Promise<void> {
    clearTimeout(container.killTimer);
    container.exited = true;
    container.state.exitCode = code ?? 128 + (signal ? (osConstants.signals[signal] ?? 0) : 0);
    container.state.lastStatus = "STOPPED";
    const health = container.health;
    // Docker kills a container's remaining processes when its main process exits; so does Berth Local.
    signalProcessGroup(pid, "SIGKILL");
    this.publish();
    if (!this.stopRequested) {
      if (container.spec.essential)
        this.beginStopping("EssentialContainerExited", ESSENTIAL_CONTAINER_EXITED_REASON);
      else this.launchReadyContainers();
    }
    const grace = new Promise<void>((resolve) => setTimeout(resolve, KILLED_GROUP_GRACE_MS).unref());
    await Promise.all([
      health?.stop(),
      waitForProcessGroupExit(pid, KILLED_GROUP_GRACE_MS),
      // A process that left the group (setsid) may hold the pipes open forever; stop reading then.
      Promise.race([Promise.all(outputClosed), grace]),
    ]);
    container.child?.stdout?.destroy();
    container.child?.stderr?.destroy();
  }

  private writeLines(container: Container, lines: string[]): void {
    container.recent.add(lines);
    const log = container.spec.log;
    if (!log || !this.logSink) return;
    const timestamp = this.now().getTime();
    try {
      this.logSink.append(
        log.group,
        log.stream,
        lines.map((message) => ({ timestamp, message })),
      );
    } catch (error) {
      // A failing log store must not take the container (or Berth Local) down with it.
      process.emitWarning(`log sink failed for ${log.group}/${log.stream}: ${(error as Error).message}`);
    }
  }

  private containerCannotStart(container: Container, reason: string): void {
    container.state.lastStatus = "STOPPED";
    container.state.reason = reason;
    this.failToStart(reason);
  }

  private failToStart(reason: string): void {
    this.beginStopping("TaskFailedToStart", reason);
  }

  /** Moves to STOPPING (the first stop reason wins) and signals every running container. */
  private beginStopping(stopCode: StopCode, reason: string): void {
    if (this.status === "STOPPING" || this.status === "STOPPED") {
      this.publish();
      return;
    }
    this.stopRequested = true;
    this.status = "STOPPING";
    this.stoppingAt = this.now();
    this.stopCode = stopCode;
    this.stoppedReason = reason;
    for (const container of this.containers) {
      if (!container.started) {
        container.state.lastStatus = "STOPPED";
        continue;
      }
      if (container.exited) continue;
      void container.health?.stop();
      const pid = container.state.pid;
      if (pid === undefined) continue;
      signalProcessGroup(pid, "SIGTERM");
      container.killTimer = setTimeout(() => {
        if (!container.exited) signalProcessGroup(pid, "SIGKILL");
      }, container.spec.stopTimeout * 1000);
    }
    this.publish();
    void this.finishStopping();
  }

  private async finishStopping(): Promise<void> {
    await this.provisioning;
    await Promise.all(this.containers.map((container) => container.finished));
    await Promise.all(this.containers.map((container) => container.health?.stop()));
    this.status = "STOPPED";
    this.stoppedAt = this.now();
    liveRuns.delete(this);
    this.publish();
    this.resolveDone(this.state());
  }

  /** For process exit only: SIGKILL every process of the task, synchronously. */
  private killEverythingNow(): void {
    for (const container of this.containers) {
      void container.health?.stop();
      if (container.started && container.state.pid !== undefined)
        signalProcessGroup(container.state.pid, "SIGKILL");
    }
  }

  /** Derives RUNNING and the task's health, and emits "change" if anything differs from the last emit. */
  private publish(): void {
    if (this.status === "PENDING" && this.containers.every(isRunningOrInessential)) {
      this.status = "RUNNING";
      this.startedAt = this.now();
    }
    this.healthStatus = taskHealth(this.containers);
    const snapshot = this.state();
    const serialized = JSON.stringify(snapshot);
    if (serialized === this.lastPublished) return;
    this.lastPublished = serialized;
    this.emit("change", snapshot);
  }
}

function isRunningOrInessential(container: Container): boolean {
  return !container.spec.essential || container.state.lastStatus === "RUNNING";
}

/** true: holds now; false: may hold later; { never }: cannot hold any more, and why. */
function conditionHolds(dependency: Container, condition: DependencyCondition): boolean | { never: string } {
  const { state } = dependency;
  const stoppedWithout = (): { never: string } => ({
    never: !dependency.started
      ? `${state.name} did not start${state.reason ? ` (${state.reason})` : ""}`
      : `${state.name} exited with code ${state.exitCode}`,
  });
  switch (condition) {
    case "START":
      return dependency.started || (state.lastStatus === "STOPPED" ? stoppedWithout() : false);
    case "COMPLETE":
      return dependency.exited || (state.lastStatus === "STOPPED" ? stoppedWithout() : false);
    case "SUCCESS":
      if (dependency.exited) return state.exitCode === 0 || stoppedWithout();
      return state.lastStatus === "STOPPED" ? stoppedWithout() : false;
    case "HEALTHY":
      if (state.lastStatus === "RUNNING") return state.healthStatus === "HEALTHY";
      return state.lastStatus === "STOPPED" ? stoppedWithout() : false;
  }
}

/**
 * UNHEALTHY if any essential container is; HEALTHY if every essential container with a health
 * check is (and there is at least one); UNKNOWN otherwise. As ECS computes a task's health.
 */
function taskHealth(containers: readonly Container[]): HealthStatus {
  const essential = containers.filter(({ spec }) => spec.essential);
  if (essential.some(({ state }) => state.healthStatus === "UNHEALTHY")) return "UNHEALTHY";
  const checked = essential.filter(({ spec }) => spec.healthCheck !== undefined);
  if (checked.length > 0 && checked.every(({ state }) => state.healthStatus === "HEALTHY")) return "HEALTHY";
  return "UNKNOWN";
}

/**
 * Mistakes ECS would reject when the task definition is registered; the runtime checks them again
 * so that such a task fails to start instead of waiting forever.
 */
function taskSpecProblem(spec: TaskSpec): string | undefined {
  if (spec.containers.length === 0) return "the task has no containers";
  const byName = new Map<string, ContainerSpec>();
  for (const container of spec.containers) {
    if (byName.has(container.name)) return `two containers are named ${container.name}`;
    byName.set(container.name, container);
  }
  if (!spec.containers.some(({ essential }) => essential)) return "the task has no essential container";
  const portOwner = new Map<number, string>();
  for (const container of spec.containers) {
    for (const port of container.containerPorts) {
      const owner = portOwner.get(port);
      if (owner !== undefined) {
        return `container port ${port} is declared by ${owner} and ${container.name}; the containers of a task share one network`;
      }
      portOwner.set(port, container.name);
    }
    for (const { containerName, condition } of container.dependsOn) {
      const dependency = byName.get(containerName);
      if (!dependency)
        return `${container.name} depends on ${containerName}, which is not a container of the task`;
      if (containerName === container.name) return `${container.name} depends on itself`;
      if (condition === "HEALTHY" && !dependency.healthCheck) {
        return `${container.name} depends on ${containerName} being HEALTHY, but ${containerName} has no health check`;
      }
    }
  }
  const cycle = dependencyCycle(spec.containers);
  if (cycle) return `containers depend on each other in a cycle: ${cycle.join(" → ")}`;
  return undefined;
}

function dependencyCycle(containers: readonly ContainerSpec[]): string[] | undefined {
  const dependenciesOf = new Map(containers.map((c) => [c.name, c.dependsOn.map((d) => d.containerName)]));
  const visiting: string[] = [];
  const done = new Set<string>();
  const visit = (name: string): string[] | undefined => {
    const index = visiting.indexOf(name);
    if (index >= 0) return [...visiting.slice(index), name];
    if (done.has(name)) return undefined;
    visiting.push(name);
    for (const dependency of dependenciesOf.get(name) ?? []) {
      const cycle = visit(dependency);
      if (cycle) return cycle;
    }
    visiting.pop();
    done.add(name);
    return undefined;
  };
  for (const { name } of containers) {
    const cycle = visit(name);
    if (cycle) return cycle;
  }
  return undefined;
}

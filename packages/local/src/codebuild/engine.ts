import { randomUUID } from "node:crypto";
import { rmSync } from "node:fs";
import { join } from "node:path";
import type { LogStore } from "../logs/store.ts";
import { BuildFailure, buildArtifact, prepare, resolveSource, scratchDirectory } from "./builder.ts";
import {
  type BuildRecord,
  BuildStore,
  type CompletedStatus,
  type EnvironmentVariable,
  type PhaseContext,
  type PhaseType,
} from "./store.ts";

/** Berth Local's one CodeBuild project, which the control plane names in every StartBuild. */
export const PROJECT_NAME = "berth-build";
/** Where CodeBuild writes a project's build logs by default: `/aws/codebuild/<project>`. */
export const LOG_GROUP = `/aws/codebuild/${PROJECT_NAME}`;
/** CodeBuild's default build timeout. */
export const DEFAULT_TIMEOUT_MINUTES = 60;

/** The variables of the build contract between the control plane and its builds. */
export const VARIABLES = {
  source: "BERTH_SOURCE",
  buildInput: "BERTH_BUILD_INPUT",
  repositoryUri: "REPOSITORY_URI",
  /** The variable the AWS buildspec exports (the buildpacks' DIGEST_VARIABLE); the image URI comes beside it. */
  imageDigest: "IMAGE_DIGEST",
  imageUri: "IMAGE_URI",
} as const;

/** The phase context of builds that a stop or restart of Berth Local cut short. */
export const INTERRUPTED: PhaseContext = {
  statusCode: "BERTH_LOCAL_STOPPED",
  message: "Berth Local stopped during this build",
};

export interface CodeBuildEngineOptions {
  dataDir: string;
  account: string;
  region: string;
  logs: LogStore;
  /** Builds that run at once; later ones wait in QUEUED. */
  concurrency?: number;
  /** The length of one minute of a build's `timeoutInMinutes`; tests shorten it. */
  minuteMs?: number;
  /** Called with failures of Berth Local itself while a build ran (not with failed builds). */
  onError?: (error: unknown) => void;
}

interface RunningBuild {
  controller: AbortController;
  done: Promise<void>;
}

/** Unwinds a run whose build was already completed from outside (StopBuild, timeout, shutdown). */
class BuildEnded extends Error {}

/** CodeBuild keeps whole seconds per phase. */
export function durationInSeconds(startTime: number, endTime: number): number {
  return Math.floor((endTime - startTime) / 1000);
}

/** CodeBuild's log line prefix: `[Container] 2024/05/01 10:00:00.123 `. */
function containerLine(text: string, time: number): string {
  const iso = new Date(time).toISOString();
  return `[Container] ${iso.slice(0, 10).replaceAll("-", "/")} ${iso.slice(11, 23)} ${text}`;
}

/**
 * Berth Local's CodeBuild: builds of the `berth-build` project run the buildpacks' local build on
 * this machine, a few at a time, with CodeBuild's phases, logs and exported variables. Artifacts
 * go to the content-addressed store that Berth Local's ECS runs images from.
 */
export class CodeBuildEngine {
  readonly projectName = PROJECT_NAME;
  readonly projectArn: string;
  readonly concurrency: number;
  readonly artifactsDir: string;
  readonly logs: LogStore;
  /** The endpoint's URL once it listens: the base of the builds' log links. */
  endpointUrl: string | undefined;
  private readonly buildArnPrefix: string;
  private readonly minuteMs: number;
  private readonly onError: (error: unknown) => void;
  private readonly store: BuildStore;
  private readonly queue: string[] = [];
  private readonly running = new Map<string, RunningBuild>();
  private closed = false;

  constructor(options: CodeBuildEngineOptions) {
    this.projectArn = `arn:aws:codebuild:${options.region}:${options.account}:project/${PROJECT_NAME}`;
    this.buildArnPrefix = `arn:aws:codebuild:${options.region}:${options.account}:build/`;
    this.concurrency = options.concurrency ?? 2;
    this.minuteMs = options.minuteMs ?? 60_000;
    this.onError = options.onError ?? (() => {});
    this.artifactsDir = join(options.dataDir, "artifacts");
    this.logs = options.logs;
    this.store = new BuildStore(join(options.dataDir, "codebuild", "builds.json"), Date.now());
    this.failInterruptedBuilds();
  }

  get projectCreated(): number {
    return this.store.projectCreated;
  }

  /** Whether a project name or ARN names the one project. */
  isProject(nameOrArn: string): boolean {
    return nameOrArn === PROJECT_NAME || nameOrArn === this.projectArn;
  }

  /** Starts a build at once, or queues it when `concurrency` builds are running. */
  start(request: { environmentVariables: EnvironmentVariable[]; timeoutInMinutes?: number }): BuildRecord {
    if (this.closed) throw new Error("Berth Local's CodeBuild is shut down");
    const uuid = randomUUID();
    const id = `${PROJECT_NAME}:${uuid}`;
    const now = Date.now();
    const build: BuildRecord = {
      uuid,
      id,
      arn: `${this.buildArnPrefix}${id}`,
      buildNumber: this.store.nextBuildNumber(),
      projectName: PROJECT_NAME,
      startTime: now,
      currentPhase: "QUEUED",
      buildStatus: "IN_PROGRESS",
      phases: [
        { phaseType: "SUBMITTED", startTime: now, endTime: now, phaseStatus: "SUCCEEDED" },
        { phaseType: "QUEUED", startTime: now },
      ],
      environmentVariables: request.environmentVariables,
      timeoutInMinutes: request.timeoutInMinutes ?? DEFAULT_TIMEOUT_MINUTES,
    };
    this.store.add(build);
    this.log(build, containerLine("Entering phase QUEUED", now));
    this.queue.push(id);
    this.pump();
    return build;
  }

  /** A build by id (`berth-build:<uuid>`) or ARN. */
  get(idOrArn: string): BuildRecord | undefined {
    const id = idOrArn.startsWith(this.buildArnPrefix) ? idOrArn.slice(this.buildArnPrefix.length) : idOrArn;
    return this.store.get(id);
  }

  /** Every build, oldest first. */
  list(): BuildRecord[] {
    return this.store.list();
  }

  /**
   * Stops a queued or running build: it is STOPPED at once, and a running step's process is
   * signalled. A completed build is returned as it is. Undefined when there is no such build.
   */
  stop(idOrArn: string): BuildRecord | undefined {
    const build = this.get(idOrArn);
    if (build?.buildStatus !== "IN_PROGRESS") return build;
    this.end(build, "STOPPED", {
      statusCode: "BUILD_STOPPED",
      message: "The build was stopped by StopBuild",
    });
    return build;
  }

  /** The text of a build's log stream, or undefined when it has none. */
  logLines(uuid: string): string[] | undefined {
    try {
      return this.logs.readEvents(LOG_GROUP, uuid).map((event) => event.message);
    } catch {
      return undefined;
    }
  }

  /** A link to the build's log as text (CodeBuild's `logs.deepLink` points at the console). */
  logLink(uuid: string): string {
    return `${this.endpointUrl ?? ""}/_local/codebuild/logs/${uuid}`;
  }

  /**
   * Fails every queued and running build (Berth Local is stopping), signals their processes and
   * waits until their runs are over. No build starts afterwards.
   */
  async shutdown(): Promise<void> {
    this.closed = true;
    for (const build of this.store.list()) {
      if (build.buildStatus === "IN_PROGRESS") this.end(build, "FAILED", INTERRUPTED);
    }
    await Promise.all([...this.running.values()].map((run) => run.done));
  }

  private pump(): void {
    while (!this.closed && this.running.size < this.concurrency) {
      const id = this.queue.shift();
      if (id === undefined) return;
      const build = this.store.get(id);
      if (build?.buildStatus !== "IN_PROGRESS") continue;
      const controller = new AbortController();
      const timeout = setTimeout(
        () =>
          this.end(build, "TIMED_OUT", {
            statusCode: "BUILD_TIMED_OUT",
            message: `The build ran longer than its timeout of ${build.timeoutInMinutes} minutes`,
          }),
        build.timeoutInMinutes * this.minuteMs,
      );
      timeout.unref();
      const done = this.run(build, controller.signal)
        .catch(this.onError)
        .finally(() => {
          clearTimeout(timeout);
          this.running.delete(id);
          this.pump();
        });
      this.running.set(id, { controller, done });
    }
  }

  private async run(build: BuildRecord, signal: AbortSignal): Promise<void> {
    const variables = new Map(build.environmentVariables.map((variable) => [variable.name, variable.value]));
    // A step that is being killed may still print; once the build is over its log is closed.
    const stepLog = (line: string) => {
      if (build.buildStatus === "IN_PROGRESS") this.log(build, line);
    };
    try {
      this.enter(build, "PROVISIONING");
      stepLog(
        `berth: building on this machine (${process.platform}/${process.arch}, node ${process.version}), not in a container`,
      );
      this.enter(build, "DOWNLOAD_SOURCE");
      const sourceDir = await resolveSource(variables.get(VARIABLES.source));
      stepLog(`berth: source ${sourceDir}`);
      this.enter(build, "INSTALL");
      this.enter(build, "PRE_BUILD");
      const prepared = prepare({
        buildInput: variables.get(VARIABLES.buildInput),
        repositoryUri: variables.get(VARIABLES.repositoryUri),
      });
      stepLog(`berth: ${prepared.local.language}, ${prepared.local.steps.length} local build steps`);
      this.enter(build, "BUILD");
      const artifact = await buildArtifact(prepared.local, {
        sourceDir,
        artifactsDir: this.artifactsDir,
        scratchName: build.uuid,
        log: stepLog,
        signal,
      });
      const imageUri = `${prepared.repositoryUri}@${artifact.digest}`;
      stepLog(imageUri);
      build.exportedEnvironmentVariables = [
        { name: VARIABLES.imageDigest, value: artifact.digest },
        { name: VARIABLES.imageUri, value: imageUri },
      ];
      this.enter(build, "POST_BUILD");
      this.enter(build, "UPLOAD_ARTIFACTS");
      this.complete(build, "SUCCEEDED");
    } catch (error) {
      if (build.buildStatus !== "IN_PROGRESS") return;
      if (error instanceof BuildFailure) {
        this.complete(build, "FAILED", { statusCode: error.statusCode, message: error.message });
      } else {
        this.complete(build, "FAULT", {
          statusCode: "BERTH_LOCAL_ERROR",
          message: `Berth Local could not run the build: ${error instanceof Error ? error.message : String(error)}`,
        });
        throw error;
      }
    }
  }

  /** Ends the running phase as SUCCEEDED and starts the next. */
  private enter(build: BuildRecord, phaseType: PhaseType): void {
    if (build.buildStatus !== "IN_PROGRESS") throw new BuildEnded();
    const now = Date.now();
    this.closePhase(build, "SUCCEEDED", undefined, now);
    build.phases.push({ phaseType, startTime: now });
    build.currentPhase = phaseType;
    this.store.save();
    this.log(build, containerLine(`Entering phase ${phaseType}`, now));
  }

  /** Completes a build from outside its run, and makes the run (if any) let go. */
  private end(build: BuildRecord, status: CompletedStatus, context: PhaseContext): void {
    this.complete(build, status, context);
    const queued = this.queue.indexOf(build.id);
    if (queued >= 0) this.queue.splice(queued, 1);
    this.running.get(build.id)?.controller.abort(new BuildEnded(`build ${status}`));
  }

  /**
   * The running phase ends with `status` (and `context`), then FINALIZING and COMPLETED follow,
   * as CodeBuild reports a build that ended in any phase.
   */
  private complete(build: BuildRecord, status: CompletedStatus, context?: PhaseContext): void {
    const now = Date.now();
    this.closePhase(build, status, context, now);
    build.phases.push(
      { phaseType: "FINALIZING", startTime: now, endTime: now, phaseStatus: "SUCCEEDED" },
      { phaseType: "COMPLETED", startTime: now },
    );
    build.currentPhase = "COMPLETED";
    build.buildStatus = status;
    build.endTime = now;
    this.store.save();
    this.log(build, containerLine(`Build status: ${status}`, now));
  }

  private closePhase(
    build: BuildRecord,
    status: CompletedStatus,
    context: PhaseContext | undefined,
    now: number,
  ): void {
    const phase = build.phases.at(-1);
    if (!phase || phase.endTime !== undefined) return;
    phase.endTime = now;
    phase.phaseStatus = status;
    if (context) phase.contexts = [context];
    this.log(build, containerLine(`Phase complete: ${phase.phaseType} State: ${status}`, now));
    if (context) {
      this.log(
        build,
        containerLine(`Phase context status code: ${context.statusCode} Message: ${context.message}`, now),
      );
    }
  }

  /** Builds this engine's data dir says are running were cut short by the last stop of Berth Local. */
  private failInterruptedBuilds(): void {
    for (const build of this.store.list()) {
      if (build.buildStatus !== "IN_PROGRESS") continue;
      this.complete(build, "FAILED", INTERRUPTED);
      rmSync(scratchDirectory(this.artifactsDir, build.uuid), { recursive: true, force: true });
    }
  }

  private log(build: BuildRecord, text: string): void {
    const timestamp = Date.now();
    this.logs.append(
      LOG_GROUP,
      build.uuid,
      text.split("\n").map((message) => ({ timestamp, message })),
    );
  }
}

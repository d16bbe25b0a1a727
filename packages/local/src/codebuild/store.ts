import { JsonFile } from "../state.ts";

export type BuildStatus = "SUCCEEDED" | "FAILED" | "FAULT" | "TIMED_OUT" | "IN_PROGRESS" | "STOPPED";
export type CompletedStatus = Exclude<BuildStatus, "IN_PROGRESS">;

const PHASE_TYPES = [
  "SUBMITTED",
  "QUEUED",
  "PROVISIONING",
  "DOWNLOAD_SOURCE",
  "INSTALL",
  "PRE_BUILD",
  "BUILD",
  "POST_BUILD",
  "UPLOAD_ARTIFACTS",
  "FINALIZING",
  "COMPLETED",
] as const;
export type PhaseType = (typeof PHASE_TYPES)[number];

export interface PhaseContext {
  statusCode: string;
  message: string;
}

/** Times are epoch milliseconds; the API shows them in seconds. */
export interface PhaseRecord {
  phaseType: PhaseType;
  startTime: number;
  /** Absent while the phase runs, and always for COMPLETED, as CodeBuild reports them. */
  endTime?: number;
  phaseStatus?: CompletedStatus;
  contexts?: PhaseContext[];
}

export interface EnvironmentVariable {
  name: string;
  value: string;
  type: "PLAINTEXT";
}

export interface BuildRecord {
  /** The last part of the id, and the build's log stream. */
  uuid: string;
  /** `<project>:<uuid>`. */
  id: string;
  arn: string;
  buildNumber: number;
  projectName: string;
  startTime: number;
  endTime?: number;
  currentPhase: PhaseType;
  buildStatus: BuildStatus;
  phases: PhaseRecord[];
  environmentVariables: EnvironmentVariable[];
  exportedEnvironmentVariables?: { name: string; value: string }[];
  timeoutInMinutes: number;
}

interface Document {
  /** When the project was first created, so BatchGetProjects keeps one creation time across restarts. */
  projectCreated?: number;
  lastBuildNumber: number;
  builds: BuildRecord[];
}

/** Completed builds beyond this many are forgotten, oldest first; their log streams stay. */
const KEPT_BUILDS = 1000;

/**
 * The builds of Berth Local's one CodeBuild project, oldest first, written to a JSON file on every
 * change so that a restart can tell which builds it interrupted.
 */
export class BuildStore {
  readonly projectCreated: number;
  private readonly file: JsonFile<Document>;
  private readonly builds: Map<string, BuildRecord>;
  private lastBuildNumber: number;

  constructor(path: string, now: number) {
    this.file = new JsonFile<Document>(path);
    const document = this.file.read({ lastBuildNumber: 0, builds: [] });
    this.projectCreated = document.projectCreated ?? now;
    this.lastBuildNumber = document.lastBuildNumber;
    this.builds = new Map(document.builds.map((build) => [build.id, build]));
    if (document.projectCreated === undefined) this.save();
  }

  /** Build numbers count up per project from 1, as CodeBuild's do. */
  nextBuildNumber(): number {
    this.lastBuildNumber += 1;
    return this.lastBuildNumber;
  }

  get(id: string): BuildRecord | undefined {
    return this.builds.get(id);
  }

  /** Oldest first. */
  list(): BuildRecord[] {
    return [...this.builds.values()];
  }

  add(build: BuildRecord): void {
    this.builds.set(build.id, build);
    this.prune();
    this.save();
  }

  /** Persists changes made to records this store handed out. */
  save(): void {
    this.file.write({
      projectCreated: this.projectCreated,
      lastBuildNumber: this.lastBuildNumber,
      builds: [...this.builds.values()],
    });
  }

  private prune(): void {
    let excess = this.builds.size - KEPT_BUILDS;
    for (const [id, build] of this.builds) {
      if (excess <= 0) return;
      if (build.buildStatus === "IN_PROGRESS") continue;
      this.builds.delete(id);
      excess -= 1;
    }
  }
}

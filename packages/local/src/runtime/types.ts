/**
 * The contract between Berth Local's ECS API (which decides what runs) and the process runtime
 * (which runs it). A task is a group of containers; each container is a process group.
 */

export type DependencyCondition = "START" | "COMPLETE" | "SUCCESS" | "HEALTHY";

export interface HealthCheckSpec {
  /** `["CMD", exe, ...args]` or `["CMD-SHELL", "shell command"]`, as in a task definition. */
  command: string[];
  /** Seconds. ECS defaults: interval 30, timeout 5, retries 3, startPeriod 0. */
  interval: number;
  timeout: number;
  retries: number;
  startPeriod: number;
}

export interface ContainerSpec {
  name: string;
  essential: boolean;
  /** The task definition's image: `file:///abs/dir`, `berth.local/<repo>@sha256:<hex>`, or anything else (cannot run). */
  image: string;
  entryPoint?: string[];
  command?: string[];
  /** Resolved environment (secrets already resolved by the caller). */
  environment: Record<string, string>;
  dependsOn: { containerName: string; condition: DependencyCondition }[];
  healthCheck?: HealthCheckSpec;
  /** Seconds between SIGTERM and SIGKILL (ECS default 30 when the task definition has none). */
  stopTimeout: number;
  /** Container ports; each gets its own free host port. */
  containerPorts: number[];
  /** Where stdout/stderr lines go (awslogs: group and stream `prefix/container/taskId`), if logging is on. */
  log?: { group: string; stream: string };
}

export interface TaskSpec {
  /** The task id (last part of the task ARN). */
  taskId: string;
  containers: ContainerSpec[];
}

export type ContainerStatus = "PENDING" | "RUNNING" | "STOPPED";
export type HealthStatus = "HEALTHY" | "UNHEALTHY" | "UNKNOWN";
export type TaskStatus = "PROVISIONING" | "PENDING" | "RUNNING" | "STOPPING" | "STOPPED";
export type StopCode =
  | "TaskFailedToStart"
  | "EssentialContainerExited"
  | "UserInitiated"
  | "ServiceSchedulerInitiated";

export interface ContainerState {
  name: string;
  lastStatus: ContainerStatus;
  healthStatus: HealthStatus;
  exitCode?: number;
  /** Why the container stopped or could not start (e.g. `CannotPullContainerError: ...`). */
  reason?: string;
  pid?: number;
  /** containerPort → hostPort. */
  hostPorts: Record<number, number>;
  /** Output of the last failing health check, trimmed. */
  lastHealthOutput?: string;
  /** When this container's first health check failed (for measuring detection time). */
  firstHealthFailureAt?: Date;
}

export interface TaskState {
  taskId: string;
  lastStatus: TaskStatus;
  healthStatus: HealthStatus;
  containers: ContainerState[];
  stopCode?: StopCode;
  stoppedReason?: string;
  startedAt?: Date;
  stoppingAt?: Date;
  stoppedAt?: Date;
}

/** Where container output goes: Berth Local's CloudWatch Logs store. */
export interface LogSink {
  append(group: string, stream: string, events: { timestamp: number; message: string }[]): void;
}

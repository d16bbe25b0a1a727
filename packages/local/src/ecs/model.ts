/**
 * Berth Local's ECS state, kept as the API shapes ECS returns (camelCase members); timestamps are
 * epoch milliseconds here and converted to AWS's epoch seconds on the way out.
 */

export type Tag = { key?: string; value?: string };

export interface ClusterRecord {
  clusterArn: string;
  clusterName: string;
  status: "ACTIVE" | "INACTIVE";
  tags: Tag[];
  settings: unknown[];
  capacityProviders: string[];
  defaultCapacityProviderStrategy: unknown[];
  createdAt: number;
}

/** A registered task definition: the request as sent plus what ECS adds. */
export interface TaskDefinitionRecord {
  taskDefinitionArn: string;
  family: string;
  revision: number;
  status: "ACTIVE" | "INACTIVE";
  registeredAt: number;
  deregisteredAt?: number;
  /** The RegisterTaskDefinition input minus tags. */
  definition: Record<string, unknown> & { containerDefinitions: ContainerDefinition[] };
  tags: Tag[];
}

export interface ContainerDefinition {
  name: string;
  image: string;
  essential?: boolean;
  entryPoint?: string[];
  command?: string[];
  environment?: { name?: string; value?: string }[];
  secrets?: { name: string; valueFrom: string }[];
  portMappings?: { containerPort?: number; name?: string; protocol?: string }[];
  healthCheck?: {
    command: string[];
    interval?: number;
    timeout?: number;
    retries?: number;
    startPeriod?: number;
  };
  dependsOn?: { containerName: string; condition: "START" | "COMPLETE" | "SUCCESS" | "HEALTHY" }[];
  stopTimeout?: number;
  logConfiguration?: { logDriver: string; options?: Record<string, string> };
}

export type RolloutState = "IN_PROGRESS" | "COMPLETED" | "FAILED";

export interface DeploymentRecord {
  id: string;
  status: "PRIMARY" | "ACTIVE" | "INACTIVE";
  taskDefinition: string;
  desiredCount: number;
  failedTasks: number;
  createdAt: number;
  updatedAt: number;
  rolloutState: RolloutState;
  rolloutStateReason: string;
  /** Set when this deployment was started by the circuit breaker or StopServiceDeployment. */
  rollbackOf?: string;
  /** A CANARY or LINEAR deployment's production traffic shift (see EcsEngine.shiftTraffic). */
  traffic?: TrafficShift;
  /**
   * For each `loadBalancers` entry with an alternate target group (by the entry's
   * `targetGroupArn`): the one of the two this deployment's tasks register in.
   */
  targetGroups?: Record<string, string>;
}

/**
 * Where a gradual deployment's traffic shift stands: PENDING until every new task is healthy
 * (the new tasks take no production traffic), SHIFTING while `percent` of the traffic goes to
 * them (raised at each step), BAKING at 100 % for the bake time with the old tasks still up,
 * DONE once the old tasks may stop, ROLLED_BACK when it failed and traffic returned to them.
 */
export interface TrafficShift {
  strategy: "CANARY" | "LINEAR" | "BLUE_GREEN";
  state: "PENDING" | "SHIFTING" | "BAKING" | "DONE" | "ROLLED_BACK";
  percent: number;
  /** Epoch ms of the last change of `percent` or `state`. */
  since: number;
  /** The deployment's failed tasks when the shift began: a failure after that rolls it back. */
  failedBefore?: number;
}

export interface ServiceEventRecord {
  id: string;
  createdAt: number;
  message: string;
}

export interface ServiceRecord {
  serviceArn: string;
  serviceName: string;
  clusterArn: string;
  status: "ACTIVE" | "DRAINING" | "INACTIVE";
  desiredCount: number;
  taskDefinition: string;
  /** The CreateService/UpdateService members Berth Local keeps and echoes back. */
  configuration: Record<string, unknown>;
  deploymentConfiguration: {
    maximumPercent: number;
    minimumHealthyPercent: number;
    deploymentCircuitBreaker: { enable: boolean; rollback: boolean };
    [key: string]: unknown;
  };
  deployments: DeploymentRecord[];
  events: ServiceEventRecord[];
  /** Task definition of the last deployment that COMPLETED: where a rollback returns to. */
  lastCompletedTaskDefinition?: string;
  /**
   * For each `loadBalancers` entry with an alternate target group: the one of the two that takes
   * production traffic now (the entry's own until a shift to the alternate completes).
   */
  liveTargetGroups?: Record<string, string>;
  createdAt: number;
  tags: Tag[];
  /** Consecutive task failures, for the restart back-off. */
  consecutiveFailures: number;
  nextStartAt: number;
}

export interface ContainerRecord {
  containerArn: string;
  name: string;
  image: string;
  lastStatus: "PENDING" | "RUNNING" | "STOPPED";
  healthStatus: "HEALTHY" | "UNHEALTHY" | "UNKNOWN";
  exitCode?: number;
  reason?: string;
  runtimeId?: string;
  networkBindings: { bindIP: string; containerPort: number; hostPort: number; protocol: "tcp" }[];
  lastHealthOutput?: string;
  /** Epoch ms of the first failed health check. */
  firstHealthFailureAt?: number;
}

export interface TaskRecord {
  taskArn: string;
  taskId: string;
  clusterArn: string;
  taskDefinitionArn: string;
  group: string;
  startedBy?: string;
  /** The service deployment this task belongs to. */
  deploymentId?: string;
  serviceName?: string;
  lastStatus:
    | "PROVISIONING"
    | "PENDING"
    | "ACTIVATING"
    | "RUNNING"
    | "DEACTIVATING"
    | "STOPPING"
    | "DEPROVISIONING"
    | "STOPPED";
  desiredStatus: "RUNNING" | "STOPPED";
  healthStatus: "HEALTHY" | "UNHEALTHY" | "UNKNOWN";
  containers: ContainerRecord[];
  cpu?: string;
  memory?: string;
  createdAt: number;
  startedAt?: number;
  stoppingAt?: number;
  stoppedAt?: number;
  /** When the task's containers had all exited (before its network was released). */
  executionStoppedAt?: number;
  stoppedReason?: string;
  stopCode?: string;
  version: number;
  launchType?: string;
  tags: Tag[];
  /** RunTask's overrides, with an entry for every container (ECS's `overrides`). */
  overrides?: {
    containerOverrides: { name: string; [member: string]: unknown }[];
    [member: string]: unknown;
  };
  /** The network interface of an awsvpc task (its `attachments`). */
  eni?: { attachmentId: string; networkInterfaceId: string; subnetId: string; macAddress: string };
  /** Whether the task definition gives any essential container a health check. */
  hasHealthCheck: boolean;
  /** The EC2 container instance the task is placed on (EC2 tasks only). */
  containerInstanceArn?: string;
  /** The capacity provider the task runs on (`FARGATE` unless placed on EC2). */
  capacityProviderName?: string;
}

/** A container instance of the EC2 capacity provider: what it registered and what is left. */
export interface ContainerInstanceRecord {
  containerInstanceArn: string;
  clusterArn: string;
  ec2InstanceId: string;
  instanceType: string;
  capacityProviderName: string;
  status: "ACTIVE" | "DRAINING";
  /** Registered CPU units and memory (MiB). */
  cpu: number;
  memory: number;
  remainingCpu: number;
  remainingMemory: number;
  /** The tasks placed on it, with what each reserved. */
  tasks: { taskId: string; cpu: number; memory: number }[];
  registeredAt: number;
  version: number;
}

export interface EcsState {
  clusters: ClusterRecord[];
  taskDefinitions: TaskDefinitionRecord[];
  services: ServiceRecord[];
  tasks: TaskRecord[];
  /** EC2 container instances (absent in state saved before Berth Local had EC2 capacity). */
  containerInstances?: ContainerInstanceRecord[];
}

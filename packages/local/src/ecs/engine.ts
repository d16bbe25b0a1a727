import { randomBytes, randomUUID } from "node:crypto";
import { join } from "node:path";
import type { EventBus } from "../events.ts";
import { AwsError } from "../protocol.ts";
import { drained, retireTargets } from "../proxy/http-forward.ts";
import { TaskRun } from "../runtime/task-run.ts";
import type { ContainerSpec, LogSink, TaskState } from "../runtime/types.ts";
import type { RegisteredTask } from "../servicediscovery/service.ts";
import { JsonFile } from "../state.ts";
import {
  Ec2Capacity,
  FARGATE_PROVIDERS,
  instanceTypesOf,
  type Placement,
  reservationOf,
} from "./capacity.ts";
import type {
  ClusterRecord,
  ContainerDefinition,
  DeploymentRecord,
  EcsState,
  ServiceRecord,
  TaskDefinitionRecord,
  TaskRecord,
  TrafficShift,
} from "./model.ts";
import { type AliasOwner, type Endpoint, ServiceConnect } from "./service-connect.ts";

export interface EngineOptions {
  dataDir: string;
  account: string;
  region: string;
  bus: EventBus;
  logSink?: LogSink;
  /** The CloudWatch Logs groups awslogs writes to: a task whose group is missing fails to start. */
  logGroups?: { hasGroup(name: string): boolean; createGroup(name: string): unknown };
  /** Milliseconds between scheduler passes. */
  tickMs?: number;
  /** Resolves a task definition secret (`valueFrom`) to its value; undefined when missing. */
  resolveSecret?: (valueFrom: string) => string | undefined;
  /** Berth Local's AWS-compatible endpoint, given to every container (see agentEnvironment); set once it listens. */
  awsEndpointUrl?: string;
  /**
   * Milliseconds one minute of a CANARY or LINEAR deployment's bake and step times lasts
   * (`BERTH_LOCAL_MINUTE_MS`, default 60 000): only tests and demos shorten it.
   */
  strategyMinuteMs?: number;
  /** How many container instances the EC2 capacity provider runs at most (default 10). */
  ec2MaxInstances?: number;
  /**
   * Sets the weights of a listener rule's forward between target groups in Berth Local's ELB:
   * how a gradual deployment with `advancedConfiguration` shifts the production listener rule.
   */
  setForwardWeights?: (ruleArn: string, weights: { targetGroupArn: string; weight: number }[]) => void;
}

/** A `loadBalancers` entry of a service as ECS keeps it. */
interface LoadBalancerEntry {
  targetGroupArn?: string;
  containerName?: string;
  containerPort?: number;
  advancedConfiguration?: { alternateTargetGroupArn?: string; productionListenerRule?: string };
}

/** The entries whose traffic ECS shifts between two target groups (the service's and an alternate). */
function shiftedEntries(
  service: ServiceRecord,
): { primary: string; alternate: string; rule: string | undefined }[] {
  const entries = (service.configuration.loadBalancers ?? []) as LoadBalancerEntry[];
  return entries.flatMap((entry) => {
    const alternate = entry.advancedConfiguration?.alternateTargetGroupArn;
    return entry.targetGroupArn && alternate
      ? [
          {
            primary: entry.targetGroupArn,
            alternate,
            rule: entry.advancedConfiguration?.productionListenerRule,
          },
        ]
      : [];
  });
}

/** Where RunTask or a service asks its tasks to run: the members ECS places them by. */
export interface PlacementRequest {
  launchType?: unknown;
  capacityProviderStrategy?: unknown;
  placementConstraints?: unknown;
  placementStrategy?: unknown;
}

/** ECS's default stop timeout when a container definition has none. */
const DEFAULT_STOP_TIMEOUT = 30;
const MAX_SERVICE_EVENTS = 100;
const KEEP_STOPPED_TASKS = 50;
const BACKOFF_START_MS = 250;
const BACKOFF_MAX_MS = 30_000;
/** How often a placement failure that lasts is announced again (service event and ECS event). */
const PLACEMENT_FAILURE_REPEAT_MS = 15_000;

export const now = () => Date.now();

/** ECS's circuit breaker threshold: half the desired count, at least 3, at most 200. */
export const circuitBreakerThreshold = (desired: number) =>
  Math.min(Math.max(Math.ceil(desired / 2), 3), 200);

/** How long a stopping task's requests in flight through Berth Local's proxies may take before its SIGTERM. */
const DRAIN_TIMEOUT_MS = 5_000;

/** Why a task that was live when Berth Local ended without stopping it is STOPPED after a restart. */
const LOST_WITH_BERTH_LOCAL =
  "Berth Local ended without stopping this task (killed or crashed); its processes were killed with it";

/**
 * The ECS state machine of Berth Local: clusters, task definitions, services and tasks, a
 * scheduler that rolls deployments the way ECS does, and real processes through the runtime.
 */
/** The members of `serviceConnectConfiguration` Berth Local acts on. */
interface ServiceConnectInput {
  enabled?: boolean;
  namespace?: string;
  services?: {
    portName?: string;
    clientAliases?: { port?: number; dnsName?: string }[];
    discoveryName?: string;
  }[];
}

export class EcsEngine {
  readonly state: EcsState;
  private readonly file: JsonFile<EcsState>;
  private readonly runs = new Map<string, TaskRun>();
  readonly serviceConnect = new ServiceConnect((owner) => this.serviceConnectEndpoints(owner));
  private timer: NodeJS.Timeout | undefined;
  private dirty = false;
  private ticking = false;
  readonly ec2: Ec2Capacity;
  /** The last placement failure announced per service deployment, to repeat it only now and then. */
  private readonly placementFailures = new Map<string, { reason: string; at: number }>();

  constructor(readonly options: EngineOptions) {
    this.file = new JsonFile(join(options.dataDir, "ecs", "state.json"));
    this.state = this.file.read({ clusters: [], taskDefinitions: [], services: [], tasks: [] });
    this.ec2 = new Ec2Capacity(this.state, {
      arn: (resource) => this.arn(resource),
      ...(options.ec2MaxInstances !== undefined ? { maxInstances: options.ec2MaxInstances } : {}),
      onChange: () => this.touch(),
    });
    // A task still live in the saved state means Berth Local ended without stopping it (SIGKILL,
    // a crash): each container's supervisor killed its processes when Berth Local's pipe closed
    // (runtime/supervisor.ts). Recorded as the infrastructure ending the task, not as the app
    // failing, so no deployment counts it; the scheduler brings each service back to its count.
    for (const task of this.state.tasks) {
      if (task.lastStatus === "STOPPED") continue;
      for (const container of task.containers) {
        if (container.lastStatus === "RUNNING" && container.exitCode === undefined) container.exitCode = 137;
      }
      this.markStopped(task, LOST_WITH_BERTH_LOCAL, "TerminationNotice", false);
    }
  }

  // Identifiers ---------------------------------------------------------------------------------

  arn(resource: string): string {
    return `arn:aws:ecs:${this.options.region}:${this.options.account}:${resource}`;
  }

  // Lifecycle ---------------------------------------------------------------------------------

  async start(): Promise<void> {
    // Proxies first, so tasks started by the first pass already see the local addresses.
    for (const service of this.state.services) {
      if (service.status !== "INACTIVE") await this.syncServiceConnect(service);
    }
    this.timer = setInterval(() => void this.tick(), this.options.tickMs ?? 200);
    void this.tick();
  }

  /** Stops the scheduler and every task's processes (SIGTERM, then SIGKILL after stopTimeout). */
  async shutdown(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await Promise.all(
      [...this.runs.values()].map((run) =>
        run.stop("Berth Local is shutting down", "UserInitiated").catch(() => {}),
      ),
    );
    this.save();
  }

  save(): void {
    this.file.write(this.state);
    this.dirty = false;
  }

  touch(): void {
    this.dirty = true;
  }

  // Clusters ----------------------------------------------------------------------------------

  findCluster(reference: string | undefined): ClusterRecord | undefined {
    const name = clusterNameOf(reference ?? "default");
    return this.state.clusters.find((cluster) => cluster.clusterName === name && cluster.status === "ACTIVE");
  }

  requireCluster(reference: string | undefined): ClusterRecord {
    const cluster = this.findCluster(reference);
    if (!cluster) throw new AwsError("ClusterNotFoundException", "Cluster not found.");
    return cluster;
  }

  // Task definitions --------------------------------------------------------------------------

  findTaskDefinition(reference: string): TaskDefinitionRecord | undefined {
    const name = reference.startsWith("arn:") ? (reference.split("task-definition/")[1] ?? "") : reference;
    const [family, revision] = name.split(":");
    const candidates = this.state.taskDefinitions.filter((td) => td.family === family);
    if (revision !== undefined) return candidates.find((td) => String(td.revision) === revision);
    // A family alone means its latest ACTIVE revision.
    return candidates.filter((td) => td.status === "ACTIVE").sort((a, b) => b.revision - a.revision)[0];
  }

  // Services ----------------------------------------------------------------------------------

  findService(clusterArn: string, reference: string): ServiceRecord | undefined {
    const name = reference.startsWith("arn:") ? (reference.split("/").pop() ?? "") : reference;
    return this.state.services.find(
      (service) =>
        service.clusterArn === clusterArn && service.serviceName === name && service.status !== "INACTIVE",
    );
  }

  newDeployment(
    service: ServiceRecord,
    taskDefinition: string,
    reason?: { rollbackOf: string },
  ): DeploymentRecord {
    const at = now();
    for (const deployment of service.deployments) {
      if (deployment.status === "PRIMARY") deployment.status = "ACTIVE";
    }
    const deployment: DeploymentRecord = {
      id: `ecs-svc/${randomDigits(19)}`,
      status: "PRIMARY",
      taskDefinition,
      desiredCount: service.desiredCount,
      failedTasks: 0,
      createdAt: at,
      updatedAt: at,
      rolloutState: "IN_PROGRESS",
      rolloutStateReason: "",
      ...(reason ? { rollbackOf: reason.rollbackOf } : {}),
    };
    // A gradual strategy shifts traffic from tasks that serve now; a first deployment, or a
    // rollback, has none to shift from and starts at once.
    const strategy = service.deploymentConfiguration.strategy;
    const serving = this.liveTasks(
      (task) =>
        task.serviceName === service.serviceName &&
        task.clusterArn === service.clusterArn &&
        task.desiredStatus === "RUNNING",
    );
    if (
      !reason &&
      (strategy === "CANARY" || strategy === "LINEAR" || strategy === "BLUE_GREEN") &&
      serving.length > 0
    ) {
      deployment.traffic = { strategy, state: "PENDING", percent: 0, since: at };
    }
    // Tasks that take traffic at once go where production traffic goes now; a shift's tasks go to
    // the other target group, which the production rule's weights then move traffic to.
    const shifted = shiftedEntries(service);
    if (shifted.length > 0) {
      deployment.targetGroups = Object.fromEntries(
        shifted.map(({ primary, alternate }) => {
          const live = service.liveTargetGroups?.[primary] ?? primary;
          const other = live === primary ? alternate : primary;
          return [primary, deployment.traffic ? other : live];
        }),
      );
    }
    const failed = reason ? service.deployments.find((d) => d.id === reason.rollbackOf) : undefined;
    deployment.rolloutStateReason = failed
      ? `Rolling back from deployment ${failed.id}, which failed: ${failed.rolloutStateReason}`
      : `ECS deployment ${deployment.id} in progress.`;
    service.deployments.unshift(deployment);
    service.taskDefinition = taskDefinition;
    service.consecutiveFailures = 0;
    service.nextStartAt = 0;
    this.deploymentEvent(service, deployment, "SERVICE_DEPLOYMENT_IN_PROGRESS", "INFO");
    this.touch();
    return deployment;
  }

  serviceEvent(service: ServiceRecord, message: string): void {
    service.events.unshift({
      id: randomUUID(),
      createdAt: now(),
      message: `(service ${service.serviceName}) ${message}`,
    });
    service.events.length = Math.min(service.events.length, MAX_SERVICE_EVENTS);
  }

  private deploymentEvent(
    service: ServiceRecord,
    deployment: DeploymentRecord,
    eventName: string,
    eventType: "INFO" | "ERROR",
  ): void {
    this.options.bus.publish("aws.ecs", "ECS Deployment State Change", [service.serviceArn], {
      eventType,
      eventName,
      deploymentId: deployment.id,
      updatedAt: new Date(deployment.updatedAt).toISOString(),
      reason: deployment.rolloutStateReason,
    });
  }

  // Application Auto Scaling ------------------------------------------------------------------

  /** The service of an Application Auto Scaling resource id, `service/<cluster>/<service>`. */
  serviceByResourceId(resourceId: string): ServiceRecord | undefined {
    const [kind, clusterName, serviceName] = resourceId.split("/");
    if (kind !== "service" || !clusterName || !serviceName) return undefined;
    const cluster = this.findCluster(clusterName);
    return cluster ? this.findService(cluster.clusterArn, serviceName) : undefined;
  }

  /** What the scaler needs: desired counts to read and set, and the processes to measure. */
  scalableServices() {
    return {
      exists: (resourceId: string) => this.serviceByResourceId(resourceId)?.status === "ACTIVE",
      desiredCount: (resourceId: string) => this.serviceByResourceId(resourceId)?.desiredCount,
      setDesiredCount: (resourceId: string, count: number, cause: string) => {
        const service = this.serviceByResourceId(resourceId);
        if (service?.status !== "ACTIVE" || service.desiredCount === count) return;
        const from = service.desiredCount;
        service.desiredCount = count;
        for (const deployment of service.deployments)
          if (deployment.status === "PRIMARY") deployment.desiredCount = count;
        this.serviceEvent(service, `has changed its desired count from ${from} to ${count}: ${cause}`);
        this.touch();
      },
      tasks: (resourceId: string) => {
        const service = this.serviceByResourceId(resourceId);
        if (!service) return [];
        return this.liveTasks(
          (task) => task.clusterArn === service.clusterArn && task.serviceName === service.serviceName,
        )
          .filter((task) => task.lastStatus === "RUNNING" && task.desiredStatus === "RUNNING")
          .map((task) => ({
            taskId: task.taskId,
            processGroups: task.containers.flatMap((container) =>
              container.runtimeId && container.lastStatus === "RUNNING" ? [Number(container.runtimeId)] : [],
            ),
            // Fargate's smallest size when the task definition gives none.
            cpuUnits: Number(task.cpu ?? 256),
            memoryMiB: Number(task.memory ?? 512),
          }));
      },
    };
  }

  // Service Connect ---------------------------------------------------------------------------

  /**
   * The Cloud Map services and client aliases a Service Connect configuration publishes, with
   * ECS's defaults: `discoveryName` is the port name, a client alias's `dnsName` is
   * `<discoveryName>.<namespace>`.
   */
  publishedAliases(
    configuration: Record<string, unknown>,
    taskDefinition: string,
  ): {
    namespace: string;
    discoveryName: string;
    alias: string;
    portName: string;
    protocol: "tcp" | "http";
  }[] {
    const config = configuration.serviceConnectConfiguration as ServiceConnectInput | undefined;
    if (!config?.enabled || !config.namespace) return [];
    const namespace = config.namespace;
    const td = this.findTaskDefinition(taskDefinition);
    const published = [];
    for (const entry of config.services ?? []) {
      if (!entry.portName) continue;
      const mapping = td?.definition.containerDefinitions
        .flatMap((container) => container.portMappings ?? [])
        .find((portMapping) => portMapping.name === entry.portName) as { appProtocol?: string } | undefined;
      const discoveryName = entry.discoveryName ?? entry.portName;
      for (const clientAlias of entry.clientAliases ?? []) {
        if (!clientAlias.port) continue;
        published.push({
          namespace,
          discoveryName,
          alias: `${clientAlias.dnsName ?? `${discoveryName}.${namespace}`}:${clientAlias.port}`,
          portName: entry.portName,
          protocol: mapping?.appProtocol === "http" ? ("http" as const) : ("tcp" as const),
        });
      }
    }
    return published;
  }

  /**
   * Why ECS would refuse the Service Connect configuration of a service (`serviceArn`) as given:
   * a discovery name or client alias another service that is not INACTIVE holds in the same
   * namespace. Namespaces span clusters, so every cluster's services count.
   */
  serviceConnectConflict(
    serviceArn: string,
    configuration: Record<string, unknown>,
    taskDefinition: string,
  ): string | undefined {
    const mine = this.publishedAliases(configuration, taskDefinition);
    if (mine.length === 0) return undefined;
    for (const other of this.state.services) {
      if (other.status === "INACTIVE" || other.serviceArn === serviceArn) continue;
      const theirs = this.publishedAliases(other.configuration, other.taskDefinition);
      for (const entry of mine) {
        const taken = theirs.find(
          (their) =>
            their.namespace === entry.namespace &&
            (their.discoveryName === entry.discoveryName || their.alias === entry.alias),
        );
        if (!taken) continue;
        const what =
          taken.discoveryName === entry.discoveryName
            ? `discovery name ${entry.discoveryName}`
            : `client alias ${entry.alias}`;
        return `Service Connect ${what} is already used by ${other.serviceArn} in namespace ${entry.namespace}.`;
      }
    }
    return undefined;
  }

  /**
   * Starts (or re-points) the proxy of every client alias the service publishes and removes the
   * ones it no longer publishes; a service that is INACTIVE publishes none.
   */
  async syncServiceConnect(service: ServiceRecord): Promise<void> {
    const published =
      service.status === "INACTIVE"
        ? []
        : this.publishedAliases(service.configuration, service.taskDefinition);
    await this.serviceConnect.release(
      service,
      published.map((entry) => [entry.namespace, entry.alias]),
    );
    for (const entry of published) {
      await this.serviceConnect.ensure(entry.namespace, entry.alias, {
        clusterArn: service.clusterArn,
        serviceName: service.serviceName,
        portName: entry.portName,
        protocol: entry.protocol,
      });
    }
  }

  /** The namespace whose aliases a task's environment may name: its service's, if it has one. */
  private namespaceOfTask(placement: {
    clusterArn: string;
    serviceName?: string | undefined;
  }): string | undefined {
    if (!placement.serviceName) return undefined;
    const service = this.findService(placement.clusterArn, placement.serviceName);
    const config = service?.configuration.serviceConnectConfiguration as ServiceConnectInput | undefined;
    return config?.enabled ? config.namespace : undefined;
  }

  /** Host ports of the named port on the service's tasks that may take new traffic. */
  private serviceConnectEndpoints(owner: AliasOwner): Endpoint[] {
    const endpoints: Endpoint[] = [];
    const service = this.state.services.find(
      (s) => s.clusterArn === owner.clusterArn && s.serviceName === owner.serviceName,
    );
    const weights = service ? this.trafficWeights(service) : undefined;
    for (const task of this.liveTasks(
      (t) => t.clusterArn === owner.clusterArn && t.serviceName === owner.serviceName,
    )) {
      if (!this.isHealthy(task)) continue;
      const td = this.findTaskDefinition(task.taskDefinitionArn);
      for (const container of td?.definition.containerDefinitions ?? []) {
        const mapping = (container.portMappings ?? []).find(
          (portMapping) => portMapping.name === owner.portName,
        );
        if (!mapping?.containerPort) continue;
        const binding = task.containers
          .find((c) => c.name === container.name)
          ?.networkBindings.find((b) => b.containerPort === mapping.containerPort);
        if (binding)
          endpoints.push({ taskId: task.taskId, port: binding.hostPort, ...weightOf(task, weights) });
      }
    }
    return endpoints;
  }

  /**
   * The tasks a Cloud Map service (a `serviceRegistries` entry of an ECS service) has registered:
   * live ones with their host port and whether they are healthy and not stopping, as ECS
   * reports them to Cloud Map.
   */
  registeredTasks(registryArn: string): RegisteredTask[] {
    return this.tasksBehind("serviceRegistries", (entry) => entry.registryArn === registryArn);
  }

  /**
   * The tasks registered in an ELB target group (a `loadBalancers` entry of an ECS service), as
   * ECS registers them on AWS: live ones with their host port, healthy and not stopping or not.
   */
  targetGroupTasks(targetGroupArn: string): RegisteredTask[] {
    return this.tasksBehind("loadBalancers", (entry) => entry.targetGroupArn === targetGroupArn);
  }

  private tasksBehind(
    member: "serviceRegistries" | "loadBalancers",
    matches: (entry: { registryArn?: string; targetGroupArn?: string }) => boolean,
  ): RegisteredTask[] {
    const found: RegisteredTask[] = [];
    for (const service of this.state.services) {
      const entries = (service.configuration[member] ?? []) as {
        registryArn?: string;
        targetGroupArn?: string;
        containerName?: string;
        containerPort?: number;
      }[];
      for (const entry of entries) {
        const alternate = (entry as LoadBalancerEntry).advancedConfiguration?.alternateTargetGroupArn;
        const group = alternate
          ? [entry.targetGroupArn, alternate].find((arn) => matches({ targetGroupArn: arn }))
          : undefined;
        if (!matches(entry) && !group) continue;
        // Between two target groups the production rule's weights split the traffic, not the tasks'.
        const weights = group ? undefined : this.trafficWeights(service);
        for (const task of this.liveTasks(
          (t) =>
            t.clusterArn === service.clusterArn &&
            t.serviceName === service.serviceName &&
            (!group || this.targetGroupOf(service, t, entry.targetGroupArn ?? "") === group),
        )) {
          const binding = task.containers
            .find((c) => c.name === entry.containerName)
            ?.networkBindings.find((b) => b.containerPort === entry.containerPort);
          if (binding)
            found.push({
              taskId: task.taskId,
              port: binding.hostPort,
              healthy: this.isHealthy(task),
              ...weightOf(task, weights),
            });
        }
      }
    }
    return found;
  }

  // Traffic shifting --------------------------------------------------------------------------

  /** The target group (the entry's or its alternate) a task of the service is registered in. */
  private targetGroupOf(service: ServiceRecord, task: TaskRecord, primary: string): string {
    const deployment = service.deployments.find((d) => d.id === task.deploymentId);
    return deployment?.targetGroups?.[primary] ?? service.liveTargetGroups?.[primary] ?? primary;
  }

  /**
   * What ECS does to the production listener rule of each load balancer entry with an alternate
   * target group: the shifting deployment's group gets its percent and the live group the rest;
   * once the shift is DONE its group becomes the live one; ROLLED_BACK returns all to the live one.
   */
  private shiftProductionRules(service: ServiceRecord, deployment: DeploymentRecord): void {
    const shift = deployment.traffic;
    if (!shift) return;
    for (const { primary, alternate, rule } of shiftedEntries(service)) {
      const next = deployment.targetGroups?.[primary];
      if (!next) continue;
      const percent = shift.state === "DONE" ? 100 : shift.state === "ROLLED_BACK" ? 0 : shift.percent;
      if (shift.state === "DONE") service.liveTargetGroups = { ...service.liveTargetGroups, [primary]: next };
      if (!rule) continue;
      const weightOfGroup = (arn: string) => (arn === next ? percent : 100 - percent);
      this.options.setForwardWeights?.(rule, [
        { targetGroupArn: primary, weight: weightOfGroup(primary) },
        { targetGroupArn: alternate, weight: weightOfGroup(alternate) },
      ]);
    }
  }

  /**
   * Percent of the service's production traffic per deployment id, or undefined when every
   * healthy task takes its turn. While a gradual deployment shifts, the new deployment has its
   * shift's percent and the others the rest; a FAILED deployment's tasks take none (its
   * rollback moved traffic back to the tasks it replaced) unless nothing else serves.
   */
  trafficWeights(service: ServiceRecord): Map<string, number> | undefined {
    const primary = service.deployments.find((d) => d.status === "PRIMARY");
    const shifting =
      primary?.traffic && primary.rolloutState === "IN_PROGRESS" && primary.traffic.state !== "DONE";
    const failed = service.deployments.some((d) => d.rolloutState === "FAILED" && d.status !== "INACTIVE");
    if (!shifting && !failed) return undefined;
    const weights = new Map<string, number>();
    for (const deployment of service.deployments) {
      if (deployment.status === "INACTIVE") continue;
      if (deployment.rolloutState === "FAILED") weights.set(deployment.id, 0);
      else if (shifting && deployment === primary) weights.set(deployment.id, primary.traffic?.percent ?? 0);
      else if (shifting) weights.set(deployment.id, 100 - (primary?.traffic?.percent ?? 0));
      else weights.set(deployment.id, 100);
    }
    return weights;
  }

  /** Every service's deployments with their traffic share, for `GET /_local/ecs/traffic`. */
  trafficView() {
    return this.state.services
      .filter((service) => service.status !== "INACTIVE")
      .map((service) => {
        const weights = this.trafficWeights(service);
        const live = this.liveTasks(
          (task) => task.serviceName === service.serviceName && task.clusterArn === service.clusterArn,
        );
        const deployments = service.deployments.filter(
          (d) => d.status !== "INACTIVE" || live.some((task) => task.deploymentId === d.id),
        );
        return {
          cluster: clusterNameOf(service.clusterArn),
          service: service.serviceName,
          strategy: (service.deploymentConfiguration.strategy as string | undefined) ?? "ROLLING",
          deployments: deployments.map((d) => ({
            id: d.id,
            status: d.status,
            taskDefinition: d.taskDefinition,
            rolloutState: d.rolloutState,
            ...(d.traffic
              ? { shift: { state: d.traffic.state, since: new Date(d.traffic.since).toISOString() } }
              : {}),
            // Without weights, every healthy task takes its turn: the share follows the task count.
            trafficPercent: weights ? (weights.get(d.id) ?? 0) : undefined,
            healthyTasks: live.filter((task) => task.deploymentId === d.id && this.isHealthy(task)).length,
          })),
        };
      });
  }

  /** Milliseconds of one strategy minute. */
  private get minuteMs(): number {
    return this.options.strategyMinuteMs ?? 60_000;
  }

  /**
   * Advances a gradual deployment's traffic shift, once all its tasks are healthy: the canary's
   * percent for its bake time then all of it; or one more step every step bake time; or (blue/
   * green) all of it at once; then the
   * service's bakeTimeInMinutes at 100 % with the old tasks still up. A new task that fails
   * (its health checks, or it exits) while traffic shifts rolls the deployment back. Returns
   * whether the old tasks must stay.
   */
  private shiftTraffic(
    service: ServiceRecord,
    primary: DeploymentRecord,
    primaryHealthy: number,
    primarySick: boolean,
  ): boolean {
    const shift = primary.traffic;
    if (!shift || primary.rolloutState !== "IN_PROGRESS") return false;
    // A service being deleted, or scaled to nothing, keeps no tasks for a shift: they all stop.
    if (service.status !== "ACTIVE" || service.desiredCount === 0) return false;
    if (shift.state === "DONE" || shift.state === "ROLLED_BACK") return false;
    const config = service.deploymentConfiguration as {
      canaryConfiguration?: { canaryPercent?: number; canaryBakeTimeInMinutes?: number };
      linearConfiguration?: { stepPercent?: number; stepBakeTimeInMinutes?: number };
      bakeTimeInMinutes?: number;
    };
    // BLUE_GREEN moves all traffic in one step once the new tasks are healthy.
    const step =
      shift.strategy === "BLUE_GREEN"
        ? 100
        : shift.strategy === "CANARY"
          ? (config.canaryConfiguration?.canaryPercent ?? 10)
          : (config.linearConfiguration?.stepPercent ?? 10);
    const interval =
      (shift.strategy === "CANARY"
        ? (config.canaryConfiguration?.canaryBakeTimeInMinutes ?? 10)
        : (config.linearConfiguration?.stepBakeTimeInMinutes ?? 6)) * this.minuteMs;
    const set = (state: TrafficShift["state"], percent: number) => {
      shift.state = state;
      shift.percent = percent;
      shift.since = now();
      primary.updatedAt = now();
      this.shiftProductionRules(service, primary);
      this.touch();
    };
    if (shift.state !== "PENDING" && (primarySick || primary.failedTasks > (shift.failedBefore ?? 0))) {
      const at = shift.percent;
      set("ROLLED_BACK", 0);
      this.serviceEvent(
        service,
        `deployment ${primary.id} moved all production traffic back to the previous tasks.`,
      );
      this.failDeployment(
        service,
        primary,
        `A task of the new deployment failed while ${at}% of production traffic was shifted to it.`,
        true,
      );
      return false;
    }
    const elapsed = now() - shift.since;
    if (shift.state === "PENDING") {
      if (primaryHealthy < primary.desiredCount) return true;
      // Tasks that failed before the shift began were the circuit breaker's to count.
      shift.failedBefore = primary.failedTasks;
      set(step >= 100 ? "BAKING" : "SHIFTING", Math.min(step, 100));
    } else if (shift.state === "SHIFTING" && elapsed >= interval) {
      const percent = shift.strategy === "CANARY" ? 100 : Math.min(100, shift.percent + step);
      set(percent >= 100 ? "BAKING" : "SHIFTING", percent);
    } else if (shift.state === "BAKING" && elapsed >= (config.bakeTimeInMinutes ?? 0) * this.minuteMs) {
      set("DONE", 100);
      this.serviceEvent(service, `deployment ${primary.id} finished shifting production traffic.`);
      return false;
    } else {
      return true;
    }
    this.serviceEvent(
      service,
      `deployment ${primary.id} shifted ${shift.percent}% of production traffic to the new tasks.`,
    );
    return true;
  }

  // Tasks -------------------------------------------------------------------------------------

  /** Whether tasks asked for this way run on EC2: the EC2 launch type, or an EC2 capacity provider. */
  runsOnEc2(cluster: ClusterRecord, request: PlacementRequest): boolean {
    if (request.launchType !== undefined) return request.launchType === "EC2";
    const strategy = (
      Array.isArray(request.capacityProviderStrategy)
        ? request.capacityProviderStrategy
        : cluster.defaultCapacityProviderStrategy
    ) as { capacityProvider?: string }[];
    return strategy.some(
      (item) => item.capacityProvider !== undefined && !FARGATE_PROVIDERS.includes(item.capacityProvider),
    );
  }

  /** Chooses a container instance for one task of a task definition, or ECS's reason why none fits. */
  placeOnEc2(cluster: ClusterRecord, td: TaskDefinitionRecord, request: PlacementRequest): Placement {
    const instanceTypes = instanceTypesOf(request.placementConstraints);
    return this.ec2.place(cluster.clusterArn, cluster.clusterName, {
      ...reservationOf(td.definition),
      ...(instanceTypes ? { instanceTypes } : {}),
    });
  }

  liveTasks(predicate: (task: TaskRecord) => boolean = () => true): TaskRecord[] {
    return this.state.tasks.filter((task) => task.lastStatus !== "STOPPED" && predicate(task));
  }

  findTask(clusterArn: string, reference: string): TaskRecord | undefined {
    const id = reference.split("/").pop() ?? reference;
    return this.state.tasks.find((task) => task.clusterArn === clusterArn && task.taskId === id);
  }

  /** Starts a task for a task definition: records it, then runs its containers as processes. */
  runTask(
    cluster: ClusterRecord,
    taskDefinition: TaskDefinitionRecord,
    placement: {
      group: string;
      startedBy?: string;
      deploymentId?: string;
      serviceName?: string;
      tags?: TaskRecord["tags"];
      overrides?: TaskOverrides;
      /** The awsvpc network the task is placed in (RunTask's or the service's). */
      networkConfiguration?: unknown;
      /** The EC2 container instance chosen for it (`placeOnEc2`); absent: Fargate. */
      ec2?: Extract<Placement, { placed: unknown }>;
    },
  ): TaskRecord {
    const taskId = randomBytes(16).toString("hex");
    const definition = taskDefinition.definition;
    const containerOverrides = placement.overrides?.containerOverrides ?? [];
    const containers = definition.containerDefinitions.map((container) =>
      applyOverride(
        container,
        containerOverrides.find((override) => override.name === container.name),
      ),
    );
    const task: TaskRecord = {
      taskArn: this.arn(`task/${cluster.clusterName}/${taskId}`),
      taskId,
      clusterArn: cluster.clusterArn,
      taskDefinitionArn: taskDefinition.taskDefinitionArn,
      group: placement.group,
      ...(placement.startedBy ? { startedBy: placement.startedBy } : {}),
      ...(placement.deploymentId ? { deploymentId: placement.deploymentId } : {}),
      ...(placement.serviceName ? { serviceName: placement.serviceName } : {}),
      lastStatus: "PROVISIONING",
      desiredStatus: "RUNNING",
      healthStatus: "UNKNOWN",
      containers: containers.map((container) => ({
        containerArn: this.arn(`container/${cluster.clusterName}/${taskId}/${randomUUID()}`),
        name: container.name,
        image: container.image,
        lastStatus: "PENDING",
        healthStatus: "UNKNOWN",
        networkBindings: [],
      })),
      ...(typeof definition.cpu === "string" ? { cpu: definition.cpu } : {}),
      ...(typeof definition.memory === "string" ? { memory: definition.memory } : {}),
      createdAt: now(),
      version: 1,
      launchType: placement.ec2 ? "EC2" : "FARGATE",
      ...(placement.ec2
        ? {
            containerInstanceArn: placement.ec2.placed.containerInstanceArn,
            capacityProviderName: placement.ec2.placed.capacityProviderName,
          }
        : {}),
      tags: placement.tags ?? [],
      overrides: {
        ...placement.overrides,
        // ECS lists every container, with what was overridden for it.
        containerOverrides: containers.map((container) => ({
          ...containerOverrides.find((override) => override.name === container.name),
          name: container.name,
        })),
      },
      ...(definition.networkMode === "awsvpc"
        ? { eni: networkInterface(placement.networkConfiguration) }
        : {}),
      hasHealthCheck: containers.some((container) => container.healthCheck && container.essential !== false),
    };
    this.state.tasks.push(task);
    if (placement.ec2) this.ec2.reserve(placement.ec2.placed, task, reservationOf(definition));
    this.touch();
    this.taskEvent(task);

    const secretProblem = this.resolveSecrets(containers);
    if (typeof secretProblem === "string") {
      this.markStopped(task, `ResourceInitializationError: ${secretProblem}`, "TaskFailedToStart");
      return task;
    }
    const loggerProblem = this.prepareLogGroups(containers);
    if (loggerProblem) {
      this.markStopped(task, `ResourceInitializationError: ${loggerProblem}`, "TaskFailedToStart");
      return task;
    }
    const run = new TaskRun(
      {
        taskId,
        containers: containers.map((container) =>
          this.containerSpec(container, taskId, secretProblem, this.namespaceOfTask(task)),
        ),
      },
      {
        artifactsDir: join(this.options.dataDir, "artifacts"),
        ...(this.options.logSink ? { logSink: this.options.logSink } : {}),
      },
    );
    this.runs.set(taskId, run);
    run.on("change", (state: TaskState) => this.applyRuntimeState(task, state));
    void run.done.then((state) => {
      this.applyRuntimeState(task, state);
      this.runs.delete(taskId);
    });
    run.start();
    return task;
  }

  /**
   * What ECS's agent adds to every container: the region, and credentials for the task role. Berth
   * Local has no credentials endpoint, so a task gets its AWS endpoint and stand-in keys instead:
   * an AWS SDK in a container then calls Berth Local, as it would call AWS with its task role.
   * The task definition's own environment comes after, so it can override any of them.
   */
  private agentEnvironment(): Record<string, string> {
    const { region, awsEndpointUrl } = this.options;
    return {
      AWS_REGION: region,
      AWS_DEFAULT_REGION: region,
      ...(awsEndpointUrl
        ? {
            AWS_ENDPOINT_URL: awsEndpointUrl,
            AWS_ACCESS_KEY_ID: "berth-local",
            AWS_SECRET_ACCESS_KEY: "berth-local",
          }
        : {}),
    };
  }

  /**
   * The awslogs driver's check when a task starts: its group must exist, unless the container
   * asks the driver to create it (`awslogs-create-group: "true"`). Answers Fargate's reason.
   */
  private prepareLogGroups(containers: ContainerDefinition[]): string | undefined {
    const groups = this.options.logGroups;
    if (!groups) return undefined;
    for (const container of containers) {
      const log = container.logConfiguration;
      const group = log?.logDriver === "awslogs" ? log.options?.["awslogs-group"] : undefined;
      if (!group || groups.hasGroup(group)) continue;
      if (log?.options?.["awslogs-create-group"] === "true") {
        groups.createGroup(group);
        continue;
      }
      return `failed to validate logger args: create stream has been retried 1 times: failed to create Cloudwatch log stream: ResourceNotFoundException: The specified log group does not exist. : exit status 1 (container ${container.name}, log group ${group})`;
    }
    return undefined;
  }

  /** Secrets are resolved when the task starts, as ECS's agent does; a missing one fails the task. */
  private resolveSecrets(containers: ContainerDefinition[]): Map<string, string> | string {
    const values = new Map<string, string>();
    for (const container of containers) {
      for (const secret of container.secrets ?? []) {
        const value = this.options.resolveSecret?.(secret.valueFrom);
        if (value === undefined) {
          return `unable to retrieve secret ${secret.valueFrom} for container ${container.name}: the secret does not exist in Berth Local`;
        }
        values.set(`${container.name}\u0000${secret.name}`, value);
      }
    }
    return values;
  }

  private containerSpec(
    container: ContainerDefinition,
    taskId: string,
    secrets: Map<string, string>,
    namespace: string | undefined,
  ): ContainerSpec {
    const environment: Record<string, string> = this.agentEnvironment();
    for (const variable of container.environment ?? []) {
      if (variable.name)
        environment[variable.name] = this.serviceConnect.rewrite(variable.value ?? "", namespace);
    }
    for (const secret of container.secrets ?? []) {
      environment[secret.name] = secrets.get(`${container.name}\u0000${secret.name}`) ?? "";
    }
    const health = container.healthCheck;
    const log = container.logConfiguration;
    const group = log?.logDriver === "awslogs" ? log.options?.["awslogs-group"] : undefined;
    const prefix = log?.options?.["awslogs-stream-prefix"];
    return {
      name: container.name,
      essential: container.essential !== false,
      image: container.image,
      ...(container.entryPoint ? { entryPoint: container.entryPoint } : {}),
      ...(container.command ? { command: container.command } : {}),
      environment,
      dependsOn: container.dependsOn ?? [],
      ...(health
        ? {
            healthCheck: {
              command: health.command,
              interval: health.interval ?? 30,
              timeout: health.timeout ?? 5,
              retries: health.retries ?? 3,
              startPeriod: health.startPeriod ?? 0,
            },
          }
        : {}),
      stopTimeout: container.stopTimeout ?? DEFAULT_STOP_TIMEOUT,
      containerPorts: (container.portMappings ?? []).flatMap((mapping) =>
        mapping.containerPort ? [mapping.containerPort] : [],
      ),
      // awslogs names streams `prefix/container/task-id` (or the task id alone without a prefix).
      ...(group ? { log: { group, stream: prefix ? `${prefix}/${container.name}/${taskId}` : taskId } } : {}),
    };
  }

  private applyRuntimeState(task: TaskRecord, state: TaskState): void {
    if (task.lastStatus === "STOPPED") return;
    const before = `${task.lastStatus}/${task.healthStatus}/${task.containers.map((c) => `${c.lastStatus}${c.healthStatus}`).join()}`;
    const activating = task.lastStatus === "PROVISIONING" || task.lastStatus === "PENDING";
    if (task.desiredStatus === "RUNNING" && state.lastStatus === "RUNNING" && activating) {
      // ECS attaches the task's network (and load balancers) between PENDING and RUNNING.
      this.passThrough(task, "ACTIVATING");
    }
    // Once asked to stop, a task only moves on towards STOPPED.
    if (task.desiredStatus === "RUNNING" || state.lastStatus === "STOPPING")
      task.lastStatus = state.lastStatus;
    task.healthStatus = state.healthStatus;
    if (state.startedAt && !task.startedAt) task.startedAt = state.startedAt.getTime();
    if (state.stoppingAt && !task.stoppingAt) task.stoppingAt = state.stoppingAt.getTime();
    for (const containerState of state.containers) {
      const container = task.containers.find((c) => c.name === containerState.name);
      if (!container) continue;
      container.lastStatus = containerState.lastStatus;
      container.healthStatus = containerState.healthStatus;
      if (containerState.exitCode !== undefined) container.exitCode = containerState.exitCode;
      if (containerState.reason) container.reason = containerState.reason;
      if (containerState.pid) container.runtimeId = String(containerState.pid);
      if (containerState.lastHealthOutput) container.lastHealthOutput = containerState.lastHealthOutput;
      if (containerState.firstHealthFailureAt && !container.firstHealthFailureAt) {
        container.firstHealthFailureAt = containerState.firstHealthFailureAt.getTime();
      }
      container.networkBindings = Object.entries(containerState.hostPorts).map(
        ([containerPort, hostPort]) => ({
          bindIP: "127.0.0.1",
          containerPort: Number(containerPort),
          hostPort,
          protocol: "tcp",
        }),
      );
    }
    if (state.lastStatus === "STOPPED") {
      this.markStopped(
        task,
        task.stoppedReason ?? state.stoppedReason ?? "Task stopped",
        task.stopCode ?? state.stopCode ?? "EssentialContainerExited",
      );
      return;
    }
    const after = `${task.lastStatus}/${task.healthStatus}/${task.containers.map((c) => `${c.lastStatus}${c.healthStatus}`).join()}`;
    if (before !== after) {
      task.version += 1;
      this.touch();
      this.taskEvent(task);
    }
  }

  /** Asks a task to stop; the reason and code recorded are the caller's (ECS keeps the first). */
  stopTask(task: TaskRecord, reason: string, stopCode: string): void {
    if (task.desiredStatus === "STOPPED" || task.lastStatus === "STOPPED") return;
    task.desiredStatus = "STOPPED";
    task.stoppedReason = reason;
    task.stopCode = stopCode;
    task.stoppingAt = now();
    // A started task first leaves its network and load balancers, then its containers get SIGTERM.
    if (task.lastStatus !== "PROVISIONING") task.lastStatus = "DEACTIVATING";
    task.version += 1;
    this.touch();
    this.taskEvent(task);
    const run = this.runs.get(task.taskId);
    if (!run) {
      this.markStopped(task, reason, stopCode);
      return;
    }
    // It left every proxy's targets above (it is no longer desired RUNNING). As ECS deregisters a
    // task before it stops it: the requests the proxies already sent it finish first, then its
    // connection pools close, then its containers get SIGTERM.
    const ports = task.containers.flatMap((container) => container.networkBindings.map((b) => b.hostPort));
    void drained(ports, DRAIN_TIMEOUT_MS).then(() => {
      retireTargets(ports);
      return run.stop(reason, stopCode as Parameters<TaskRun["stop"]>[1]);
    });
  }

  private markStopped(task: TaskRecord, reason: string, stopCode: string, publish = true): void {
    task.desiredStatus = "STOPPED";
    task.stoppedReason = task.stoppedReason ?? reason;
    task.stopCode = task.stopCode ?? stopCode;
    task.executionStoppedAt = task.executionStoppedAt ?? now();
    // Its containers are gone; ECS then releases the task's network before it is STOPPED.
    if (publish) this.passThrough(task, "DEPROVISIONING");
    task.lastStatus = "STOPPED";
    task.stoppedAt = now();
    task.version += 1;
    for (const container of task.containers) {
      if (container.lastStatus !== "STOPPED") container.lastStatus = "STOPPED";
    }
    this.ec2.release(task);
    this.touch();
    if (publish) this.taskEvent(task);
    this.onTaskStopped(task);
  }

  private onTaskStopped(task: TaskRecord): void {
    const service = this.state.services.find(
      (s) => s.clusterArn === task.clusterArn && s.serviceName === task.serviceName,
    );
    if (!service) return;
    const failed =
      task.stopCode === "EssentialContainerExited" ||
      task.stopCode === "TaskFailedToStart" ||
      task.stoppedReason?.startsWith("Task failed container health checks");
    if (!failed) return;
    const deployment = service.deployments.find((d) => d.id === task.deploymentId);
    if (deployment && deployment.rolloutState === "IN_PROGRESS") {
      deployment.failedTasks += 1;
      deployment.updatedAt = now();
    }
    // Each failure in a row doubles the wait before the next start, so a crash loop cannot spin.
    service.consecutiveFailures += 1;
    service.nextStartAt =
      now() + Math.min(BACKOFF_START_MS * 2 ** (service.consecutiveFailures - 1), BACKOFF_MAX_MS);
    const container =
      task.containers.find((c) => c.exitCode !== undefined && c.exitCode !== 0) ?? task.containers[0];
    const detail =
      container?.exitCode !== undefined
        ? ` (container ${container.name} exit code ${container.exitCode})`
        : "";
    this.serviceEvent(service, `task ${task.taskId} stopped: ${task.stoppedReason}${detail}.`);
  }

  /** A status ECS records on the way (an event and a version), which Berth Local passes at once. */
  private passThrough(task: TaskRecord, status: "ACTIVATING" | "DEPROVISIONING"): void {
    task.lastStatus = status;
    task.version += 1;
    this.touch();
    this.taskEvent(task);
  }

  taskEvent(task: TaskRecord): void {
    this.options.bus.publish("aws.ecs", "ECS Task State Change", [task.taskArn], {
      ...describeTask(task),
      updatedAt: new Date().toISOString(),
    });
  }

  // Scheduler ---------------------------------------------------------------------------------

  async tick(): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    try {
      for (const service of this.state.services) {
        if (service.status !== "INACTIVE") this.reconcile(service);
      }
      this.pruneStoppedTasks();
      if (this.dirty) this.save();
    } finally {
      this.ticking = false;
    }
  }

  private isHealthy(task: TaskRecord): boolean {
    if (task.lastStatus !== "RUNNING" || task.desiredStatus !== "RUNNING") return false;
    return task.hasHealthCheck ? task.healthStatus === "HEALTHY" : true;
  }

  /** One pass of ECS's rolling-update scheduler for a service. */
  reconcile(service: ServiceRecord): void {
    const cluster = this.state.clusters.find((c) => c.clusterArn === service.clusterArn);
    const primary = service.deployments.find((d) => d.status === "PRIMARY");
    if (!cluster || !primary) return;
    const live = this.liveTasks(
      (task) =>
        task.serviceName === service.serviceName &&
        task.clusterArn === service.clusterArn &&
        task.desiredStatus === "RUNNING",
    );

    // Replace tasks whose essential container is unhealthy.
    for (const task of live) {
      if (task.healthStatus === "UNHEALTHY") {
        const sick = task.containers.find((c) => c.healthStatus === "UNHEALTHY");
        const output = sick?.lastHealthOutput ? `: ${sick.lastHealthOutput.trim().slice(-300)}` : "";
        // ECS's wording, so core parses one; which container failed, its UNHEALTHY status says.
        this.stopTask(task, `Task failed container health checks${output}`, "ServiceSchedulerInitiated");
      }
    }
    const running = live.filter((task) => task.desiredStatus === "RUNNING");
    const desired = primary.desiredCount;
    const config = service.deploymentConfiguration;
    const maxTotal = Math.max(Math.floor((desired * config.maximumPercent) / 100), desired === 0 ? 0 : 1);
    const minHealthy = Math.ceil((desired * config.minimumHealthyPercent) / 100);
    const primaryTasks = running.filter((task) => task.deploymentId === primary.id);
    const otherTasks = running.filter((task) => task.deploymentId !== primary.id);

    const threshold = circuitBreakerThreshold(desired);
    if (
      primary.rolloutState === "IN_PROGRESS" &&
      config.deploymentCircuitBreaker.enable &&
      primary.failedTasks >= threshold
    ) {
      this.failDeployment(service, primary, "ECS deployment circuit breaker: tasks failed to start.");
      return;
    }

    // Start tasks of the primary deployment, within maximumPercent and the crash back-off.
    const missing = desired - primaryTasks.length;
    const room = maxTotal - running.length;
    if (missing > 0 && room > 0 && now() >= service.nextStartAt && service.status === "ACTIVE") {
      const td = this.findTaskDefinition(primary.taskDefinition);
      if (td) {
        const started: TaskRecord[] = [];
        const onEc2 = this.runsOnEc2(cluster, service.configuration);
        for (let count = 0; count < Math.min(missing, room); count++) {
          const ec2 = onEc2 ? this.placeOnEc2(cluster, td, service.configuration) : undefined;
          if (ec2 && "reason" in ec2) {
            this.placementFailed(service, primary, ec2);
            break;
          }
          started.push(
            this.runTask(cluster, td, {
              group: `service:${service.serviceName}`,
              startedBy: primary.id,
              deploymentId: primary.id,
              serviceName: service.serviceName,
              networkConfiguration: service.configuration.networkConfiguration,
              ...(service.configuration.propagateTags === "SERVICE" ? { tags: service.tags } : {}),
              ...(ec2 ? { ec2 } : {}),
            }),
          );
          this.placementFailures.delete(primary.id);
        }
        if (started.length > 0) {
          this.serviceEvent(service, `has started ${started.length} tasks: ${taskList(started)}.`);
        }
      }
    }

    // ECS words both replacements and scale-in this way.
    const scalingReason = `Scaling activity initiated by (deployment ${primary.id})`;
    // Stop old tasks only while enough healthy tasks remain (minimumHealthyPercent), the ones
    // that are not serving first; then surplus tasks of the primary when scaling in.
    let healthy = running.filter((task) => this.isHealthy(task)).length;
    const primaryHealthy = primaryTasks.filter((task) => this.isHealthy(task)).length;
    // While a gradual deployment shifts traffic, the tasks it shifts from stay.
    const primarySick = live.some(
      (task) => task.deploymentId === primary.id && task.healthStatus === "UNHEALTHY",
    );
    const holdOld = this.shiftTraffic(service, primary, primaryHealthy, primarySick);
    if (primary.rolloutState !== "IN_PROGRESS" && primary.traffic?.state === "ROLLED_BACK") return;
    const stoppable = holdOld
      ? []
      : [...otherTasks].sort((a, b) => Number(this.isHealthy(a)) - Number(this.isHealthy(b)));
    const stopped: TaskRecord[] = [];
    for (const task of stoppable) {
      const wasHealthy = this.isHealthy(task);
      // A healthy old task stops only if minimumHealthyPercent still holds without it: with the
      // default 100%, that is once a new task is healthy in its place.
      if (wasHealthy && healthy - 1 < minHealthy) continue;
      this.stopTask(task, scalingReason, "ServiceSchedulerInitiated");
      stopped.push(task);
      if (wasHealthy) healthy -= 1;
    }
    if (primaryTasks.length > desired) {
      const surplus = [...primaryTasks]
        .sort((a, b) => Number(this.isHealthy(a)) - Number(this.isHealthy(b)) || b.createdAt - a.createdAt)
        .slice(0, primaryTasks.length - desired);
      for (const task of surplus) this.stopTask(task, scalingReason, "ServiceSchedulerInitiated");
      stopped.push(...surplus);
    }
    if (stopped.length > 0) {
      this.serviceEvent(service, `has stopped ${stopped.length} running tasks: ${taskList(stopped)}.`);
    }

    // Roll-out completion.
    const stillOld = this.liveTasks(
      (task) =>
        task.serviceName === service.serviceName &&
        task.clusterArn === service.clusterArn &&
        task.deploymentId !== primary.id,
    ).length;
    if (primary.rolloutState === "IN_PROGRESS" && primaryHealthy >= desired && stillOld === 0) {
      primary.rolloutState = "COMPLETED";
      const failed = primary.rollbackOf
        ? service.deployments.find((d) => d.id === primary.rollbackOf)
        : undefined;
      // A completed rollback keeps saying what it rolled back from and why, as the record of it.
      primary.rolloutStateReason = failed
        ? `ECS deployment ${primary.id} completed: rolled back from deployment ${failed.id}, which failed: ${failed.rolloutStateReason}`
        : `ECS deployment ${primary.id} completed.`;
      primary.updatedAt = now();
      service.lastCompletedTaskDefinition = primary.taskDefinition;
      for (const deployment of service.deployments) {
        if (deployment.status === "ACTIVE") deployment.status = "INACTIVE";
      }
      this.deploymentEvent(service, primary, "SERVICE_DEPLOYMENT_COMPLETED", "INFO");
      this.serviceEvent(service, `deployment ${primary.id} deployment completed.`);
      this.serviceEvent(service, "has reached a steady state.");
      this.options.bus.publish("aws.ecs", "ECS Service Action", [service.serviceArn], {
        eventType: "INFO",
        eventName: "SERVICE_STEADY_STATE",
        clusterArn: service.clusterArn,
        createdAt: new Date().toISOString(),
      });
      this.touch();
    }
    if (primaryHealthy > 0) service.consecutiveFailures = 0;

    // A deleted service becomes INACTIVE once its tasks are gone.
    if (service.status === "DRAINING" && running.length === 0) {
      service.status = "INACTIVE";
      // Its Cloud Map services go with it: its aliases stop answering and may be published again.
      void this.syncServiceConnect(service);
      this.touch();
    }
  }

  /**
   * A task of the service fits no container instance: ECS's service event, and its
   * SERVICE_TASK_PLACEMENT_FAILURE event with the reason. Like ECS, it is repeated while the
   * failure lasts, but only every PLACEMENT_FAILURE_REPEAT_MS, not on every scheduler pass.
   */
  private placementFailed(
    service: ServiceRecord,
    deployment: DeploymentRecord,
    failure: { reason: string; detail: string },
  ): void {
    const last = this.placementFailures.get(deployment.id);
    if (last?.reason === failure.reason && now() - last.at < PLACEMENT_FAILURE_REPEAT_MS) return;
    this.placementFailures.set(deployment.id, { reason: failure.reason, at: now() });
    this.serviceEvent(
      service,
      `was unable to place a task because no container instance met all of its requirements. ${failure.detail}`,
    );
    const strategy = service.configuration.capacityProviderStrategy;
    const providers = Array.isArray(strategy)
      ? (strategy as { capacityProvider?: string }[]).flatMap((item) =>
          item.capacityProvider ? [this.arn(`capacity-provider/${item.capacityProvider}`)] : [],
        )
      : [];
    this.options.bus.publish("aws.ecs", "ECS Service Action", [service.serviceArn], {
      eventType: "ERROR",
      eventName: "SERVICE_TASK_PLACEMENT_FAILURE",
      clusterArn: service.clusterArn,
      ...(providers.length > 0 ? { capacityProviderArns: providers } : {}),
      reason: failure.reason,
      createdAt: new Date().toISOString(),
    });
    this.touch();
  }

  /** Marks a deployment FAILED and, with rollback on, returns to the last completed one. */
  failDeployment(
    service: ServiceRecord,
    deployment: DeploymentRecord,
    reason: string,
    forceRollback = false,
  ): void {
    deployment.rolloutState = "FAILED";
    deployment.rolloutStateReason = reason;
    // A failed deployment takes no production traffic (trafficWeights): the shift is undone.
    if (deployment.traffic && deployment.traffic.state !== "DONE") {
      deployment.traffic.state = "ROLLED_BACK";
      deployment.traffic.percent = 0;
      deployment.traffic.since = now();
      this.shiftProductionRules(service, deployment);
    }
    deployment.updatedAt = now();
    this.deploymentEvent(service, deployment, "SERVICE_DEPLOYMENT_FAILED", "ERROR");
    this.serviceEvent(service, `deployment ${deployment.id} deployment failed: ${reason}`);
    const target = service.lastCompletedTaskDefinition;
    const rollback = forceRollback || service.deploymentConfiguration.deploymentCircuitBreaker.rollback;
    if (rollback && target && target !== deployment.taskDefinition) {
      const next = this.newDeployment(service, target, { rollbackOf: deployment.id });
      this.serviceEvent(service, `rolling back to ${target} with deployment ${next.id}.`);
    }
    this.touch();
  }

  private pruneStoppedTasks(): void {
    const stopped = this.state.tasks.filter((task) => task.lastStatus === "STOPPED");
    if (stopped.length <= KEEP_STOPPED_TASKS) return;
    const drop = new Set(
      stopped
        .sort((a, b) => (a.stoppedAt ?? 0) - (b.stoppedAt ?? 0))
        .slice(0, stopped.length - KEEP_STOPPED_TASKS),
    );
    this.state.tasks = this.state.tasks.filter((task) => !drop.has(task));
    this.touch();
  }

  /** Recent output of a task's container (for failure reasons). */
  recentLines(taskId: string, container: string): string[] {
    return this.runs.get(taskId)?.recentLines(container) ?? [];
  }
}

function weightOf(task: TaskRecord, weights: Map<string, number> | undefined) {
  if (!weights || !task.deploymentId) return {};
  return { group: task.deploymentId, weight: weights.get(task.deploymentId) ?? 0 };
}

/** `(task a) (task b)`, as ECS lists tasks in service events. */
function taskList(tasks: TaskRecord[]): string {
  return tasks.map((task) => `(task ${task.taskId})`).join(" ");
}

/** RunTask's overrides; Berth Local applies the containers' command and environment. */
export interface TaskOverrides {
  containerOverrides?: ContainerOverride[];
  [member: string]: unknown;
}

/** The elastic network interface ECS attaches to an awsvpc task, in the first subnet given. */
function networkInterface(networkConfiguration: unknown): NonNullable<TaskRecord["eni"]> {
  const subnets = (networkConfiguration as { awsvpcConfiguration?: { subnets?: string[] } } | undefined)
    ?.awsvpcConfiguration?.subnets;
  const bytes = randomBytes(6);
  bytes[0] = ((bytes[0] ?? 0) & 0xfe) | 0x02;
  return {
    attachmentId: randomUUID(),
    networkInterfaceId: `eni-${randomBytes(8).toString("hex").slice(0, 17)}`,
    subnetId: subnets?.[0] ?? "subnet-local",
    macAddress: [...bytes].map((byte) => byte.toString(16).padStart(2, "0")).join(":"),
  };
}

/** RunTask's per-container overrides: command and environment, as ECS applies them. */
export interface ContainerOverride {
  name?: string;
  command?: string[];
  environment?: { name?: string; value?: string }[];
}

function applyOverride(
  container: ContainerDefinition,
  override: ContainerOverride | undefined,
): ContainerDefinition {
  if (!override) return container;
  const overridden = new Set((override.environment ?? []).map((variable) => variable.name));
  return {
    ...container,
    ...(override.command ? { command: override.command } : {}),
    environment: [
      ...(container.environment ?? []).filter((variable) => !overridden.has(variable.name)),
      ...(override.environment ?? []),
    ],
  };
}

export function clusterNameOf(reference: string): string {
  return reference.startsWith("arn:") ? (reference.split("/").pop() ?? reference) : reference;
}

function randomDigits(count: number): string {
  let digits = "";
  while (digits.length < count)
    digits += String(randomBytes(1)[0] ?? 0)
      .padStart(3, "0")
      .slice(-1);
  return digits;
}

const seconds = (millis: number | undefined) => (millis === undefined ? undefined : millis / 1000);

/** A task as DescribeTasks returns it (timestamps in epoch seconds). */
export function describeTask(task: TaskRecord): Record<string, unknown> {
  const eni = task.eni;
  const privateIpv4Address = "127.0.0.1";
  return {
    taskArn: task.taskArn,
    clusterArn: task.clusterArn,
    taskDefinitionArn: task.taskDefinitionArn,
    group: task.group,
    ...(task.startedBy ? { startedBy: task.startedBy } : {}),
    lastStatus: task.lastStatus,
    desiredStatus: task.desiredStatus,
    healthStatus: task.healthStatus,
    attachments: eni
      ? [
          {
            id: eni.attachmentId,
            type: "ElasticNetworkInterface",
            status: eniStatus(task),
            details: [
              { name: "subnetId", value: eni.subnetId },
              { name: "networkInterfaceId", value: eni.networkInterfaceId },
              { name: "macAddress", value: eni.macAddress },
              { name: "privateDnsName", value: "localhost" },
              { name: "privateIPv4Address", value: privateIpv4Address },
            ],
          },
        ]
      : [],
    attributes: [{ name: "ecs.cpu-architecture", value: process.arch === "arm64" ? "arm64" : "x86_64" }],
    containers: task.containers.map((container) => ({
      containerArn: container.containerArn,
      taskArn: task.taskArn,
      name: container.name,
      image: container.image,
      lastStatus: container.lastStatus,
      healthStatus: container.healthStatus,
      ...(container.exitCode !== undefined ? { exitCode: container.exitCode } : {}),
      ...(container.reason ? { reason: container.reason } : {}),
      ...(container.runtimeId ? { runtimeId: container.runtimeId } : {}),
      networkBindings: container.networkBindings,
      networkInterfaces: eni ? [{ attachmentId: eni.attachmentId, privateIpv4Address }] : [],
      cpu: "0",
    })),
    ...(task.cpu ? { cpu: task.cpu } : {}),
    ...(task.memory ? { memory: task.memory } : {}),
    overrides: {
      containerOverrides: task.overrides?.containerOverrides ?? task.containers.map(({ name }) => ({ name })),
      inferenceAcceleratorOverrides: [],
      ...omit(task.overrides, "containerOverrides"),
    },
    createdAt: seconds(task.createdAt),
    ...(task.startedAt ? { startedAt: seconds(task.startedAt) } : {}),
    ...(task.stoppingAt ? { stoppingAt: seconds(task.stoppingAt) } : {}),
    ...(task.executionStoppedAt ? { executionStoppedAt: seconds(task.executionStoppedAt) } : {}),
    ...(task.stoppedAt ? { stoppedAt: seconds(task.stoppedAt) } : {}),
    ...(task.stoppedReason ? { stoppedReason: task.stoppedReason } : {}),
    ...(task.stopCode ? { stopCode: task.stopCode } : {}),
    launchType: task.launchType,
    capacityProviderName: task.capacityProviderName ?? "FARGATE",
    ...(task.containerInstanceArn
      ? { containerInstanceArn: task.containerInstanceArn }
      : { platformVersion: "1.4.0", platformFamily: "Linux" }),
    connectivity: "CONNECTED",
    connectivityAt: seconds(task.createdAt),
    availabilityZone: "local",
    enableExecuteCommand: false,
    // Fargate's storage; an EC2 task uses its instance's disk.
    ...(task.containerInstanceArn ? {} : { ephemeralStorage: { sizeInGiB: 20 } }),
    inferenceAccelerators: [],
    version: task.version,
    tags: task.tags,
  };
}

/** The ENI attachment's status as the task moves: created, attached while it runs, then gone. */
function eniStatus(task: TaskRecord): string {
  switch (task.lastStatus) {
    case "PROVISIONING":
      return "PRECREATED";
    case "STOPPED":
      return "DELETED";
    case "DEPROVISIONING":
      return "DETACHED";
    default:
      return "ATTACHED";
  }
}

function omit(record: Record<string, unknown> | undefined, key: string): Record<string, unknown> {
  return Object.fromEntries(Object.entries(record ?? {}).filter(([name]) => name !== key));
}

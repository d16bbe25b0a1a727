import {
  DescribeServicesCommand,
  DescribeTasksCommand,
  type ECSClient,
  type Service as EcsService,
  type Task,
} from "@aws-sdk/client-ecs";
import { Ecs } from "../aws/index.ts";
import { BerthError, isConflict } from "../errors.ts";
import { backOff, busy, CONTENTION_BUDGET_MS } from "../retry.ts";
import {
  DeploymentRecord,
  IngressRecord,
  RefreshRecord,
  ServiceRecord,
  StackRecord,
  type Store,
} from "../store/index.ts";
import { refreshSkipped } from "./automation.ts";
import type { Info } from "./deployment.ts";
import type { HostRefreshReport } from "./host-refresh.ts";
import { type SpecJson, specHash } from "./plan.ts";
import {
  type RequestedDeployment,
  requestDeployment,
  type WarningLog,
  type WorkflowContext,
} from "./request.ts";
import { pinnedDigests, scalingOf, withImages, withScaling } from "./service-spec.ts";
import { isTerminal, type Status } from "./status.ts";

/** The verbs a caller uses on one stored service: read it, redeploy, roll back, scale. */

export async function requireService(
  store: Store,
  stack: string,
  service: string,
): Promise<ServiceRecord.Info> {
  const found = await ServiceRecord.get(store, stack, service);
  if (!found) throw new BerthError("NOT_FOUND", `service ${stack}/${service} does not exist`);
  return found;
}

const SPEC_WRITE_ATTEMPTS = 50;

/**
 * Writes a new spec for a service, re-reading it whenever another writer (a deployment taking a
 * slot, a scale) changed it first. `change` returns the spec to store, or undefined to keep it.
 * Past `CONTENTION_BUDGET_MS` of lost writes it gives up with nothing written (CONFLICT with a
 * Retry-After), so a burst of redeploys is answered in well under a second.
 */
export async function updateSpec(
  store: Store,
  stack: string,
  name: string,
  change: (current: ServiceRecord.Info) => SpecJson | undefined,
  /** Written with the spec. */
  also: Pick<ServiceRecord.Changes, "sourceDigests" | "source"> = {},
  /** How long it keeps trying: a request's budget by default; a workflow step may wait longer. */
  budgetMs = CONTENTION_BUDGET_MS,
  /** The record as the caller just read it: the first attempt writes against it instead of reading again. */
  known?: ServiceRecord.Info,
): Promise<ServiceRecord.Info> {
  const deadline = Date.now() + budgetMs;
  for (
    let attempt = 0;
    attempt < SPEC_WRITE_ATTEMPTS && (attempt === 0 || Date.now() < deadline);
    attempt++
  ) {
    if (attempt > 0) await backOff(attempt, { baseMs: 1, capMs: 50 });
    // A stale `known` only costs a failed conditional write and a fresh read.
    const current = attempt === 0 && known ? known : await requireService(store, stack, name);
    const spec = change(current);
    if (spec === undefined) return current;
    try {
      return await ServiceRecord.update(
        store,
        { stack, name, expectedVersion: current.version },
        { spec, ...also },
      );
    } catch (error) {
      if (!isConflict(error)) throw error;
    }
  }
  throw busy(`service ${stack}/${name} kept changing while its spec was written; nothing was changed, retry`);
}

/** A service and the deployments that hold its slots. */
export interface Described {
  service: ServiceRecord.Info;
  active: Info | undefined;
  queued: Info | undefined;
  /** Where the service is reached from outside: the URL of its gateway (its own first); null without one. */
  url: string | null;
}

/** The URL of the ingress a service is attached to: its own gateway (named after it) first. */
export function urlOf(service: string, ingress: IngressRecord.Info[]): string | null {
  const attached = ingress.filter((resource) => resource.attachments[service] !== undefined);
  const found = attached.find((resource) => resource.name === service) ?? attached[0];
  return found ? IngressRecord.publicUrl(found) : null;
}

export async function describe(
  store: Store,
  service: ServiceRecord.Info,
  ingress?: IngressRecord.Info[],
): Promise<Described> {
  const [active, queued, resources] = await Promise.all([
    service.activeDeploymentId ? DeploymentRecord.get(store, service.activeDeploymentId) : undefined,
    service.queuedDeploymentId ? DeploymentRecord.get(store, service.queuedDeploymentId) : undefined,
    ingress ?? IngressRecord.list(store, service.stack),
  ]);
  return { service, active, queued, url: urlOf(service.name, resources) };
}

/** What ECS says of a service now; null when it is not running (yet) or ECS cannot be asked. */
export interface LiveCounts {
  desired: number | null;
  running: number | null;
}

const UNKNOWN_COUNTS: LiveCounts = { desired: null, running: null };

export interface LiveContext {
  store: Store;
  /** Where live task counts are read with DescribeServices; without it the counts are null. */
  ecs?: { client: Pick<ECSClient, "send">; cluster: string };
  logger: WarningLog;
}

/**
 * The newest ECS deployment of the service (its PRIMARY: the revision an update or a rollback
 * put in place) and its tasks, as ECS reports them while it rolls out.
 */
export interface Rollout {
  /** ECS's deployment id (`ecs-svc/…`), which its tasks carry as `startedBy`. */
  ecsDeploymentId: string;
  taskDefinitionArn: string | null;
  /** IN_PROGRESS, COMPLETED or FAILED; null where ECS does not say (no circuit breaker). */
  rolloutState: string | null;
  desired: number;
  running: number;
  /** Running tasks whose container health checks pass. */
  healthy: number;
  /** Tasks of this deployment that stopped (ECS keeps stopped tasks for about an hour). */
  stopped: number;
}

/** One of the service's ECS events, such as "has started 1 tasks" or "task … stopped: …". */
export interface ServiceEvent {
  at: string;
  message: string;
}

/** What ECS says of a service now. Every part is null when ECS cannot be asked or has no service. */
export interface Live {
  tasks: LiveCounts;
  rollout: Rollout | null;
  /** The service's newest ECS event. */
  latestEvent: ServiceEvent | null;
}

const UNKNOWN_LIVE: Live = { tasks: UNKNOWN_COUNTS, rollout: null, latestEvent: null };

/** ListTasks and DescribeTasks take at most 100 tasks at a time; a rollout's counts stop there. */
const TASKS_PER_CALL = 100;

/**
 * The service's ECS service, named `<stack>-<service>` as the renderer names it, as ECS reports
 * it. A read must not fail because ECS cannot answer: what could not be read is then null.
 */
async function live(context: LiveContext, stack: string, service: string): Promise<Live> {
  const ecs = context.ecs;
  if (!ecs) return UNKNOWN_LIVE;
  let found: EcsService | undefined;
  try {
    const { services = [] } = await ecs.client.send(
      new DescribeServicesCommand({ cluster: ecs.cluster, services: [`${stack}-${service}`] }),
    );
    found = services.find((candidate) => candidate.status === "ACTIVE");
  } catch (error) {
    context.logger.warn("live task counts unavailable", { error });
    return UNKNOWN_LIVE;
  }
  if (!found) return UNKNOWN_LIVE;
  const newest = found.events?.[0];
  return {
    tasks: { desired: found.desiredCount ?? null, running: found.runningCount ?? null },
    rollout: await rolloutOf(context, ecs, found),
    latestEvent:
      newest?.message && newest.createdAt
        ? { at: newest.createdAt.toISOString(), message: newest.message }
        : null,
  };
}

async function rolloutOf(
  context: LiveContext,
  ecs: NonNullable<LiveContext["ecs"]>,
  found: EcsService,
): Promise<Rollout | null> {
  const primary = found.deployments?.find((deployment) => deployment.status === "PRIMARY");
  if (!primary?.id) return null;
  try {
    // Every page: a rollout of more than one page of tasks must count them all.
    const tasksOf = (desiredStatus: "RUNNING" | "STOPPED") =>
      Ecs.listAllTasks(ecs.client, {
        cluster: ecs.cluster,
        startedBy: primary.id,
        desiredStatus,
        maxResults: TASKS_PER_CALL,
      });
    const [running, stopped] = await Promise.all([tasksOf("RUNNING"), tasksOf("STOPPED")]);
    const tasks: Task[] = [];
    for (let start = 0; start < running.length; start += TASKS_PER_CALL) {
      const described = await ecs.client.send(
        new DescribeTasksCommand({
          cluster: ecs.cluster,
          tasks: running.slice(start, start + TASKS_PER_CALL),
        }),
      );
      tasks.push(...(described.tasks ?? []));
    }
    return {
      ecsDeploymentId: primary.id,
      taskDefinitionArn: primary.taskDefinition ?? null,
      rolloutState: primary.rolloutState ?? null,
      desired: primary.desiredCount ?? 0,
      running: tasks.filter((task) => task.lastStatus === "RUNNING").length,
      healthy: tasks.filter((task) => task.lastStatus === "RUNNING" && task.healthStatus === "HEALTHY")
        .length,
      stopped: stopped.length,
    };
  } catch (error) {
    context.logger.warn("rollout task counts unavailable", { error });
    return null;
  }
}

/** DescribeServices takes at most 10 services a call. */
const SERVICES_PER_DESCRIBE = 10;

/**
 * The task counts of many services in as few DescribeServices calls as ECS allows (ten a call),
 * in the order given. A call ECS cannot answer leaves its services' counts unknown (null).
 */
export async function liveCounts(context: LiveContext, refs: ServiceRef[]): Promise<LiveCounts[]> {
  const ecs = context.ecs;
  if (!ecs || refs.length === 0) return refs.map(() => UNKNOWN_COUNTS);
  const names = refs.map(({ stack, service }) => `${stack}-${service}`);
  const found = new Map<string, LiveCounts>();
  const batches: string[][] = [];
  for (let start = 0; start < names.length; start += SERVICES_PER_DESCRIBE) {
    batches.push(names.slice(start, start + SERVICES_PER_DESCRIBE));
  }
  await Promise.all(
    batches.map(async (batch) => {
      try {
        const { services = [] } = await ecs.client.send(
          new DescribeServicesCommand({ cluster: ecs.cluster, services: batch }),
        );
        for (const described of services) {
          if (described.status !== "ACTIVE" || !described.serviceName) continue;
          found.set(described.serviceName, {
            desired: described.desiredCount ?? null,
            running: described.runningCount ?? null,
          });
        }
      } catch (error) {
        context.logger.warn("live task counts unavailable", { error, services: batch });
      }
    }),
  );
  return names.map((name) => found.get(name) ?? UNKNOWN_COUNTS);
}

/** A stored service, its slots' deployments and what ECS says of it now. */
export async function describeLive(
  context: LiveContext,
  { stack, service }: ServiceRef,
): Promise<Described & Live> {
  const described = await describe(context.store, await requireService(context.store, stack, service));
  return { ...described, ...(await live(context, stack, service)) };
}

export interface ServiceRef {
  stack: string;
  service: string;
}

/** Deploys the service again; `images` (container → reference) first replace those containers' images. */
export async function redeploy(
  context: WorkflowContext,
  { stack, service, images = {} }: ServiceRef & { images?: Record<string, string> },
): Promise<RequestedDeployment> {
  const hasImages = Object.keys(images).length > 0;
  // A service that never ran has no images to deploy again: what is built from source is built
  // from the source it was last applied with. The directory may have changed since, so its
  // digests no longer say what runs, and are cleared.
  let source: string | undefined;
  let spec: SpecJson;
  let known: ServiceRecord.Info | undefined;
  if (hasImages) {
    // The images travel on the deployment and are written into the spec when it runs
    // (load-deployment), so a burst of redeploys does not fight over one spec write: each is
    // only placed in the service's slots. An unknown container is refused here, at once.
    const current = await requireService(context.store, stack, service);
    source = current.liveTaskDefinitionArn ? undefined : current.source;
    spec = withImages(service, current.spec, images);
    known = current;
  } else {
    const updated = await updateSpec(
      context.store,
      stack,
      service,
      (current) => {
        source = current.liveTaskDefinitionArn ? undefined : current.source;
        return source && current.sourceDigests ? current.spec : undefined;
      },
      { sourceDigests: null },
    );
    spec = updated.spec;
    known = updated;
  }
  const named = Object.entries(images).map(([container, image]) => `${container}=${image}`);
  return requestDeployment(
    context,
    {
      stack,
      service,
      trigger: "api",
      specHash: specHash(spec),
      imageDigests: pinnedDigests(images),
      reason: hasImages ? `redeploy with ${named.join(", ")}`.slice(0, 1000) : "redeploy requested",
      parameters: { action: "deploy", ...(hasImages ? { images } : {}), ...(source ? { source } : {}) },
    },
    known,
  );
}

/** A page of the service's deployments, newest first. */
export async function listDeployments(
  store: Store,
  { stack, service }: ServiceRef,
  page: { limit?: number; cursor?: string } = {},
) {
  await requireService(store, stack, service);
  return DeploymentRecord.listForService(store, stack, service, page);
}

/** Deployment listings this deep without a success mean there is nothing good to return to. */
const ROLLBACK_SEARCH_PAGES = 10;

async function lastSucceeded(store: Store, stack: string, service: string) {
  let cursor: string | undefined;
  for (let page = 0; page < ROLLBACK_SEARCH_PAGES; page++) {
    const listing = await DeploymentRecord.listForService(store, stack, service, { limit: 100, cursor });
    const found = listing.items.find((deployment) => deployment.status === "SUCCEEDED");
    if (found) return found;
    if (!listing.nextCursor) return undefined;
    cursor = listing.nextCursor;
  }
  return undefined;
}

/** The deployment a rollback returns to: the named one, which must have succeeded, or the last good one. */
async function rollbackTarget(store: Store, { stack, service }: ServiceRef, deploymentId?: string) {
  const current = await requireService(store, stack, service);
  if (!deploymentId) {
    const target = await lastSucceeded(store, stack, service);
    if (!target || !current.lastGoodTaskDefinitionArn) {
      throw new BerthError("CONFLICT", `${stack}/${service} has no successful deployment to roll back to`);
    }
    return { target, taskDefinitionArn: current.lastGoodTaskDefinitionArn };
  }
  const target = await DeploymentRecord.get(store, deploymentId);
  if (!target || target.stack !== stack || target.service !== service) {
    throw new BerthError("NOT_FOUND", `${stack}/${service} has no deployment ${deploymentId}`);
  }
  if (target.status !== "SUCCEEDED") {
    throw new BerthError(
      "CONFLICT",
      `deployment ${target.id} ended ${target.status}; only a deployment that succeeded can be returned to`,
    );
  }
  // The revision a named deployment ran is found in its events by the workflow.
  return { target, taskDefinitionArn: undefined };
}

/** Returns the service to its last good deployment, or to a named earlier one that succeeded. */
export async function rollback(
  context: WorkflowContext,
  ref: ServiceRef & { deploymentId?: string },
): Promise<RequestedDeployment> {
  const { target, taskDefinitionArn } = await rollbackTarget(context.store, ref, ref.deploymentId);
  return requestDeployment(context, {
    ...ref,
    trigger: "rollback",
    specHash: target.specHash,
    imageDigests: target.imageDigests,
    reason: `rollback to ${target.id}`,
    parameters: {
      action: "rollback",
      rollbackTo: { deploymentId: target.id, ...(taskDefinitionArn ? { taskDefinitionArn } : {}) },
    },
  });
}

export interface ScaleRequest {
  min?: number;
  max?: number;
  desired?: number;
}

/** The bounds a scale request leaves the service with; refuses bounds that contradict each other. */
function scaledBounds(ref: ServiceRef, current: SpecJson, request: ScaleRequest) {
  const scaling = scalingOf(current);
  if (!scaling) {
    throw new BerthError("INVALID_INPUT", `${ref.stack}/${ref.service} does not scale (it is a batch job)`);
  }
  const bounds = { min: request.min ?? scaling.min, max: request.max ?? scaling.max };
  if (bounds.min > bounds.max) {
    const path = request.min === undefined ? "body.max" : "body.min";
    throw new BerthError("INVALID_INPUT", `min ${bounds.min} would exceed max ${bounds.max}`, [
      { path, message: `min ${bounds.min} must not exceed max ${bounds.max}` },
    ]);
  }
  const { desired } = request;
  if (desired !== undefined && (desired < bounds.min || desired > bounds.max)) {
    throw new BerthError("INVALID_INPUT", `desired ${desired} is outside ${bounds.min}..${bounds.max}`, [
      { path: "body.desired", message: `must be from ${bounds.min} to ${bounds.max}` },
    ]);
  }
  return { bounds, unchanged: bounds.min === scaling.min && bounds.max === scaling.max };
}

/**
 * Changes the service's task counts: `min` and `max` are written into its spec, `desired` is
 * carried by the deployment only.
 */
export async function scale(
  context: WorkflowContext,
  ref: ServiceRef & ScaleRequest,
): Promise<RequestedDeployment> {
  let bounds = { min: 0, max: 0 };
  const updated = await updateSpec(context.store, ref.stack, ref.service, (current) => {
    const scaled = scaledBounds(ref, current.spec, ref);
    bounds = scaled.bounds;
    return scaled.unchanged ? undefined : withScaling(current.spec, bounds);
  });
  const desired = ref.desired === undefined ? {} : { desired: ref.desired };
  return requestDeployment(context, {
    stack: ref.stack,
    service: ref.service,
    trigger: "api",
    specHash: specHash(updated.spec),
    reason: `scale to min ${bounds.min}, max ${bounds.max}${ref.desired === undefined ? "" : `, desired ${ref.desired}`}`,
    parameters: { action: "scale", scale: { ...bounds, ...desired } },
  });
}

/**
 * Requests a refresh of a running service: a forced new ECS deployment of the revision it runs,
 * queued behind whatever deployment it has, like any other request.
 */
export async function refresh(
  context: WorkflowContext,
  service: ServiceRecord.Info,
  trigger: "webhook" | "schedule",
  reason: string,
): Promise<RequestedDeployment> {
  return requestDeployment(context, {
    stack: service.stack,
    service: service.name,
    trigger,
    specHash: specHash(service.spec),
    reason,
    parameters: { action: "refresh" },
  });
}

export interface ScheduledRefresh {
  /** `stack/service` of each refresh requested. */
  requested: string[];
  /** The refresh deployments requested, by service. */
  deployments: RefreshRecord.Requested[];
  /** `stack: why` of each stack left alone. */
  skipped: string[];
  /** `stack/service: why` of each refresh that could not be requested. */
  failed: string[];
  /** Where the installation has EC2 capacity: the hosts' refresh onto the newest ECS-optimized AMI. */
  hosts?: HostRefreshReport;
}

async function refreshServices(
  context: WorkflowContext,
  stack: string,
  reason: string,
  result: ScheduledRefresh,
): Promise<void> {
  for (const service of await ServiceRecord.list(context.store, stack)) {
    if (!service.liveTaskDefinitionArn) continue;
    try {
      const requested = await refresh(context, service, "schedule", reason);
      result.requested.push(`${stack}/${service.name}`);
      result.deployments.push({ stack, service: service.name, deploymentId: requested.deployment.id });
    } catch (error) {
      // One service's refusal (its slots are full, it is being deleted) must not stop the others.
      const described = error instanceof Error ? error.message : String(error);
      context.logger.warn("scheduled refresh not requested", {
        stack,
        service: service.name,
        error: described,
      });
      result.failed.push(`${stack}/${service.name}: ${described}`);
    }
  }
}

/**
 * The installation's weekly refresh: every deployed service of every stack gets a refresh
 * deployment (queued like any deployment), except the stacks whose `berth.refresh.schedule` is
 * `off` or a schedule of their own, or whose maintenance window is closed now.
 */
export async function refreshAll(context: WorkflowContext, reason: string): Promise<ScheduledRefresh> {
  const result: ScheduledRefresh = { requested: [], deployments: [], skipped: [], failed: [] };
  for (const stack of await StackRecord.list(context.store)) {
    const skipped = refreshSkipped(stack.stackFile, context.store.clock());
    if (skipped) result.skipped.push(`${stack.name}: ${skipped}`);
    else await refreshServices(context, stack.name, reason, result);
  }
  return result;
}

/**
 * One stack's own schedule fired (EventBridge Scheduler): each of its deployed services gets a
 * refresh deployment, unless the stack is gone, its refresh is now off, or its window is closed.
 */
export async function refreshStack(
  context: WorkflowContext,
  stack: string,
  reason: string,
): Promise<ScheduledRefresh> {
  const result: ScheduledRefresh = { requested: [], deployments: [], skipped: [], failed: [] };
  const found = await StackRecord.get(context.store, stack);
  const skipped = found
    ? refreshSkipped(found.stackFile, context.store.clock(), true)
    : "the stack does not exist (its schedule outlived it)";
  if (skipped) result.skipped.push(`${stack}: ${skipped}`);
  else await refreshServices(context, stack, reason, result);
  return result;
}

/**
 * Records a scheduled refresh once it has requested its deployments (and refreshed the hosts),
 * so `GET /v1/refreshes/{id}` can later say which of them failed. A failure to record is
 * logged, not thrown: the deployments are already under way.
 */
export async function recordRefresh(
  context: Pick<WorkflowContext, "store" | "logger">,
  trigger: RefreshRecord.Info["trigger"],
  result: ScheduledRefresh,
  startedAt: Date,
  stack?: string,
): Promise<string | undefined> {
  try {
    const recorded = await RefreshRecord.create(
      context.store,
      {
        trigger,
        ...(stack ? { stack } : {}),
        requested: result.deployments,
        skipped: result.skipped,
        notRequested: result.failed,
        ...(result.hosts ? { hosts: { ...result.hosts } } : {}),
      },
      startedAt,
    );
    return recorded.id;
  } catch (error) {
    context.logger.warn("scheduled refresh not recorded", {
      error: error instanceof Error ? error.message : String(error),
    });
    return undefined;
  }
}

/** Deployment outcomes a refresh reports as failed: the service's new tasks did not become healthy. */
const FAILED_OUTCOMES: ReadonlySet<string> = new Set(["FAILED", "ROLLED_BACK", "ROLLBACK_FAILED"]);

export interface RefreshOutcome {
  stack: string;
  service: string;
  deploymentId: string;
  /** The deployment's status now, or `MISSING` when its record is gone. */
  status: string;
  reason: string;
}

export interface RefreshView {
  id: string;
  startedAt: string;
  trigger: RefreshRecord.Info["trigger"];
  stack?: string;
  /**
   * `running` while any of its deployments has not ended; then `failed` when any of them ended
   * FAILED, ROLLED_BACK or ROLLBACK_FAILED, or could not be requested; else `succeeded`.
   */
  status: "running" | "succeeded" | "failed";
  /** Each requested refresh deployment and its outcome so far. */
  services: RefreshOutcome[];
  /** The refreshes that ended failed (a subset of `services`), with their reasons. */
  failed: RefreshOutcome[];
  skipped: string[];
  notRequested: string[];
  hosts?: Record<string, unknown>;
}

/** A recorded refresh with its deployments' outcomes as they are now. */
export async function describeRefresh(store: Store, info: RefreshRecord.Info): Promise<RefreshView> {
  const services = await Promise.all(
    info.requested.map(async (requested): Promise<RefreshOutcome> => {
      const deployment = await DeploymentRecord.get(store, requested.deploymentId);
      return {
        ...requested,
        status: deployment?.status ?? "MISSING",
        reason: deployment?.reason ?? "the deployment's record no longer exists",
      };
    }),
  );
  const failed = services.filter((outcome) => FAILED_OUTCOMES.has(outcome.status));
  const running = services.some(
    (outcome) => outcome.status !== "MISSING" && !isTerminal(outcome.status as Status),
  );
  return {
    id: info.id,
    startedAt: info.startedAt,
    trigger: info.trigger,
    ...(info.stack ? { stack: info.stack } : {}),
    status: running ? "running" : failed.length > 0 || info.notRequested.length > 0 ? "failed" : "succeeded",
    services,
    failed,
    skipped: info.skipped,
    notRequested: info.notRequested,
    ...(info.hosts ? { hosts: info.hosts } : {}),
  };
}

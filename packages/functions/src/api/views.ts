import { setTimeout as sleep } from "node:timers/promises";
import { BerthError } from "@berth/core/errors";
import { DeploymentEventRecord, DeploymentRecord, ServiceRecord, type Store } from "@berth/core/store";
import type { z } from "zod";
import { ApiError } from "./errors.ts";
import type { SpecJson } from "./plan.ts";
import type { DeploymentSummary, RequestedDeploymentBody, ServiceSummary, ServiceView } from "./schemas.ts";
import { addressOf, revisionOf, scalingOf } from "./service-spec.ts";
import { describeStart, PARAMETERS_EVENT, type RequestedDeployment, WorkflowParameters } from "./workflow.ts";

/** Reads that several routes share, and the shapes they answer with. */

export async function requireService(
  store: Store,
  stack: string,
  service: string,
): Promise<ServiceRecord.Info> {
  const found = await ServiceRecord.get(store, stack, service);
  if (!found) throw new ApiError("NOT_FOUND", `service ${stack}/${service} does not exist`);
  return found;
}

export function requestedBody(requested: RequestedDeployment): z.input<typeof RequestedDeploymentBody> {
  return {
    deployment: requested.deployment,
    placement: requested.placement,
    workflow: describeStart(requested.workflow),
  };
}

function summary(deployment: DeploymentRecord.Info | undefined): z.input<typeof DeploymentSummary> | null {
  if (!deployment) return null;
  const { id, status, reason, trigger, createdAt, updatedAt } = deployment;
  return { id, status, reason, trigger, createdAt, updatedAt };
}

async function slotDeployments(store: Store, service: ServiceRecord.Info) {
  const [active, queued] = await Promise.all([
    service.activeDeploymentId ? DeploymentRecord.get(store, service.activeDeploymentId) : undefined,
    service.queuedDeploymentId ? DeploymentRecord.get(store, service.queuedDeploymentId) : undefined,
  ]);
  return { active, queued };
}

function statusOf(service: ServiceRecord.Info): z.input<typeof ServiceView>["status"] {
  if (service.activeDeploymentId) return "DEPLOYING";
  return service.liveTaskDefinitionArn ? "LIVE" : "NOT_DEPLOYED";
}

/** What ECS says of a service now; null when it is not running (yet) or ECS cannot be asked. */
export interface LiveCounts {
  desired: number | null;
  running: number | null;
}

export async function serviceView(
  store: Store,
  service: ServiceRecord.Info,
  counts: LiveCounts = { desired: null, running: null },
): Promise<z.input<typeof ServiceView>> {
  const { active, queued } = await slotDeployments(store, service);
  const live = service.liveTaskDefinitionArn;
  return {
    stack: service.stack,
    name: service.name,
    type: typeof service.spec.type === "string" ? service.spec.type : "unknown",
    status: statusOf(service),
    spec: service.spec,
    address: addressOf(service.name, service.spec),
    liveRevision: live ? { taskDefinitionArn: live, revision: revisionOf(live) } : null,
    lastGoodTaskDefinitionArn: service.lastGoodTaskDefinitionArn ?? null,
    scaling: scalingOf(service.spec),
    tasks: counts,
    activeDeployment: summary(active),
    queuedDeployment: summary(queued),
    updatedAt: service.updatedAt,
  };
}

export async function serviceSummary(
  store: Store,
  service: ServiceRecord.Info,
): Promise<z.input<typeof ServiceSummary>> {
  const { name, type, status, address, activeDeployment, queuedDeployment } = await serviceView(
    store,
    service,
  );
  return { name, type, status, address, activeDeployment, queuedDeployment };
}

/**
 * Whether the service's newest waiting or running deployment removes it: the queued one runs
 * last, so it decides; else the active one.
 */
export async function isBeingDeleted(store: Store, service: ServiceRecord.Info): Promise<boolean> {
  const newest = service.queuedDeploymentId ?? service.activeDeploymentId;
  if (!newest) return false;
  const events = await DeploymentEventRecord.all(store, newest);
  const recorded = events.findLast((event) => event.type === PARAMETERS_EVENT);
  const parameters = recorded ? WorkflowParameters.safeParse(recorded.data) : undefined;
  return parameters?.success === true && parameters.data.action === "delete";
}

const SPEC_WRITE_ATTEMPTS = 50;

/**
 * Writes a new spec for a service, re-reading it whenever another writer (a deployment taking a
 * slot, a scale) changed it first. `change` returns the spec to store, or undefined to keep it.
 */
export async function updateServiceSpec(
  store: Store,
  stack: string,
  name: string,
  change: (current: ServiceRecord.Info) => SpecJson | undefined,
): Promise<ServiceRecord.Info> {
  for (let attempt = 0; attempt < SPEC_WRITE_ATTEMPTS; attempt++) {
    if (attempt > 0) await sleep(Math.random() * Math.min(50, 2 ** attempt));
    const current = await requireService(store, stack, name);
    const spec = change(current);
    if (spec === undefined) return current;
    try {
      return await ServiceRecord.update(store, { stack, name, expectedVersion: current.version }, { spec });
    } catch (error) {
      if (!(error instanceof BerthError && error.code === "CONFLICT")) throw error;
    }
  }
  throw new ApiError("CONFLICT", `service ${stack}/${name} kept changing while its spec was written; retry`);
}

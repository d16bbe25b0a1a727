import { type DeploymentRequest, type Service, ServiceSpec } from "@berth/core/deployments";
import type { DeploymentRecord } from "@berth/core/store";
import type { z } from "zod";
import type {
  DeploymentSummary,
  RequestedDeploymentBody,
  ServiceSummary,
  ServiceView,
  WorkflowStartBody,
} from "./schemas.ts";

/** The shapes several routes answer with, encoded from what core's verbs return. */

/** The JSON form of a workflow's start. */
export function startBody(workflow: DeploymentRequest.WorkflowStart): z.input<typeof WorkflowStartBody> {
  if (workflow.started) return { started: true, executionArn: workflow.executionArn };
  if ("waiting" in workflow) return { started: false, waiting: true };
  return { started: false, reason: workflow.reason };
}

export function requestedBody(
  requested: DeploymentRequest.RequestedDeployment,
): z.input<typeof RequestedDeploymentBody> {
  return {
    deployment: requested.deployment,
    placement: requested.placement,
    workflow: startBody(requested.workflow),
  };
}

function summary(deployment: DeploymentRecord.Info | undefined): z.input<typeof DeploymentSummary> | null {
  if (!deployment) return null;
  const { id, status, reason, trigger, requestedBy, createdAt, updatedAt } = deployment;
  return { id, status, reason, trigger, ...(requestedBy ? { requestedBy } : {}), createdAt, updatedAt };
}

function statusOf(described: Service.Described): z.input<typeof ServiceView>["status"] {
  if (described.service.activeDeploymentId) return "DEPLOYING";
  return described.service.liveTaskDefinitionArn ? "LIVE" : "NOT_DEPLOYED";
}

export function serviceView(
  described: Service.Described,
  { tasks, rollout, latestEvent }: Service.Live = {
    tasks: { desired: null, running: null },
    rollout: null,
    latestEvent: null,
  },
): z.input<typeof ServiceView> {
  const { service } = described;
  const live = service.liveTaskDefinitionArn;
  return {
    stack: service.stack,
    name: service.name,
    type: typeof service.spec.type === "string" ? service.spec.type : "unknown",
    status: statusOf(described),
    spec: service.spec,
    address: ServiceSpec.addressOf(service.stack, service.name, service.spec, described.url),
    url: described.url,
    liveRevision: live ? { taskDefinitionArn: live, revision: ServiceSpec.revisionOf(live) } : null,
    lastGoodTaskDefinitionArn: service.lastGoodTaskDefinitionArn ?? null,
    scaling: ServiceSpec.scalingOf(service.spec),
    tasks,
    rollout,
    latestEvent,
    activeDeployment: summary(described.active),
    queuedDeployment: summary(described.queued),
    updatedAt: service.updatedAt,
  };
}

export function serviceSummary(described: Service.Described): z.input<typeof ServiceSummary> {
  const { name, type, status, address, url, activeDeployment, queuedDeployment } = serviceView(described);
  return { name, type, status, address, url, activeDeployment, queuedDeployment };
}

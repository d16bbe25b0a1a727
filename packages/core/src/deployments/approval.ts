import { BerthError } from "../errors.ts";
import { DeploymentRecord, ServiceRecord } from "../store/index.ts";
import * as Deployment from "./deployment.ts";
import {
  type DeploymentRequest,
  type RequestedDeployment,
  startPlaced,
  type WorkflowContext,
} from "./request.ts";

/**
 * Deployments held for approval (a followed image with `follow.approval: true`): stored PENDING,
 * outside the service's slots, until someone approves one (it then takes its place like any
 * request) or rejects it (CANCELLED). Nothing runs before an approval.
 */

/** Stores a request as PENDING, awaiting approval; it holds no slot and starts nothing. */
export async function hold(
  context: Pick<WorkflowContext, "store">,
  request: DeploymentRequest,
): Promise<DeploymentRecord.Info> {
  return DeploymentRecord.create(context.store, {
    ...request,
    reason: `awaiting approval: ${request.reason}`.slice(0, 1024),
    awaitingApproval: true,
  });
}

async function heldDeployment(context: Pick<WorkflowContext, "store">, id: string) {
  const deployment = await DeploymentRecord.get(context.store, id);
  if (!deployment) throw new BerthError("NOT_FOUND", `deployment ${id} does not exist`);
  if (!deployment.awaitingApproval) {
    throw new BerthError("CONFLICT", `deployment ${id} does not wait for an approval`);
  }
  return deployment;
}

/**
 * Approves a held deployment: it is placed on its service (active, or queued behind the one that
 * runs) and its workflow starts when it holds the active slot. Approving twice is answered with
 * CONFLICT; an approval a crash interrupted (approved, not placed) is completed by the next one.
 */
export async function approve(
  context: WorkflowContext,
  id: string,
  approvedBy: string,
): Promise<RequestedDeployment> {
  const deployment = await heldDeployment(context, id);
  if (deployment.status !== "PENDING") {
    throw new BerthError("CONFLICT", `deployment ${id} is ${deployment.status}: there is nothing to approve`);
  }
  const approved = await DeploymentRecord.markApproved(context.store, id, approvedBy);
  if (!approved) {
    // Approved before: complete the placement only if no slot holds it yet (a crash in between).
    const current = await DeploymentRecord.get(context.store, id);
    if (current?.status !== "PENDING" || current.approvedAt === undefined) {
      throw new BerthError(
        "CONFLICT",
        `deployment ${id} is ${current?.status ?? "gone"}: it cannot be approved`,
      );
    }
    const placed = await isPlaced(context, current);
    if (placed) throw new BerthError("CONFLICT", `deployment ${id} is already approved`);
    return startPlaced(context, await Deployment.placeDeployment(context.store, current));
  }
  return startPlaced(context, await Deployment.placeDeployment(context.store, approved));
}

async function isPlaced(context: Pick<WorkflowContext, "store">, deployment: DeploymentRecord.Info) {
  const service = await ServiceRecord.get(context.store, deployment.stack, deployment.service);
  return service?.activeDeploymentId === deployment.id || service?.queuedDeploymentId === deployment.id;
}

/** Rejects a held deployment: it ends CANCELLED with the reason, and never runs. */
export async function reject(
  context: Pick<WorkflowContext, "store">,
  id: string,
  rejectedBy: string,
  reason?: string,
): Promise<DeploymentRecord.Info> {
  const deployment = await heldDeployment(context, id);
  if (deployment.status !== "PENDING" || deployment.approvedAt !== undefined) {
    throw new BerthError(
      "CONFLICT",
      `deployment ${id} is ${deployment.approvedAt ? "approved" : deployment.status}: it cannot be rejected`,
    );
  }
  const why = `rejected by ${rejectedBy}${reason ? `: ${reason}` : ""}`.slice(0, 1024);
  // Only while still unapproved: an approval that lands between the read above and this write wins.
  return DeploymentRecord.compareAndSetStatus(context.store, id, {
    from: "PENDING",
    to: "CANCELLED",
    reason: why,
    unapproved: true,
  });
}

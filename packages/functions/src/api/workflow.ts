import type { Logger } from "@aws-lambda-powertools/logger";
import { Deployment, Workflow } from "@berth/core/deployments";
import { BerthError } from "@berth/core/errors";
import { DeploymentEventRecord, DeploymentRecord, type Store } from "@berth/core/store";

// The parameters and the input of a workflow are the domain's: the steps read them too.
export const WorkflowParameters = Workflow.WorkflowParameters;
export type WorkflowParameters = Workflow.WorkflowParameters;
export const WorkflowInput = Workflow.WorkflowInput;
export type WorkflowInput = Workflow.WorkflowInput;
export const PARAMETERS_EVENT = Workflow.PARAMETERS_EVENT;
export const workflowInputFor = Workflow.workflowInputFor;

/**
 * Starts the workflow of a stored deployment (the state machine its action needs), named after
 * it, so a second start of the same deployment cannot run it twice. On AWS (and in Berth Local,
 * through its Step Functions endpoint) this is `StartExecution`; see `step-functions.ts`.
 */
export type StartExecution = (
  deploymentId: string,
  input: WorkflowInput,
) => Promise<{ executionArn: string }>;

export interface WorkflowContext {
  store: Store;
  startExecution: StartExecution;
  logger: Logger;
}

export function workflowContextOf(context: {
  dependencies: { store: Store; startExecution: StartExecution };
  logger: Logger;
}): WorkflowContext {
  return {
    store: context.dependencies.store,
    startExecution: context.dependencies.startExecution,
    logger: context.logger,
  };
}

export type WorkflowStart =
  | { started: true; executionArn: string }
  | { started: false; reason: string }
  /** Queued or ended while being placed: another deployment's end will start it, or nothing will. */
  | { started: false; reason?: undefined; waiting: true };

/** The JSON form of a start, as responses show it. */
export function describeStart(workflow: WorkflowStart): {
  started: boolean;
  executionArn?: string;
  reason?: string;
  waiting?: boolean;
} {
  if (workflow.started) return { started: true, executionArn: workflow.executionArn };
  if ("waiting" in workflow) return { started: false, waiting: true };
  return { started: false, reason: workflow.reason };
}

/** Reasons are shown to people and stored with a 1 KiB cap. */
function failureReason(error: unknown): string {
  const description = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return `the deploy workflow could not be started (${description})`.slice(0, 1000);
}

/**
 * Starts the workflow of a deployment that holds its service's active slot. A failure to start
 * keeps the deployment PENDING and says why in its reason, so nothing pretends it is running
 * and a cancel can hand the slot to the next request.
 */
export async function startWorkflow(
  context: WorkflowContext,
  deployment: DeploymentRecord.Info,
  input: WorkflowInput,
): Promise<{ deployment: DeploymentRecord.Info; workflow: WorkflowStart }> {
  let executionArn: string;
  try {
    ({ executionArn } = await context.startExecution(deployment.id, input));
  } catch (error) {
    const reason = failureReason(error);
    context.logger.warn("deploy workflow not started", { deploymentId: deployment.id, error });
    // PENDING → PENDING changes only the reason (and records an event), on the condition that
    // nothing moved the deployment meanwhile.
    const updated = await DeploymentRecord.compareAndSetStatus(
      context.store,
      deployment.id,
      "PENDING",
      "PENDING",
      reason,
    ).catch(async (writeError: unknown) => {
      if (!(writeError instanceof BerthError && writeError.code === "CONFLICT")) throw writeError;
      return (await DeploymentRecord.get(context.store, deployment.id)) ?? deployment;
    });
    return { deployment: updated, workflow: { started: false, reason } };
  }
  const updated = await DeploymentRecord.recordDetails(context.store, deployment.id, { executionArn });
  return { deployment: updated, workflow: { started: true, executionArn } };
}

export interface DeploymentRequest {
  stack: string;
  service: string;
  trigger: DeploymentRecord.Trigger;
  specHash: string;
  imageDigests?: Record<string, string>;
  /** Shown while the deployment waits; says what was asked, in words. */
  reason: string;
  parameters: WorkflowParameters;
}

export interface RequestedDeployment {
  deployment: DeploymentRecord.Info;
  placement: Deployment.RequestOutcome["placement"];
  workflow: WorkflowStart;
}

/**
 * Stores a deployment request, queues it behind its service's active deployment, records its
 * parameters, and starts its workflow if it took the active slot.
 */
export async function requestDeployment(
  context: WorkflowContext,
  request: DeploymentRequest,
): Promise<RequestedDeployment> {
  const outcome = await Deployment.requestDeployment(context.store, {
    stack: request.stack,
    service: request.service,
    trigger: request.trigger,
    specHash: request.specHash,
    imageDigests: request.imageDigests ?? {},
    reason: request.reason,
  });
  // Plain deploys need no record: a deployment without parameters is a deploy. Core places the
  // request before this event is written, so a deployment promoted in that instant starts as a
  // deploy; `DeploymentRecord.CreateInput` has no field to carry parameters in the same write.
  if (Workflow.needsParametersRecord(request.parameters)) {
    await DeploymentEventRecord.append(context.store, outcome.deployment.id, {
      type: PARAMETERS_EVENT,
      message: request.reason,
      data: request.parameters,
    });
  }
  if (outcome.promoted) await startPromoted(context, outcome.promoted);
  if (!outcome.activate) {
    // Core reports "cancelled" for any request that was final by the time it re-read itself,
    // which includes one a newer request superseded in that instant; the status says which.
    const superseded = outcome.placement === "cancelled" && outcome.deployment.status === "SUPERSEDED";
    return {
      deployment: outcome.deployment,
      placement: superseded ? "superseded" : outcome.placement,
      workflow: { started: false, waiting: true },
    };
  }
  const input: WorkflowInput = {
    ...request.parameters,
    deploymentId: outcome.deployment.id,
    stack: request.stack,
    service: request.service,
  };
  const started = await startWorkflow(context, outcome.deployment, input);
  return { deployment: started.deployment, placement: outcome.placement, workflow: started.workflow };
}

/** Starts a deployment that another one's end or cancellation moved into the active slot. */
export async function startPromoted(
  context: WorkflowContext,
  promoted: DeploymentRecord.Info,
): Promise<{ deployment: DeploymentRecord.Info; workflow: WorkflowStart }> {
  return startWorkflow(context, promoted, await workflowInputFor(context.store, promoted));
}

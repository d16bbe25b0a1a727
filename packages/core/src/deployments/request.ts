import { isConflict } from "../errors.ts";
import { DeploymentRecord, type ServiceRecord, type Store } from "../store/index.ts";
import * as Deployment from "./deployment.ts";
import type { AnswerWait } from "./rollout/answer.ts";
import { cancelWait } from "./rollout/cancel.ts";
import { type WorkflowInput, type WorkflowParameters, workflowInputOf } from "./workflow-input.ts";

export type { AnswerWait };

/**
 * The port through which a stored deployment's workflow starts (the state machine its action
 * needs), named after it, so a second start of the same deployment cannot run it twice. On AWS
 * (and in Berth Local, through its Step Functions endpoint) the adapter in `aws/step-functions.ts`
 * sends `StartExecution`; tests pass a recording fake.
 */
export type StartExecution = (
  deploymentId: string,
  input: WorkflowInput,
) => Promise<{ executionArn: string }>;

/** Where warnings about a start that failed go; the functions' structured logger fits it. */
export interface WarningLog {
  warn(message: string, details: Record<string, unknown>): void;
}

/** What requesting a deployment and starting its workflow needs. */
export interface WorkflowContext {
  store: Store;
  startExecution: StartExecution;
  logger: WarningLog;
  /**
   * How a cancel reaches a deployment waiting on ECS: its cluster's waits, and the port that
   * answers a waiting workflow's task token (Step Functions SendTaskSuccess). Without it a cancel
   * is only noticed at the workflow's next step.
   */
  waits?: { cluster: string; answer: AnswerWait };
  /**
   * Who is asking, when a person or script asks through the API: recorded on each deployment
   * the call requests (`requestedBy`), and `via: "cli"` turns the `api` trigger into `cli`.
   */
  requester?: Requester;
}

export interface Requester {
  /** How the API names the caller, e.g. `token ci-bot`; never a secret. */
  by: string;
  via: "api" | "cli";
}

/** The request as the context's caller makes it: who asked, and through which door. */
function attributed(context: WorkflowContext, request: DeploymentRequest): DeploymentRequest {
  const { requester } = context;
  if (!requester) return request;
  return {
    ...request,
    trigger: request.trigger === "api" ? requester.via : request.trigger,
    requestedBy: request.requestedBy ?? requester.by,
  };
}

export type WorkflowStart =
  | { started: true; executionArn: string }
  | { started: false; reason: string }
  /** Queued or ended while being placed: another deployment's end will start it, or nothing will. */
  | { started: false; reason?: undefined; waiting: true };

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
async function startWorkflow(
  context: WorkflowContext,
  deployment: DeploymentRecord.Info,
): Promise<{ deployment: DeploymentRecord.Info; workflow: WorkflowStart }> {
  let executionArn: string;
  try {
    ({ executionArn } = await context.startExecution(deployment.id, workflowInputOf(deployment)));
  } catch (error) {
    const reason = failureReason(error);
    context.logger.warn("deploy workflow not started", { deploymentId: deployment.id, error });
    const updated = await Deployment.explainWait(context.store, deployment.id, reason).catch(
      async (writeError: unknown) => {
        if (!isConflict(writeError)) throw writeError;
        return (await DeploymentRecord.get(context.store, deployment.id)) ?? deployment;
      },
    );
    return { deployment: updated, workflow: { started: false, reason } };
  }
  const updated = await DeploymentRecord.recordDetails(context.store, deployment.id, { executionArn });
  return { deployment: updated, workflow: { started: true, executionArn } };
}

export interface DeploymentRequest {
  stack: string;
  service: string;
  trigger: DeploymentRecord.Trigger;
  /** Who asked; defaults to the context's requester. */
  requestedBy?: string;
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
 * Stores a deployment request with its parameters (one write), queues it behind its service's
 * active deployment, and starts its workflow if it took the active slot.
 */
export async function requestDeployment(
  context: WorkflowContext,
  request: DeploymentRequest,
  /** The service record the caller has just read, if it has (see `Deployment.requestDeployment`). */
  known?: ServiceRecord.Info,
): Promise<RequestedDeployment> {
  return startPlaced(
    context,
    await Deployment.requestDeployment(context.store, attributed(context, request), known),
  );
}

/** A request placed in its service's slots whose workflow is not started yet (`startPlaced`). */
export type PlacedDeployment = Deployment.RequestOutcome;

/**
 * The first half of `requestDeployment`: stores and places the request, and starts nothing, so
 * that a caller holding the stack's lease can start the workflows after releasing it.
 */
export function placeDeployment(
  context: WorkflowContext,
  request: DeploymentRequest,
): Promise<PlacedDeployment> {
  return Deployment.requestDeployment(context.store, attributed(context, request));
}

/** The second half of `requestDeployment`: starts the workflow of a request that took the active slot. */
export async function startPlaced(
  context: WorkflowContext,
  outcome: PlacedDeployment,
): Promise<RequestedDeployment> {
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
  const started = await startWorkflow(context, outcome.deployment);
  return { deployment: started.deployment, placement: outcome.placement, workflow: started.workflow };
}

/** Starts a deployment that another one's end or cancellation moved into the active slot. */
export async function startPromoted(
  context: WorkflowContext,
  promoted: DeploymentRecord.Info,
): Promise<{ deployment: DeploymentRecord.Info; workflow: WorkflowStart }> {
  return startWorkflow(context, promoted);
}

export type Cancelled =
  | { outcome: "cancel-requested"; deployment: DeploymentRecord.Info }
  | {
      outcome: "cancelled";
      deployment: DeploymentRecord.Info;
      /** The deployment that took over the active slot, and its workflow's start. */
      promoted?: { deployment: DeploymentRecord.Info; workflow: WorkflowStart };
    };

/**
 * Cancels a deployment (see `Deployment.cancel`) and starts whatever took over its slot. A
 * deployment waiting on ECS is woken at once: its workflow returns the service to the revision
 * it ran before and ends CANCELLED.
 */
export async function cancelDeployment(
  context: WorkflowContext,
  id: string,
  reason?: string,
): Promise<Cancelled> {
  const outcome = await Deployment.cancel(context.store, id, reason);
  if (outcome.outcome === "cancel-requested") {
    const { deployment } = outcome;
    if (deployment.status === "DEPLOYING" && context.waits) {
      await cancelWait(context.store, context.waits, deployment, reason ?? "cancelled on request");
    }
    return outcome;
  }
  const { deployment, promoted } = outcome;
  if (!promoted) return { outcome: "cancelled", deployment };
  return { outcome: "cancelled", deployment, promoted: await startPromoted(context, promoted) };
}

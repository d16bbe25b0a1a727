import { z } from "zod";
import { DeploymentEventRecord, DeploymentRecord, type Store } from "../store/index.ts";

/**
 * What a deployment asks its workflow to do. `deploy` makes ECS run the service's stored spec;
 * the others carry what the spec cannot say (which earlier version, how many tasks, removal).
 */
export const WorkflowParameters = z.object({
  action: z.enum(["deploy", "delete", "rollback", "scale", "refresh"]),
  /** rollback: the deployment to return to, and the task definition when the store knows it. */
  rollbackTo: z
    .object({ deploymentId: DeploymentRecord.Id, taskDefinitionArn: z.string().min(1).optional() })
    .optional(),
  /** scale: the counts asked for; min and max are also in the stored spec. */
  scale: z
    .object({
      min: z.number().int().optional(),
      max: z.number().int().optional(),
      desired: z.number().int().optional(),
    })
    .optional(),
  /** deploy: container name → image reference the request set (already written into the spec). */
  images: z.record(z.string(), z.string()).optional(),
  /**
   * deploy: where the source of packaging that is built lives (`file:///dir` for Berth Local's
   * builder, `s3://bucket/key` for CodeBuild), as the client said when it applied the stack.
   */
  source: z
    .string()
    .regex(/^(file:\/\/\/|s3:\/\/)\S+$/, "must be a file:/// or s3:// URL")
    .max(2048)
    .optional(),
});
export type WorkflowParameters = z.infer<typeof WorkflowParameters>;
export type WorkflowAction = WorkflowParameters["action"];

export const WorkflowInput = WorkflowParameters.extend({
  deploymentId: DeploymentRecord.Id,
  stack: z.string(),
  service: z.string(),
});
export type WorkflowInput = z.infer<typeof WorkflowInput>;

/** The event type under which a deployment's parameters are kept for whoever starts it later. */
export const PARAMETERS_EVENT = "parameters";

const DEFAULT_PARAMETERS: WorkflowParameters = { action: "deploy" };

/** Whether a request's parameters must be recorded: a plain deploy needs no record. */
export function needsParametersRecord(parameters: WorkflowParameters): boolean {
  return parameters.action !== "deploy" || parameters.images !== undefined || parameters.source !== undefined;
}

/** The parameters recorded for a deployment, or a plain deploy's. */
export function parametersOf(events: readonly DeploymentEventRecord.Info[]): WorkflowParameters {
  const recorded = events.findLast((event) => event.type === PARAMETERS_EVENT);
  const parsed = recorded ? WorkflowParameters.safeParse(recorded.data) : undefined;
  return parsed?.success ? parsed.data : DEFAULT_PARAMETERS;
}

/**
 * The input for a deployment's workflow, rebuilt from the store: a queued deployment is started
 * by whoever promotes it, long after the request that created it has answered.
 */
export async function workflowInputFor(
  store: Store,
  deployment: DeploymentRecord.Info,
): Promise<WorkflowInput> {
  const events = await DeploymentEventRecord.all(store, deployment.id);
  return {
    ...parametersOf(events),
    deploymentId: deployment.id,
    stack: deployment.stack,
    service: deployment.service,
  };
}

/**
 * Which state machine runs an action. Every per-service action has its own workflow; scaling and
 * refreshing one service are deploys of its stored spec (the desired count and a forced new ECS
 * deployment travel in the parameters).
 */
export const WORKFLOW_OF_ACTION = {
  deploy: "deploy",
  scale: "deploy",
  refresh: "deploy",
  delete: "delete-service",
  rollback: "rollback",
} as const satisfies Record<WorkflowAction, string>;

/** The state machine ARNs of an installation, by workflow name. */
export type StateMachineArns = Record<(typeof WORKFLOW_OF_ACTION)[WorkflowAction], string>;

export function stateMachineFor(arns: StateMachineArns, action: WorkflowAction): string {
  return arns[WORKFLOW_OF_ACTION[action]];
}

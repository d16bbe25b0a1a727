import { z } from "zod";
import { DeploymentRecord } from "../store/index.ts";

/** What a deployment asks its workflow to do: kept on its record (`DeploymentRecord.Parameters`). */
export const WorkflowParameters = DeploymentRecord.Parameters;
export type WorkflowParameters = z.infer<typeof WorkflowParameters>;
export type WorkflowAction = WorkflowParameters["action"];

export const WorkflowInput = WorkflowParameters.extend({
  deploymentId: DeploymentRecord.Id,
  stack: z.string(),
  service: z.string(),
});
export type WorkflowInput = z.infer<typeof WorkflowInput>;

/** The input of a deployment's workflow: its parameters and which deployment it runs. */
export function workflowInputOf(deployment: DeploymentRecord.Info): WorkflowInput {
  return {
    ...deployment.parameters,
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
const WORKFLOW_OF_ACTION = {
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

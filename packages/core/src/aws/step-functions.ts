import { SendTaskSuccessCommand, SFNClient, StartExecutionCommand } from "@aws-sdk/client-sfn";
import type { StartExecution } from "../deployments/request.ts";
import { type StateMachineArns, stateMachineFor } from "../deployments/workflow-input.ts";
import { type ClientConfig, isAwsError } from "./errors.ts";

export function sfnClient(config: ClientConfig = {}): SFNClient {
  return new SFNClient(config);
}

/**
 * The waiting workflow a task token belongs to has moved on: its wait timed out, the token is
 * unknown or malformed, or the execution ended. Answering it is then pointless, not an error.
 */
function isTaskGone(error: unknown): boolean {
  return isAwsError(error, "TaskTimedOut", "TaskDoesNotExist", "InvalidToken", "ExecutionDoesNotExist");
}

/**
 * Answers a waiting workflow's task token with `output` (as JSON): true when it was answered,
 * false when its workflow had moved on.
 */
export function taskAnswerer(
  client: Pick<SFNClient, "send">,
): (taskToken: string, output: unknown) => Promise<boolean> {
  return async (taskToken, output) => {
    try {
      await client.send(new SendTaskSuccessCommand({ taskToken, output: JSON.stringify(output) }));
      return true;
    } catch (error) {
      if (isTaskGone(error)) return false;
      throw error;
    }
  };
}

/** CreateStateMachine found one of that name: it is updated instead. */
export function isStateMachineAlreadyExists(error: unknown): boolean {
  return isAwsError(error, "StateMachineAlreadyExists");
}

/** The state machine is gone (or being deleted): nothing to delete. */
export function isStateMachineMissing(error: unknown): boolean {
  return isAwsError(error, "StateMachineDoesNotExist", "StateMachineDeleting");
}

/** `arn:…:stateMachine:<name>` → `arn:…:execution:<name>:<execution>`, the ARN Step Functions gives it. */
export function executionArnOf(stateMachineArn: string, executionName: string): string {
  return `${stateMachineArn.replace(":stateMachine:", ":execution:")}:${executionName}`;
}

/**
 * The workflows' starter on AWS and in Berth Local (whose Step Functions endpoint the SDK
 * reaches through AWS_ENDPOINT_URL): each action starts its own state machine. The execution is
 * named after the deployment: a repeated start of the same deployment finds the execution
 * already there instead of starting another.
 */
export function stepFunctionsStarter(client: SFNClient, arns: StateMachineArns): StartExecution {
  return async (deploymentId, input) => {
    const stateMachineArn = stateMachineFor(arns, input.action);
    try {
      const result = await client.send(
        new StartExecutionCommand({ stateMachineArn, name: deploymentId, input: JSON.stringify(input) }),
      );
      return { executionArn: result.executionArn ?? executionArnOf(stateMachineArn, deploymentId) };
    } catch (error) {
      // A repeated start of the same deployment: the execution named after it is the one.
      if (isAwsError(error, "ExecutionAlreadyExists")) {
        return { executionArn: executionArnOf(stateMachineArn, deploymentId) };
      }
      throw error;
    }
  };
}

/** No execution of that name (or ARN) exists. */
export function isExecutionMissing(error: unknown): boolean {
  return isAwsError(error, "ExecutionDoesNotExist");
}

/** A page token Step Functions did not issue (or that expired). */
export function isInvalidPageToken(error: unknown): boolean {
  return isAwsError(error, "InvalidToken");
}

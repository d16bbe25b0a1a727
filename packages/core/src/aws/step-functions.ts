import { type SFNClient, StartExecutionCommand } from "@aws-sdk/client-sfn";
import type { StartExecution } from "../deployments/request.ts";
import { type StateMachineArns, stateMachineFor } from "../deployments/workflow-input.ts";

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
      if (error instanceof Error && error.name === "ExecutionAlreadyExists") {
        return { executionArn: executionArnOf(stateMachineArn, deploymentId) };
      }
      throw error;
    }
  };
}

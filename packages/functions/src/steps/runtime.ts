import { Logger } from "@aws-lambda-powertools/logger";
import { ApplicationAutoScalingClient } from "@aws-sdk/client-application-auto-scaling";
import { CloudWatchLogsClient } from "@aws-sdk/client-cloudwatch-logs";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { ECRClient } from "@aws-sdk/client-ecr";
import { ECSClient } from "@aws-sdk/client-ecs";
import { IAMClient } from "@aws-sdk/client-iam";
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { SFNClient } from "@aws-sdk/client-sfn";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import type { Workflow } from "@berth/core/deployments";
import { Rollout } from "@berth/core/rollout";
import { createStore } from "@berth/core/store";
import type { Context } from "aws-lambda";
import type { z } from "zod";
import { stepFunctionsStarter } from "../api/step-functions.ts";
import type { WorkflowContext } from "../api/workflow.ts";

/**
 * What every step and event function is built from, once per Lambda container: the store, the
 * AWS clients and the installation's settings, read from the environment at load (a missing
 * variable fails the function as it loads). Creating an SDK client does no I/O: a function
 * only pays for the clients it sends with.
 */
export interface Runtime extends Rollout.StepContext {
  logger: Logger;
  /** What starting a deployment's workflow needs (the state machine ARNs are read on first use). */
  workflowContext: () => WorkflowContext;
}

let runtime: Runtime | undefined;

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`the function's configuration is incomplete: ${name} is not set`);
  return value;
}

export function loadRuntime(): Runtime {
  if (runtime) return runtime;
  const settings = Rollout.readSettings(process.env);
  const tableName = required("BERTH_TABLE_NAME");
  const sfn = new SFNClient({});
  const store = createStore({ client: DynamoDBDocumentClient.from(new DynamoDBClient({})), tableName });
  const logger = new Logger({ serviceName: "berth-steps" });
  runtime = {
    settings,
    store,
    clients: {
      ecs: new ECSClient({}),
      logs: new CloudWatchLogsClient({}),
      iam: new IAMClient({}),
      autoscaling: new ApplicationAutoScalingClient({}),
      secrets: new SecretsManagerClient({}),
      ecr: new ECRClient({}),
      sfn,
    },
    logger,
    workflowContext: () => {
      const arns: Workflow.StateMachineArns = {
        deploy: required("BERTH_DEPLOY_STATE_MACHINE_ARN"),
        "delete-service": required("BERTH_DELETE_SERVICE_STATE_MACHINE_ARN"),
        rollback: required("BERTH_ROLLBACK_STATE_MACHINE_ARN"),
      };
      return { store, startExecution: stepFunctionsStarter(sfn, arns), logger };
    },
  };
  return runtime;
}

/**
 * A step's handler: validates the payload Step Functions sends with the step's schema, runs the
 * domain verb and returns its answer as the step's result. Errors keep their names (the
 * workflows' Retry and Catch match on them); a payload that does not match is a bug, not input.
 */
export function stepHandler<Schema extends z.ZodType, Result>(
  name: string,
  schema: Schema,
  run: (runtime: Runtime, input: z.output<Schema>) => Promise<Result>,
): (event: unknown, context?: Partial<Context>) => Promise<Result> {
  const current = loadRuntime();
  return async (event, context) => {
    const parsed = schema.safeParse(event);
    if (!parsed.success) {
      const error = new Error(
        `${name}: the payload does not match the step's input: ${parsed.error.message}`,
      );
      error.name = Rollout.STEP_ERRORS.invalidInput;
      throw error;
    }
    const logger = current.logger.createChild({
      persistentKeys: { step: name, requestId: context?.awsRequestId },
    });
    try {
      return await run(current, parsed.data);
    } catch (error) {
      logger.warn("step failed", { error });
      throw error;
    }
  };
}

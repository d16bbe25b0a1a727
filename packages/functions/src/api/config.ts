import type { Workflow } from "@berth/core/deployments";
import { z } from "zod";
import { DEFAULT_STAGE } from "./dependencies.ts";

/** What the API's Lambda reads from its environment: the names the infrastructure sets. */
const StateMachineArn = z.string().regex(/^arn:[^:]+:states:[^:]*:[^:]*:stateMachine:.+$/, {
  error: "must be a Step Functions state machine ARN",
});

const ApiEnvironment = z.object({
  BERTH_TABLE_NAME: z.string().min(1),
  BERTH_DEPLOY_STATE_MACHINE_ARN: StateMachineArn,
  BERTH_DELETE_SERVICE_STATE_MACHINE_ARN: StateMachineArn,
  BERTH_ROLLBACK_STATE_MACHINE_ARN: StateMachineArn,
  BERTH_STAGE: z.string().min(1).max(64).default(DEFAULT_STAGE),
  /** The ECS cluster the services run in, for their live task counts. */
  BERTH_CLUSTER: z.string().min(1).default("berth"),
  /** Where clients upload build sources; unset where builds read file:// directories instead. */
  BERTH_SOURCE_BUCKET: z
    .string()
    .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, { error: "must be an S3 bucket name" })
    .optional(),
});

export interface ApiConfig {
  tableName: string;
  /** The state machine of each per-service workflow, by workflow name. */
  stateMachineArns: Workflow.StateMachineArns;
  stage: string;
  cluster: string;
  sourceBucket: string | undefined;
}

/**
 * Reads the configuration, or throws naming every variable that is missing or wrong, so a
 * misconfigured function fails as it loads instead of on its first request.
 */
export function readApiConfig(environment: Readonly<Record<string, string | undefined>>): ApiConfig {
  const result = ApiEnvironment.safeParse(environment);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => {
      const name = String(issue.path[0]);
      return environment[name] === undefined ? `${name} is not set` : `${name} ${issue.message}`;
    });
    throw new Error(`the API's configuration is incomplete: ${problems.join("; ")}`);
  }
  return {
    tableName: result.data.BERTH_TABLE_NAME,
    stateMachineArns: {
      deploy: result.data.BERTH_DEPLOY_STATE_MACHINE_ARN,
      "delete-service": result.data.BERTH_DELETE_SERVICE_STATE_MACHINE_ARN,
      rollback: result.data.BERTH_ROLLBACK_STATE_MACHINE_ARN,
    },
    stage: result.data.BERTH_STAGE,
    cluster: result.data.BERTH_CLUSTER,
    sourceBucket: result.data.BERTH_SOURCE_BUCKET,
  };
}

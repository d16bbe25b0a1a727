import type { ApplicationAutoScalingClient } from "@aws-sdk/client-application-auto-scaling";
import type { CloudWatchLogsClient } from "@aws-sdk/client-cloudwatch-logs";
import type { ECRClient } from "@aws-sdk/client-ecr";
import type { ECSClient } from "@aws-sdk/client-ecs";
import type { IAMClient } from "@aws-sdk/client-iam";
import type { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import type { SFNClient } from "@aws-sdk/client-sfn";
import { z } from "zod";
import type { Store } from "../../store/index.ts";

/**
 * What the installation tells the steps: the same facts `Render.Environment` needs, minus the
 * stack. Read from the functions' environment variables (see `readSettings`).
 */
export interface Settings {
  stage: string;
  partition: string;
  region: string;
  account: string;
  cluster: string;
  registry: string;
  executionRoleArn: string;
  taskRolePath: string;
  permissionsBoundaryArn?: string;
  subnets: string[];
  securityGroups: string[];
  serviceConnectNamespace: string;
  /** Ingress wiring the installation created, by `resource/container/port`. */
  ingress: Record<string, Record<string, string>>;
  /** What to do with ingress the installation lacks: refuse the deployment, or leave it out. */
  ingressMissing: "error" | "omit";
}

/** The AWS clients the steps use; each step is given only those its function may call. */
export interface Clients {
  ecs: Pick<ECSClient, "send">;
  logs: Pick<CloudWatchLogsClient, "send">;
  iam: Pick<IAMClient, "send">;
  autoscaling: Pick<ApplicationAutoScalingClient, "send">;
  secrets: Pick<SecretsManagerClient, "send">;
  ecr: Pick<ECRClient, "send">;
  sfn: Pick<SFNClient, "send">;
}

export interface StepContext {
  store: Store;
  clients: Clients;
  settings: Settings;
}

const list = z
  .string()
  .transform((value) => value.split(",").map((item) => item.trim()))
  .pipe(z.array(z.string().min(1)).min(1));

/** The variables the steps read; which ones a function needs is its manifest entry's business. */
const SettingsEnvironment = z.object({
  BERTH_STAGE: z.string().min(1).default("default"),
  AWS_REGION: z.string().min(1).default("us-east-1"),
  BERTH_PARTITION: z.string().min(1).default("aws"),
  BERTH_ACCOUNT: z.string().regex(/^\d{12}$/, { error: "must be a 12-digit account id" }),
  BERTH_CLUSTER: z.string().min(1),
  BERTH_REGISTRY: z.string().min(1),
  BERTH_EXECUTION_ROLE_ARN: z.string().startsWith("arn:"),
  BERTH_TASK_ROLE_PATH: z.string().default("/berth/"),
  BERTH_PERMISSIONS_BOUNDARY_ARN: z.string().startsWith("arn:").optional(),
  BERTH_SUBNETS: list,
  BERTH_SECURITY_GROUPS: list,
  BERTH_SERVICE_CONNECT_NAMESPACE: z.string().min(1),
  BERTH_INGRESS: z
    .string()
    .default("{}")
    .transform((text, context) => {
      try {
        return z.record(z.string(), z.record(z.string(), z.string())).parse(JSON.parse(text));
      } catch {
        context.addIssue({ code: "custom", message: "must be a JSON object of ingress wiring" });
        return z.NEVER;
      }
    }),
  BERTH_INGRESS_MISSING: z.enum(["error", "omit"]).default("error"),
});

/**
 * Reads the settings once, at a function's load; throws naming every variable that is missing
 * or wrong, so a misconfigured function fails before its first step.
 */
export function readSettings(environment: Readonly<Record<string, string | undefined>>): Settings {
  const result = SettingsEnvironment.safeParse(environment);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => {
      const name = String(issue.path[0]);
      return environment[name] === undefined ? `${name} is not set` : `${name} ${issue.message}`;
    });
    throw new Error(`the step's configuration is incomplete: ${problems.join("; ")}`);
  }
  const env = result.data;
  return {
    stage: env.BERTH_STAGE,
    partition: env.BERTH_PARTITION,
    region: env.AWS_REGION,
    account: env.BERTH_ACCOUNT,
    cluster: env.BERTH_CLUSTER,
    registry: env.BERTH_REGISTRY,
    executionRoleArn: env.BERTH_EXECUTION_ROLE_ARN,
    taskRolePath: env.BERTH_TASK_ROLE_PATH,
    ...(env.BERTH_PERMISSIONS_BOUNDARY_ARN
      ? { permissionsBoundaryArn: env.BERTH_PERMISSIONS_BOUNDARY_ARN }
      : {}),
    subnets: env.BERTH_SUBNETS,
    securityGroups: env.BERTH_SECURITY_GROUPS,
    serviceConnectNamespace: env.BERTH_SERVICE_CONNECT_NAMESPACE,
    ingress: env.BERTH_INGRESS,
    ingressMissing: env.BERTH_INGRESS_MISSING,
  };
}

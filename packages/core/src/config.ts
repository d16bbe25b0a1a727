import { z } from "zod";
import type { StateMachineArns } from "./deployments/workflow-input.ts";

/**
 * The one reader of the control plane's configuration: the environment variables the
 * installation sets on each function (`functions.ts` lists which function gets which), typed
 * and checked here; nothing else in the control plane reads `process.env`. A caller reads the
 * sections it needs once, as it loads; a missing or malformed variable fails it then, with
 * every problem named, not on its first request.
 */

const StateMachineArn = z.string().regex(/^arn:[^:]+:states:[^:]*:[^:]*:stateMachine:.+$/, {
  error: "must be a Step Functions state machine ARN",
});
const Stage = z.string().min(1).max(64).default("default");

const list = z
  .string()
  .transform((value) => value.split(",").map((item) => item.trim()))
  .pipe(z.array(z.string().min(1)).min(1));

const IngressWiring = z
  .string()
  .default("{}")
  .transform((text, context) => {
    try {
      return z.record(z.string(), z.record(z.string(), z.string())).parse(JSON.parse(text));
    } catch {
      context.addIssue({ code: "custom", message: "must be a JSON object of ingress wiring" });
      return z.NEVER;
    }
  });

/** Each section: the variables it reads, and the typed value they make. */
const SECTIONS = {
  store: z
    .object({ BERTH_TABLE_NAME: z.string().min(1) })
    .transform((env) => ({ tableName: env.BERTH_TABLE_NAME })),
  workflows: z
    .object({
      BERTH_DEPLOY_STATE_MACHINE_ARN: StateMachineArn,
      BERTH_DELETE_SERVICE_STATE_MACHINE_ARN: StateMachineArn,
      BERTH_ROLLBACK_STATE_MACHINE_ARN: StateMachineArn,
    })
    .transform((env): { stateMachineArns: StateMachineArns } => ({
      stateMachineArns: {
        deploy: env.BERTH_DEPLOY_STATE_MACHINE_ARN,
        "delete-service": env.BERTH_DELETE_SERVICE_STATE_MACHINE_ARN,
        rollback: env.BERTH_ROLLBACK_STATE_MACHINE_ARN,
      },
    })),
  /** What only the API reads. */
  api: z
    .object({
      BERTH_STAGE: Stage,
      /** The ECS cluster the services run in, for their live task counts. */
      BERTH_CLUSTER: z.string().min(1).default("berth"),
      /** Where clients upload build sources; unset where builds read file:// directories instead. */
      BERTH_SOURCE_BUCKET: z
        .string()
        .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, { error: "must be an S3 bucket name" })
        .optional(),
      /**
       * The cluster's EC2 capacity provider, where resources with `instanceTypes` run; unset
       * where the cluster has none, and then the API refuses such stack files up front.
       */
      BERTH_EC2_CAPACITY_PROVIDER: z.string().min(1).optional(),
      /**
       * The installation's registry: webhook receivers resolve pushed tags of it to digests
       * (DescribeImages). Unset, they deploy only digests a signed delivery names.
       */
      BERTH_REGISTRY: z.string().min(1).optional(),
      /**
       * Stacks' own refresh schedules (EventBridge Scheduler): the schedule group they are kept
       * in, the role the scheduler invokes their target as, and that target (the
       * scheduled-refresh function). Unset, a stack file with a refresh cron is refused.
       */
      BERTH_SCHEDULE_GROUP: z
        .string()
        .regex(/^[0-9a-zA-Z-_.]{1,64}$/, { error: "must be a schedule group name" })
        .optional(),
      BERTH_SCHEDULER_ROLE_ARN: z.string().startsWith("arn:").optional(),
      BERTH_SCHEDULED_REFRESH_ARN: z.string().startsWith("arn:").optional(),
    })
    .transform((env) => ({
      stage: env.BERTH_STAGE,
      cluster: env.BERTH_CLUSTER,
      sourceBucket: env.BERTH_SOURCE_BUCKET,
      ec2CapacityProvider: env.BERTH_EC2_CAPACITY_PROVIDER,
      registry: env.BERTH_REGISTRY,
      ...(env.BERTH_SCHEDULE_GROUP && env.BERTH_SCHEDULER_ROLE_ARN && env.BERTH_SCHEDULED_REFRESH_ARN
        ? {
            refreshScheduler: {
              group: env.BERTH_SCHEDULE_GROUP,
              roleArn: env.BERTH_SCHEDULER_ROLE_ARN,
              targetArn: env.BERTH_SCHEDULED_REFRESH_ARN,
            },
          }
        : {}),
    })),
  /**
   * What the installation tells the steps: the same facts `Render.Environment` needs, minus the
   * stack. Every step and event function reads all of it.
   */
  installation: z
    .object({
      BERTH_STAGE: Stage,
      AWS_REGION: z.string().min(1).default("us-east-1"),
      BERTH_PARTITION: z.string().min(1).default("aws"),
      BERTH_ACCOUNT: z.string().regex(/^\d{12}$/, { error: "must be a 12-digit account id" }),
      BERTH_CLUSTER: z.string().min(1),
      BERTH_REGISTRY: z.string().min(1),
      BERTH_EXECUTION_ROLE_ARN: z.string().startsWith("arn:"),
      BERTH_TASK_ROLE_PATH: z.string().default("/berth/"),
      BERTH_PERMISSIONS_BOUNDARY_ARN: z.string().startsWith("arn:").optional(),
      /**
       * The ECS infrastructure role for load balancers: ECS assumes it to shift a gradual
       * deployment's traffic between target groups. Unset, gradual deployments are refused.
       */
      BERTH_DEPLOYMENT_ROLE_ARN: z.string().startsWith("arn:").optional(),
      BERTH_SUBNETS: list,
      BERTH_SECURITY_GROUPS: list,
      BERTH_SERVICE_CONNECT_NAMESPACE: z.string().min(1),
      /** Ingress wiring the installation created, by `resource/container/port`. */
      BERTH_INGRESS: IngressWiring,
      /** What to do with ingress the installation lacks: refuse the deployment, or leave it out. */
      BERTH_INGRESS_MISSING: z.enum(["error", "omit"]).default("error"),
      /**
       * The installation's API Gateway VPC link and the private DNS namespace (Cloud Map) its
       * targets are registered in: what every HTTP API gateway Berth creates integrates through.
       * Unset where the installation has none; a stack that needs a gateway is then refused.
       */
      BERTH_VPC_LINK_ID: z.string().min(1).optional(),
      /**
       * How custom domains are set up: `acm-route53` finds each domain's ISSUED ACM certificate
       * and keeps its alias record in the account's public Route 53 zone; `none` (an
       * installation with neither, such as Berth Local) serves them without a certificate and
       * leaves their DNS to the user.
       */
      BERTH_DOMAIN_LOOKUPS: z.enum(["acm-route53", "none"]).default("acm-route53"),
      BERTH_INGRESS_NAMESPACE_ID: z.string().min(1).optional(),
      /**
       * The VPC and the public subnets and security groups of the load balancers Berth creates
       * (internal ones use BERTH_SUBNETS). Unset where the installation has none; a stack that
       * needs a load balancer is then refused.
       */
      BERTH_VPC_ID: z.string().min(1).optional(),
      BERTH_PUBLIC_SUBNETS: list.optional(),
      BERTH_LB_SECURITY_GROUPS: list.optional(),
      BERTH_NLB_SECURITY_GROUPS: list.optional(),
      /** Name prefix of the installation's state machines; batch jobs' run state machines share it. */
      BERTH_STATE_MACHINE_PREFIX: z.string().min(1).default("berth-"),
      /** Role a batch job's run state machine runs as; without it, batch jobs cannot deploy. */
      BERTH_JOB_RUN_ROLE_ARN: z.string().startsWith("arn:").optional(),
      /** The cluster's EC2 capacity provider, for resources with `instanceTypes`; unset where it has none. */
      BERTH_EC2_CAPACITY_PROVIDER: z.string().min(1).optional(),
      /**
       * The EC2 hosts behind that capacity provider, which a refresh moves onto the newest
       * ECS-optimized AMI: their Auto Scaling group, its launch template (id) and the public SSM
       * parameter naming the AMI. All three or none; unset, refreshes replace no hosts.
       */
      BERTH_HOST_GROUP: z.string().min(1).max(255).optional(),
      BERTH_HOST_LAUNCH_TEMPLATE: z
        .string()
        .regex(/^lt-[0-9a-f]{8,17}$/, { error: "must be a launch template id (lt-…)" })
        .optional(),
      BERTH_HOST_AMI_PARAMETER: z
        .string()
        .startsWith("/aws/service/ecs/optimized-ami/", {
          error: "must be an ECS-optimized AMI parameter (/aws/service/ecs/optimized-ami/…)",
        })
        .optional(),
    })
    .superRefine((env, context) => {
      const host = [env.BERTH_HOST_GROUP, env.BERTH_HOST_LAUNCH_TEMPLATE, env.BERTH_HOST_AMI_PARAMETER];
      if (host.some((value) => value !== undefined) && host.some((value) => value === undefined)) {
        for (const name of ["BERTH_HOST_GROUP", "BERTH_HOST_LAUNCH_TEMPLATE", "BERTH_HOST_AMI_PARAMETER"])
          if (env[name as keyof typeof env] === undefined)
            context.addIssue({
              code: "custom",
              path: [name],
              message: "must be set with the other BERTH_HOST_ variables",
            });
      }
    })
    .transform((env) => ({
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
      ...(env.BERTH_DEPLOYMENT_ROLE_ARN ? { deploymentRoleArn: env.BERTH_DEPLOYMENT_ROLE_ARN } : {}),
      subnets: env.BERTH_SUBNETS,
      securityGroups: env.BERTH_SECURITY_GROUPS,
      serviceConnectNamespace: env.BERTH_SERVICE_CONNECT_NAMESPACE,
      ingress: env.BERTH_INGRESS,
      ingressMissing: env.BERTH_INGRESS_MISSING,
      domainLookups: env.BERTH_DOMAIN_LOOKUPS,
      ...(env.BERTH_VPC_LINK_ID && env.BERTH_INGRESS_NAMESPACE_ID
        ? { httpApi: { vpcLinkId: env.BERTH_VPC_LINK_ID, namespaceId: env.BERTH_INGRESS_NAMESPACE_ID } }
        : {}),
      ...(env.BERTH_VPC_ID && env.BERTH_PUBLIC_SUBNETS?.length && env.BERTH_LB_SECURITY_GROUPS?.length
        ? {
            loadBalancing: {
              vpcId: env.BERTH_VPC_ID,
              publicSubnets: env.BERTH_PUBLIC_SUBNETS,
              privateSubnets: env.BERTH_SUBNETS,
              securityGroups: env.BERTH_LB_SECURITY_GROUPS,
              ...(env.BERTH_NLB_SECURITY_GROUPS?.length
                ? { networkSecurityGroups: env.BERTH_NLB_SECURITY_GROUPS }
                : {}),
            },
          }
        : {}),
      stateMachinePrefix: env.BERTH_STATE_MACHINE_PREFIX,
      ...(env.BERTH_JOB_RUN_ROLE_ARN ? { jobRunRoleArn: env.BERTH_JOB_RUN_ROLE_ARN } : {}),
      ...(env.BERTH_EC2_CAPACITY_PROVIDER ? { ec2CapacityProvider: env.BERTH_EC2_CAPACITY_PROVIDER } : {}),
      ...(env.BERTH_HOST_GROUP && env.BERTH_HOST_LAUNCH_TEMPLATE && env.BERTH_HOST_AMI_PARAMETER
        ? {
            hostFleet: {
              autoScalingGroupName: env.BERTH_HOST_GROUP,
              launchTemplateId: env.BERTH_HOST_LAUNCH_TEMPLATE,
              amiParameter: env.BERTH_HOST_AMI_PARAMETER,
            },
          }
        : {}),
    })),
} as const;

export type Section = keyof typeof SECTIONS;
export type Config = { [Name in Section]: z.output<(typeof SECTIONS)[Name]> };
/** What the installation tells the steps (the `installation` section). */
export type Settings = Config["installation"];

export type Environment = Readonly<Record<string, string | undefined>>;

/**
 * Reads the named sections, or throws naming every variable that is missing or wrong in any of
 * them; `reader` says whose configuration it is ("the API", "the step").
 */
export function readConfig<const Names extends Section>(
  sections: readonly Names[],
  reader: string,
  environment: Environment = process.env,
): Pick<Config, Names> {
  const problems: string[] = [];
  const config: Partial<Config> = {};
  for (const name of sections) {
    const result = SECTIONS[name].safeParse(environment);
    if (result.success) {
      Object.assign(config, { [name]: result.data });
      continue;
    }
    for (const issue of result.error.issues) {
      const variable = String(issue.path[0]);
      const problem =
        environment[variable] === undefined ? `${variable} is not set` : `${variable} ${issue.message}`;
      if (!problems.includes(problem)) problems.push(problem);
    }
  }
  if (problems.length > 0) throw new Error(`${reader}'s configuration is incomplete: ${problems.join("; ")}`);
  return config as Pick<Config, Names>;
}

/** The API's configuration, as one flat object. */
export function readApiConfig(environment: Environment = process.env) {
  const { store, workflows, api } = readConfig(["store", "workflows", "api"], "the API", environment);
  return { ...store, ...workflows, ...api };
}
export type ApiConfig = ReturnType<typeof readApiConfig>;

/** The steps' view of the installation (see `installation` above). */
export function readSettings(environment: Environment = process.env): Settings {
  return readConfig(["installation"], "the step", environment).installation;
}

import { z } from "zod";

/**
 * Everything a rendering needs that does not come from the stack file: where the stack is
 * installed and what the installation created. Passed in whole; rendering never reads the
 * process's environment, so the same stack renders the same requests anywhere.
 */
export const Environment = z.object({
  stack: z.string().regex(/^[a-z][a-z0-9-]{0,30}[a-z0-9]$/, "must be a DNS label of 2-32 characters"),
  stage: z.string().min(1),
  partition: z.string().default("aws"),
  region: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/, "must be an AWS region such as us-east-1"),
  account: z.string().regex(/^\d{12}$/, "must be a 12-digit AWS account id"),
  cluster: z.string().min(1),
  network: z.object({
    publicSubnets: z.array(z.string()).default([]),
    privateSubnets: z.array(z.string()).min(1),
    securityGroups: z.array(z.string()).min(1),
  }),
  /** The Cloud Map namespace (name or ARN) Service Connect publishes into. */
  serviceConnectNamespace: z.string().min(1),
  executionRoleArn: z.string().startsWith("arn:"),
  /** IAM path of the task roles Berth creates; the installation's PassRole grant is scoped to it. */
  taskRolePath: z
    .string()
    .regex(/^\/([\w+=,.@-]+\/)*$/)
    .default("/berth/"),
  /** Permissions boundary every task role is created with. */
  permissionsBoundaryArn: z.string().startsWith("arn:").optional(),
  /** Role ECS assumes to call deployment hooks and shift load-balancer traffic. */
  deploymentRoleArn: z.string().startsWith("arn:").optional(),
  /** Registry host for images Berth builds, e.g. `<account>.dkr.ecr.<region>.amazonaws.com`. */
  registry: z.string().min(1),
  /** Built images by `resource/container` (or `resource` for single-container resources). */
  images: z.record(z.string(), z.string()).default({}),
  /** Full ARNs of secrets by name (Secrets Manager appends a random suffix to each ARN). */
  secretArns: z.record(z.string(), z.string()).default({}),
  /** Ingress wiring created by the installation, by `resource/container/port`. */
  ingress: z
    .record(
      z.string(),
      z.object({
        targetGroupArn: z.string().optional(),
        alternateTargetGroupArn: z.string().optional(),
        productionListenerRuleArn: z.string().optional(),
        testListenerRuleArn: z.string().optional(),
        serviceRegistryArn: z.string().optional(),
        /** Behind network load balancers: one target group per listener the port is behind. */
        networkTargetGroupArns: z.array(z.string()).optional(),
      }),
    )
    .default({}),
  /**
   * The stack's gateways and load balancers Berth created: each one's own URL by its name
   * (`$ResourceParam(…, 'url')`, a private service's internal balancer for its `address`), and
   * its first custom domain by `<name>/domain` (`$ResourceParam(…, 'domain')`).
   */
  ingressUrls: z.record(z.string(), z.string()).default({}),
  /**
   * Ingress the installation lacks: `error` refuses to render, `omit` renders the service without
   * it (an installation with no load balancers, such as Berth Local, reaches services directly).
   */
  ingressMissing: z.enum(["error", "omit"]).default("error"),
  /** Name prefix of the installation's state machines; a batch job's runs are `<prefix>job-<stack>-<job>`. */
  stateMachinePrefix: z.string().default("berth-"),
  /** Role Step Functions assumes to run a batch job's tasks (RunTask, PassRole, the `.sync` rule). */
  jobRunRoleArn: z.string().startsWith("arn:").optional(),
  /** Capacity provider backing resources with `instanceTypes`. */
  ec2CapacityProvider: z.string().optional(),
  tags: z.record(z.string(), z.string()).default({}),
});
export type Environment = z.infer<typeof Environment>;
export type EnvironmentInput = z.input<typeof Environment>;

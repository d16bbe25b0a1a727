import type {
  CreateLogGroupCommandInput,
  PutRetentionPolicyCommandInput,
} from "@aws-sdk/client-cloudwatch-logs";
import type {
  CreateServiceCommandInput,
  RegisterTaskDefinitionCommandInput,
  UpdateServiceCommandInput,
} from "@aws-sdk/client-ecs";
import type { CreateRoleCommandInput, PutRolePolicyCommandInput } from "@aws-sdk/client-iam";
import { own } from "../lookup.ts";
import { Spec } from "../spec/index.ts";
import { Environment, type EnvironmentInput } from "./environment.ts";
import { RenderError } from "./errors.ts";
import { renderTaskRole } from "./iam.ts";
import { ingressKey, logGroupName, standardTags } from "./names.ts";
import { renderScaling, type ScalingRequests } from "./scaling.ts";
import { ingressNeeds, renderService } from "./service.ts";
import { renderTaskDefinition } from "./task-definition.ts";

/** One AWS API call, named as botocore names them (service and operation). */
export type AwsRequest =
  | { service: "logs"; operation: "CreateLogGroup"; input: CreateLogGroupCommandInput }
  | { service: "logs"; operation: "PutRetentionPolicy"; input: PutRetentionPolicyCommandInput }
  | { service: "iam"; operation: "CreateRole"; input: CreateRoleCommandInput }
  | { service: "iam"; operation: "PutRolePolicy"; input: PutRolePolicyCommandInput }
  | { service: "ecs"; operation: "RegisterTaskDefinition"; input: RegisterTaskDefinitionCommandInput }
  | { service: "ecs"; operation: "CreateService"; input: CreateServiceCommandInput }
  | { service: "ecs"; operation: "UpdateService"; input: UpdateServiceCommandInput }
  | {
      service: "application-autoscaling";
      operation: "RegisterScalableTarget";
      input: ScalingRequests["target"];
    }
  | {
      service: "application-autoscaling";
      operation: "PutScalingPolicy";
      input: ScalingRequests["policies"][number];
    };

/** Everything AWS is asked for to run one compute resource. */
export interface ResourcePlan {
  resource: string;
  type: Spec.ComputeResource["type"];
  logGroup?: { create: CreateLogGroupCommandInput; retention: PutRetentionPolicyCommandInput };
  role: ReturnType<typeof renderTaskRole>;
  taskDefinition: RegisterTaskDefinitionCommandInput;
  service?: { create: CreateServiceCommandInput; update: UpdateServiceCommandInput };
  scaling?: ScalingRequests;
}

export function renderResource(stack: Spec.Stack, resourceName: string, env: Environment): ResourcePlan {
  const resource = own(stack.resources, resourceName);
  if (!resource || !Spec.isCompute(resource)) {
    const compute = computeNames(stack);
    throw new RenderError(
      "UNKNOWN_RESOURCE",
      `"${resourceName}" is not a compute resource of this stack (${compute.join(", ")})`,
    );
  }
  const containers = Spec.containersOf(resourceName, resource);
  const logged = containers.filter((container) => !container.logging.disabled);
  const plan: ResourcePlan = {
    resource: resourceName,
    type: resource.type,
    role: renderTaskRole(stack, resourceName, resource, env),
    taskDefinition: renderTaskDefinition(stack, resourceName, resource, env),
  };
  if (logged.length > 0) {
    const name = logGroupName(env, resourceName);
    plan.logGroup = {
      create: { logGroupName: name, tags: standardTags(env, resourceName) },
      // One group per resource: it keeps logs as long as its longest-keeping container asks.
      retention: {
        logGroupName: name,
        retentionInDays: Math.max(...logged.map((c) => c.logging.retentionDays)),
      },
    };
  }
  if (resource.type !== "batch-job") {
    plan.service = renderService(resourceName, resource, env);
    const scaling = renderScaling(resourceName, resource.properties.scaling, env);
    if (scaling) plan.scaling = scaling;
  }
  return plan;
}

/** The plan as requests in the order they must be sent; `update` renders UpdateService. */
export function toRequests(plan: ResourcePlan, mode: "create" | "update" = "create"): AwsRequest[] {
  const requests: AwsRequest[] = [];
  if (plan.logGroup) {
    requests.push({ service: "logs", operation: "CreateLogGroup", input: plan.logGroup.create });
    requests.push({ service: "logs", operation: "PutRetentionPolicy", input: plan.logGroup.retention });
  }
  requests.push({ service: "iam", operation: "CreateRole", input: plan.role.create });
  if (plan.role.policy)
    requests.push({ service: "iam", operation: "PutRolePolicy", input: plan.role.policy });
  requests.push({ service: "ecs", operation: "RegisterTaskDefinition", input: plan.taskDefinition });
  if (plan.service) {
    requests.push(
      mode === "create"
        ? { service: "ecs", operation: "CreateService", input: plan.service.create }
        : { service: "ecs", operation: "UpdateService", input: plan.service.update },
    );
  }
  if (plan.scaling) {
    requests.push({
      service: "application-autoscaling",
      operation: "RegisterScalableTarget",
      input: plan.scaling.target,
    });
    for (const policy of plan.scaling.policies) {
      requests.push({ service: "application-autoscaling", operation: "PutScalingPolicy", input: policy });
    }
  }
  return requests;
}

function computeNames(stack: Spec.Stack): string[] {
  return Object.entries(stack.resources)
    .filter(([, resource]) => Spec.isCompute(resource))
    .map(([name]) => name);
}

/** Requests for every compute resource of the stack, or only `resource`. */
export function renderStack(
  stack: Spec.Stack,
  env: Environment,
  options: { resource?: string; mode?: "create" | "update" } = {},
): AwsRequest[] {
  const names = options.resource ? [options.resource] : computeNames(stack);
  return names.flatMap((name) => toRequests(renderResource(stack, name, env), options.mode));
}

/**
 * The environment of Berth Local (account 000000000000, cluster `berth`), with placeholder
 * ingress wiring for every target the stack needs, so any valid stack renders.
 */
export function localEnvironment(stack: Spec.Stack, overrides: Partial<EnvironmentInput> = {}): Environment {
  const account = overrides.account ?? "000000000000";
  const region = overrides.region ?? "us-east-1";
  const ingress: NonNullable<EnvironmentInput["ingress"]> = {};
  let index = 0;
  for (const [name, resource] of Object.entries(stack.resources)) {
    if (!Spec.isCompute(resource)) continue;
    for (const need of ingressNeeds(name, resource)) {
      index += 1;
      const id = index.toString(16).padStart(16, "0");
      const key = ingressKey(name, need.container, need.port);
      ingress[key] = {
        ...ingress[key],
        ...(need.kind === "service-registry"
          ? { serviceRegistryArn: `arn:aws:servicediscovery:${region}:${account}:service/srv-${id}` }
          : need.kind === "network-target-group"
            ? {
                networkTargetGroupArns: [
                  `arn:aws:elasticloadbalancing:${region}:${account}:targetgroup/berth-${index}-net/${id}`,
                ],
              }
            : {
                targetGroupArn: `arn:aws:elasticloadbalancing:${region}:${account}:targetgroup/berth-${index}/${id}`,
                alternateTargetGroupArn: `arn:aws:elasticloadbalancing:${region}:${account}:targetgroup/berth-${index}-alt/${id}`,
                productionListenerRuleArn: `arn:aws:elasticloadbalancing:${region}:${account}:listener-rule/app/berth/${id}/${id}/${id}`,
              }),
      };
    }
  }
  return Environment.parse({
    stack: "demo",
    stage: "local",
    region,
    account,
    cluster: "berth",
    network: { publicSubnets: [], privateSubnets: ["subnet-berthlocal"], securityGroups: ["sg-berthlocal"] },
    serviceConnectNamespace: "berth.local",
    executionRoleArn: `arn:aws:iam::${account}:role/berth/berth-task-execution`,
    deploymentRoleArn: `arn:aws:iam::${account}:role/berth/berth-ecs-deployments`,
    permissionsBoundaryArn: `arn:aws:iam::${account}:policy/berth/berth-task-boundary`,
    registry: "berth.local",
    ec2CapacityProvider: "berth-ec2",
    ingress,
    ...overrides,
  });
}

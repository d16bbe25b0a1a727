import { createHash } from "node:crypto";
import type { Environment } from "./environment.ts";

/** AWS names Berth gives a stack's resources; one place, so every module agrees. */

function fit(name: string, max: number): string {
  if (name.length <= max) return name;
  // Keep names unique when they must be shortened: a hash of the full name replaces the tail.
  const hash = createHash("sha256").update(name).digest("hex").slice(0, 8);
  return `${name.slice(0, max - 9)}-${hash}`;
}

/** ECS service name and task definition family (letters, digits, hyphens, underscores; 255). */
export function serviceName(env: Pick<Environment, "stack">, resource: string): string {
  return fit(`${env.stack}-${resource}`, 255);
}

export const taskFamily = serviceName;

/**
 * The name a consumer uses for a published Service Connect alias (a client alias's `dnsName`):
 * the alias qualified by its stack, `<alias>.<stack>`. Every stack of an installation publishes
 * into one Cloud Map namespace, where ECS refuses a client alias or discovery name used twice,
 * so two stacks may each have a `privateapi` only if the names carry the stack.
 */
export function serviceConnectDnsName(env: Pick<Environment, "stack">, alias: string): string {
  return `${alias}.${env.stack}`;
}

/** The Cloud Map service ECS creates for an alias: `<stack>_<alias>` (no `_` in either part; 64). */
export function serviceConnectDiscoveryName(env: Pick<Environment, "stack">, alias: string): string {
  return fit(`${env.stack}_${alias}`, 64);
}

export function logGroupName(env: Environment, resource: string): string {
  return `/berth/${env.stack}/${resource}`;
}

/** IAM role names are limited to 64 characters. */
export function taskRoleName(env: Environment, resource: string): string {
  return fit(`berth-${env.stack}-${resource}`, 64);
}

export function taskRoleArn(env: Environment, resource: string): string {
  return `arn:${env.partition}:iam::${env.account}:role${env.taskRolePath}${taskRoleName(env, resource)}`;
}

export function taskDefinitionFamilyArn(env: Environment, resource: string): string {
  return `arn:${env.partition}:ecs:${env.region}:${env.account}:task-definition/${taskFamily(env, resource)}`;
}

/** A batch job's run state machine (names: letters, digits, hyphens, underscores; 80). */
export function jobStateMachineName(env: Environment, job: string): string {
  return fit(`${env.stateMachinePrefix}job-${env.stack}-${job}`, 80);
}

export function jobStateMachineArn(env: Environment, job: string): string {
  return `arn:${env.partition}:states:${env.region}:${env.account}:stateMachine:${jobStateMachineName(env, job)}`;
}

/** ECR repository (lowercase; one per container). */
export function repositoryName(env: Environment, resource: string, container: string): string {
  const base = resource === container ? `${env.stack}/${resource}` : `${env.stack}/${resource}-${container}`;
  return `berth/${base}`.toLowerCase();
}

/** Port names join a task definition's port mappings to Service Connect. */
export function portName(container: string, port: number): string {
  const base = container
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, "-")
    .replace(/^-+/, "");
  return fit(`${base || "port"}-${port}`, 64);
}

export function scalingResourceId(env: Environment, resource: string): string {
  return `service/${env.cluster}/${serviceName(env, resource)}`;
}

/** `privateApi` → `PRIVATE_API`, for `STP_<RESOURCE_NAME>_<VAR>`. */
export function upperSnake(name: string): string {
  return name
    .replace(/([a-z0-9])([A-Z])/g, "$1_$2")
    .replace(/([A-Z])([A-Z][a-z])/g, "$1_$2")
    .replace(/[^A-Za-z0-9]+/g, "_")
    .toUpperCase();
}

export function ingressKey(resource: string, container: string, port: number): string {
  return `${resource}/${container}/${port}`;
}

export function lambdaArn(env: Environment, functionName: string): string {
  if (functionName.startsWith("arn:")) return functionName;
  return `arn:${env.partition}:lambda:${env.region}:${env.account}:function:${functionName}`;
}

export function standardTags(env: Environment, resource?: string): Record<string, string> {
  return {
    ...env.tags,
    "berth:stack": env.stack,
    "berth:stage": env.stage,
    ...(resource ? { "berth:resource": resource } : {}),
  };
}

/** An HTTP API gateway's API name (API Gateway allows 128 characters). */
export function httpApiName(env: Pick<Environment, "stack">, gateway: string): string {
  return fit(`berth-${env.stack}-${gateway}`, 128);
}

/**
 * The Cloud Map service a container port is registered in for API Gateway: a DNS label
 * (63 characters), unique in the installation's namespace.
 */
export function registryServiceName(
  env: Pick<Environment, "stack">,
  resource: string,
  container: string,
  port: number,
): string {
  const parts = resource === container ? [env.stack, resource, port] : [env.stack, resource, container, port];
  return fit(
    parts
      .join("-")
      .toLowerCase()
      .replace(/[^a-z0-9-]/g, "-"),
    63,
  );
}

/** An ELB name (load balancer or target group): letters, digits and hyphens, 32 at most. */
function elbName(parts: (string | number)[]): string {
  const name = parts
    .join("-")
    .replace(/[^A-Za-z0-9-]/g, "-")
    .replace(/-+/g, "-")
    .replace(/^-|-$/g, "");
  return fit(name, 32);
}

/** A load balancer's name, unique in the region's account. */
export function loadBalancerName(env: Pick<Environment, "stack">, loadBalancer: string): string {
  return elbName(["berth", env.stack, loadBalancer]);
}

/** The target group a container port of a service is registered in, behind one load balancer. */
export function targetGroupName(
  env: Pick<Environment, "stack">,
  loadBalancer: string,
  resource: string,
  container: string,
  port: number,
  /** The alternate target group of a gradual deployment (`…-alt`). */
  alternate = false,
): string {
  const parts = resource === container ? [resource, port] : [resource, container, port];
  return elbName(["b", env.stack, loadBalancer, ...parts, ...(alternate ? ["alt"] : [])]);
}

/** The target group behind one listener of a network load balancer, for one container port. */
export function networkTargetGroupName(
  env: Pick<Environment, "stack">,
  loadBalancer: string,
  listenerPort: number,
  resource: string,
  container: string,
  port: number,
): string {
  const parts = resource === container ? [resource, port] : [resource, container, port];
  return elbName(["n", env.stack, loadBalancer, listenerPort, ...parts]);
}

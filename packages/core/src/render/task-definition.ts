import type {
  ContainerDefinition,
  KeyValuePair,
  RegisterTaskDefinitionCommandInput,
  Secret,
} from "@aws-sdk/client-ecs";
import { own } from "../lookup.ts";
import { Spec } from "../spec/index.ts";
import type { Environment } from "./environment.ts";
import { RenderError } from "./errors.ts";
import {
  jobStateMachineArn,
  logGroupName,
  portName,
  repositoryName,
  serviceConnectDnsName,
  standardTags,
  taskDefinitionFamilyArn,
  taskFamily,
  taskRoleArn,
  upperSnake,
} from "./names.ts";

/**
 * The address other resources use for a service: `host:port`. A private service behind its own
 * internal load balancer is reached through the balancer (its DNS name and the service's port,
 * which it listens on) once the balancer exists; any other service, and that one before its
 * first deployment, through its Service Connect `<alias>.<stack>:port`.
 */
export function addressOf(
  stack: Spec.Stack,
  env: Pick<Environment, "stack"> & Partial<Pick<Environment, "ingressUrls">>,
  resourceName: string,
): string {
  const resource = own(stack.resources, resourceName);
  if (!resource || (resource.type !== "private-service" && resource.type !== "web-service")) {
    throw new RenderError("UNKNOWN_RESOURCE", `${resourceName} has no address`);
  }
  const balancerUrl = env.ingressUrls ? own(env.ingressUrls, resourceName) : undefined;
  if (
    resource.type === "private-service" &&
    resource.properties.loadBalancing.type === "application-load-balancer" &&
    balancerUrl
  ) {
    const address = hostAndPort(balancerUrl);
    if (address) return address;
  }
  return `${serviceConnectDnsName(env, Spec.serviceAlias(resourceName))}:${resource.properties.port}`;
}

/** `host:port` of a URL, with the scheme's default port written out. */
function hostAndPort(url: string): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return undefined;
  }
  return `${parsed.hostname}:${parsed.port || (parsed.protocol === "https:" ? "443" : "80")}`;
}

/**
 * The custom domain of a gateway or load balancer (its first), else its own DNS name (with the
 * port where that is not the scheme's: Berth Local's balancers).
 */
function domainOf(env: Pick<Environment, "ingressUrls">, resourceName: string): string {
  const domain = own(env.ingressUrls, `${resourceName}/domain`);
  if (domain) return domain;
  const url = own(env.ingressUrls, resourceName);
  if (!url) {
    throw new RenderError(
      "UNKNOWN_PARAMETER",
      `$ResourceParam('${resourceName}', 'domain') has no value yet: it is known when a service behind it is first deployed; deploy that service first`,
    );
  }
  // The host of the URL, without its port (a network balancer's URL is tcp://host:port).
  return new URL(url.replace(/^tcp:/, "http:")).hostname;
}

/**
 * The public URL of a gateway, or of a web service's own gateway (named after it). Known once
 * the gateway exists: it is created with the first deployment of a service behind it.
 */
export function urlOf(env: Pick<Environment, "ingressUrls">, resourceName: string): string {
  const url = own(env.ingressUrls, resourceName);
  if (!url) {
    throw new RenderError(
      "UNKNOWN_PARAMETER",
      `$ResourceParam('${resourceName}', 'url') has no value yet: the gateway gets its URL when a service behind it is first deployed; deploy that service first`,
    );
  }
  return url;
}

function resolveParam(stack: Spec.Stack, env: Environment, resource: string, param: string): string {
  if (param === "address") return addressOf(stack, env, resource);
  if (param === "url") return urlOf(env, resource);
  if (param === "domain") return domainOf(env, resource);
  throw new RenderError("UNKNOWN_PARAMETER", `$ResourceParam('${resource}', '${param}') cannot be resolved`);
}

function secretValueFrom(env: Environment, secretName: string, jsonKey: string | undefined): string {
  const arn =
    own(env.secretArns, secretName) ??
    `arn:${env.partition}:secretsmanager:${env.region}:${env.account}:secret:${secretName}`;
  // ECS's form for one key of a JSON secret: <arn>:<json-key>:<version-stage>:<version-id>.
  return jsonKey ? `${arn}:${jsonKey}::` : arn;
}

/** Variables `connectTo` injects, `STP_<RESOURCE_NAME>_<VAR>`. */
export function connectToVariables(
  stack: Spec.Stack,
  env: Environment,
  targets: readonly string[],
): KeyValuePair[] {
  const variables: KeyValuePair[] = [];
  for (const target of targets) {
    const resource = own(stack.resources, target);
    if (!resource) continue;
    const prefix = `STP_${upperSnake(target)}`;
    if (resource.type === "private-service" || resource.type === "web-service") {
      variables.push({ name: `${prefix}_ADDRESS`, value: addressOf(stack, env, target) });
    } else if (resource.type === "batch-job") {
      variables.push(
        { name: `${prefix}_JOB_DEFINITION_ARN`, value: taskDefinitionFamilyArn(env, target) },
        // A run is an execution of this state machine (input: `{}`, or `{ "overrides": … }`).
        { name: `${prefix}_STATE_MACHINE_ARN`, value: jobStateMachineArn(env, target) },
      );
    }
  }
  return variables;
}

export function imageOf(env: Environment, resourceName: string, container: Spec.Container): string {
  if (container.packaging.type === "prebuilt-image") {
    // The digest a followed tag was resolved to, when the deployment resolved one.
    return own(env.images, `${resourceName}/${container.name}`) ?? container.packaging.properties.image;
  }
  const built = own(env.images, `${resourceName}/${container.name}`) ?? own(env.images, resourceName);
  if (built) return built;
  // Not built yet: the workflow replaces this tag with the pushed digest after the build.
  return `${env.registry}/${repositoryName(env, resourceName, container.name)}:latest`;
}

function containerDefinition(
  stack: Spec.Stack,
  env: Environment,
  resourceName: string,
  resource: Spec.ComputeResource,
  container: Spec.Container,
): ContainerDefinition {
  const environment: KeyValuePair[] = [];
  const secrets: Secret[] = [];
  for (const variable of container.environment) {
    const secret = Spec.findDirectives(variable.value).find(
      (found) => found.ok && found.directive.kind === "Secret",
    );
    if (secret?.ok && secret.directive.kind === "Secret") {
      secrets.push({
        name: variable.name,
        valueFrom: secretValueFrom(env, secret.directive.secretName, secret.directive.jsonKey),
      });
    } else {
      const value = Spec.substituteResourceParams(variable.value, (target, param) =>
        resolveParam(stack, env, target, param),
      );
      environment.push({ name: variable.name, value });
    }
  }
  const declared = new Set([...environment, ...secrets].map((variable) => variable.name));
  for (const variable of connectToVariables(stack, env, resource.properties.connectTo)) {
    if (!declared.has(variable.name ?? "")) environment.push(variable);
  }
  const onlyPort = container.ports[0];
  if (container.injectPort && onlyPort !== undefined && !declared.has("PORT")) {
    environment.push({ name: "PORT", value: String(onlyPort) });
  }
  environment.sort((a, b) => (a.name ?? "").localeCompare(b.name ?? ""));
  secrets.sort((a, b) => (a.name ?? "").localeCompare(b.name ?? ""));

  const packaging = container.packaging;
  const command = packaging.properties.command;
  const entryPoint =
    packaging.type === "stacktape-image-buildpack" ? undefined : packaging.properties.entryPoint;
  const health = container.internalHealthCheck;
  const appProtocol = (port: number) =>
    container.serviceConnect.find((endpoint) => endpoint.port === port)?.protocol;

  return {
    name: container.name,
    image: imageOf(env, resourceName, container),
    essential: container.essential,
    ...(entryPoint ? { entryPoint } : {}),
    ...(command ? { command } : {}),
    ...(packaging.type === "prebuilt-image" && packaging.properties.repositoryCredentialsSecretArn
      ? {
          repositoryCredentials: {
            credentialsParameter: packaging.properties.repositoryCredentialsSecretArn,
          },
        }
      : {}),
    portMappings: container.ports.map((port) => {
      const protocol = appProtocol(port);
      return {
        name: portName(container.name, port),
        containerPort: port,
        protocol: "tcp",
        ...(protocol ? { appProtocol: protocol } : {}),
      };
    }),
    environment,
    ...(secrets.length > 0 ? { secrets } : {}),
    ...(health
      ? {
          healthCheck: {
            command: health.healthCheckCommand,
            interval: health.intervalSeconds,
            timeout: health.timeoutSeconds,
            retries: health.retries,
            ...(health.startPeriodSeconds !== undefined ? { startPeriod: health.startPeriodSeconds } : {}),
          },
        }
      : {}),
    ...(container.dependsOn.length > 0
      ? {
          dependsOn: container.dependsOn.map((d) => ({
            containerName: d.containerName,
            condition: d.condition,
          })),
        }
      : {}),
    stopTimeout: container.stopTimeout,
    ...(container.logging.disabled
      ? {}
      : {
          logConfiguration: {
            logDriver: "awslogs",
            options: {
              "awslogs-group": logGroupName(env, resourceName),
              "awslogs-region": env.region,
              "awslogs-stream-prefix": resourceName,
              // A slow log pipeline must never block the application's writes.
              mode: "non-blocking",
              "max-buffer-size": "25m",
            },
          },
        }),
  };
}

/** Task-level CPU units and memory (MiB): Fargate's pair, or sized to the EC2 instance types. */
export function taskSize(resources: Spec.ComputeResources): { cpu?: number; memory: number } {
  const cpu = resources.cpu === undefined ? undefined : Math.round(resources.cpu * 1024);
  if (resources.memory !== undefined)
    return { ...(cpu !== undefined ? { cpu } : {}), memory: resources.memory };
  const known = (resources.instanceTypes ?? []).map((name) => Spec.INSTANCE_TYPES.get(name));
  const smallest = Math.min(...known.map((info) => info?.memoryMiB ?? Number.POSITIVE_INFINITY));
  if (!Number.isFinite(smallest)) {
    throw new RenderError(
      "INVALID_RESOURCES",
      "memory is required when instance types are not known to Berth",
    );
  }
  return { ...(cpu !== undefined ? { cpu } : {}), memory: Math.floor(smallest * Spec.EC2_TASK_MEMORY_SHARE) };
}

export function renderTaskDefinition(
  stack: Spec.Stack,
  resourceName: string,
  resource: Spec.ComputeResource,
  env: Environment,
): RegisterTaskDefinitionCommandInput {
  const resources = resource.properties.resources;
  const onEc2 = resources.instanceTypes !== undefined;
  const size = taskSize(resources);
  return {
    family: taskFamily(env, resourceName),
    taskRoleArn: taskRoleArn(env, resourceName),
    executionRoleArn: env.executionRoleArn,
    networkMode: "awsvpc",
    requiresCompatibilities: [onEc2 ? "EC2" : "FARGATE"],
    ...(size.cpu !== undefined ? { cpu: String(size.cpu) } : {}),
    memory: String(size.memory),
    runtimePlatform: {
      cpuArchitecture: resources.architecture === "arm64" ? "ARM64" : "X86_64",
      operatingSystemFamily: "LINUX",
    },
    containerDefinitions: Spec.containersOf(resourceName, resource).map((container) =>
      containerDefinition(stack, env, resourceName, resource, container),
    ),
    tags: Object.entries(standardTags(env, resourceName)).map(([key, value]) => ({ key, value })),
  };
}

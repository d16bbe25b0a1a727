import type {
  CapacityProviderStrategyItem,
  CreateServiceCommandInput,
  DeploymentConfiguration,
  LoadBalancer,
  NetworkConfiguration,
  PlacementConstraint,
  PlacementStrategy,
  ServiceConnectConfiguration,
  ServiceRegistry,
  UpdateServiceCommandInput,
} from "@aws-sdk/client-ecs";
import { own } from "../lookup.ts";
import { Spec } from "../spec/index.ts";
import type { Environment } from "./environment.ts";
import { RenderError } from "./errors.ts";
import {
  ingressKey,
  lambdaArn,
  logGroupName,
  portName,
  serviceConnectDiscoveryName,
  serviceConnectDnsName,
  serviceName,
  standardTags,
  taskFamily,
} from "./names.ts";

type ServiceResource = Exclude<Spec.ComputeResource, Spec.BatchJob>;

type Strategy = Pick<
  DeploymentConfiguration,
  "strategy" | "canaryConfiguration" | "linearConfiguration" | "bakeTimeInMinutes"
>;

/**
 * The stack file's canaries and linear steps all move 10 % of the traffic at a time; the bake
 * in the strategy's name is the canary's or each step's. Once all traffic is on the new tasks
 * the old ones stop at once (bakeTimeInMinutes 0, which ECS requires to be given).
 */
const canary = (bakeMinutes: number): Strategy => ({
  strategy: "CANARY",
  canaryConfiguration: { canaryPercent: 10, canaryBakeTimeInMinutes: bakeMinutes },
  bakeTimeInMinutes: 0,
});
const linear = (bakeMinutes: number): Strategy => ({
  strategy: "LINEAR",
  linearConfiguration: { stepPercent: 10, stepBakeTimeInMinutes: bakeMinutes },
  bakeTimeInMinutes: 0,
});

const STRATEGIES: Record<Spec.Deployment["strategy"], Strategy> = {
  Canary10Percent5Minutes: canary(5),
  Canary10Percent15Minutes: canary(15),
  Linear10PercentEvery1Minute: linear(1),
  Linear10PercentEvery3Minutes: linear(3),
  AllAtOnce: { strategy: "BLUE_GREEN", bakeTimeInMinutes: 0 },
};

function deploymentOf(resource: ServiceResource): Spec.Deployment | undefined {
  return resource.type === "web-service" || resource.type === "multi-container-workload"
    ? resource.properties.deployment
    : undefined;
}

export function deploymentConfiguration(
  resource: ServiceResource,
  env: Environment,
): DeploymentConfiguration {
  // The circuit breaker with rollback is the safety net; Berth's own fail-fast watcher acts earlier.
  const circuitBreaker = { deploymentCircuitBreaker: { enable: true, rollback: true } };
  const deployment = deploymentOf(resource);
  if (!deployment) {
    // New tasks start beside the old ones (200%), and no old task stops before a new one is healthy (100%).
    return { strategy: "ROLLING", minimumHealthyPercent: 100, maximumPercent: 200, ...circuitBreaker };
  }
  const hooks = [
    { name: deployment.beforeAllowTrafficFunction, stage: "POST_TEST_TRAFFIC_SHIFT" as const },
    { name: deployment.afterTrafficShiftFunction, stage: "POST_PRODUCTION_TRAFFIC_SHIFT" as const },
  ].filter(
    (hook): hook is { name: string; stage: "POST_TEST_TRAFFIC_SHIFT" | "POST_PRODUCTION_TRAFFIC_SHIFT" } =>
      !!hook.name,
  );
  if (hooks.length > 0 && !env.deploymentRoleArn) {
    throw new RenderError("MISSING_ENVIRONMENT", "deployment hooks need the environment's deploymentRoleArn");
  }
  return {
    ...STRATEGIES[deployment.strategy],
    minimumHealthyPercent: 100,
    maximumPercent: 200,
    ...circuitBreaker,
    ...(hooks.length > 0
      ? {
          lifecycleHooks: hooks.map((hook) => ({
            hookTargetArn: lambdaArn(env, hook.name),
            roleArn: env.deploymentRoleArn,
            lifecycleStages: [hook.stage],
          })),
        }
      : {}),
  };
}

export function capacity(resource: Spec.ComputeResource, env: Environment) {
  const resources = resource.properties.resources;
  if (resources.instanceTypes) {
    if (!env.ec2CapacityProvider) {
      throw new RenderError(
        "MISSING_ENVIRONMENT",
        "instanceTypes need an EC2 capacity provider in the installation (ec2CapacityProvider)",
      );
    }
    const strategy: CapacityProviderStrategyItem[] = [
      { capacityProvider: env.ec2CapacityProvider, weight: 1 },
    ];
    const constraints: PlacementConstraint[] = [
      {
        type: "memberOf",
        expression: `attribute:ecs.instance-type in [${resources.instanceTypes.join(", ")}]`,
      },
    ];
    // Pack tasks onto as few instances as possible, so managed scaling can remove idle ones.
    const placement: PlacementStrategy[] = [{ type: "binpack", field: "memory" }];
    return {
      capacityProviderStrategy: strategy,
      placementConstraints: constraints,
      placementStrategy: placement,
    };
  }
  return {
    capacityProviderStrategy: [{ capacityProvider: resources.spot ? "FARGATE_SPOT" : "FARGATE", weight: 1 }],
    platformVersion: "LATEST",
  };
}

export function network(resource: Spec.ComputeResource, env: Environment): NetworkConfiguration {
  const onEc2 = resource.properties.resources.instanceTypes !== undefined;
  const nat =
    "usePrivateSubnetsWithNAT" in resource.properties && resource.properties.usePrivateSubnetsWithNAT;
  // EC2 tasks in awsvpc mode cannot get public IPs; without public subnets there is nothing to choose.
  const usePrivate = nat || onEc2 || env.network.publicSubnets.length === 0;
  return {
    awsvpcConfiguration: {
      subnets: usePrivate ? env.network.privateSubnets : env.network.publicSubnets,
      securityGroups: env.network.securityGroups,
      assignPublicIp: usePrivate ? "DISABLED" : "ENABLED",
    },
  };
}

export function serviceConnect(
  resourceName: string,
  resource: ServiceResource,
  env: Environment,
): ServiceConnectConfiguration {
  const services = Spec.containersOf(resourceName, resource).flatMap((container) =>
    container.serviceConnect.map((endpoint) => ({
      portName: portName(container.name, endpoint.port),
      discoveryName: serviceConnectDiscoveryName(env, endpoint.alias),
      clientAliases: [{ port: endpoint.port, dnsName: serviceConnectDnsName(env, endpoint.alias) }],
    })),
  );
  const logged = Spec.containersOf(resourceName, resource).some((container) => !container.logging.disabled);
  // Every service is a Service Connect client, so it can reach the stack's published aliases.
  return {
    enabled: true,
    namespace: env.serviceConnectNamespace,
    ...(services.length > 0 ? { services } : {}),
    ...(logged
      ? {
          logConfiguration: {
            logDriver: "awslogs",
            options: {
              "awslogs-group": logGroupName(env, resourceName),
              "awslogs-region": env.region,
              "awslogs-stream-prefix": "service-connect",
            },
          },
        }
      : {}),
  };
}

interface IngressTarget {
  container: string;
  port: number;
  kind: "target-group" | "service-registry" | "network-target-group";
}

function ingressTargets(resourceName: string, resource: ServiceResource): IngressTarget[] {
  if (resource.type === "private-service" || resource.type === "web-service") {
    const kind = resource.properties.loadBalancing.type;
    if (kind === "service-connect") return [];
    return [
      {
        container: resourceName,
        port: resource.properties.port,
        kind:
          kind === "http-api-gateway"
            ? "service-registry"
            : kind === "network-load-balancer"
              ? "network-target-group"
              : "target-group",
      },
    ];
  }
  if (resource.type === "worker-service") return [];
  const targets = new Map<string, IngressTarget>();
  for (const container of resource.properties.containers) {
    for (const event of container.events) {
      const port = event.properties.containerPort;
      const kind =
        event.type === "http-api-gateway"
          ? "service-registry"
          : event.type === "application-load-balancer"
            ? "target-group"
            : event.type === "network-load-balancer"
              ? "network-target-group"
              : undefined;
      if (kind) targets.set(`${container.name}/${port}/${kind}`, { container: container.name, port, kind });
    }
  }
  return [...targets.values()];
}

/** What the ingress needs from the installation, by `resource/container/port` (for `localEnvironment`). */
export function ingressNeeds(resourceName: string, resource: Spec.ComputeResource): IngressTarget[] {
  return resource.type === "batch-job" ? [] : ingressTargets(resourceName, resource);
}

function ingress(resourceName: string, resource: ServiceResource, env: Environment) {
  const loadBalancers: LoadBalancer[] = [];
  const serviceRegistries: ServiceRegistry[] = [];
  const gradual = deploymentOf(resource) !== undefined;
  for (const target of ingressTargets(resourceName, resource)) {
    const key = ingressKey(resourceName, target.container, target.port);
    const wiring = own(env.ingress, key);
    const present =
      target.kind === "service-registry"
        ? wiring?.serviceRegistryArn
        : target.kind === "network-target-group"
          ? wiring?.networkTargetGroupArns?.[0]
          : wiring?.targetGroupArn;
    if (!present && env.ingressMissing === "omit") continue;
    if (target.kind === "network-target-group") {
      if (!wiring?.networkTargetGroupArns?.length)
        throw new RenderError(
          "MISSING_INGRESS",
          `no network load balancer target group for ${key} in the environment`,
        );
      // One entry per listener the port is behind; network load balancers shift no traffic.
      for (const targetGroupArn of wiring.networkTargetGroupArns) {
        loadBalancers.push({ targetGroupArn, containerName: target.container, containerPort: target.port });
      }
      continue;
    }
    if (target.kind === "service-registry") {
      if (!wiring?.serviceRegistryArn)
        throw new RenderError("MISSING_INGRESS", `no service registry for ${key} in the environment`);
      serviceRegistries.push({
        registryArn: wiring.serviceRegistryArn,
        containerName: target.container,
        containerPort: target.port,
      });
      continue;
    }
    if (!wiring?.targetGroupArn)
      throw new RenderError("MISSING_INGRESS", `no target group for ${key} in the environment`);
    const advanced =
      gradual && wiring.alternateTargetGroupArn && wiring.productionListenerRuleArn && env.deploymentRoleArn
        ? {
            advancedConfiguration: {
              alternateTargetGroupArn: wiring.alternateTargetGroupArn,
              productionListenerRule: wiring.productionListenerRuleArn,
              ...(wiring.testListenerRuleArn ? { testListenerRule: wiring.testListenerRuleArn } : {}),
              roleArn: env.deploymentRoleArn,
            },
          }
        : {};
    if (gradual && !("advancedConfiguration" in advanced)) {
      const missing = [
        wiring.alternateTargetGroupArn ? undefined : "an alternate target group",
        wiring.productionListenerRuleArn ? undefined : "a production listener rule",
        env.deploymentRoleArn
          ? undefined
          : "the installation's ECS infrastructure role for load balancers (deploymentRoleArn, BERTH_DEPLOYMENT_ROLE_ARN)",
      ].filter((part): part is string => part !== undefined);
      throw new RenderError(
        "MISSING_INGRESS",
        `the gradual deployment of ${key} shifts traffic through ECS, which needs ${missing.join(", ")}`,
      );
    }
    loadBalancers.push({
      targetGroupArn: wiring.targetGroupArn,
      containerName: target.container,
      containerPort: target.port,
      ...advanced,
    });
  }
  return { loadBalancers, serviceRegistries };
}

/** Seconds the load balancer waits before its health checks count: the container's start period. */
function gracePeriod(resourceName: string, resource: ServiceResource): number {
  const periods = Spec.containersOf(resourceName, resource).map(
    (c) => c.internalHealthCheck?.startPeriodSeconds ?? 0,
  );
  return Math.max(30, ...periods);
}

export function hasAutoscaling(resource: ServiceResource): boolean {
  return resource.properties.scaling.maxInstances > resource.properties.scaling.minInstances;
}

export function renderService(
  resourceName: string,
  resource: ServiceResource,
  env: Environment,
): { create: CreateServiceCommandInput; update: UpdateServiceCommandInput } {
  const name = serviceName(env, resourceName);
  const { loadBalancers, serviceRegistries } = ingress(resourceName, resource, env);
  const shared = {
    cluster: env.cluster,
    taskDefinition: taskFamily(env, resourceName),
    ...capacity(resource, env),
    networkConfiguration: network(resource, env),
    deploymentConfiguration: deploymentConfiguration(resource, env),
    serviceConnectConfiguration: serviceConnect(resourceName, resource, env),
    ...(loadBalancers.length > 0
      ? { loadBalancers, healthCheckGracePeriodSeconds: gracePeriod(resourceName, resource) }
      : {}),
    ...(serviceRegistries.length > 0 ? { serviceRegistries } : {}),
    enableExecuteCommand: resource.properties.enableRemoteSessions,
    enableECSManagedTags: true,
    propagateTags: "SERVICE" as const,
  };
  const create: CreateServiceCommandInput = {
    serviceName: name,
    desiredCount: resource.properties.scaling.minInstances,
    schedulingStrategy: "REPLICA",
    deploymentController: { type: "ECS" },
    ...shared,
    tags: Object.entries(standardTags(env, resourceName)).map(([key, value]) => ({ key, value })),
  };
  const update: UpdateServiceCommandInput = {
    service: name,
    // Under autoscaling the desired count belongs to the scaler: a deploy must not reset it.
    ...(hasAutoscaling(resource) ? {} : { desiredCount: resource.properties.scaling.minInstances }),
    forceNewDeployment: false,
    ...shared,
  };
  return { create, update };
}

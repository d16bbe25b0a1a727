import { own } from "../lookup.ts";
import {
  defaultFargateMemory,
  describeFargateMemory,
  EC2_TASK_MEMORY_SHARE,
  FARGATE_CPUS,
  INSTANCE_TYPES,
  isFargateSize,
} from "./capacity.ts";
import type { PathSegment } from "./issues.ts";
import {
  type ComputeResource,
  type ComputeResources,
  type Deployment,
  isCompute,
  type Resource,
  type Scaling,
} from "./schema.ts";
import { closest } from "./suggest.ts";
import { type Container, containersOf } from "./workload.ts";

/** An issue before it is placed in the file: `load.ts` adds the line and column. */
export interface LocatedIssue {
  code: string;
  path: PathSegment[];
  message: string;
  suggestion?: string;
  /** Report the position of the key rather than its value. */
  onKey?: boolean;
}

/** What `$ResourceParam(name, param)` can read from each resource type. */
export const REFERENCEABLE_PARAMS: Partial<Record<string, readonly string[]>> = {
  "private-service": ["address"],
  "web-service": ["address", "url", "domain"],
  "http-api-gateway": ["url", "domain"],
  "application-load-balancer": ["url", "domain"],
  "network-load-balancer": ["url", "domain"],
};

/**
 * What `connectTo` injects per target type, as `STP_<RESOURCE_NAME>_<VAR>` (the docs' list,
 * restricted to the types Berth manages).
 */
export const CONNECT_TO_VARIABLES: Partial<Record<string, readonly string[]>> = {
  "private-service": ["ADDRESS"],
  "web-service": ["ADDRESS"],
  "batch-job": ["JOB_DEFINITION_ARN", "STATE_MACHINE_ARN"],
};

/** AWS service macros accepted in `connectTo`. */
export const CONNECT_TO_MACROS = ["aws:ses"] as const;

/**
 * Rules that need more than one property or resource: references, dependencies, ports, aliases,
 * sizes. `declaredTypes` holds every declared resource, even those whose properties failed to
 * parse, so a reference to them is not reported as missing.
 */
export function crossCheck(
  resources: Record<string, Resource>,
  declaredTypes: Map<string, string>,
): LocatedIssue[] {
  const issues: LocatedIssue[] = [];
  const aliases = new Map<string, PathSegment[]>();
  const albPriorities = new Map<string, PathSegment[]>();
  /** An NLB listener forwards to one target group: one container port of one service. */
  const nlbListeners = new Map<string, string>();

  const expectType = (path: PathSegment[], name: string, types: readonly string[], what: string) => {
    const type = declaredTypes.get(name);
    if (type === undefined) issues.push(unknownResource(path, name, what, declaredTypes));
    else if (!types.includes(type)) {
      issues.push({
        code: "WRONG_RESOURCE_TYPE",
        path,
        message: `${what} "${name}" is a ${type}, expected ${types.join(" or ")}`,
      });
    }
  };

  for (const [name, resource] of Object.entries(resources)) {
    if (!isCompute(resource)) continue;
    const base: PathSegment[] = ["resources", name, "properties"];
    const containers = containersOf(name, resource);
    const containerPath = (index: number): PathSegment[] =>
      resource.type === "multi-container-workload" ? [...base, "containers", index] : base;

    // Containers of one workload: unique names, unique ports, dependencies.
    if (resource.type === "multi-container-workload") {
      const byName = new Map<string, number>();
      const portOwner = new Map<number, string>();
      resource.properties.containers.forEach((container, index) => {
        const path = [...base, "containers", index];
        if (byName.has(container.name)) {
          issues.push({
            code: "DUPLICATE_NAME",
            path: [...path, "name"],
            message: `container name "${container.name}" is used twice`,
          });
        } else byName.set(container.name, index);
      });
      containers.forEach((container, index) => {
        for (const port of container.ports) {
          const owner = portOwner.get(port);
          if (owner !== undefined && owner !== container.name) {
            const eventIndex = container.events.findIndex((event) => event.properties.containerPort === port);
            issues.push({
              code: "PORT_CONFLICT",
              path: [...base, "containers", index, "events", eventIndex, "properties", "containerPort"],
              message: `port ${port} is already used by container "${owner}": containers of one workload share a network`,
            });
          } else portOwner.set(port, container.name);
        }
      });
      if (!resource.properties.containers.some((container) => container.essential)) {
        issues.push({
          code: "NO_ESSENTIAL_CONTAINER",
          path: [...base, "containers"],
          message: "at least one container must be essential",
        });
      }
      resource.properties.containers.forEach((container, index) => {
        container.dependsOn.forEach((dependency, dependencyIndex) => {
          const path = [...base, "containers", index, "dependsOn", dependencyIndex, "containerName"];
          const targetIndex = byName.get(dependency.containerName);
          const target = targetIndex === undefined ? undefined : resource.properties.containers[targetIndex];
          if (!target) {
            const best = closest(dependency.containerName, [...byName.keys()]);
            issues.push({
              code: "UNKNOWN_CONTAINER",
              path,
              message: `container "${dependency.containerName}" is not a container of this workload`,
              ...(best ? { suggestion: best } : {}),
            });
          } else if (target === container) {
            issues.push({ code: "DEPENDENCY_CYCLE", path, message: "a container cannot depend on itself" });
          } else if (dependency.condition === "HEALTHY" && !target.internalHealthCheck) {
            issues.push({
              code: "INVALID_DEPENDENCY",
              path: [...base, "containers", index, "dependsOn", dependencyIndex, "condition"],
              message: `HEALTHY needs an internalHealthCheck on container "${target.name}"`,
            });
          } else if (
            (dependency.condition === "COMPLETE" || dependency.condition === "SUCCESS") &&
            target.essential
          ) {
            issues.push({
              code: "INVALID_DEPENDENCY",
              path: [...base, "containers", index, "dependsOn", dependencyIndex, "condition"],
              message: `${dependency.condition} waits for container "${target.name}" to exit, so it must be essential: false`,
            });
          }
        });
      });
      issues.push(...dependencyCycles(resource, base));
    }

    // Events: targets exist with the right type; ALB priorities unique; NLB listener exists.
    containers.forEach((container, containerIndex) => {
      container.events.forEach((event, eventIndex) => {
        const path = [...containerPath(containerIndex), "events", eventIndex, "properties"];
        if (event.type === "http-api-gateway") {
          expectType(
            [...path, "httpApiGatewayName"],
            event.properties.httpApiGatewayName,
            ["http-api-gateway"],
            "httpApiGatewayName",
          );
        } else if (event.type === "application-load-balancer") {
          const lb = event.properties.loadBalancerName;
          expectType([...path, "loadBalancerName"], lb, ["application-load-balancer"], "loadBalancerName");
          const key = `${lb}:${event.properties.listenerPort ?? "default"}:${event.properties.priority}`;
          if (albPriorities.has(key)) {
            issues.push({
              code: "DUPLICATE_PRIORITY",
              path: [...path, "priority"],
              message: `priority ${event.properties.priority} is already used on load balancer "${lb}"`,
            });
          } else albPriorities.set(key, path);
          const alb = own(resources, lb);
          if (
            alb?.type === "application-load-balancer" &&
            alb.properties.listeners &&
            event.properties.listenerPort !== undefined
          ) {
            if (
              !alb.properties.listeners.some((listener) => listener.port === event.properties.listenerPort)
            ) {
              issues.push({
                code: "UNKNOWN_LISTENER",
                path: [...path, "listenerPort"],
                message: `load balancer "${lb}" has no listener on port ${event.properties.listenerPort}`,
              });
            }
          }
        } else if (event.type === "network-load-balancer") {
          const lb = event.properties.loadBalancerName;
          expectType([...path, "loadBalancerName"], lb, ["network-load-balancer"], "loadBalancerName");
          const nlb = own(resources, lb);
          if (
            nlb?.type === "network-load-balancer" &&
            !nlb.properties.listeners.some((listener) => listener.port === event.properties.listenerPort)
          ) {
            const ports = nlb.properties.listeners.map((listener) => listener.port).join(", ");
            issues.push({
              code: "UNKNOWN_LISTENER",
              path: [...path, "listenerPort"],
              message: `load balancer "${lb}" has no listener on port ${event.properties.listenerPort} (listeners: ${ports})`,
            });
          }
          const key = `${lb}:${event.properties.listenerPort}`;
          const target = `${name}/${container.name}:${event.properties.containerPort}`;
          const taken = nlbListeners.get(key);
          if (taken !== undefined && taken !== target) {
            issues.push({
              code: "LISTENER_TAKEN",
              path: [...path, "listenerPort"],
              message: `listener ${event.properties.listenerPort} of load balancer "${lb}" already forwards to ${taken}; a network load balancer's listener forwards to one container port`,
            });
          } else nlbListeners.set(key, target);
        } else if (event.type === "service-connect" && event.properties.alias === undefined) {
          const alias =
            container.serviceConnect.find((endpoint) => endpoint.port === event.properties.containerPort)
              ?.alias ?? "";
          if (!/^[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?$/.test(alias)) {
            issues.push({
              code: "INVALID_ALIAS",
              path,
              message: `the default alias "${alias}" is not a DNS name; set properties.alias`,
            });
          }
        }
      });
      for (const endpoint of container.serviceConnect) {
        const path =
          resource.type === "multi-container-workload"
            ? [...containerPath(containerIndex), "events"]
            : [...base, "port"];
        const owner = aliases.get(endpoint.alias);
        if (owner) {
          issues.push({
            code: "DUPLICATE_ALIAS",
            path,
            message: `Service Connect alias "${endpoint.alias}" is already published by ${owner.slice(0, 2).join(".")}`,
          });
        } else aliases.set(endpoint.alias, ["resources", name]);
      }
    });

    // Gradual deployments shift traffic between target groups, so they need an ALB.
    const deployment = "deployment" in resource.properties ? resource.properties.deployment : undefined;
    if (deployment) {
      const behindAlb =
        resource.type === "web-service"
          ? resource.properties.loadBalancing.type === "application-load-balancer"
          : containers.some((container) =>
              container.events.some((event) => event.type === "application-load-balancer"),
            );
      if (!behindAlb) {
        issues.push({
          code: "INVALID_DEPLOYMENT",
          path: [...base, "deployment", "strategy"],
          message: `strategy ${deployment.strategy} shifts traffic through an application load balancer: add an application-load-balancer ${resource.type === "web-service" ? "loadBalancing" : "event"}`,
        });
      }
      issues.push(...gradualDeploymentIssues(resources, resource, containers, base, deployment));
    }
  }
  return issues;
}

/**
 * ECS shifts a gradual deployment's traffic through one listener rule per container port (its
 * production rule), between two target groups: a container port reached by several rules could
 * not follow. `testListenerPort` names a listener of the balancer, other than the production one,
 * where the test rule goes.
 */
function gradualDeploymentIssues(
  resources: Record<string, Resource>,
  resource: Resource,
  containers: Container[],
  base: PathSegment[],
  deployment: Deployment,
): LocatedIssue[] {
  const issues: LocatedIssue[] = [];
  const testPort = deployment.testListenerPort;
  const testPath = [...base, "deployment", "testListenerPort"];
  if (resource.type === "web-service") {
    if (testPort !== undefined) {
      issues.push({
        code: "INVALID_DEPLOYMENT",
        path: testPath,
        message:
          "a web-service's own load balancer has one listener (HTTP 80), so there is no test listener: use a multi-container-workload behind an application-load-balancer resource with a listener on that port",
      });
    }
    return issues;
  }
  const rulesPerTarget = new Map<string, number>();
  for (const container of containers) {
    for (const event of container.events) {
      if (event.type !== "application-load-balancer") continue;
      const { loadBalancerName: lb, containerPort, listenerPort } = event.properties;
      const key = `${lb}:${container.name}:${containerPort}`;
      const count = (rulesPerTarget.get(key) ?? 0) + 1;
      rulesPerTarget.set(key, count);
      if (count === 2) {
        issues.push({
          code: "INVALID_DEPLOYMENT",
          path: [...base, "deployment", "strategy"],
          message: `strategy ${deployment.strategy} shifts traffic through one listener rule per container port: container "${container.name}" port ${containerPort} has more than one application-load-balancer event on "${lb}"`,
        });
      }
      if (testPort === undefined) continue;
      const alb = own(resources, lb);
      const listeners =
        alb?.type === "application-load-balancer" && alb.properties.listeners?.length
          ? alb.properties.listeners.map((listener) => listener.port)
          : [80];
      const production =
        listenerPort ??
        (alb?.type === "application-load-balancer"
          ? (
              alb.properties.listeners?.find((listener) => listener.protocol === "HTTPS") ??
              alb.properties.listeners?.[0]
            )?.port
          : undefined) ??
        80;
      if (!listeners.includes(testPort)) {
        issues.push({
          code: "INVALID_DEPLOYMENT",
          path: testPath,
          message: `load balancer "${lb}" has no listener on port ${testPort} (its listeners: ${listeners.join(", ")})`,
        });
      } else if (testPort === production) {
        issues.push({
          code: "INVALID_DEPLOYMENT",
          path: testPath,
          message: `port ${testPort} is the listener production traffic takes on "${lb}": the test listener must be another one`,
        });
      }
    }
  }
  return issues;
}

/** `$ResourceParam(target, param)`: the target exists and has that parameter. */
export function checkResourceParam(
  target: string,
  param: string,
  declaredTypes: Map<string, string>,
  path: PathSegment[],
): LocatedIssue | undefined {
  const type = declaredTypes.get(target);
  if (type === undefined) return unknownResource(path, target, "$ResourceParam target", declaredTypes);
  const params = own(REFERENCEABLE_PARAMS, type) ?? [];
  if (params.includes(param)) return undefined;
  const best = closest(param, params);
  return {
    code: "UNKNOWN_PARAMETER",
    path,
    message: `${type} "${target}" has no parameter "${param}"; referenceable: ${params.length ? params.join(", ") : "none"}`,
    ...(best ? { suggestion: best } : {}),
  };
}

/** `connectTo`: each entry is a supported macro or a connectable resource of the stack. */
export function checkConnectTo(
  self: string,
  targets: readonly unknown[],
  declaredTypes: Map<string, string>,
  base: PathSegment[],
): LocatedIssue[] {
  const issues: LocatedIssue[] = [];
  targets.forEach((target, index) => {
    if (typeof target !== "string") return;
    const path = [...base, index];
    if (target.startsWith("aws:")) {
      if (!(CONNECT_TO_MACROS as readonly string[]).includes(target)) {
        issues.push({
          code: "UNKNOWN_RESOURCE",
          path,
          message: `unknown AWS service macro "${target}"; supported: ${CONNECT_TO_MACROS.join(", ")}`,
        });
      }
      return;
    }
    if (target === self) {
      issues.push({ code: "INVALID_REFERENCE", path, message: "a resource cannot connect to itself" });
      return;
    }
    const type = declaredTypes.get(target);
    if (type === undefined) issues.push(unknownResource(path, target, "connectTo target", declaredTypes));
    else if (!own(CONNECT_TO_VARIABLES, type)) {
      const connectable = Object.keys(CONNECT_TO_VARIABLES).join(", ");
      issues.push({
        code: "WRONG_RESOURCE_TYPE",
        path,
        message: `cannot connect to "${target}" (${type}): connectTo supports ${connectable} and ${CONNECT_TO_MACROS.join(", ")}`,
      });
    }
  });
  return issues;
}

function unknownResource(
  path: PathSegment[],
  name: string,
  what: string,
  declaredTypes: Map<string, string>,
): LocatedIssue {
  const best = closest(name, [...declaredTypes.keys()]);
  return {
    code: "UNKNOWN_RESOURCE",
    path,
    message: `${what} "${name}" is not a resource of this stack`,
    ...(best ? { suggestion: best } : {}),
  };
}

export function checkResources(resources: ComputeResources, path: PathSegment[]): LocatedIssue[] {
  const issues: LocatedIssue[] = [];
  const { cpu, memory, instanceTypes } = resources;
  if (!instanceTypes) {
    if (resources.enableWarmPool) {
      issues.push({
        code: "INVALID_RESOURCES",
        path: [...path, "enableWarmPool"],
        message: "a warm pool keeps EC2 instances: it needs instanceTypes",
      });
    }
    if (cpu === undefined) {
      issues.push({
        code: "MISSING_PROPERTY",
        path: [...path, "cpu"],
        message: `is required on Fargate (no instanceTypes): one of ${FARGATE_CPUS.join(", ")} vCPU`,
      });
    } else if (!FARGATE_CPUS.includes(cpu)) {
      issues.push({
        code: "INVALID_FARGATE_SIZE",
        path: [...path, "cpu"],
        message: `Fargate runs ${FARGATE_CPUS.join(", ")} vCPU, got ${cpu}`,
      });
    } else if (memory === undefined) {
      issues.push({
        code: "MISSING_PROPERTY",
        path: [...path, "memory"],
        message: `is required on Fargate: with ${cpu} vCPU, ${describeFargateMemory(cpu)} (e.g. ${defaultFargateMemory(cpu)})`,
      });
    } else if (!isFargateSize(cpu, memory)) {
      issues.push({
        code: "INVALID_FARGATE_SIZE",
        path: [...path, "memory"],
        message: `Fargate does not run ${cpu} vCPU with ${memory} MiB; with ${cpu} vCPU it accepts ${describeFargateMemory(cpu)}`,
      });
    }
    return issues;
  }
  if (resources.spot) {
    issues.push({
      code: "INVALID_RESOURCES",
      path: [...path, "spot"],
      message: "spot runs on Fargate Spot: remove instanceTypes or spot",
    });
  }
  if (resources.enableWarmPool && instanceTypes.length !== 1) {
    issues.push({
      code: "INVALID_RESOURCES",
      path: [...path, "enableWarmPool"],
      message: "a warm pool needs exactly one instance type",
    });
  }
  const known = instanceTypes.map((name) => INSTANCE_TYPES.get(name));
  instanceTypes.forEach((name, index) => {
    const info = known[index];
    if (info && info.architecture !== resources.architecture) {
      issues.push({
        code: "ARCHITECTURE_MISMATCH",
        path: [...path, "instanceTypes", index],
        message: `${name} is ${info.architecture}, but architecture is ${resources.architecture}`,
      });
    }
  });
  if (known.every((info) => info !== undefined)) {
    const smallest = Math.min(...known.map((info) => info.memoryMiB));
    const usable = Math.floor(smallest * EC2_TASK_MEMORY_SHARE);
    if (memory !== undefined && memory > usable) {
      issues.push({
        code: "INVALID_RESOURCES",
        path: [...path, "memory"],
        message: `${memory} MiB does not fit the smallest instance type (${usable} MiB usable of ${smallest})`,
      });
    }
  } else if (memory === undefined) {
    const unknown = instanceTypes.filter((_, index) => known[index] === undefined);
    issues.push({
      code: "MISSING_PROPERTY",
      path: [...path, "memory"],
      message: `Berth does not know the memory of ${unknown.join(", ")}: set memory (MiB)`,
    });
  }
  return issues;
}

export function checkScaling(scaling: Scaling, path: PathSegment[]): LocatedIssue[] {
  const issues: LocatedIssue[] = [];
  if (scaling.maxInstances < scaling.minInstances) {
    issues.push({
      code: "INVALID_SCALING",
      path: [...path, "maxInstances"],
      message: `must be at least minInstances (${scaling.minInstances})`,
    });
  }
  if (scaling.scaleInCooldownSeconds < scaling.scaleOutCooldownSeconds) {
    issues.push({
      code: "INVALID_SCALING",
      path: [...path, "scaleInCooldownSeconds"],
      message: `must be at least scaleOutCooldownSeconds (${scaling.scaleOutCooldownSeconds}): Berth scales out fast and in slowly`,
    });
  }
  return issues;
}

function dependencyCycles(
  resource: Extract<ComputeResource, { type: "multi-container-workload" }>,
  base: PathSegment[],
): LocatedIssue[] {
  const containers = resource.properties.containers;
  const edges = new Map(
    containers.map((container) => [container.name, container.dependsOn.map((d) => d.containerName)]),
  );
  const state = new Map<string, "visiting" | "done">();
  const reported = new Set<string>();
  const issues: LocatedIssue[] = [];
  const visit = (name: string, trail: string[]) => {
    if (state.get(name) === "done") return;
    if (state.get(name) === "visiting") {
      const cycle = [...trail.slice(trail.indexOf(name)), name];
      const key = [...cycle].sort().join(",");
      if (!reported.has(key)) {
        reported.add(key);
        const index = containers.findIndex((container) => container.name === name);
        issues.push({
          code: "DEPENDENCY_CYCLE",
          path: [...base, "containers", index, "dependsOn"],
          message: `dependsOn forms a cycle: ${cycle.join(" -> ")}`,
        });
      }
      return;
    }
    state.set(name, "visiting");
    for (const next of edges.get(name) ?? [])
      if (edges.has(next) && next !== name) visit(next, [...trail, name]);
    state.set(name, "done");
  };
  for (const container of containers) visit(container.name, []);
  return issues;
}

import type { Spec } from "../spec/index.ts";
import { domainList } from "./plan.ts";

/**
 * What a service needs from application load balancers, read from the stack file alone: which
 * balancer, which container port its target group forwards to, how the balancer checks the
 * targets' health, and the listener rules that lead to it. Pure, like `httpApiAttachments`.
 */
export interface AlbRule {
  priority: number;
  /** The listener the rule belongs to; undefined: the balancer's main listener. */
  listenerPort?: number;
  paths?: string[];
  methods?: string[];
  hosts?: string[];
  headers?: { headerName: string; values: string[] }[];
  queryParams?: { paramName: string; values: string[] }[];
  sourceIps?: string[];
}

export interface AlbListener {
  port: number;
  protocol: "HTTP" | "HTTPS";
  certificateArns: string[];
}

export interface AlbHealthCheck {
  /** `TCP`: a connection that opens is healthy (network load balancers only). */
  protocol?: "HTTP" | "TCP";
  path: string;
  intervalSeconds: number;
  timeoutSeconds: number;
}

export interface AlbAttachment {
  loadBalancer: string;
  /** `internal`: reachable inside the VPC only (a private service's balancer). */
  scheme: "internet-facing" | "internal";
  listeners: AlbListener[];
  container: string;
  port: number;
  /** Empty: the target group is the listeners' default action (the balancer is the service's own). */
  rules: AlbRule[];
  healthCheck: AlbHealthCheck;
  /** Seconds a draining target keeps its connections: the container's stop timeout. */
  deregistrationDelaySeconds: number;
  /** The balancer's custom domains, lowercased: their certificates go on its HTTPS listeners. */
  customDomains: string[];
  /**
   * Set when the service deploys gradually (`deployment`): ECS shifts traffic between the target
   * group and an alternate one through the attachment's one rule (its production rule), and
   * `testRule`, on the `testListenerPort` listener, carries the test traffic.
   */
  gradual?: { testRule?: AlbRule };
}

/**
 * A balancer with custom domains serves them over HTTPS: without a declared HTTPS listener it
 * gets one on 443 (its certificates are the domains'), and HTTP then redirects to it.
 */
function withDomainListener(listeners: AlbListener[], domains: readonly string[]): AlbListener[] {
  if (domains.length === 0 || listeners.some((listener) => listener.protocol === "HTTPS")) return listeners;
  if (listeners.some((listener) => listener.port === 443)) return listeners;
  return [...listeners, { port: 443, protocol: "HTTPS", certificateArns: [] }];
}

/** The `deployment` of a service that has one (web-services and workloads). */
function deploymentOf(resource: Spec.Resource): Spec.Deployment | undefined {
  return resource.type === "web-service" || resource.type === "multi-container-workload"
    ? resource.properties.deployment
    : undefined;
}

/** The balancer's listeners as declared; without any, HTTP on port 80. */
function albListeners(resource: Spec.Resource | undefined): AlbListener[] {
  const declared = resource?.type === "application-load-balancer" ? resource.properties.listeners : undefined;
  if (!declared || declared.length === 0) return [{ port: 80, protocol: "HTTP", certificateArns: [] }];
  return declared.map((listener) => ({
    port: listener.port,
    protocol: listener.protocol,
    certificateArns: listener.customCertificateArns ?? [],
  }));
}

/** The listener rules of a balancer go on: its first HTTPS listener, else its first listener. */
export function mainListener(listeners: AlbListener[]): AlbListener {
  const https = listeners.find((listener) => listener.protocol === "HTTPS");
  const first = https ?? listeners[0];
  if (!first) throw new Error("a load balancer has at least one listener");
  return first;
}

function healthCheckOf(check: Spec.WorkloadContainer["loadBalancerHealthCheck"]): AlbHealthCheck {
  return {
    path: check?.healthcheckPath ?? "/",
    intervalSeconds: check?.healthcheckInterval ?? 5,
    timeoutSeconds: check?.healthcheckTimeout ?? 4,
  };
}

/** The application load balancers a service is attached to, one entry per balancer and container port. */
export function albAttachments(stack: Spec.Stack, serviceName: string): AlbAttachment[] {
  const resource = stack.resources[serviceName];
  if (!resource) return [];
  if (resource.type === "web-service" || resource.type === "private-service") {
    if (resource.properties.loadBalancing.type !== "application-load-balancer") return [];
    const internal = resource.type === "private-service";
    const domains = resource.type === "web-service" ? domainList(resource.properties.customDomains) : [];
    // A gradual deployment needs a rule to shift: every path, ahead of the listener's default.
    const gradual = deploymentOf(resource) !== undefined;
    return [
      {
        loadBalancer: serviceName,
        scheme: internal ? "internal" : "internet-facing",
        listeners: internal
          ? [{ port: resource.properties.port, protocol: "HTTP", certificateArns: [] }]
          : withDomainListener(albListeners(undefined), domains),
        container: serviceName,
        port: resource.properties.port,
        rules: gradual ? [{ priority: 1 }] : [],
        healthCheck: healthCheckOf(undefined),
        deregistrationDelaySeconds: resource.properties.stopTimeout,
        customDomains: domains,
        ...(gradual ? { gradual: {} } : {}),
      },
    ];
  }
  if (resource.type !== "multi-container-workload") return [];
  const byTarget = new Map<string, AlbAttachment>();
  for (const container of resource.properties.containers) {
    for (const event of container.events) {
      if (event.type !== "application-load-balancer") continue;
      const { loadBalancerName, containerPort, ...rule } = event.properties;
      const key = `${loadBalancerName}/${container.name}/${containerPort}`;
      let attachment = byTarget.get(key);
      if (!attachment) {
        const declared = stack.resources[loadBalancerName];
        const internal =
          declared?.type === "application-load-balancer" && declared.properties.interface === "internal";
        const domains = domainList(
          declared?.type === "application-load-balancer" ? declared.properties.customDomains : undefined,
        );
        attachment = {
          loadBalancer: loadBalancerName,
          scheme: internal ? "internal" : "internet-facing",
          listeners: withDomainListener(albListeners(declared), domains),
          customDomains: domains,
          container: container.name,
          port: containerPort,
          rules: [],
          healthCheck: healthCheckOf(container.loadBalancerHealthCheck),
          deregistrationDelaySeconds: container.stopTimeout,
        };
        byTarget.set(key, attachment);
      }
      attachment.rules.push(rule);
    }
  }
  const deployment = deploymentOf(resource);
  if (deployment) {
    for (const attachment of byTarget.values()) {
      // Validation leaves one rule per container port; the test rule copies it on the test listener.
      const [production] = attachment.rules;
      const testPort = deployment.testListenerPort;
      const testRule =
        production && testPort !== undefined && attachment.listeners.some((l) => l.port === testPort)
          ? { ...production, listenerPort: testPort }
          : undefined;
      attachment.gradual = testRule ? { testRule } : {};
    }
  }
  return [...byTarget.values()];
}

export interface NlbListener {
  port: number;
  protocol: "TCP" | "TLS";
  certificateArns: string[];
}

/**
 * A container port behind one listener of a network load balancer: each pair gets its own target
 * group (TCP, type `ip`), which is the listener's default action.
 */
export interface NlbAttachment {
  loadBalancer: string;
  scheme: "internet-facing" | "internal";
  listener: NlbListener;
  /** The balancer's first declared listener: its URL's port. */
  firstListener: NlbListener;
  container: string;
  port: number;
  /** TCP unless the container declares an HTTP `loadBalancerHealthCheck`. */
  healthCheck: AlbHealthCheck;
  deregistrationDelaySeconds: number;
}

/** A network load balancer's health check: the container's HTTP one if declared, else TCP. */
function nlbHealthCheckOf(check: Spec.WorkloadContainer["loadBalancerHealthCheck"]): AlbHealthCheck {
  const declared = healthCheckOf(check);
  const protocol = check && check.healthcheckProtocol !== "TCP" ? "HTTP" : "TCP";
  return { ...declared, protocol, ...(check ? {} : { intervalSeconds: 10, timeoutSeconds: 5 }) };
}

/** The network load balancers a service is attached to, one entry per listener and container port. */
export function nlbAttachments(stack: Spec.Stack, serviceName: string): NlbAttachment[] {
  const resource = stack.resources[serviceName];
  if (!resource) return [];
  if (resource.type === "web-service") {
    if (resource.properties.loadBalancing.type !== "network-load-balancer") return [];
    // The service's own balancer: TCP on the service's port, straight through to it.
    return [
      {
        loadBalancer: serviceName,
        scheme: "internet-facing",
        listener: { port: resource.properties.port, protocol: "TCP", certificateArns: [] },
        firstListener: { port: resource.properties.port, protocol: "TCP", certificateArns: [] },
        container: serviceName,
        port: resource.properties.port,
        healthCheck: nlbHealthCheckOf(undefined),
        deregistrationDelaySeconds: resource.properties.stopTimeout,
      },
    ];
  }
  if (resource.type !== "multi-container-workload") return [];
  const attachments: NlbAttachment[] = [];
  for (const container of resource.properties.containers) {
    for (const event of container.events) {
      if (event.type !== "network-load-balancer") continue;
      const { loadBalancerName, containerPort, listenerPort } = event.properties;
      const declared = stack.resources[loadBalancerName];
      if (declared?.type !== "network-load-balancer") continue;
      const listener = declared.properties.listeners.find((candidate) => candidate.port === listenerPort);
      // Validation refuses an event naming a listener the balancer lacks; a plan never guesses one.
      if (!listener) {
        throw new Error(`load balancer "${loadBalancerName}" has no listener on port ${listenerPort}`);
      }
      const toListener = (declared: NonNullable<typeof listener>): NlbListener => ({
        port: declared.port,
        protocol: declared.protocol,
        certificateArns: declared.customCertificateArns ?? [],
      });
      const duplicate = attachments.some(
        (other) =>
          other.loadBalancer === loadBalancerName &&
          other.listener.port === listenerPort &&
          other.container === container.name &&
          other.port === containerPort,
      );
      if (duplicate) continue;
      attachments.push({
        loadBalancer: loadBalancerName,
        scheme: declared.properties.interface === "internal" ? "internal" : "internet-facing",
        listener: toListener(listener),
        firstListener: toListener(declared.properties.listeners[0] ?? listener),
        container: container.name,
        port: containerPort,
        healthCheck: nlbHealthCheckOf(container.loadBalancerHealthCheck),
        deregistrationDelaySeconds: container.stopTimeout,
      });
    }
  }
  return attachments;
}

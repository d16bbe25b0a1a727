import type { Spec } from "../spec/index.ts";

/**
 * What a service needs from HTTP API gateways, read from the stack file alone: which gateway,
 * which container port it forwards to, and the routes. Pure, so the same stack plans the same
 * attachments anywhere.
 */
export interface HttpApiRoute {
  /** API Gateway's route key: `ANY /api/{proxy+}`, `GET /items`, or `$default`. */
  routeKey: string;
  payloadFormat: "1.0" | "2.0";
}

export interface HttpApiCors {
  allowOrigins: string[];
  allowMethods: string[];
  allowHeaders: string[];
}

export interface HttpApiAttachment {
  /** The gateway resource's name; a web-service's own gateway is named after the service. */
  gateway: string;
  container: string;
  port: number;
  routes: HttpApiRoute[];
  cors?: HttpApiCors;
  /** The gateway's custom domains, lowercased, in the declared order. */
  customDomains: string[];
}

/** Declared custom domains, lowercased and without repeats, in the declared order. */
export function domainList(domains: readonly string[] | undefined): string[] {
  return [...new Set((domains ?? []).map((domain) => domain.toLowerCase()))];
}

function routeKey(method: string, path: string): string {
  return `${method === "*" ? "ANY" : method} ${path}`;
}

function corsOf(cors: {
  enabled: boolean;
  allowedOrigins?: string[] | undefined;
  allowedMethods?: string[] | undefined;
  allowedHeaders?: string[] | undefined;
}): HttpApiCors | undefined {
  if (!cors.enabled) return undefined;
  return {
    allowOrigins: cors.allowedOrigins ?? ["*"],
    allowMethods: cors.allowedMethods ?? ["*"],
    allowHeaders: cors.allowedHeaders ?? ["*"],
  };
}

/** The HTTP API gateways a service is attached to, one entry per gateway and container port. */
export function httpApiAttachments(stack: Spec.Stack, serviceName: string): HttpApiAttachment[] {
  const resource = stack.resources[serviceName];
  if (!resource) return [];
  if (resource.type === "web-service") {
    if (resource.properties.loadBalancing.type !== "http-api-gateway") return [];
    const cors = resource.properties.cors ? corsOf(resource.properties.cors) : undefined;
    return [
      {
        gateway: serviceName,
        container: serviceName,
        port: resource.properties.port,
        // Every request reaches the service: API Gateway's catch-all route.
        routes: [{ routeKey: "$default", payloadFormat: "1.0" }],
        ...(cors ? { cors } : {}),
        customDomains: domainList(resource.properties.customDomains),
      },
    ];
  }
  if (resource.type !== "multi-container-workload") return [];
  const byTarget = new Map<string, HttpApiAttachment>();
  for (const container of resource.properties.containers) {
    for (const event of container.events) {
      if (event.type !== "http-api-gateway") continue;
      const {
        httpApiGatewayName: gateway,
        containerPort: port,
        method,
        path,
        payloadFormat,
      } = event.properties;
      const key = `${gateway}/${container.name}/${port}`;
      let attachment = byTarget.get(key);
      if (!attachment) {
        const declared = stack.resources[gateway];
        const cors =
          declared?.type === "http-api-gateway" && declared.properties.cors
            ? corsOf(declared.properties.cors)
            : undefined;
        attachment = {
          gateway,
          container: container.name,
          port,
          routes: [],
          ...(cors ? { cors } : {}),
          customDomains: domainList(
            declared?.type === "http-api-gateway" ? declared.properties.customDomains : undefined,
          ),
        };
        byTarget.set(key, attachment);
      }
      attachment.routes.push({ routeKey: routeKey(method, path), payloadFormat });
    }
  }
  return [...byTarget.values()];
}

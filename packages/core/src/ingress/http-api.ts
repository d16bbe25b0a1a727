import {
  type Api,
  type ApiGatewayV2Client,
  type Cors,
  CreateApiCommand,
  CreateIntegrationCommand,
  CreateRouteCommand,
  CreateStageCommand,
  DeleteApiCommand,
  DeleteIntegrationCommand,
  DeleteRouteCommand,
  GetApisCommand,
  GetIntegrationsCommand,
  GetRoutesCommand,
  GetStagesCommand,
  type Integration,
  type Route,
  UpdateApiCommand,
} from "@aws-sdk/client-apigatewayv2";
import {
  CreateServiceCommand,
  DeleteServiceCommand,
  ListServicesCommand,
  type ServiceDiscoveryClient,
} from "@aws-sdk/client-servicediscovery";
import { ApiGateway, ServiceDiscovery } from "../aws/index.ts";
import { BerthError } from "../errors.ts";
import type { Environment } from "../render/environment.ts";
import { httpApiName, registryServiceName, standardTags } from "../render/names.ts";
import { IngressRecord, type Store } from "../store/index.ts";
import {
  certificatesFor,
  checkGatewayDomains,
  type DomainClients,
  type DomainLookups,
  removeGatewayDomain,
  syncGatewayDomains,
} from "./domains.ts";
import type { HttpApiAttachment, HttpApiCors } from "./plan.ts";

export interface HttpApiClients extends DomainClients {
  apiGateway: Pick<ApiGatewayV2Client, "send">;
  serviceDiscovery: Pick<ServiceDiscoveryClient, "send">;
}

/** What the installation gives every gateway: its VPC link and the namespace targets register in. */
export interface HttpApiInstallation {
  vpcLinkId: string;
  namespaceId: string;
}

export interface HttpApiContext {
  store: Store;
  clients: HttpApiClients;
  installation: HttpApiInstallation | undefined;
  env: Environment;
  /** Whether custom domains' certificates and DNS are looked up in ACM and Route 53 (the default). */
  domainLookups?: DomainLookups;
  /** Progress, one line per change made in AWS. */
  log?: (line: string) => void;
}

function domainContext(context: Omit<HttpApiContext, "installation">) {
  return {
    clients: context.clients,
    lookups: context.domainLookups ?? "acm-route53",
    env: context.env,
    ...(context.log ? { log: context.log } : {}),
  };
}

/** What a service's ECS service must register in, by `resource/container/port`. */
export type Registries = Record<string, { serviceRegistryArn: string }>;

const STAGE = "$default";

async function allPages<Item>(fetch: (token?: string) => Promise<{ Items?: Item[]; NextToken?: string }>) {
  const items: Item[] = [];
  let token: string | undefined;
  do {
    const page = await fetch(token);
    items.push(...(page.Items ?? []));
    token = page.NextToken;
  } while (token);
  return items;
}

async function findApi(clients: HttpApiClients, name: string): Promise<Api | undefined> {
  const apis = await allPages((NextToken) =>
    clients.apiGateway.send(new GetApisCommand({ ...(NextToken ? { NextToken } : {}) })),
  );
  return apis.find((api) => api.Name === name && api.ProtocolType === "HTTP");
}

function corsConfiguration(cors: HttpApiCors | undefined): Cors | undefined {
  if (!cors) return undefined;
  return {
    AllowOrigins: cors.allowOrigins,
    AllowMethods: cors.allowMethods,
    AllowHeaders: cors.allowHeaders,
  };
}

/** Whether two CORS configurations say the same (member order aside; an empty one is none). */
function sameCors(left: Cors | undefined, right: Cors | undefined): boolean {
  const canonical = (cors: Cors | undefined) =>
    JSON.stringify(
      Object.entries(cors ?? {})
        .filter(([, value]) => value !== undefined)
        .sort(([a], [b]) => a.localeCompare(b)),
    );
  return canonical(left) === canonical(right);
}

/** The Cloud Map service (SRV records, so API Gateway learns each task's port) for one container port. */
async function ensureRegistry(
  context: HttpApiContext,
  installation: HttpApiInstallation,
  resource: string,
  attachment: HttpApiAttachment,
): Promise<string> {
  const name = registryServiceName(context.env, resource, attachment.container, attachment.port);
  const find = async () => {
    const listed = await context.clients.serviceDiscovery.send(
      new ListServicesCommand({
        Filters: [{ Name: "NAMESPACE_ID", Values: [installation.namespaceId], Condition: "EQ" }],
      }),
    );
    let services = listed.Services ?? [];
    let token = listed.NextToken;
    while (token) {
      const page = await context.clients.serviceDiscovery.send(
        new ListServicesCommand({
          NextToken: token,
          Filters: [{ Name: "NAMESPACE_ID", Values: [installation.namespaceId], Condition: "EQ" }],
        }),
      );
      services = [...services, ...(page.Services ?? [])];
      token = page.NextToken;
    }
    return services.find((service) => service.Name === name)?.Arn;
  };
  const found = await find();
  if (found) return found;
  try {
    const created = await context.clients.serviceDiscovery.send(
      new CreateServiceCommand({
        Name: name,
        NamespaceId: installation.namespaceId,
        Description: `Berth: ${context.env.stack}/${resource} port ${attachment.port}, for API Gateway`,
        DnsConfig: { RoutingPolicy: "MULTIVALUE", DnsRecords: [{ Type: "SRV", TTL: 10 }] },
        // ECS reports each task's health: only healthy tasks are discovered.
        HealthCheckCustomConfig: { FailureThreshold: 1 },
        Tags: Object.entries(standardTags(context.env, resource)).map(([Key, Value]) => ({ Key, Value })),
      }),
    );
    context.log?.(`created Cloud Map service ${name}`);
    if (created.Service?.Arn) return created.Service.Arn;
  } catch (error) {
    if (!ServiceDiscovery.isAlreadyExists(error)) throw error;
  }
  const raced = await find();
  if (!raced) throw new BerthError("MISSING_INGRESS", `Cloud Map service ${name} could not be created`);
  return raced;
}

async function ensureApi(
  context: HttpApiContext,
  attachment: HttpApiAttachment,
): Promise<Pick<Api, "ApiId" | "ApiEndpoint">> {
  const name = httpApiName(context.env, attachment.gateway);
  const cors = corsConfiguration(attachment.cors);
  const existing = await findApi(context.clients, name);
  if (existing?.ApiId) {
    if (!sameCors(existing.CorsConfiguration, cors)) {
      const updated = await context.clients.apiGateway.send(
        new UpdateApiCommand({ ApiId: existing.ApiId, CorsConfiguration: cors ?? {} }),
      );
      context.log?.(`updated CORS of HTTP API ${name}`);
      return updated;
    }
    return existing;
  }
  const created = await context.clients.apiGateway.send(
    new CreateApiCommand({
      Name: name,
      ProtocolType: "HTTP",
      Description: `Berth: gateway ${attachment.gateway} of stack ${context.env.stack}`,
      ...(cors ? { CorsConfiguration: cors } : {}),
      Tags: standardTags(context.env, attachment.gateway),
    }),
  );
  context.log?.(`created HTTP API ${name} (${created.ApiEndpoint})`);
  return created;
}

async function ensureStage(context: HttpApiContext, apiId: string): Promise<void> {
  const stages = await allPages((NextToken) =>
    context.clients.apiGateway.send(
      new GetStagesCommand({ ApiId: apiId, ...(NextToken ? { NextToken } : {}) }),
    ),
  );
  if (stages.some((stage) => stage.StageName === STAGE)) return;
  try {
    await context.clients.apiGateway.send(
      new CreateStageCommand({
        ApiId: apiId,
        StageName: STAGE,
        AutoDeploy: true,
        Tags: standardTags(context.env),
      }),
    );
  } catch (error) {
    // A concurrent deploy of another service of the same gateway created it first.
    if (!ApiGateway.isConflict(error)) throw error;
  }
}

async function ensureIntegration(
  context: HttpApiContext,
  installation: HttpApiInstallation,
  apiId: string,
  registryArn: string,
): Promise<Integration> {
  const integrations = await allPages((NextToken) =>
    context.clients.apiGateway.send(
      new GetIntegrationsCommand({ ApiId: apiId, ...(NextToken ? { NextToken } : {}) }),
    ),
  );
  const existing = integrations.find((integration) => integration.IntegrationUri === registryArn);
  if (existing) return existing;
  return context.clients.apiGateway.send(
    new CreateIntegrationCommand({
      ApiId: apiId,
      IntegrationType: "HTTP_PROXY",
      IntegrationMethod: "ANY",
      IntegrationUri: registryArn,
      ConnectionType: "VPC_LINK",
      ConnectionId: installation.vpcLinkId,
      // Private integrations speak payload format 1.0: the request passes through as it came.
      PayloadFormatVersion: "1.0",
      TimeoutInMillis: 30_000,
    }),
  );
}

async function routesOf(context: Pick<HttpApiContext, "clients">, apiId: string): Promise<Route[]> {
  return allPages((NextToken) =>
    context.clients.apiGateway.send(
      new GetRoutesCommand({ ApiId: apiId, ...(NextToken ? { NextToken } : {}) }),
    ),
  );
}

/**
 * Makes the gateway's routes for this attachment exactly the declared ones: creates the missing,
 * deletes those of this integration that are no longer declared. A route key another service
 * of the stack already serves is refused rather than taken over.
 */
async function syncRoutes(
  context: HttpApiContext,
  apiId: string,
  integrationId: string,
  resource: string,
  attachment: HttpApiAttachment,
): Promise<string[]> {
  const target = `integrations/${integrationId}`;
  const routes = await routesOf(context, apiId);
  const wanted = new Set(attachment.routes.map((route) => route.routeKey));
  const ids: string[] = [];
  for (const key of wanted) {
    const existing = routes.find((route) => route.RouteKey === key);
    if (existing?.Target === target && existing.RouteId) {
      ids.push(existing.RouteId);
      continue;
    }
    if (existing) {
      throw new BerthError(
        "CONFLICT",
        `route "${key}" of gateway ${attachment.gateway} already leads to another service; ${resource} cannot take it`,
      );
    }
    const created = await context.clients.apiGateway.send(
      new CreateRouteCommand({ ApiId: apiId, RouteKey: key, Target: target }),
    );
    context.log?.(`gateway ${attachment.gateway}: route ${key} → ${resource}`);
    if (created.RouteId) ids.push(created.RouteId);
  }
  for (const route of routes) {
    if (route.Target === target && route.RouteKey && !wanted.has(route.RouteKey) && route.RouteId) {
      await context.clients.apiGateway.send(new DeleteRouteCommand({ ApiId: apiId, RouteId: route.RouteId }));
      context.log?.(`gateway ${attachment.gateway}: removed route ${route.RouteKey}`);
    }
  }
  return ids;
}

function requireInstallation(context: HttpApiContext, resource: string): HttpApiInstallation {
  if (!context.installation) {
    throw new BerthError(
      "MISSING_INGRESS",
      `${resource} needs an HTTP API gateway, and this installation has no VPC link and Cloud Map namespace for one (BERTH_VPC_LINK_ID, BERTH_INGRESS_NAMESPACE_ID)`,
    );
  }
  return context.installation;
}

/**
 * Creates or updates every HTTP API gateway a service is attached to (API, `$default` stage,
 * integration through the installation's VPC link to the service's Cloud Map service, routes),
 * records each in the store, and answers the registries its ECS service must register in.
 * Safe to run again: everything is found by name before it is created.
 */
export async function ensureHttpApis(
  context: HttpApiContext,
  resource: string,
  attachments: HttpApiAttachment[],
): Promise<Registries> {
  const registries: Registries = {};
  if (attachments.length === 0) return registries;
  const installation = requireInstallation(context, resource);
  // A domain no certificate covers is refused before anything is created.
  const certificates = new Map<string, Map<string, string | undefined>>();
  for (const attachment of attachments) {
    certificates.set(
      attachment.gateway,
      await certificatesFor(
        domainContext(context),
        `gateway ${attachment.gateway}`,
        attachment.customDomains,
      ),
    );
    // So is one another stack's gateway has.
    await checkGatewayDomains(domainContext(context), attachment.gateway, attachment.customDomains);
  }
  for (const attachment of attachments) {
    const registryArn = await ensureRegistry(context, installation, resource, attachment);
    const api = await ensureApi(context, attachment);
    if (!api.ApiId || !api.ApiEndpoint)
      throw new BerthError("MISSING_INGRESS", "API Gateway answered no API id");
    await ensureStage(context, api.ApiId);
    const integration = await ensureIntegration(context, installation, api.ApiId, registryArn);
    if (!integration.IntegrationId)
      throw new BerthError("MISSING_INGRESS", "API Gateway answered no integration id");
    const routeIds = await syncRoutes(context, api.ApiId, integration.IntegrationId, resource, attachment);
    const recorded = await IngressRecord.get(context.store, context.env.stack, attachment.gateway);
    const domains = await syncGatewayDomains(
      domainContext(context),
      attachment.gateway,
      api.ApiId,
      api.ApiEndpoint,
      certificates.get(attachment.gateway) ?? new Map(),
      recorded?.awsId === api.ApiId ? recorded.domains : [],
    );
    await IngressRecord.put(context.store, {
      stack: context.env.stack,
      name: attachment.gateway,
      type: "http-api-gateway",
      awsId: api.ApiId,
      url: api.ApiEndpoint,
      domains,
    });
    await IngressRecord.attach(
      context.store,
      { stack: context.env.stack, name: attachment.gateway, service: resource },
      { registryArn, integrationId: integration.IntegrationId, routeIds },
    );
    registries[`${resource}/${attachment.container}/${attachment.port}`] = {
      serviceRegistryArn: registryArn,
    };
  }
  return registries;
}

/**
 * Detaches a service from its gateways but those in `keep` (its routes and integration),
 * deletes a gateway no service uses any more, and the Cloud Map service it was reached through.
 * A deletion runs it after the ECS service is gone, so no task is still registered. Safe to
 * run again.
 */
export async function detachHttpApis(
  context: Omit<HttpApiContext, "installation">,
  resource: string,
  keep: string[] = [],
): Promise<void> {
  const gateways = await IngressRecord.list(context.store, context.env.stack);
  for (const gateway of gateways) {
    if (gateway.type !== "http-api-gateway" || keep.includes(gateway.name)) continue;
    const attachment = gateway.attachments[resource];
    if (!attachment || !("integrationId" in attachment)) continue;
    try {
      const routes = await routesOf(context, gateway.awsId);
      for (const route of routes) {
        if (route.Target === `integrations/${attachment.integrationId}` && route.RouteId) {
          await context.clients.apiGateway.send(
            new DeleteRouteCommand({ ApiId: gateway.awsId, RouteId: route.RouteId }),
          );
        }
      }
      await context.clients.apiGateway.send(
        new DeleteIntegrationCommand({ ApiId: gateway.awsId, IntegrationId: attachment.integrationId }),
      );
    } catch (error) {
      if (!ApiGateway.isNotFound(error)) throw error;
    }
    const shared = gateways.some(
      (other) =>
        keep.includes(other.name) &&
        (other.attachments[resource] as { registryArn?: string } | undefined)?.registryArn ===
          attachment.registryArn,
    );
    if (!shared) await deleteRegistry(context, attachment.registryArn);
    await IngressRecord.attach(
      context.store,
      { stack: context.env.stack, name: gateway.name, service: resource },
      undefined,
    );
    context.log?.(`gateway ${gateway.name}: detached ${resource}`);
    const others = Object.keys(gateway.attachments).filter((service) => service !== resource);
    if (others.length === 0) {
      for (const domain of gateway.domains) {
        await removeGatewayDomain(domainContext(context), gateway.name, gateway.awsId, domain);
      }
      try {
        await context.clients.apiGateway.send(new DeleteApiCommand({ ApiId: gateway.awsId }));
        context.log?.(`deleted HTTP API of gateway ${gateway.name}`);
      } catch (error) {
        if (!ApiGateway.isNotFound(error)) throw error;
      }
      await IngressRecord.remove(context.store, context.env.stack, gateway.name);
    }
  }
}

async function deleteRegistry(context: Pick<HttpApiContext, "clients">, registryArn: string): Promise<void> {
  const id = registryArn.split("/").pop();
  if (!id) return;
  try {
    await context.clients.serviceDiscovery.send(new DeleteServiceCommand({ Id: id }));
  } catch (error) {
    if (ServiceDiscovery.isNotFound(error)) return;
    // ECS deregisters a stopped service's instances shortly after: the service is left for a
    // later deletion rather than failing the removal.
    if (!ServiceDiscovery.isInUse(error)) throw error;
  }
}

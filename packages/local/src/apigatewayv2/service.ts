import { randomBytes } from "node:crypto";
import { createServer, type Server, type ServerResponse } from "node:http";
import { type AddressInfo, isIP } from "node:net";
import { z } from "zod";
import { serveFast } from "../proxy/fast-path.ts";
import { type ForwardOptions, HttpForwarder, type Target } from "../proxy/http-forward.ts";
import type { RequestHead } from "../proxy/http1.ts";
import { traceHeader } from "../proxy/trace-id.ts";
import { healthyInOrder, type RegisteredTask, WeightedSelector } from "../proxy/weighted.ts";
import type { Route as EndpointRoute } from "../server.ts";
import { JsonFile } from "../state.ts";
import { selectRoute } from "./routes.ts";

/**
 * Berth Local's API Gateway v2 (HTTP APIs): the REST API the SDK and `aws apigatewayv2` speak
 * under `/v2/` on the endpoint port, and behind each API a real HTTP listener on 127.0.0.1
 * (its `apiEndpoint`) that routes by the API's routes to its integrations' targets: the
 * healthy, non-stopping tasks registered in the Cloud Map service an integration names.
 */

export const LOCAL_VPC_LINK_ID = "berthlocal";
/** The hosted zone Berth Local's domain names answer (Route 53 is not emulated: nothing reads it). */
const LOCAL_DOMAIN_ZONE_ID = "ZBERTHLOCAL00000";

interface RouteEntry {
  routeId: string;
  routeKey: string;
  target?: string;
  authorizationType: string;
  apiKeyRequired: boolean;
}
interface IntegrationEntry {
  integrationId: string;
  integrationType: string;
  integrationMethod?: string;
  integrationUri?: string;
  connectionType: string;
  connectionId?: string;
  payloadFormatVersion: string;
  timeoutInMillis: number;
}
interface StageEntry {
  stageName: string;
  autoDeploy: boolean;
  createdDate: string;
  lastUpdatedDate: string;
  tags: Record<string, string>;
}
interface Cors {
  allowOrigins?: string[];
  allowMethods?: string[];
  allowHeaders?: string[];
  exposeHeaders?: string[];
  allowCredentials?: boolean;
  maxAge?: number;
}
interface ApiEntry {
  apiId: string;
  name: string;
  protocolType: string;
  description?: string;
  corsConfiguration?: Cors;
  tags: Record<string, string>;
  createdDate: string;
  /** The listener's port on 127.0.0.1; kept so the URL survives a restart when the port is free. */
  port: number;
  routes: RouteEntry[];
  integrations: IntegrationEntry[];
  stages: StageEntry[];
}

interface DomainNameEntry {
  domainName: string;
  certificateArn?: string;
  endpointType: string;
  securityPolicy: string;
  tags: Record<string, string>;
  mappings: { apiMappingId: string; apiId: string; stage: string; apiMappingKey?: string }[];
}

export class ApiError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}
const notFound = (what: string) =>
  new ApiError("NotFoundException", `Invalid ${what} identifier specified`, 404);
const badRequest = (message: string) => new ApiError("BadRequestException", message, 400);
const conflict = (message: string) => new ApiError("ConflictException", message, 409);

const CorsInput = z
  .object({
    allowOrigins: z.array(z.string()).optional(),
    allowMethods: z.array(z.string()).optional(),
    allowHeaders: z.array(z.string()).optional(),
    exposeHeaders: z.array(z.string()).optional(),
    allowCredentials: z.boolean().optional(),
    maxAge: z.number().int().min(-1).max(86_400).optional(),
  })
  .strict();
const CreateApiInput = z.object({
  name: z.string().min(1).max(128),
  protocolType: z.enum(["HTTP", "WEBSOCKET"]),
  description: z.string().max(1024).optional(),
  corsConfiguration: CorsInput.optional(),
  tags: z.record(z.string(), z.string()).optional(),
});
const UpdateApiInput = CreateApiInput.partial();
const CreateRouteInput = z.object({
  routeKey: z.string().min(1),
  target: z
    .string()
    .regex(/^integrations\/[A-Za-z0-9]+$/, "must be integrations/<id>")
    .optional(),
  authorizationType: z.enum(["NONE", "JWT", "AWS_IAM", "CUSTOM"]).optional(),
  apiKeyRequired: z.boolean().optional(),
});
const CreateIntegrationInput = z.object({
  integrationType: z.enum(["AWS", "AWS_PROXY", "HTTP", "HTTP_PROXY", "MOCK"]),
  integrationMethod: z.string().optional(),
  integrationUri: z.string().optional(),
  connectionType: z.enum(["INTERNET", "VPC_LINK"]).optional(),
  connectionId: z.string().optional(),
  payloadFormatVersion: z.enum(["1.0", "2.0"]).optional(),
  timeoutInMillis: z.number().int().min(50).max(30_000).optional(),
  description: z.string().optional(),
});
const DomainNameConfigurationInput = z.object({
  certificateArn: z.string().optional(),
  endpointType: z.enum(["REGIONAL", "EDGE"]).optional(),
  securityPolicy: z.enum(["TLS_1_0", "TLS_1_2"]).optional(),
});
const CreateDomainNameInput = z.object({
  domainName: z
    .string()
    .min(1)
    .max(512)
    .regex(/^(\*\.)?[a-z0-9-]+(\.[a-z0-9-]+)+$/i, "must be a domain name"),
  domainNameConfigurations: z.array(DomainNameConfigurationInput).max(1).optional(),
  tags: z.record(z.string(), z.string()).optional(),
});
const UpdateDomainNameInput = z.object({
  domainNameConfigurations: z.array(DomainNameConfigurationInput).max(1).optional(),
});
const CreateApiMappingInput = z.object({
  apiId: z.string().min(1),
  stage: z.string().min(1),
  apiMappingKey: z.string().optional(),
});
const CreateStageInput = z.object({
  stageName: z.string().min(1).max(128),
  autoDeploy: z.boolean().optional(),
  tags: z.record(z.string(), z.string()).optional(),
});

function id(): string {
  return randomBytes(5).toString("hex").slice(0, 10);
}

function routeKeyProblem(key: string): string | undefined {
  if (key === "$default") return undefined;
  const match = /^(ANY|GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS) (\/[^ ]*)$/.exec(key);
  if (!match) return `Invalid route key ${key}: expected "$default" or "METHOD /path"`;
  const segments = (match[2] ?? "").split("/").slice(1);
  const greedy = segments.findIndex((segment) => /^\{[^}]+\+\}$/.test(segment));
  if (greedy >= 0 && greedy !== segments.length - 1)
    return `Invalid route key ${key}: a greedy path variable must be last`;
  return undefined;
}

export class ApiGateways {
  private readonly file: JsonFile<{ apis: ApiEntry[]; domainNames?: DomainNameEntry[] }>;
  private readonly apis: ApiEntry[];
  private readonly domainNames: DomainNameEntry[];
  private readonly listeners = new Map<string, Server>();
  private readonly forwarder = new HttpForwarder();
  private readonly selector = new WeightedSelector();
  /** Routing decisions by API, method, host and path (see `routed`). */
  private readonly routing = new Map<string, Routed>();

  constructor(
    path: string,
    private readonly options: {
      account: string;
      region: string;
      /** The tasks registered in a Cloud Map service (by ARN): where an integration leads. */
      targetsOf: (registryArn: string) => RegisteredTask[];
      log?: (line: string) => void;
    },
  ) {
    this.file = new JsonFile(path);
    const stored = this.file.read({ apis: [] });
    this.apis = stored.apis;
    this.domainNames = stored.domainNames ?? [];
  }

  /** Starts every stored API's listener, on its old port when that is free. */
  async start(): Promise<void> {
    for (const api of this.apis) await this.listen(api);
    this.save();
  }

  async close(): Promise<void> {
    this.forwarder.close();
    await Promise.all(
      [...this.listeners.values()].map(
        (server) =>
          new Promise<void>((resolve) => {
            server.close(() => resolve());
            server.closeAllConnections();
          }),
      ),
    );
    this.listeners.clear();
  }

  endpointOf(api: ApiEntry): string {
    return `http://127.0.0.1:${api.port}`;
  }

  /** Every API with its URL and routes, for `GET /_local/apigatewayv2`. */
  list() {
    return this.apis.map((api) => ({
      apiId: api.apiId,
      name: api.name,
      url: this.endpointOf(api),
      domains: this.domainsOf(api.apiId),
      routes: api.routes.map((route) => {
        const integration = api.integrations.find((i) => `integrations/${i.integrationId}` === route.target);
        const targets = integration?.integrationUri ? this.options.targetsOf(integration.integrationUri) : [];
        return {
          routeKey: route.routeKey,
          healthyTargets: targets.filter((t) => t.healthy).map((t) => `127.0.0.1:${t.port}`),
        };
      }),
    }));
  }

  private save(): void {
    this.routing.clear();
    this.file.write({ apis: this.apis, domainNames: this.domainNames });
  }

  private async listen(api: ApiEntry): Promise<void> {
    const server = createServer((request, response) => {
      const decision = this.decide(api.apiId, request);
      if (typeof decision === "function") decision(response);
      else this.forwarder.handle(request, response, decision);
    });
    server.keepAliveTimeout = 65_000;
    // Requests the gateway forwards skip Node's HTTP objects; what it answers itself does not.
    serveFast(server, this.forwarder, (request) => {
      const decision = this.decide(api.apiId, request);
      return typeof decision === "function" ? undefined : decision;
    });
    const bind = (port: number) =>
      new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(port, "127.0.0.1", () => {
          server.removeListener("error", reject);
          resolve();
        });
      });
    try {
      await bind(api.port);
    } catch (error) {
      if (api.port === 0 || (error as NodeJS.ErrnoException).code !== "EADDRINUSE") throw error;
      this.options.log?.(`apigatewayv2: port ${api.port} of ${api.name} is taken; the API gets a new URL`);
      await bind(0);
    }
    api.port = (server.address() as AddressInfo).port;
    this.listeners.set(api.apiId, server);
  }

  private view(api: ApiEntry) {
    const { port: _port, routes: _routes, integrations: _integrations, stages: _stages, ...rest } = api;
    return {
      ...rest,
      apiEndpoint: this.endpointOf(api),
      apiKeySelectionExpression: "$request.header.x-api-key",
      routeSelectionExpression: "$request.method $request.path",
      disableExecuteApiEndpoint: false,
    };
  }

  private requireApi(apiId: string): ApiEntry {
    const api = this.apis.find((candidate) => candidate.apiId === apiId);
    if (!api) throw notFound("API");
    return api;
  }

  // The gateway ---------------------------------------------------------------------------------

  /** The integration's healthy targets in the order to try them (by traffic weight). */
  private targets(registryArn: string): Target[] {
    return healthyInOrder(this.selector, registryArn, this.options.targetsOf(registryArn));
  }

  /** Where a request to an API goes: forwarded (with these options), or answered by the gateway. */
  private decide(apiId: string, request: RequestHead): ForwardOptions | ((response: ServerResponse) => void) {
    const method = request.method ?? "GET";
    const url = request.url ?? "/";
    const { host } = request.headers;
    const routed = this.routed(apiId, method, url, host);
    const { api } = routed;
    if (!api) return json(404, { message: "Not Found" });
    if (!routed.served) {
      // As API Gateway answers a host it has no domain name (or a domain name of another API) for.
      return json(403, { message: "Forbidden" });
    }
    const cors = corsHeaders(api.corsConfiguration, request);
    if (cors && method === "OPTIONS" && request.headers["access-control-request-method"]) {
      // API Gateway answers CORS preflight requests itself when CORS is configured.
      return (response) => {
        response.writeHead(204, cors.preflight);
        response.end();
      };
    }
    if (!routed.route?.target) return json(404, { message: "Not Found" }, cors?.simple);
    const { targets } = routed;
    if (!targets) return json(500, { message: "Internal Server Error" }, cors?.simple);
    const remote = request.socket.remoteAddress ?? "127.0.0.1";
    const forwardedFor = request.headers["x-forwarded-for"];
    return {
      targets,
      label: routed.label,
      headers: {
        "x-forwarded-for": forwardedFor ? `${forwardedFor}, ${remote}` : remote,
        "x-forwarded-proto": "http",
        "x-forwarded-port": String(api.port),
        "x-amzn-trace-id": traceHeader(),
      },
      ...(cors ? { responseHeaders: cors.simple } : {}),
    };
  }

  /**
   * The API, whether it serves the host, its route for the method and path and where the route
   * leads: looked up once per API, method, host and path until the APIs change (`save`, which every
   * change calls), as routes, integrations and domain names are read on each request.
   */
  private routed(apiId: string, method: string, url: string, host: string | undefined): Routed {
    const query = url.indexOf("?");
    const path = query === -1 ? url : url.slice(0, query);
    const key = `${apiId} ${method} ${host ?? ""} ${path}`;
    const known = this.routing.get(key);
    if (known) return known;
    const api = this.apis.find((candidate) => candidate.apiId === apiId);
    const route = api ? selectRoute(api.routes, method, path) : undefined;
    const integration = api?.integrations.find((i) => `integrations/${i.integrationId}` === route?.target);
    const registryArn = integration?.integrationUri;
    const routed: Routed = {
      api,
      served: api !== undefined && this.servesHost(api, host),
      route,
      targets: registryArn ? () => this.targets(registryArn) : undefined,
      label: `${api?.name} ${route?.routeKey}`,
    };
    // Paths are the clients' to choose: the table starts again rather than grow without end.
    if (this.routing.size >= MAX_ROUTED) this.routing.clear();
    this.routing.set(key, routed);
    return routed;
  }

  /** The custom domains mapped to an API. */
  private domainsOf(apiId: string): string[] {
    return this.domainNames
      .filter((domain) => domain.mappings.some((mapping) => mapping.apiId === apiId))
      .map((domain) => domain.domainName);
  }

  /**
   * Whether the API's listener serves a request for this Host: its own address (an IP address or
   * localhost, the `execute-api` endpoint's stand-in) or a custom domain mapped to it.
   */
  private servesHost(api: ApiEntry, host: string | undefined): boolean {
    if (!host) return true;
    const hostname = (host.startsWith("[") ? host.slice(1, host.indexOf("]")) : (host.split(":")[0] ?? ""))
      .toLowerCase()
      .replace(/\.$/, "");
    if (hostname === "localhost" || hostname.endsWith(".localhost") || isIP(hostname) !== 0) return true;
    return this.domainsOf(api.apiId).includes(hostname);
  }

  // Custom domain names -------------------------------------------------------------------------

  private domainNameView(domain: DomainNameEntry) {
    return {
      domainName: domain.domainName,
      apiMappingSelectionExpression: "$request.basepath",
      domainNameConfigurations: [
        {
          // Where its DNS points here: the gateways listen on 127.0.0.1 (each API on its own port).
          apiGatewayDomainName: "127.0.0.1",
          ...(domain.certificateArn ? { certificateArn: domain.certificateArn } : {}),
          domainNameStatus: "AVAILABLE",
          endpointType: domain.endpointType,
          hostedZoneId: LOCAL_DOMAIN_ZONE_ID,
          securityPolicy: domain.securityPolicy,
        },
      ],
      tags: domain.tags,
    };
  }

  private domainNameRequests(
    method: string,
    name: string | undefined,
    sub: string | undefined,
    mappingId: string | undefined,
    input: unknown,
    url: URL,
  ): [number, unknown] {
    if (!name) {
      if (method === "GET")
        return [
          200,
          this.page(
            this.domainNames.map((domain) => this.domainNameView(domain)),
            url,
          ),
        ];
      if (method === "POST") {
        const parsed = CreateDomainNameInput.parse(input);
        const domainName = parsed.domainName.toLowerCase();
        if (this.domainNames.some((domain) => domain.domainName === domainName))
          throw conflict(`The domain name you provided already exists.`);
        const configuration = parsed.domainNameConfigurations?.[0];
        const domain: DomainNameEntry = {
          domainName,
          ...(configuration?.certificateArn ? { certificateArn: configuration.certificateArn } : {}),
          endpointType: configuration?.endpointType ?? "REGIONAL",
          securityPolicy: configuration?.securityPolicy ?? "TLS_1_2",
          tags: parsed.tags ?? {},
          mappings: [],
        };
        this.domainNames.push(domain);
        this.save();
        return [201, this.domainNameView(domain)];
      }
      throw badRequest(`${method} is not supported here`);
    }
    const domain = this.domainNames.find((candidate) => candidate.domainName === name.toLowerCase());
    if (!domain) throw notFound("domain name");
    if (!sub) {
      if (method === "GET") return [200, this.domainNameView(domain)];
      if (method === "PATCH") {
        const configuration = UpdateDomainNameInput.parse(input).domainNameConfigurations?.[0];
        if (configuration?.certificateArn) domain.certificateArn = configuration.certificateArn;
        if (configuration?.securityPolicy) domain.securityPolicy = configuration.securityPolicy;
        this.save();
        return [200, this.domainNameView(domain)];
      }
      if (method === "DELETE") {
        this.domainNames.splice(this.domainNames.indexOf(domain), 1);
        this.save();
        return [204, undefined];
      }
      throw badRequest(`${method} is not supported here`);
    }
    if (sub !== "apimappings") throw notFound("resource");
    if (!mappingId) {
      if (method === "GET") return [200, this.page(domain.mappings, url)];
      if (method === "POST") {
        const parsed = CreateApiMappingInput.parse(input);
        const api = this.requireApi(parsed.apiId);
        if (!api.stages.some((stage) => stage.stageName === parsed.stage)) throw notFound("Stage");
        const key = parsed.apiMappingKey ?? "";
        if (domain.mappings.some((mapping) => (mapping.apiMappingKey ?? "") === key))
          throw conflict(`ApiMapping with key '${key}' already exists for domain name ${domain.domainName}`);
        if (key !== "") throw badRequest("Berth Local maps a whole domain to one API (no apiMappingKey)");
        const mapping = { apiMappingId: id(), apiId: api.apiId, stage: parsed.stage };
        domain.mappings.push(mapping);
        this.save();
        return [201, mapping];
      }
      throw badRequest(`${method} is not supported here`);
    }
    const mapping = domain.mappings.find((candidate) => candidate.apiMappingId === mappingId);
    if (!mapping) throw notFound("ApiMapping");
    if (method === "GET") return [200, mapping];
    if (method === "DELETE") {
      domain.mappings.splice(domain.mappings.indexOf(mapping), 1);
      this.save();
      return [204, undefined];
    }
    throw badRequest(`${method} is not supported here`);
  }

  // The REST API ---------------------------------------------------------------------------------

  /** The endpoint route for `/v2/...`. */
  route(): EndpointRoute {
    return async (request, response, body) => {
      const url = new URL(request.url ?? "/", "http://localhost");
      if (!url.pathname.startsWith("/v2/")) return false;
      try {
        const input = body.length > 0 ? (JSON.parse(body.toString("utf8")) as unknown) : {};
        const [status, output] = await this.handle(request.method ?? "GET", url, input);
        const text = output === undefined ? "" : JSON.stringify(output);
        response.writeHead(status, {
          "content-type": "application/json",
          "x-amzn-requestid": randomBytes(16).toString("hex"),
          "content-length": Buffer.byteLength(text),
        });
        response.end(text);
      } catch (error) {
        const failure =
          error instanceof ApiError
            ? error
            : error instanceof SyntaxError
              ? badRequest("the request body is not valid JSON")
              : error instanceof z.ZodError
                ? badRequest(
                    error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`).join("; "),
                  )
                : undefined;
        if (!failure) throw error;
        const text = JSON.stringify({ message: failure.message });
        response.writeHead(failure.status, {
          "content-type": "application/json",
          "x-amzn-errortype": failure.type,
          "content-length": Buffer.byteLength(text),
        });
        response.end(text);
      }
      return true;
    };
  }

  private async handle(method: string, url: URL, input: unknown): Promise<[number, unknown]> {
    const parts = url.pathname.split("/").filter(Boolean).map(decodeURIComponent);
    const [, collection, apiId, sub, subId] = parts;
    if (collection === "vpclinks") {
      return [
        200,
        {
          items: [
            {
              vpcLinkId: LOCAL_VPC_LINK_ID,
              name: "berth-local",
              vpcLinkStatus: "AVAILABLE",
              vpcLinkVersion: "V2",
              securityGroupIds: [],
              subnetIds: [],
              tags: {},
            },
          ],
        },
      ];
    }
    if (collection === "tags" && apiId) {
      const api = this.apis.find((candidate) => apiId.endsWith(`/apis/${candidate.apiId}`));
      if (!api) throw notFound("resource");
      if (method === "GET") return [200, { tags: api.tags }];
    }
    if (collection === "domainnames") return this.domainNameRequests(method, apiId, sub, subId, input, url);
    if (collection !== "apis") throw notFound("resource");
    if (!apiId) {
      if (method === "POST") return [201, await this.createApi(CreateApiInput.parse(input))];
      if (method === "GET")
        return [
          200,
          this.page(
            this.apis.map((api) => this.view(api)),
            url,
          ),
        ];
      throw badRequest(`${method} is not supported here`);
    }
    const api = this.requireApi(apiId);
    if (!sub) {
      if (method === "GET") return [200, this.view(api)];
      if (method === "PATCH") {
        const changes = UpdateApiInput.parse(input);
        if (changes.name) api.name = changes.name;
        if (changes.description !== undefined) api.description = changes.description;
        if (changes.corsConfiguration) {
          if (Object.keys(changes.corsConfiguration).length === 0) delete api.corsConfiguration;
          else api.corsConfiguration = changes.corsConfiguration;
        }
        this.save();
        return [200, this.view(api)];
      }
      if (method === "DELETE") {
        await this.deleteApi(api);
        return [204, undefined];
      }
    }
    if (sub === "routes") return this.routes(api, method, subId, input, url);
    if (sub === "integrations") return this.integrations(api, method, subId, input, url);
    if (sub === "stages") return this.stages(api, method, subId, input, url);
    throw notFound("resource");
  }

  private page<Item>(items: Item[], url: URL) {
    const start = Number(url.searchParams.get("nextToken") ?? 0) || 0;
    const size = Number(url.searchParams.get("maxResults") ?? 100) || 100;
    return {
      items: items.slice(start, start + size),
      ...(start + size < items.length ? { nextToken: String(start + size) } : {}),
    };
  }

  private async createApi(input: z.infer<typeof CreateApiInput>) {
    if (input.protocolType !== "HTTP") throw badRequest("Berth Local serves HTTP APIs only, not WEBSOCKET");
    const api: ApiEntry = {
      apiId: id(),
      name: input.name,
      protocolType: input.protocolType,
      ...(input.description ? { description: input.description } : {}),
      ...(input.corsConfiguration ? { corsConfiguration: input.corsConfiguration } : {}),
      tags: input.tags ?? {},
      createdDate: new Date().toISOString(),
      port: 0,
      routes: [],
      integrations: [],
      stages: [],
    };
    await this.listen(api);
    this.apis.push(api);
    this.save();
    this.options.log?.(`apigatewayv2: ${api.name} listens on ${this.endpointOf(api)}`);
    return this.view(api);
  }

  private async deleteApi(api: ApiEntry): Promise<void> {
    const server = this.listeners.get(api.apiId);
    this.listeners.delete(api.apiId);
    this.apis.splice(this.apis.indexOf(api), 1);
    for (const domain of this.domainNames) {
      domain.mappings = domain.mappings.filter((mapping) => mapping.apiId !== api.apiId);
    }
    this.save();
    if (server) {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
    }
  }

  private routes(
    api: ApiEntry,
    method: string,
    routeId: string | undefined,
    input: unknown,
    url: URL,
  ): [number, unknown] {
    if (!routeId && method === "GET") return [200, this.page(api.routes, url)];
    if (!routeId && method === "POST") {
      const parsed = CreateRouteInput.parse(input);
      const problem = routeKeyProblem(parsed.routeKey);
      if (problem) throw badRequest(problem);
      if (api.routes.some((route) => route.routeKey === parsed.routeKey))
        throw conflict(
          `Unable to complete operation due to concurrent modification. Route ${parsed.routeKey} already exists`,
        );
      this.requireTarget(api, parsed.target);
      const route: RouteEntry = {
        routeId: id(),
        routeKey: parsed.routeKey,
        ...(parsed.target ? { target: parsed.target } : {}),
        authorizationType: parsed.authorizationType ?? "NONE",
        apiKeyRequired: parsed.apiKeyRequired ?? false,
      };
      api.routes.push(route);
      this.save();
      return [201, route];
    }
    const route = api.routes.find((candidate) => candidate.routeId === routeId);
    if (!route) throw notFound("Route");
    if (method === "GET") return [200, route];
    if (method === "PATCH") {
      const parsed = CreateRouteInput.partial().parse(input);
      if (parsed.routeKey) {
        const problem = routeKeyProblem(parsed.routeKey);
        if (problem) throw badRequest(problem);
        route.routeKey = parsed.routeKey;
      }
      if (parsed.target) {
        this.requireTarget(api, parsed.target);
        route.target = parsed.target;
      }
      this.save();
      return [200, route];
    }
    if (method === "DELETE") {
      api.routes.splice(api.routes.indexOf(route), 1);
      this.save();
      return [204, undefined];
    }
    throw badRequest(`${method} is not supported here`);
  }

  private requireTarget(api: ApiEntry, target: string | undefined): void {
    if (target && !api.integrations.some((i) => `integrations/${i.integrationId}` === target)) {
      throw notFound("Integration");
    }
  }

  private integrations(
    api: ApiEntry,
    method: string,
    integrationId: string | undefined,
    input: unknown,
    url: URL,
  ): [number, unknown] {
    if (!integrationId && method === "GET") return [200, this.page(api.integrations, url)];
    if (!integrationId && method === "POST") {
      const parsed = CreateIntegrationInput.parse(input);
      if (parsed.integrationType !== "HTTP_PROXY" || parsed.connectionType !== "VPC_LINK") {
        throw badRequest("Berth Local serves HTTP_PROXY integrations through a VPC link only");
      }
      if (parsed.connectionId !== LOCAL_VPC_LINK_ID)
        throw badRequest(`VPC link ${parsed.connectionId} not found`);
      if (!parsed.integrationUri?.startsWith("arn:aws:servicediscovery:")) {
        throw badRequest("a VPC link integration's integrationUri must be a Cloud Map service ARN here");
      }
      if (parsed.payloadFormatVersion && parsed.payloadFormatVersion !== "1.0") {
        throw badRequest("HTTP_PROXY integrations through a VPC link support payload format 1.0 only");
      }
      const integration: IntegrationEntry = {
        integrationId: id(),
        integrationType: parsed.integrationType,
        integrationMethod: parsed.integrationMethod ?? "ANY",
        integrationUri: parsed.integrationUri,
        connectionType: "VPC_LINK",
        connectionId: parsed.connectionId,
        payloadFormatVersion: "1.0",
        timeoutInMillis: parsed.timeoutInMillis ?? 30_000,
      };
      api.integrations.push(integration);
      this.save();
      return [201, integration];
    }
    const integration = api.integrations.find((candidate) => candidate.integrationId === integrationId);
    if (!integration) throw notFound("Integration");
    if (method === "GET") return [200, integration];
    if (method === "DELETE") {
      if (api.routes.some((route) => route.target === `integrations/${integration.integrationId}`)) {
        throw conflict("Cannot delete an integration that routes still use");
      }
      api.integrations.splice(api.integrations.indexOf(integration), 1);
      this.save();
      return [204, undefined];
    }
    throw badRequest(`${method} is not supported here`);
  }

  private stages(
    api: ApiEntry,
    method: string,
    stageName: string | undefined,
    input: unknown,
    url: URL,
  ): [number, unknown] {
    if (!stageName && method === "GET") return [200, this.page(api.stages, url)];
    if (!stageName && method === "POST") {
      const parsed = CreateStageInput.parse(input);
      if (api.stages.some((stage) => stage.stageName === parsed.stageName)) {
        throw conflict(`Stage already exist: ${parsed.stageName}`);
      }
      if (parsed.stageName !== "$default") throw badRequest("Berth Local serves the $default stage only");
      const now = new Date().toISOString();
      const stage: StageEntry = {
        stageName: parsed.stageName,
        autoDeploy: parsed.autoDeploy ?? false,
        createdDate: now,
        lastUpdatedDate: now,
        tags: parsed.tags ?? {},
      };
      api.stages.push(stage);
      this.save();
      return [201, stage];
    }
    const stage = api.stages.find((candidate) => candidate.stageName === stageName);
    if (!stage) throw notFound("Stage");
    if (method === "GET") return [200, stage];
    if (method === "DELETE") {
      api.stages.splice(api.stages.indexOf(stage), 1);
      this.save();
      return [204, undefined];
    }
    throw badRequest(`${method} is not supported here`);
  }
}

/** What the gateway makes of a method, host and path on one of its APIs (see `routed`). */
interface Routed {
  api: ApiEntry | undefined;
  served: boolean;
  route: RouteEntry | undefined;
  /** The healthy tasks of the Cloud Map service the route's integration leads to, asked per request. */
  targets: (() => Target[]) | undefined;
  label: string;
}

/** Routing decisions kept before the table starts again. */
const MAX_ROUTED = 4096;

/** An answer of the gateway's own, in JSON. */
function json(status: number, body: unknown, headers: Record<string, string> = {}) {
  return (response: ServerResponse) => {
    response.writeHead(status, { "content-type": "application/json", ...headers });
    response.end(JSON.stringify(body));
  };
}

function corsHeaders(
  cors: Cors | undefined,
  request: RequestHead,
): { preflight: Record<string, string>; simple: Record<string, string> } | undefined {
  const origin = request.headers.origin;
  if (!cors || !origin) return undefined;
  const origins = cors.allowOrigins ?? [];
  if (!origins.includes("*") && !origins.includes(origin)) return undefined;
  const allowOrigin = origins.includes("*") && !cors.allowCredentials ? "*" : origin;
  const simple: Record<string, string> = {
    "access-control-allow-origin": allowOrigin,
    ...(cors.exposeHeaders?.length ? { "access-control-expose-headers": cors.exposeHeaders.join(",") } : {}),
    ...(cors.allowCredentials ? { "access-control-allow-credentials": "true" } : {}),
  };
  const requested = String(request.headers["access-control-request-headers"] ?? "");
  const headers = cors.allowHeaders?.includes("*") ? requested : (cors.allowHeaders ?? []).join(",");
  const methods = cors.allowMethods?.includes("*")
    ? String(request.headers["access-control-request-method"] ?? "")
    : (cors.allowMethods ?? []).join(",");
  return {
    simple,
    preflight: {
      ...simple,
      ...(methods ? { "access-control-allow-methods": methods } : {}),
      ...(headers ? { "access-control-allow-headers": headers } : {}),
      ...(cors.maxAge !== undefined ? { "access-control-max-age": String(cors.maxAge) } : {}),
    },
  };
}

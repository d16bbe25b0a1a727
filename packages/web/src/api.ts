import type * as Schemas from "@berth/functions/api/schemas";
import type { z } from "zod";

/**
 * The console's client of the public HTTP API. Its types are the API's own zod schemas
 * (type-only imports: no schema code reaches the bundle), so a change of a response shape is a
 * type error here rather than a blank cell on a page.
 */

type Out<Schema extends z.ZodType> = z.output<Schema>;

// What the API answers.
export type StackList = Out<typeof Schemas.StackList>;
export type StackSummary = Out<typeof Schemas.StackSummary>;
export type StackDetail = Out<typeof Schemas.StackDetail>;
export type ServiceSummary = Out<typeof Schemas.ServiceSummary>;
export type ServiceView = Out<typeof Schemas.ServiceView>;
export type DeploymentPage = Out<typeof Schemas.DeploymentPage>;
export type DeploymentWithEvents = Out<typeof Schemas.DeploymentWithEvents>;
export type RequestedDeployment = Out<typeof Schemas.RequestedDeploymentBody>;
export type CancelResponse = Out<typeof Schemas.CancelResponse>;
export type ApplyResponse = Out<typeof Schemas.ApplyResponse>;
export type LogsResponse = Out<typeof Schemas.LogsResponse>;
export type RunPage = Out<typeof Schemas.RunPage>;
export type Run = Out<typeof Schemas.RunView>;
export type RunDetail = Out<typeof Schemas.RunDetail>;
export type TokenList = Out<typeof Schemas.TokenList>;
export type CreatedToken = Out<typeof Schemas.CreatedToken>;
export type ReceiverList = Out<typeof Schemas.ReceiverList>;
export type CreatedReceiver = Out<typeof Schemas.CreatedReceiver>;
export type DeliveryPage = Out<typeof Schemas.DeliveryPage>;

// What the console sends.
export type ScaleBody = z.input<typeof Schemas.ScaleBody>;
export type StartRunBody = z.input<typeof Schemas.StartRunBody>;
export type CreateTokenBody = z.input<typeof Schemas.CreateTokenBody>;
export type CreateReceiverBody = z.input<typeof Schemas.CreateReceiverBody>;

// One entry of a list the API answers.
/** A stack as `GET /v1/stacks?services=true` lists it: with its services' statuses and task counts. */
export type ListedStack = StackList["stacks"][number];
export type Deployment = DeploymentPage["deployments"][number];
export type DeploymentEvent = DeploymentWithEvents["events"][number];
export type LogEvent = LogsResponse["events"][number];
export type TokenInfo = TokenList["tokens"][number];
export type Scope = TokenInfo["scopes"][number];
export type Receiver = ReceiverList["receivers"][number];
export type Delivery = DeliveryPage["deliveries"][number];

/** The final statuses: a deployment in one of these changes no more. */
export const FINAL_STATUSES: ReadonlySet<string> = new Set([
  "SUCCEEDED",
  "FAILED",
  "ROLLED_BACK",
  "CANCELLED",
  "SUPERSEDED",
]);

/** An answer other than 2xx (or 304), with what the API said and the id to quote. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly requestId: string | undefined,
    readonly details: { path: string; message: string }[] = [],
  ) {
    super(message);
    this.name = "ApiError";
  }
}

export type Fetch = (input: string, init?: RequestInit) => Promise<Response>;

export interface ClientOptions {
  /**
   * Where the API is: "" for the console's own origin (Berth Local), else `https://…`; a promise
   * while config.json is still on its way (the first screen does not wait for it).
   */
  baseUrl: string | Promise<string>;
  token: string;
  fetch?: Fetch;
  /** Called on a 401: the token is no longer good (revoked, or the table was reset). */
  onUnauthorized?: () => void;
}

/** A conditional GET: `notModified` when the ETag sent still matches. */
export type Conditional<T> =
  | { notModified: true }
  | { notModified: false; body: T; etag: string | undefined };

const enc = encodeURIComponent;

function query(parameters: Record<string, string | number | undefined>): string {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(parameters)) {
    if (value !== undefined && value !== "") search.set(name, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

function newIdempotencyKey(): string {
  return crypto.randomUUID();
}

export function createClient(options: ClientOptions) {
  const doFetch: Fetch = options.fetch ?? ((input, init) => fetch(input, init));

  async function request(
    method: string,
    path: string,
    init: { body?: string; contentType?: string; etag?: string; idempotent?: boolean } = {},
  ): Promise<Response> {
    const headers: Record<string, string> = { authorization: `Bearer ${options.token}` };
    if (init.body !== undefined) headers["content-type"] = init.contentType ?? "application/json";
    if (init.etag) headers["if-none-match"] = init.etag;
    if (init.idempotent) headers["idempotency-key"] = newIdempotencyKey();
    let response: Response;
    try {
      response = await doFetch(`${await options.baseUrl}${path}`, {
        method,
        headers,
        ...(init.body !== undefined ? { body: init.body } : {}),
        cache: "no-store",
      });
    } catch (error) {
      throw new ApiError(
        0,
        "NETWORK",
        `the API could not be reached: ${(error as Error).message}`,
        undefined,
      );
    }
    if (response.ok || response.status === 304) return response;
    const requestId = response.headers.get("x-request-id") ?? undefined;
    let code = `HTTP_${response.status}`;
    let message = `${method} ${path} answered ${response.status} ${response.statusText}`.trim();
    let details: { path: string; message: string }[] = [];
    try {
      const parsed = (await response.json()) as {
        error?: { code?: string; message?: string; details?: { path: string; message: string }[] };
      };
      if (parsed.error?.code) code = parsed.error.code;
      if (parsed.error?.message) message = parsed.error.message;
      details = parsed.error?.details ?? [];
    } catch {
      // Not JSON (a proxy's page): the status line says what there is to say.
    }
    if (response.status === 401) options.onUnauthorized?.();
    throw new ApiError(response.status, code, message, requestId, details);
  }

  async function json<T>(method: string, path: string, body?: unknown, idempotent = false): Promise<T> {
    const response = await request(method, path, {
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      idempotent,
    });
    return (response.status === 204 ? undefined : await response.json()) as T;
  }

  async function conditional<T>(path: string, etag: string | undefined): Promise<Conditional<T>> {
    const response = await request("GET", path, etag ? { etag } : {});
    if (response.status === 304) return { notModified: true };
    return {
      notModified: false,
      body: (await response.json()) as T,
      etag: response.headers.get("etag") ?? undefined,
    };
  }

  const service = (stack: string, name: string) => `/v1/stacks/${enc(stack)}/services/${enc(name)}`;
  const job = (stack: string, name: string) => `/v1/stacks/${enc(stack)}/jobs/${enc(name)}`;

  return {
    listStacks: () => json<StackList>("GET", `/v1/stacks${query({ services: "true" })}`),
    getStack: (stack: string) => json<StackDetail>("GET", `/v1/stacks/${enc(stack)}`),
    planStack: async (stack: string, stackFile: string): Promise<ApplyResponse> => {
      const response = await request("PUT", `/v1/stacks/${enc(stack)}${query({ dryRun: "true" })}`, {
        body: stackFile,
        contentType: stackFile.trimStart().startsWith("{") ? "application/json" : "application/yaml",
      });
      return (await response.json()) as ApplyResponse;
    },
    getService: (stack: string, name: string) => json<ServiceView>("GET", service(stack, name)),
    listDeployments: (stack: string, name: string, page: { limit?: number; cursor?: string } = {}) =>
      json<DeploymentPage>("GET", `${service(stack, name)}/deployments${query(page)}`),
    getDeployment: (id: string, etag?: string) =>
      conditional<DeploymentWithEvents>(`/v1/deployments/${enc(id)}`, etag),
    redeploy: (stack: string, name: string, image?: Record<string, string>) =>
      json<RequestedDeployment>("POST", `${service(stack, name)}/deployments`, image ? { image } : {}, true),
    rollback: (stack: string, name: string, deploymentId?: string) =>
      json<RequestedDeployment>(
        "POST",
        `${service(stack, name)}/rollback`,
        deploymentId ? { deploymentId } : {},
        true,
      ),
    scale: (stack: string, name: string, body: ScaleBody) =>
      json<RequestedDeployment>("PUT", `${service(stack, name)}/scale`, body, true),
    cancel: (id: string) => json<CancelResponse>("POST", `/v1/deployments/${enc(id)}/cancel`, {}, true),
    logs: (stack: string, name: string, page: { since?: string; limit?: number; nextToken?: string } = {}) =>
      json<LogsResponse>("GET", `${service(stack, name)}/logs${query(page)}`),
    listRuns: (stack: string, name: string, page: { limit?: number; cursor?: string } = {}) =>
      json<RunPage>("GET", `${job(stack, name)}/runs${query(page)}`),
    getRun: (stack: string, name: string, id: string) =>
      json<RunDetail>("GET", `${job(stack, name)}/runs/${enc(id)}`),
    startRun: (stack: string, name: string, body: StartRunBody) =>
      json<Run>("POST", `${job(stack, name)}/runs`, body, true),
    listTokens: () => json<TokenList>("GET", "/v1/tokens"),
    createToken: (body: CreateTokenBody) => json<CreatedToken>("POST", "/v1/tokens", body, true),
    revokeToken: (id: string) => json<undefined>("DELETE", `/v1/tokens/${enc(id)}`),
    listReceivers: () => json<ReceiverList>("GET", "/v1/webhooks"),
    createReceiver: (body: CreateReceiverBody) => json<CreatedReceiver>("POST", "/v1/webhooks", body, true),
    rotateReceiver: (id: string) =>
      json<CreatedReceiver>("POST", `/v1/webhooks/${enc(id)}/rotate`, undefined, true),
    deleteReceiver: (id: string) => json<undefined>("DELETE", `/v1/webhooks/${enc(id)}`),
    listDeliveries: (id: string, page: { limit?: number; cursor?: string } = {}) =>
      json<DeliveryPage>("GET", `/v1/webhooks/${enc(id)}/deliveries${query(page)}`),
    /**
     * What the token may do, asked of the API itself (it has no "who am I" route): listing tokens
     * needs admin; a dry run without a body needs deploy and is refused after the scope check
     * (415), before anything is read or written.
     */
    async scope(): Promise<Scope> {
      await json<StackList>("GET", "/v1/stacks");
      const allowed = async (probe: () => Promise<unknown>): Promise<boolean> => {
        try {
          await probe();
          return true;
        } catch (error) {
          if (error instanceof ApiError && error.status === 403) return false;
          if (error instanceof ApiError && error.status >= 400 && error.status < 500) return true;
          throw error;
        }
      };
      if (await allowed(() => json("GET", "/v1/tokens"))) return "admin";
      if (await allowed(() => request("PUT", `/v1/stacks/scope-probe${query({ dryRun: "true" })}`))) {
        return "deploy";
      }
      return "read";
    },
  };
}

export type Client = ReturnType<typeof createClient>;

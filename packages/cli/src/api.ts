import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { Service } from "@berth/core/deployments";
import type { ErrorCode } from "@berth/core/errors";
import type { DeploymentEventRecord, DeploymentRecord, StackRecord } from "@berth/core/store";
import { UsageError } from "./command.ts";

/**
 * The Berth HTTP API as the CLI uses it (contract: packages/functions/src/api/README.md and
 * `GET /v1/openapi.json`). Only the fields the commands read are typed here; the record shapes
 * are core's own, which the API returns unchanged.
 */

export const DEFAULT_URL = "http://127.0.0.1:4000";

export type Deployment = DeploymentRecord.Info;
export type DeploymentEvent = DeploymentEventRecord.Info;

export interface RequestedDeployment {
  deployment: Deployment;
  placement: "active" | "queued" | "superseded" | "cancelled";
  workflow: { started: boolean; executionArn?: string; reason?: string; waiting?: boolean };
}

export interface PlanEntry {
  service: string;
  type: string;
  change: "created" | "updated" | "retry" | "forced" | "unchanged" | "deleted";
  changes?: { path: string }[];
  /** `retry`: why the service does not run what the file says. */
  reason?: string;
  pendingDeletion?: boolean;
  deployment?: RequestedDeployment;
}

export interface ApplyResponse {
  stack: string;
  dryRun: boolean;
  plan: PlanEntry[];
}

export interface DeploymentWithEvents {
  deployment: Deployment;
  events: DeploymentEvent[];
}

export type DeploymentSummary = Pick<
  Deployment,
  "id" | "status" | "reason" | "trigger" | "createdAt" | "updatedAt"
> &
  Partial<Pick<Deployment, "requestedBy">>;

export interface ServiceSummary {
  name: string;
  type: string;
  status: "DEPLOYING" | "LIVE" | "NOT_DEPLOYED";
  address: string | null;
  /** The public URL of the gateway or load balancer in front of it; absent from older APIs. */
  url?: string | null;
  activeDeployment: DeploymentSummary | null;
  queuedDeployment: DeploymentSummary | null;
}

export interface ServiceView extends ServiceSummary {
  tasks: { desired: number | null; running: number | null };
  /** The service's newest ECS deployment and its tasks; null when ECS has none or cannot be asked. */
  rollout: Service.Rollout | null;
  latestEvent: Service.ServiceEvent | null;
}

export interface StackList {
  stacks: Omit<StackRecord.Info, "stackFile">[];
}

export interface IngressView {
  name: string;
  type: string;
  url: string;
  /** Absent from older APIs. */
  domains?: { name: string; url: string; target: string; dns: "route53" | "manual" }[];
}

export interface StackDetail {
  stack: StackRecord.Info;
  services: ServiceSummary[];
  /** The stack's gateways and load balancers; absent from older APIs. */
  ingress?: IngressView[];
}

/** `URLs:` and one line per ingress resource, with the services behind it; nothing without any. */
export function urlLines(detail: StackDetail): string[] {
  const ingress = detail.ingress ?? [];
  if (ingress.length === 0) return [];
  const width = Math.max(...ingress.map((resource) => resource.name.length));
  return [
    "URLs:",
    ...ingress.flatMap((resource) => [
      `  ${resource.name.padEnd(width)}  ${resource.type.padEnd(16)}  ${resource.url}`,
      ...(resource.domains ?? [])
        .filter((domain) => domain.dns === "manual")
        .map(
          (domain) =>
            `  ${"".padEnd(width)}  ${"".padEnd(16)}  DNS: point ${domain.name} (CNAME) at ${domain.target}`,
        ),
    ]),
  ];
}

export interface DeploymentPage {
  deployments: Deployment[];
  nextCursor?: string;
}

export interface LogsPage {
  logGroupName: string;
  events: { timestamp: string; logStream: string; message: string }[];
  nextToken?: string;
}

export interface JobRunAttempt {
  number: number;
  status: "RUNNING" | "SUCCEEDED" | "FAILED" | "TIMED_OUT";
  taskArn?: string;
  startedAt: string;
  stoppedAt?: string;
  stoppedReason?: string;
  exitCodes: { container: string; exitCode: number | null }[];
  error?: string;
}

export interface JobRun {
  id: string;
  status: string;
  startedAt: string;
  stoppedAt?: string;
  executionArn: string;
  attempts?: JobRunAttempt[];
}

export interface CancelResponse {
  outcome: "cancelled" | "cancel-requested";
  deployment: Deployment;
  promoted?: { deployment: Deployment; workflow: RequestedDeployment["workflow"] };
}

/** `POST /v1/sources`: where to upload a build source, and what to apply the stack with after. */
export interface CreatedSource {
  source: string;
  upload: { url: string; method: string; headers: Record<string, string> };
  expiresAt: string;
}

/** The API's answer when the installation takes no uploads (Berth Local reads file:// directories). */
export const SOURCES_UNSUPPORTED = "SOURCES_UNSUPPORTED" satisfies ErrorCode;

export interface ErrorDetail {
  path: string;
  line?: number;
  column?: number;
  message: string;
}

/** The API answered with an error body (`{"error": {code, message, details?, requestId?}}`). */
export class ApiRequestError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: ErrorDetail[],
    readonly requestId: string | undefined,
  ) {
    super(message);
  }

  /** A busy refusal's Retry-After, in milliseconds: the request may be sent again after it. */
  retryAfterMs: number | undefined;

  /**
   * 4xx answers mean the request itself must change (input, token, name), except for those a
   * plain retry can cure: a conflict with something in flight, or a rate limit.
   */
  get isInputError(): boolean {
    return this.status >= 400 && this.status < 500 && this.status !== 409 && this.status !== 429;
  }
}

/** No HTTP answer at all: nothing listens, or the network failed. */
export class ApiUnreachableError extends Error {
  constructor(
    readonly url: string,
    readonly reason: string,
  ) {
    super(`cannot reach the Berth API at ${url} (${reason})`);
  }
}

export interface Credentials {
  token: string | undefined;
  /** Where the token came from, for messages. */
  source: string | undefined;
}

/** The repository this CLI runs from: `npm start` there keeps Berth Local's data in `.berth`. */
export const REPOSITORY_ROOT = fileURLToPath(new URL("../../..", import.meta.url));

/**
 * BERTH_TOKEN, else the admin token Berth Local keeps in its data dir, so that a developer
 * next to `npm start` needs no setup. The data dir is `BERTH_DATA_DIR` (default `.berth`); a
 * relative one is looked up under the current directory, then under the repository, where
 * `npm start` runs whatever directory it was typed in.
 */
export function resolveCredentials(
  env: Record<string, string | undefined>,
  cwd: string,
  repositoryRoot = REPOSITORY_ROOT,
): Credentials {
  const fromEnv = env.BERTH_TOKEN?.trim();
  if (fromEnv) return { token: fromEnv, source: "BERTH_TOKEN" };
  const dataDir = env.BERTH_DATA_DIR || ".berth";
  for (const base of [cwd, repositoryRoot]) {
    const file = resolve(base, dataDir, "admin-token");
    if (!existsSync(file)) continue;
    const token = readFileSync(file, "utf8").trim();
    if (token) return { token, source: file };
  }
  return { token: undefined, source: undefined };
}

function baseUrlOf(env: Record<string, string | undefined>): string {
  const url = env.BERTH_URL?.trim() || DEFAULT_URL;
  try {
    const parsed = new URL(url);
    if (parsed.protocol !== "http:" && parsed.protocol !== "https:") throw new Error("not http");
  } catch {
    throw new UsageError(`BERTH_URL ${url} is not an http(s) URL`);
  }
  return url.replace(/\/+$/, "");
}

export interface RequestOptions {
  query?: Record<string, string | number | undefined>;
  headers?: Record<string, string>;
  body?: string;
  signal?: AbortSignal;
}

export interface ApiReply<T> {
  status: number;
  body: T;
}

/** A network failure's own words: fetch hides them in `cause` (ECONNREFUSED, ENOTFOUND…). */
function networkReason(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (error as Error).message;
}

/**
 * Sent with every request: the API records deployments the CLI asks for with the `cli` trigger.
 * Only a label for people reading the history, not a credential.
 */
const USER_AGENT = "berth-cli/0.1.0";

/** How long the CLI keeps retrying a request refused as busy (409 with Retry-After). */
const BUSY_RETRY_BUDGET_MS = 30_000;

/** Retry-After in delay-seconds (what Berth sends), with a little jitter so refused clients spread out. */
function retryAfterMs(header: string | null): number | undefined {
  if (header === null || !/^\d{1,4}$/.test(header.trim())) return undefined;
  return Number(header.trim()) * 1000 + Math.random() * 250;
}

export class ApiClient {
  constructor(
    readonly baseUrl: string,
    readonly credentials: Credentials,
  ) {}

  static fromEnv(env: Record<string, string | undefined>, cwd: string): ApiClient {
    return new ApiClient(baseUrlOf(env), resolveCredentials(env, cwd));
  }

  /**
   * One API call. A 409 that carries a Retry-After (the stack or service was busy and nothing
   * was changed, or an Idempotency-Key's first request is still running) is sent again after
   * the time it names, for up to `BUSY_RETRY_BUDGET_MS` in all.
   */
  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<ApiReply<T>> {
    const deadline = Date.now() + BUSY_RETRY_BUDGET_MS;
    for (;;) {
      try {
        return await this.requestOnce<T>(method, path, options);
      } catch (error) {
        const wait = error instanceof ApiRequestError ? error.retryAfterMs : undefined;
        if (wait === undefined || Date.now() + wait > deadline || options.signal?.aborted) throw error;
        await new Promise((resolve) => setTimeout(resolve, wait));
      }
    }
  }

  private async requestOnce<T>(method: string, path: string, options: RequestOptions): Promise<ApiReply<T>> {
    const url = new URL(`${this.baseUrl}${path}`);
    for (const [name, value] of Object.entries(options.query ?? {})) {
      if (value !== undefined) url.searchParams.set(name, String(value));
    }
    const headers: Record<string, string> = {
      accept: "application/json",
      "user-agent": USER_AGENT,
      ...options.headers,
    };
    if (this.credentials.token) headers.authorization = `Bearer ${this.credentials.token}`;
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        headers,
        ...(options.body === undefined ? {} : { body: options.body }),
        ...(options.signal ? { signal: options.signal } : {}),
      });
    } catch (error) {
      if ((error as Error).name === "AbortError") throw error;
      throw new ApiUnreachableError(this.baseUrl, networkReason(error));
    }
    const text = await response.text();
    let body: unknown;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      body = undefined;
    }
    if (!response.ok) {
      const error = errorOf(response.status, body, text);
      error.retryAfterMs =
        response.status === 409 ? retryAfterMs(response.headers.get("retry-after")) : undefined;
      throw error;
    }
    return { status: response.status, body: body as T };
  }
}

function errorOf(status: number, body: unknown, text: string): ApiRequestError {
  const error = (
    body as
      | { error?: { code?: unknown; message?: unknown; details?: ErrorDetail[]; requestId?: string } }
      | undefined
  )?.error;
  if (error && typeof error.code === "string" && typeof error.message === "string") {
    return new ApiRequestError(status, error.code, error.message, error.details ?? [], error.requestId);
  }
  // Not Berth's error shape: a proxy or something else answered on BERTH_URL.
  return new ApiRequestError(status, `HTTP_${status}`, text.slice(0, 200) || "no error body", [], undefined);
}

export const encode = encodeURIComponent;

import { randomUUID } from "node:crypto";
import * as DeploymentStatus from "../../packages/core/src/deployments/status.ts";
import { waitFor } from "./apps.ts";

export interface Deployment {
  id: string;
  stack: string;
  service: string;
  status: string;
  reason: string;
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
  executionArn?: string;
  cancelRequestedAt?: string;
}

export interface DeploymentEvent {
  sequence: number;
  at: string;
  type: string;
  message: string;
  data?: Record<string, unknown>;
}

export interface RequestedDeployment {
  deployment: Deployment;
  placement: "active" | "queued" | "superseded" | "cancelled";
  workflow: { started: boolean; executionArn?: string; reason?: string; waiting?: boolean };
}

export interface ApplyResponse {
  stack: string;
  plan: { service: string; change: string; deployment?: RequestedDeployment }[];
}

export const FINAL_STATUSES: readonly string[] = DeploymentStatus.TERMINAL;

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
    what: string,
  ) {
    super(`${what}: HTTP ${status} ${JSON.stringify(body)}`);
  }
}

/** The Berth HTTP API, as a script would call it: bearer token, JSON, an Idempotency-Key per change. */
export class BerthApi {
  constructor(
    readonly url: string,
    readonly token: string,
  ) {}

  async request<T>(
    method: string,
    path: string,
    options: { body?: string; contentType?: string; expect?: number[] } = {},
  ): Promise<T> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.token}` };
    if (options.body !== undefined) headers["content-type"] = options.contentType ?? "application/json";
    if (method !== "GET") headers["idempotency-key"] = randomUUID();
    const response = await fetch(`${this.url}${path}`, {
      method,
      headers,
      ...(options.body !== undefined ? { body: options.body } : {}),
    });
    const text = await response.text();
    const body: unknown = text === "" ? undefined : JSON.parse(text);
    const expected = options.expect ?? [200, 201, 202, 204];
    if (!expected.includes(response.status)) throw new ApiError(response.status, body, `${method} ${path}`);
    return body as T;
  }

  applyStack(stack: string, yaml: string): Promise<ApplyResponse> {
    return this.request<ApplyResponse>("PUT", `/v1/stacks/${stack}`, {
      body: yaml,
      contentType: "application/yaml",
    });
  }

  deployment(id: string): Promise<{ deployment: Deployment; events: DeploymentEvent[] }> {
    return this.request("GET", `/v1/deployments/${id}`);
  }

  /** Waits until the deployment is in one of `statuses` (default: any final one). */
  async waitForStatus(
    id: string,
    statuses: readonly string[] = FINAL_STATUSES,
    timeoutMs = 90_000,
  ): Promise<{ deployment: Deployment; events: DeploymentEvent[] }> {
    let last = "";
    try {
      return await waitFor(
        `deployment ${id} to be ${statuses.join(" or ")}`,
        async () => {
          const answer = await this.deployment(id);
          last = `${answer.deployment.status}: ${answer.deployment.reason}`;
          return statuses.includes(answer.deployment.status) ? answer : undefined;
        },
        timeoutMs,
        250,
      );
    } catch (error) {
      throw new Error(`${(error as Error).message} (last: ${last})`);
    }
  }
}

/** The one deployment an apply requested for `service`. */
export function requested(applied: ApplyResponse, service: string): RequestedDeployment {
  const entry = applied.plan.find((candidate) => candidate.service === service);
  if (!entry?.deployment) {
    throw new Error(`no deployment requested for ${service}: ${JSON.stringify(applied.plan)}`);
  }
  return entry.deployment;
}

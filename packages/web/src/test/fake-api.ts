import type { Fetch } from "../api.ts";

/** One scripted answer of the fake API: status, JSON body, headers. */
export interface Answer {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface Call {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: string | undefined;
}

/**
 * The HTTP API as the browser's fetch sees it, answering from a table of `METHOD path` →
 * answer (or a function of the call). Every call is recorded, so a test can check what the
 * console sent. Unknown routes answer 404 the way the API does.
 */
export function fakeApi(routes: Record<string, Answer | ((call: Call) => Answer)>) {
  const calls: Call[] = [];
  const fetch: Fetch = async (input, init = {}) => {
    const url = new URL(input, "http://console.test");
    const headers = Object.fromEntries(Object.entries((init.headers ?? {}) as Record<string, string>));
    const call: Call = {
      method: init.method ?? "GET",
      path: url.pathname + url.search,
      headers,
      body: typeof init.body === "string" ? init.body : undefined,
    };
    calls.push(call);
    const route = routes[`${call.method} ${url.pathname}`] ?? routes[`${call.method} ${call.path}`];
    const answer =
      typeof route === "function"
        ? route(call)
        : (route ?? {
            status: 404,
            body: { error: { code: "NOT_FOUND", message: `no route for ${call.method} ${url.pathname}` } },
          });
    const body = answer.body === undefined || answer.status === 304 ? null : JSON.stringify(answer.body);
    return new Response(body, {
      status: answer.status,
      headers: {
        ...(body ? { "content-type": "application/json" } : {}),
        "x-request-id": `req-${calls.length}`,
        ...answer.headers,
      },
    });
  };
  return { fetch, calls };
}

export const NOW = "2026-12-01T10:00:00.000Z";

export function deployment(overrides: Record<string, unknown> = {}) {
  return {
    id: "01JD0000000000000000000001",
    stack: "shop",
    service: "api",
    trigger: "api",
    specHash: "sha256:abc",
    imageDigests: {},
    parameters: { action: "deploy" },
    status: "SUCCEEDED",
    reason: "the service runs the new revision",
    createdAt: NOW,
    updatedAt: NOW,
    startedAt: NOW,
    finishedAt: "2026-12-01T10:01:05.000Z",
    eventCount: 0,
    ...overrides,
  };
}

export function serviceView(overrides: Record<string, unknown> = {}) {
  return {
    stack: "shop",
    name: "api",
    type: "private-service",
    status: "LIVE",
    spec: { type: "private-service" },
    address: "api:3000",
    liveRevision: { taskDefinitionArn: "arn:aws:ecs:us-east-1:0:task-definition/shop-api:3", revision: 3 },
    lastGoodTaskDefinitionArn: null,
    scaling: { min: 1, max: 2 },
    tasks: { desired: 1, running: 1 },
    rollout: null,
    latestEvent: null,
    activeDeployment: null,
    queuedDeployment: null,
    updatedAt: NOW,
    ...overrides,
  };
}

export function stacks(count: number) {
  return Array.from({ length: count }, (_, index) => ({
    name: `stack-${String(index).padStart(3, "0")}`,
    stage: "local",
    stackFileHash: "a".repeat(64),
    createdAt: NOW,
    updatedAt: NOW,
  }));
}

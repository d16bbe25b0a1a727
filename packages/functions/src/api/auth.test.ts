import { TokenRecord } from "@berth/core/store";
import { describe, expect, it } from "vitest";
import type { Route } from "./route.ts";
import { ROUTES } from "./router.ts";
import { type ApiRequestSpec, harnessForFile, JSON_TYPE, stackFile, YAML } from "./test-support.ts";

const harness = harnessForFile({}, (started) =>
  started.call({
    method: "PUT",
    path: "/v1/stacks/matrix",
    headers: YAML,
    body: stackFile(),
    token: started.tokens.deploy,
  }),
);

const SAMPLE_PARAMS: Record<string, string> = {
  stack: "matrix",
  service: "api",
  job: "api",
  id: "01ARZ3NDEKTSV4RRFFQ69G5FAV",
};

/** A request each route would accept from a token with enough scope; bodies are valid. */
const SAMPLE_BODIES: Record<string, Pick<ApiRequestSpec, "headers" | "body">> = {
  applyStack: { headers: YAML, body: stackFile() },
  redeployService: { headers: JSON_TYPE, body: "{}" },
  rollbackService: { headers: JSON_TYPE, body: "{}" },
  scaleService: { headers: JSON_TYPE, body: JSON.stringify({ desired: 1 }) },
  cancelDeployment: { headers: JSON_TYPE, body: "{}" },
  startJobRun: { headers: JSON_TYPE, body: "{}" },
  createToken: { headers: JSON_TYPE, body: JSON.stringify({ name: "matrix", scopes: ["read"] }) },
  createReceiver: { headers: JSON_TYPE, body: JSON.stringify({ provider: "generic" }) },
  rejectDeployment: { headers: JSON_TYPE, body: JSON.stringify({ reason: "matrix" }) },
};

function sampleRequest(route: Route): ApiRequestSpec {
  const path = route.path.replace(/\{(\w+)\}/g, (_, name: string) => SAMPLE_PARAMS[name] ?? "missing-sample");
  return { method: route.method, path, ...SAMPLE_BODIES[route.operationId] };
}

const protectedRoutes = ROUTES.filter((route) => route.access !== "public");
const SCOPES = TokenRecord.Scope.options;

describe.each(
  protectedRoutes.map((route) => [`${route.method} ${route.path}`, route] as const),
)("%s", (_, route) => {
  const request = sampleRequest(route);

  it("answers 401 without a token, with a Bearer challenge, and changes nothing", async () => {
    const before = await harness.scanWithoutTokens();
    const reply = await harness.call(request);
    expect(reply.status).toBe(401);
    expect(reply.json.error.code).toBe("UNAUTHORIZED");
    expect(reply.headers["www-authenticate"]).toMatch(/^Bearer /);
    expect(await harness.scanWithoutTokens()).toEqual(before);
  });

  it.each([
    ["an unknown token", { authorization: `Bearer berth_${"A".repeat(43)}` }],
    ["a malformed token", { authorization: "Bearer nope" }],
    ["another scheme", { authorization: `Basic ${Buffer.from("admin:admin").toString("base64")}` }],
    ["an empty bearer", { authorization: "Bearer " }],
  ])("answers 401 for %s", async (_, headers) => {
    const reply = await harness.call({ ...request, headers: { ...request.headers, ...headers } });
    expect(reply.status).toBe(401);
    expect(reply.headers["www-authenticate"]).toContain('error="invalid_token"');
  });

  it("answers 401 for a revoked token", async () => {
    const created = await TokenRecord.create(harness.store, { name: "revoked", scopes: ["admin"] });
    await TokenRecord.revoke(harness.store, created.info.id);
    expect((await harness.call({ ...request, token: created.token })).status).toBe(401);
  });

  const weaker = SCOPES.slice(0, SCOPES.indexOf(route.access as TokenRecord.Scope));
  // read is the weakest scope (every token has at least it), so read routes have no 403 case.
  it.each(weaker)("answers 403 to a token with only the %s scope, and changes nothing", async (scope) => {
    const before = await harness.scanWithoutTokens();
    const reply = await harness.call({ ...request, token: harness.tokens[scope] });
    expect(reply.status).toBe(403);
    expect(reply.json.error.code).toBe("FORBIDDEN");
    expect(reply.headers["www-authenticate"]).toContain(`scope="${route.access}"`);
    expect(await harness.scanWithoutTokens()).toEqual(before);
  });

  it.each(
    SCOPES.slice(SCOPES.indexOf(route.access as TokenRecord.Scope)),
  )("lets a token with the %s scope through", async (scope) => {
    const reply = await harness.call({ ...request, token: harness.tokens[scope] });
    expect([401, 403]).not.toContain(reply.status);
    expect(reply.status).toBeLessThan(500);
  });
});

describe("the matrix", () => {
  it("covers every route, and only health, the OpenAPI document, the stack file's schema and webhook receivers are public", () => {
    const publicPaths = ROUTES.filter((route) => route.access === "public").map((route) => route.path);
    // A receiver authenticates each delivery by the provider's signature or secret (receivers.test.ts).
    expect(publicPaths.sort()).toEqual([
      "/v1/health",
      "/v1/hooks/{id}",
      "/v1/hooks/{id}/{secret}",
      "/v1/openapi.json",
      "/v1/schema/stack-file.json",
    ]);
    for (const route of protectedRoutes) {
      const request = sampleRequest(route);
      expect(request.path).not.toContain("missing-sample");
      if (route.body) expect(SAMPLE_BODIES[route.operationId]).toBeDefined();
    }
  });

  it("gives GETs read, changes deploy, and tokens and receivers admin", () => {
    for (const route of protectedRoutes) {
      const receivers = route.path.startsWith("/v1/webhooks") && !route.path.endsWith("/deliveries");
      const expected =
        route.path.startsWith("/v1/tokens") || receivers
          ? "admin"
          : route.method === "GET"
            ? "read"
            : "deploy";
      expect(`${route.method} ${route.path} ${route.access}`).toBe(
        `${route.method} ${route.path} ${expected}`,
      );
    }
  });

  it.each([
    "/v1/health",
    "/v1/openapi.json",
    "/v1/schema/stack-file.json",
  ])("serves %s without a token", async (path) => {
    expect((await harness.call({ method: "GET", path })).status).toBe(200);
  });
});

import { describe, expect, it } from "vitest";
import { openApiDocument } from "./openapi.ts";
import { ROUTES } from "./router.ts";

// biome-ignore lint/suspicious/noExplicitAny: the document is walked as plain JSON.
const document = openApiDocument(ROUTES) as any;

function operation(method: string, path: string) {
  return document.paths[path][method.toLowerCase()];
}

function refsIn(value: unknown): string[] {
  if (Array.isArray(value)) return value.flatMap(refsIn);
  if (value !== null && typeof value === "object") {
    return Object.entries(value).flatMap(([key, item]) => (key === "$ref" ? [String(item)] : refsIn(item)));
  }
  return [];
}

describe("the OpenAPI document", () => {
  it("is OpenAPI 3.1 and lists every route once, under /v1", () => {
    expect(document.openapi).toBe("3.1.0");
    const listed = Object.entries(document.paths).flatMap(([path, methods]) =>
      Object.keys(methods as object).map((method) => `${method.toUpperCase()} ${path}`),
    );
    expect(listed.sort()).toEqual(ROUTES.map((route) => `${route.method} ${route.path}`).sort());
    expect(listed.every((entry) => entry.split(" ")[1]?.startsWith("/v1/"))).toBe(true);
    expect(new Set(ROUTES.map((route) => route.operationId)).size).toBe(ROUTES.length);
  });

  it("requires the bearer token and documents 401 and 403 everywhere but health and itself", () => {
    for (const route of ROUTES) {
      const documented = operation(route.method, route.path);
      if (route.access === "public") {
        expect(documented.security).toEqual([]);
        // A webhook receiver checks the delivery's own signature instead of a token.
        if (route.body?.kind === "delivery") expect(documented.responses).toHaveProperty("401");
        else expect(documented.responses).not.toHaveProperty("401");
      } else {
        expect(documented.security).toEqual([{ bearerToken: [] }]);
        expect(documented["x-berth-scope"]).toBe(route.access);
        expect(Object.keys(documented.responses)).toEqual(expect.arrayContaining(["401", "403", "500"]));
      }
    }
  });

  it("describes inputs with the schemas the handlers validate with", () => {
    const apply = operation("PUT", "/v1/stacks/{stack}");
    expect(apply.parameters).toContainEqual(
      expect.objectContaining({
        name: "stack",
        in: "path",
        required: true,
        schema: expect.objectContaining({ pattern: "^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$" }),
      }),
    );
    expect(apply.parameters).toContainEqual(
      expect.objectContaining({ name: "dryRun", in: "query", required: false }),
    );
    expect(apply.parameters).toContainEqual(
      expect.objectContaining({ name: "Idempotency-Key", in: "header" }),
    );
    expect(Object.keys(apply.requestBody.content)).toContain("application/yaml");
    expect(apply.responses).toHaveProperty("422");

    const scale = operation("PUT", "/v1/stacks/{stack}/services/{service}/scale");
    expect(scale.requestBody.content["application/json"].schema).toMatchObject({
      type: "object",
      additionalProperties: false,
      properties: { min: { type: "integer", minimum: 1, maximum: 1000 } },
    });
    const token = operation("POST", "/v1/tokens");
    expect(token.requestBody.content["application/json"].schema.properties.scopes.items.enum).toEqual([
      "read",
      "deploy",
      "admin",
    ]);
  });

  it("documents the error body, and every reference resolves", () => {
    expect(document.components.schemas.Error.properties.error.required).toEqual(["code", "message"]);
    for (const ref of refsIn(document)) {
      const name = ref.replace("#/components/schemas/", "");
      expect(document.components.schemas, ref).toHaveProperty(name);
    }
  });
});

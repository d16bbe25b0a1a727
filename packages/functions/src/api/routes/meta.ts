import { openApiDocument } from "../openapi.ts";
import { defineRoute, type Route, reply } from "../route.ts";
import { Health, NoQuery } from "../schemas.ts";

const health = defineRoute({
  method: "GET",
  path: "/v1/health",
  operationId: "health",
  summary: "Whether the API answers (no token needed)",
  access: "public",
  query: NoQuery,
  responses: { 200: { description: "The API is up", schema: Health } },
  async handle() {
    return reply(200, Health, { status: "ok" });
  },
});

/** The document describes the routes it is served with, so it is built from them. */
export function metaRoutes(documented: () => readonly Route[]): Route[] {
  let document: unknown;
  const openApi = defineRoute({
    method: "GET",
    path: "/v1/openapi.json",
    operationId: "openApi",
    summary: "This API's OpenAPI 3.1 document (no token needed)",
    access: "public",
    query: NoQuery,
    responses: { 200: { description: "The OpenAPI document" } },
    async handle() {
      document ??= openApiDocument(documented());
      return { status: 200, json: document };
    },
  });
  return [health, openApi];
}

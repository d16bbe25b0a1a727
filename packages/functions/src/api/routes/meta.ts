import { Spec } from "@berth/core/spec";
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

const stackFileSchema = defineRoute({
  method: "GET",
  path: Spec.JSON_SCHEMA_API_PATH,
  operationId: "stackFileSchema",
  summary: "The stack file's JSON Schema (draft 2020-12), for editors (no token needed)",
  description:
    "Point an editor at it with `# yaml-language-server: $schema=<this URL>` as the first line of berth.yml.",
  access: "public",
  query: NoQuery,
  responses: { 200: { description: "The JSON Schema of the stack file" } },
  async handle() {
    return {
      status: 200,
      json: Spec.stackFileJsonSchema(),
      headers: { "content-type": "application/schema+json", "cache-control": "public, max-age=300" },
    };
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
  return [health, openApi, stackFileSchema];
}

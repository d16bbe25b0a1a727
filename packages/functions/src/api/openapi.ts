import { z } from "zod";
import { ErrorBody } from "./errors.ts";
import { JSON_MEDIA_TYPES, MAX_BODY_BYTES, STACK_FILE_MEDIA_TYPES } from "./http.ts";
import type { Route } from "./route.ts";

type JsonObject = Record<string, unknown>;

interface SchemaCollector {
  components: Record<string, JsonObject>;
}

/**
 * JSON Schema 2020-12, which OpenAPI 3.1 uses as is. Definitions zod extracts (`$defs`) move to
 * the document's components so that every `$ref` resolves from the document root.
 */
function jsonSchema(schema: z.ZodType, io: "input" | "output", collector: SchemaCollector): JsonObject {
  const {
    $schema: _,
    $defs,
    ...rest
  } = z.toJSONSchema(schema, {
    target: "draft-2020-12",
    io,
    unrepresentable: "any",
  }) as JsonObject & { $defs?: Record<string, JsonObject> };
  const relocate = (value: JsonObject) =>
    JSON.parse(JSON.stringify(value).replaceAll('"#/$defs/', '"#/components/schemas/')) as JsonObject;
  for (const [name, definition] of Object.entries($defs ?? {}))
    collector.components[name] = relocate(definition);
  return relocate(rest);
}

function errorResponse(description: string) {
  return { description, content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } } };
}

/** The refusals a route can answer with, besides its own successes. */
function errorResponses(route: Route): Record<string, unknown> {
  const responses: Record<string, unknown> = {
    400: errorResponse("Invalid path parameter, query string, header or body (`details` name the paths)"),
  };
  if (route.access !== "public") {
    responses[401] = errorResponse("No bearer token, or one that is unknown or revoked");
    responses[403] = errorResponse(`The token lacks the ${route.access} scope`);
  }
  if (route.path.includes("{")) responses[404] = errorResponse("No such resource");
  if (route.method !== "GET") {
    responses[409] = errorResponse(
      "Conflict: the state changed meanwhile, the transition is not allowed, or the Idempotency-Key was used for another request",
    );
  }
  if (route.body) {
    responses[413] = errorResponse(`Body over ${MAX_BODY_BYTES} bytes`);
    responses[415] = errorResponse("Unsupported Content-Type");
  }
  if (route.body?.kind === "delivery") {
    responses[401] = errorResponse("The delivery is not signed (or authorized) with the receiver's secret");
    responses[429] = errorResponse("Over the receiver's rate: `Retry-After` says when to send it again");
  }
  if (route.body?.kind === "stack-file") {
    responses[422] = errorResponse("Invalid stack file: `details` give each problem's path and line");
  }
  responses[500] = errorResponse("Internal error: the body carries only the request id");
  return responses;
}

function parametersOf(route: Route, collector: SchemaCollector): unknown[] {
  const parameters: unknown[] = [];
  const fromObject = (schema: z.ZodType | undefined, location: "path" | "query") => {
    if (!schema) return;
    const object = jsonSchema(schema, "input", collector);
    const properties = (object.properties ?? {}) as Record<string, JsonObject>;
    const required = new Set((object.required ?? []) as string[]);
    for (const [name, property] of Object.entries(properties)) {
      const { description, ...propertySchema } = property;
      parameters.push({
        name,
        in: location,
        required: location === "path" || required.has(name),
        ...(typeof description === "string" ? { description } : {}),
        schema: propertySchema,
      });
    }
  };
  fromObject(route.params, "path");
  fromObject(route.query, "query");
  if (route.method === "GET") {
    parameters.push({
      name: "If-None-Match",
      in: "header",
      required: false,
      description: "The `ETag` of an earlier 200 answer: 304 with no body while the answer is unchanged",
      schema: { type: "string" },
    });
  }
  // A public route has no token to key a replay on.
  if ((route.method === "POST" || route.method === "PUT") && route.access !== "public") {
    parameters.push({
      name: "Idempotency-Key",
      in: "header",
      required: false,
      description:
        "Retries with the same key and body get the first response again (with `Idempotency-Replayed: true`); " +
        "the same key with another body is refused with 409. Kept for 24 hours, per token.",
      schema: { type: "string", pattern: "^[\\x21-\\x7e]{1,255}$" },
    });
  }
  return parameters;
}

function requestBodyOf(route: Route, collector: SchemaCollector): unknown {
  const body = route.body;
  if (!body) return undefined;
  if (body.kind === "delivery") {
    return { required: true, content: { "application/json": { schema: { description: body.description } } } };
  }
  if (body.kind === "stack-file") {
    const schema = { type: "string", description: "A stack file, as in the stack file reference" };
    return {
      required: true,
      content: Object.fromEntries(STACK_FILE_MEDIA_TYPES.map((type) => [type, { schema }])),
    };
  }
  const schema = jsonSchema(body.schema, "input", collector);
  return {
    required: !body.optional,
    content: Object.fromEntries(JSON_MEDIA_TYPES.map((type) => [type, { schema }])),
  };
}

function operationOf(route: Route, collector: SchemaCollector): JsonObject {
  const successes = Object.fromEntries(
    Object.entries(route.responses).map(([status, response]) => [
      status,
      {
        description: response.description,
        ...(response.schema
          ? { content: { "application/json": { schema: jsonSchema(response.schema, "output", collector) } } }
          : {}),
        ...((route.method === "POST" || route.method === "PUT") && route.access !== "public"
          ? {
              headers: {
                "Idempotency-Replayed": {
                  description:
                    "`true` when this is the stored response of an earlier request with the same key",
                  schema: { type: "string", enum: ["true"] },
                },
              },
            }
          : {}),
        ...(route.method === "GET" && status === "200"
          ? {
              headers: {
                ETag: {
                  description: "A weak tag of this answer, for `If-None-Match`",
                  schema: { type: "string" },
                },
              },
            }
          : {}),
      },
    ]),
  );
  if (route.method === "GET") {
    successes[304] = { description: "Not modified: the answer still has the `ETag` sent in `If-None-Match`" };
  }
  const requestBody = requestBodyOf(route, collector);
  return {
    operationId: route.operationId,
    summary: route.summary,
    ...(route.description ? { description: route.description } : {}),
    security: route.access === "public" ? [] : [{ bearerToken: [] }],
    "x-berth-scope": route.access,
    parameters: parametersOf(route, collector),
    ...(requestBody ? { requestBody } : {}),
    responses: { ...successes, ...errorResponses(route) },
  };
}

/** The OpenAPI 3.1 document of the given routes, from the same schemas the handlers validate with. */
export function openApiDocument(routes: readonly Route[]): JsonObject {
  const collector: SchemaCollector = { components: {} };
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    paths[route.path] ??= {};
    (paths[route.path] as Record<string, unknown>)[route.method.toLowerCase()] = operationOf(
      route,
      collector,
    );
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "Berth API",
      version: "1",
      description:
        "Stacks, services, deployments, logs and tokens of a Berth installation. Every route but /v1/health " +
        "and /v1/openapi.json needs `Authorization: Bearer <token>`; scopes are read < deploy < admin. " +
        'Errors are `{"error": {"code", "message", "details": [{"path", "line", "message"}]}}`.',
    },
    paths,
    components: {
      securitySchemes: { bearerToken: { type: "http", scheme: "bearer", description: "berth_… API token" } },
      schemas: { ...collector.components, Error: jsonSchema(ErrorBody, "output", collector) },
    },
  };
}

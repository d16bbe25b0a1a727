import schema from "./stack-file.schema.json" with { type: "json" };

/** Where the API serves the schema, with no token. */
export const JSON_SCHEMA_API_PATH = "/v1/schema/stack-file.json";

/**
 * The stack file's JSON Schema as published (`stack-file.schema.json`, written by `npm run
 * schema` from the zod schemas and docs/stack-file.md): what editors complete and check with.
 */
export function stackFileJsonSchema(): Readonly<Record<string, unknown>> {
  return schema;
}

/**
 * `npm run schema`: writes the stack file's JSON Schema (`stack-file.schema.json`) from the zod
 * schemas and docs/stack-file.md. Run it after changing either; a test fails while it is stale.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { buildStackFileJsonSchema } from "./json-schema.ts";

export const DOCS_URL = new URL("../../../../docs/stack-file.md", import.meta.url);
export const SCHEMA_URL = new URL("./stack-file.schema.json", import.meta.url);

/** The file's text as it should be: the schema, formatted as the repository keeps JSON. */
export function expectedSchemaText(): string {
  return `${JSON.stringify(buildStackFileJsonSchema(readFileSync(DOCS_URL, "utf8")), null, 2)}\n`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  writeFileSync(SCHEMA_URL, expectedSchemaText());
  console.log(`wrote ${SCHEMA_URL.pathname}`);
}

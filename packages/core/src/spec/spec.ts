export * from "./capacity.ts";
export * from "./directives.ts";
export * from "./issues.ts";
export { DEFAULT_FILE_NAME, type ParseOptions, type ParseResult, parse } from "./load.ts";
export { JSON_SCHEMA_API_PATH, stackFileJsonSchema } from "./published-schema.ts";
export * from "./schema.ts";
export { CONNECT_TO_MACROS, CONNECT_TO_VARIABLES, REFERENCEABLE_PARAMS } from "./validate.ts";
export * from "./workload.ts";

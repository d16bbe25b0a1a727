export { type ApiEvent, type ApiHandler, type ApiResult, createApiHandler } from "./api.ts";
export type { ApiDependencies, ApiDependencyOptions } from "./dependencies.ts";
export { ErrorBody, errorResponse } from "./errors.ts";
export { MAX_BODY_BYTES } from "./http.ts";
export { openApiDocument } from "./openapi.ts";
export { matchRoute, ROUTES } from "./router.ts";

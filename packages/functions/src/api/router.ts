import type { Logger } from "@aws-lambda-powertools/logger";
import { z } from "zod";
import type { ApiDependencies } from "./dependencies.ts";
import { ApiError, invalidInput } from "./errors.ts";
import {
  type ApiRequest,
  type ApiResponse,
  bodyText,
  checkBodySize,
  jsonBody,
  queryObject,
  requireMediaType,
  STACK_FILE_MEDIA_TYPES,
} from "./http.ts";
import { idempotently } from "./idempotency.ts";
import type { BodySpec, Method, Route, RouteContext } from "./route.ts";
import { deploymentRoutes } from "./routes/deployments.ts";
import { jobRoutes } from "./routes/jobs.ts";
import { metaRoutes } from "./routes/meta.ts";
import { receiverRoutes } from "./routes/receivers.ts";
import { refreshRoutes } from "./routes/refreshes.ts";
import { registryRoutes } from "./routes/registry.ts";
import { serviceRoutes } from "./routes/services.ts";
import { sourceRoutes } from "./routes/sources.ts";
import { stackRoutes } from "./routes/stacks.ts";
import { tokenRoutes } from "./routes/tokens.ts";
import { authorize } from "./security.ts";

/** The whole API, as data: method and path template → handler, access, schemas. */
export const ROUTES: readonly Route[] = [
  ...stackRoutes,
  ...serviceRoutes,
  ...deploymentRoutes,
  ...jobRoutes,
  ...sourceRoutes,
  ...tokenRoutes,
  ...registryRoutes,
  ...receiverRoutes,
  ...refreshRoutes,
  ...metaRoutes(() => ROUTES),
];

interface CompiledRoute {
  route: Route;
  pattern: RegExp;
  parameterNames: string[];
}

function compile(route: Route): CompiledRoute {
  const parameterNames: string[] = [];
  const source = route.path
    .split("/")
    .map((segment) => {
      const parameter = /^\{(\w+)\}$/.exec(segment)?.[1];
      if (parameter === undefined) return segment.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
      parameterNames.push(parameter);
      return "([^/]+)";
    })
    .join("/");
  return { route, pattern: new RegExp(`^${source}$`), parameterNames };
}

const COMPILED = ROUTES.map(compile);

export type RouteMatch =
  | { kind: "found"; route: Route; rawParams: Record<string, string> }
  /** The path exists, with other methods. */
  | { kind: "wrong-method"; allowed: Method[] }
  | { kind: "none" };

export function matchRoute(method: string, path: string): RouteMatch {
  const allowed: Method[] = [];
  for (const { route, pattern, parameterNames } of COMPILED) {
    const match = pattern.exec(path);
    if (!match) continue;
    if (route.method !== method) {
      allowed.push(route.method);
      continue;
    }
    const rawParams: Record<string, string> = {};
    parameterNames.forEach((name, index) => {
      rawParams[name] = match[index + 1] as string;
    });
    return { kind: "found", route, rawParams };
  }
  return allowed.length > 0 ? { kind: "wrong-method", allowed } : { kind: "none" };
}

function decodeParams(rawParams: Record<string, string>): Record<string, string> {
  const params: Record<string, string> = {};
  for (const [name, raw] of Object.entries(rawParams)) {
    try {
      params[name] = decodeURIComponent(raw);
    } catch (error) {
      throw new ApiError(
        "BAD_REQUEST",
        `path parameter ${name} is not validly percent-encoded`,
        [{ path: `params.${name}`, message: "invalid percent-encoding" }],
        {},
        { cause: error },
      );
    }
  }
  return params;
}

function validate<Schema extends z.ZodType>(schema: Schema, value: unknown, where: string): z.output<Schema> {
  const result = schema.safeParse(value);
  if (!result.success) throw invalidInput(where, result.error);
  return result.data;
}

const NoParams = z.strictObject({});

function readBody(spec: BodySpec | undefined, request: ApiRequest): unknown {
  if (spec === undefined) return undefined;
  if (spec.kind === "stack-file") {
    requireMediaType(request, STACK_FILE_MEDIA_TYPES);
    return bodyText(request);
  }
  if (spec.kind === "delivery") return request.body;
  const json = jsonBody(request);
  if (json === undefined && !spec.optional) {
    throw new ApiError("INVALID_INPUT", "this route needs a JSON body", [
      { path: "body", message: "is required" },
    ]);
  }
  return validate(spec.schema, json ?? {}, "body");
}

/**
 * One request through the pipeline: route, token and scope, size, parameters, idempotency, body,
 * handler. Everything it throws becomes a response in `errorResponse`.
 */
/** RFC 9112's origin-form path (RFC 3986 pchars and `/`); anything else is a malformed request target. */
const ORIGIN_FORM_PATH = /^\/(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/]|%[0-9A-Fa-f]{2})*$/;

export async function dispatch(
  dependencies: ApiDependencies,
  logger: Logger,
  request: ApiRequest,
): Promise<ApiResponse> {
  if (!ORIGIN_FORM_PATH.test(request.path)) {
    throw new ApiError(
      "BAD_REQUEST",
      "the request target is not a valid path: it starts with / and has only URL path characters and %XX escapes",
      [{ path: "path", message: "invalid request target" }],
    );
  }
  const match = matchRoute(request.method, request.path);
  if (match.kind === "none") {
    throw new ApiError("NOT_FOUND", `no route for ${request.method} ${request.path}`);
  }
  if (match.kind === "wrong-method") {
    throw new ApiError("METHOD_NOT_ALLOWED", `${request.path} does not take ${request.method}`, [], {
      allow: match.allowed.join(", "),
    });
  }
  const { route } = match;
  const token = await authorize(dependencies.store, dependencies.tokens, request, route.access);
  checkBodySize(request);
  const params = validate(route.params ?? NoParams, decodeParams(match.rawParams), "params");
  const query = validate(route.query ?? NoParams, queryObject(request), "query");
  const context: RouteContext = { dependencies, logger, request, token };
  const run = async () => route.handle({ params, query, body: readBody(route.body, request), context });
  const changesState = route.method === "POST" || route.method === "PUT";
  if (changesState && token && (route.usesIdempotencyKey?.(query) ?? true)) {
    return idempotently(
      { store: dependencies.store, logger, request, token, storedForReplay: route.storedForReplay },
      run,
    );
  }
  return run();
}

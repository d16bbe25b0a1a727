import { randomUUID } from "node:crypto";
import type { Logger } from "@aws-lambda-powertools/logger";
import middy, { type MiddlewareObj, type MiddyfiedHandler } from "@middy/core";
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from "aws-lambda";
import { type ApiDependencies, type ApiDependencyOptions, withDefaults } from "./dependencies.ts";
import { errorResponse } from "./errors.ts";
import { toApiRequest, toLambdaResult, withEtag } from "./http.ts";
import { dispatch } from "./router.ts";

export type ApiEvent = APIGatewayProxyEventV2;
export type ApiResult = APIGatewayProxyStructuredResultV2;

/** Per-request state the middleware keeps on the Lambda context, which is one object per invocation. */
interface RequestScope {
  requestId: string;
  logger: Logger;
  startedAt: number;
}
type ApiContext = Context & { berthRequest?: RequestScope };

export type ApiHandler = MiddyfiedHandler<ApiEvent, ApiResult, Error, ApiContext>;

/** API Gateway's id is the one clients see (`apigw-requestid`); Lambda's is the fallback. */
function requestIdOf(event: ApiEvent, context: Partial<Context>): string {
  return event.requestContext?.requestId || context.awsRequestId || randomUUID();
}

/** Powertools' level numbers, and the level each logging method writes at. */
const LEVEL_NUMBERS: Record<string, number> = {
  TRACE: 6,
  DEBUG: 8,
  INFO: 12,
  WARN: 16,
  ERROR: 20,
  CRITICAL: 24,
  SILENT: 28,
};
const METHOD_LEVELS: Record<string, string> = {
  trace: "TRACE",
  debug: "DEBUG",
  info: "INFO",
  warn: "WARN",
  error: "ERROR",
  critical: "CRITICAL",
};
const skip = () => {};

/**
 * The request's logger, with its id on every line: the child logger is made on first use, since
 * making one costs more than a whole cached GET; a call below the root's level makes none.
 */
function requestLogger(rootLogger: Logger, requestId: string): Logger {
  let child: Logger | undefined;
  return new Proxy(rootLogger, {
    get(_root, property) {
      const level = typeof property === "string" ? METHOD_LEVELS[property] : undefined;
      if (
        level !== undefined &&
        child === undefined &&
        (LEVEL_NUMBERS[level] ?? 0) < (LEVEL_NUMBERS[rootLogger.getLevelName()] ?? 0)
      ) {
        return skip;
      }
      child ??= rootLogger.createChild({ persistentKeys: { requestId } });
      const value: unknown = Reflect.get(child, property, child);
      return typeof value === "function" ? value.bind(child) : value;
    },
  });
}

function openScope(event: ApiEvent, context: ApiContext, rootLogger: Logger): RequestScope {
  const requestId = requestIdOf(event, context);
  context.berthRequest = {
    requestId,
    logger: requestLogger(rootLogger, requestId),
    startedAt: Date.now(),
  };
  return context.berthRequest;
}

function scopeOf(event: ApiEvent, context: ApiContext, rootLogger: Logger): RequestScope {
  return context.berthRequest ?? openScope(event, context, rootLogger);
}

function logCompletion(event: ApiEvent, scope: RequestScope, statusCode: number | undefined): void {
  scope.logger.info("request completed", {
    method: event.requestContext?.http?.method,
    path: event.rawPath,
    status: statusCode,
    durationMs: Date.now() - scope.startedAt,
  });
}

/**
 * The request's scope (id and logger) before, the access log after, and every error turned into
 * its response through `errorResponse`: bugs are logged in full and answered with the request id only.
 */
function requestScope(rootLogger: Logger): MiddlewareObj<ApiEvent, ApiResult, Error, ApiContext> {
  return {
    before: (request) => {
      openScope(request.event, request.context, rootLogger);
    },
    after: (request) => {
      logCompletion(
        request.event,
        scopeOf(request.event, request.context, rootLogger),
        request.response?.statusCode,
      );
    },
    onError: (request) => {
      const scope = scopeOf(request.event, request.context, rootLogger);
      const mapped = errorResponse(request.error, scope.requestId);
      if (mapped.expected) {
        scope.logger.info("request refused", {
          code: mapped.body.error.code,
          message: mapped.body.error.message,
        });
      } else {
        scope.logger.error("request failed", { error: request.error });
      }
      request.response = toLambdaResult(
        { status: mapped.status, json: mapped.body, headers: mapped.headers },
        scope.requestId,
      );
      logCompletion(request.event, scope, mapped.status);
    },
  };
}

/**
 * The HTTP API as one Lambda handler for API Gateway HTTP API events (payload v2). Berth Local
 * serves the same handler through its event adapter; the tests call it with built events.
 */
export function createApiHandler(options: ApiDependencyOptions): ApiHandler {
  const dependencies: ApiDependencies = withDefaults(options);
  return middy<ApiEvent, ApiResult, Error, ApiContext>()
    .use(requestScope(dependencies.logger))
    .handler(async (event, context) => {
      const scope = scopeOf(event, context, dependencies.logger);
      const request = toApiRequest(event, scope.requestId);
      const response = await dispatch(dependencies, scope.logger, request);
      return toLambdaResult(withEtag(request, response), scope.requestId);
    });
}

import type { Logger } from "@aws-lambda-powertools/logger";
import type { Service, Stack } from "@berth/core/deployments";
import type { TokenRecord } from "@berth/core/store";
import type { z } from "zod";
import type { ApiDependencies } from "./dependencies.ts";
import type { ApiRequest, ApiResponse } from "./http.ts";

/** Who may call a route: anyone, or a token with at least this scope. */
export type Access = "public" | TokenRecord.Scope;

export type Method = "GET" | "PUT" | "POST" | "DELETE";

export type BodySpec =
  /** A JSON document validated by `schema`; an empty body is validated as `{}` when `optional`. */
  | { kind: "json"; schema: z.ZodType; optional?: boolean }
  /** A stack file, YAML or JSON, validated by `Spec.parse`. */
  | { kind: "stack-file" }
  /**
   * A webhook delivery: the raw bytes, unparsed, because its signature covers them exactly as
   * sent. The handler authenticates it (401) and rate-limits it (429) itself.
   */
  | { kind: "delivery"; description: string };

type BodyOutput<Body> = Body extends { kind: "json"; schema: infer Schema extends z.ZodType }
  ? z.output<Schema>
  : Body extends { kind: "stack-file" }
    ? string
    : Body extends { kind: "delivery" }
      ? Buffer
      : undefined;

export interface ResponseSpec {
  description: string;
  schema?: z.ZodType;
}

/** What a route handler gets besides its validated input. */
export interface RouteContext {
  dependencies: ApiDependencies;
  /** Carries the request id on every line. */
  logger: Logger;
  request: ApiRequest;
  /** The caller's token; absent only on public routes. */
  token: TokenRecord.Info | undefined;
}

/** The User-Agent the `berth` CLI sends (`berth-cli/VERSION`): its requests are recorded with the `cli` trigger. */
const CLI_USER_AGENT = /^berth-cli\//;

/** Who asks, as recorded on the deployments a call requests: the token's name, never its secret. */
function requesterOf({ token, request }: Pick<RouteContext, "token" | "request">) {
  if (!token) return undefined;
  const via: "api" | "cli" = CLI_USER_AGENT.test(request.headers["user-agent"] ?? "") ? "cli" : "api";
  return { by: `token ${token.name}`, via };
}

/** What core's verbs need, from the route's dependencies; warnings carry the request id. */
export function coreContext(context: RouteContext): Stack.StackContext & Service.LiveContext {
  const { dependencies, logger } = context;
  const requester = requesterOf(context);
  return {
    ...(requester ? { requester } : {}),
    store: dependencies.store,
    startExecution: dependencies.startExecution,
    logger,
    stage: dependencies.stage,
    leaseWaitMs: dependencies.stackLeaseWaitMs,
    ec2Capacity: dependencies.ec2Capacity === true,
    ...(dependencies.refreshScheduler ? { refreshScheduler: dependencies.refreshScheduler } : {}),
    ...(dependencies.ecs ? { ecs: dependencies.ecs } : {}),
    ...(dependencies.ecs && dependencies.answerWait
      ? { waits: { cluster: dependencies.ecs.cluster, answer: dependencies.answerWait } }
      : {}),
  };
}

export interface RouteInput<Params extends z.ZodType, Query extends z.ZodType, Body> {
  params: z.output<Params>;
  query: z.output<Query>;
  body: BodyOutput<Body>;
  context: RouteContext;
}

export interface RouteDefinition<
  Params extends z.ZodType = z.ZodType,
  Query extends z.ZodType = z.ZodType,
  Body extends BodySpec | undefined = BodySpec | undefined,
> {
  method: Method;
  /** OpenAPI path template, e.g. `/v1/stacks/{stack}`. */
  path: string;
  operationId: string;
  summary: string;
  description?: string;
  access: Access;
  params?: Params;
  query?: Query;
  body?: Body;
  /** The success responses; the error responses every route shares are added by the OpenAPI builder. */
  responses: Record<number, ResponseSpec>;
  /**
   * Whether the request may be replayed under its Idempotency-Key; defaults to every POST and PUT.
   * A request that changes nothing (a dry run) needs no record, and writing one would break its promise.
   */
  usesIdempotencyKey?: (query: z.output<Query>) => boolean;
  /** What a replay sends again, when the first response holds something that must not be stored. */
  storedForReplay?: (json: unknown) => unknown;
  handle(input: RouteInput<Params, Query, Body>): Promise<ApiResponse>;
}

/** Erases a definition's type parameters so that one table can hold every route. */
export type Route = RouteDefinition<z.ZodType, z.ZodType, BodySpec | undefined>;

export function defineRoute<
  Params extends z.ZodType,
  Query extends z.ZodType,
  Body extends BodySpec | undefined = undefined,
>(definition: RouteDefinition<Params, Query, Body>): Route {
  return definition as unknown as Route;
}

/** A typed success response: the body must be what `schema` documents. */
export function reply<Schema extends z.ZodType>(
  status: number,
  _schema: Schema,
  json: z.input<Schema>,
  headers?: Record<string, string>,
): ApiResponse {
  return { status, json, ...(headers ? { headers } : {}) };
}

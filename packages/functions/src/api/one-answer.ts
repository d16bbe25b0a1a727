import type { z } from "zod";
import {
  type Access,
  type BodySpec,
  defineRoute,
  type Method,
  type Route,
  type RouteDefinition,
  type RouteInput,
  reply,
} from "./route.ts";
import { NoQuery } from "./schemas.ts";

/**
 * The shape most routes share: one success answer, documented by `schema`, whose body the route's
 * function returns. A row names only what differs; what it makes is an ordinary route of the table.
 */
interface OneAnswer<Schema extends z.ZodType, Params extends z.ZodType, Query extends z.ZodType> {
  path: string;
  operationId: string;
  summary: string;
  description?: string;
  /** A read defaults to the `read` scope; a change names its own. */
  access?: Access;
  params?: Params;
  /** Defaults to no query string. */
  query?: Query;
  /** What the success answer is, for the OpenAPI document. */
  answer: string;
  schema: Schema;
}

function oneAnswerRoute<Schema extends z.ZodType, Params extends z.ZodType, Query extends z.ZodType, Body>(
  method: Method,
  status: number,
  route: OneAnswer<Schema, Params, Query> & Pick<RouteDefinition, "body" | "storedForReplay">,
  answer: (input: RouteInput<Params, Query, Body>) => Promise<z.input<Schema>>,
): Route {
  return defineRoute({
    method,
    path: route.path,
    operationId: route.operationId,
    summary: route.summary,
    ...(route.description ? { description: route.description } : {}),
    access: route.access ?? "read",
    ...(route.params ? { params: route.params } : {}),
    query: (route.query ?? NoQuery) as Query,
    ...(route.body ? { body: route.body } : {}),
    responses: { [status]: { description: route.answer, schema: route.schema } },
    ...(route.storedForReplay ? { storedForReplay: route.storedForReplay } : {}),
    async handle(input) {
      return reply(status, route.schema, await answer(input as unknown as RouteInput<Params, Query, Body>));
    },
  });
}

/** A GET answering 200 with what `read` returns. */
export function readRoute<
  Schema extends z.ZodType,
  Params extends z.ZodType = z.ZodType,
  Query extends z.ZodType = typeof NoQuery,
>(
  route: OneAnswer<Schema, Params, Query> & {
    read(input: RouteInput<Params, Query, undefined>): Promise<z.input<Schema>>;
  },
): Route {
  return oneAnswerRoute("GET", 200, route, route.read);
}

/** A change answering `status` with what `write` returns. */
export function writeRoute<
  Schema extends z.ZodType,
  Params extends z.ZodType = z.ZodType,
  Query extends z.ZodType = typeof NoQuery,
  Body extends BodySpec | undefined = undefined,
>(
  route: OneAnswer<Schema, Params, Query> & {
    method: Exclude<Method, "GET">;
    access: Access;
    status: number;
    body?: Body;
    storedForReplay?: RouteDefinition["storedForReplay"];
    write(input: RouteInput<Params, Query, Body>): Promise<z.input<Schema>>;
  },
): Route {
  return oneAnswerRoute(route.method, route.status, route, route.write);
}

/** One page of a listing under the name its answer gives the items: `{ deployments: [...], nextCursor }`. */
export function pageOf<Key extends string, Item>(
  key: Key,
  page: { items: Item[]; nextCursor?: string | undefined },
): Record<Key, Item[]> & { nextCursor?: string } {
  return {
    [key]: page.items,
    ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}),
  } as Record<Key, Item[]> & { nextCursor?: string };
}

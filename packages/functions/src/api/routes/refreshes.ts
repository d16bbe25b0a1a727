import { Service } from "@berth/core/deployments";
import { RefreshRecord } from "@berth/core/store";
import { z } from "zod";
import { ApiError } from "../errors.ts";
import { pageOf, readRoute } from "../one-answer.ts";
import { PageQuery } from "../schemas.ts";

const Outcome = z.object({
  stack: z.string(),
  service: z.string(),
  deploymentId: z.string(),
  status: z.string(),
  reason: z.string(),
});

/** A scheduled refresh with its deployments' outcomes as they are now (`Service.describeRefresh`). */
export const RefreshView = z.object({
  id: z.string(),
  startedAt: z.string(),
  trigger: z.enum(["weekly", "stack"]),
  stack: z.string().optional(),
  status: z.enum(["running", "succeeded", "failed"]),
  services: z.array(Outcome),
  failed: z.array(Outcome),
  skipped: z.array(z.string()),
  notRequested: z.array(z.string()),
  hosts: z.record(z.string(), z.unknown()).optional(),
});

const RefreshPage = z.object({ refreshes: z.array(RefreshView), nextCursor: z.string().optional() });

const RefreshParams = z.strictObject({ id: RefreshRecord.Info.shape.id });

const listRefreshes = readRoute({
  path: "/v1/refreshes",
  operationId: "listRefreshes",
  summary: "List scheduled refreshes, newest first, with the services whose refresh failed",
  description:
    "Each weekly refresh and each firing of a stack's own schedule, with the refresh deployment it " +
    "requested for each service and that deployment's status now. `failed` lists those that ended " +
    "FAILED, ROLLED_BACK or ROLLBACK_FAILED (a service that crash-loops on its own revision) with the reason; " +
    "`status` is `running` until every deployment has ended.",
  query: PageQuery,
  answer: "One page of refreshes",
  schema: RefreshPage,
  async read({ query, context }) {
    const store = context.dependencies.store;
    const page = await RefreshRecord.list(store, query);
    const items = await Promise.all(page.items.map((info) => Service.describeRefresh(store, info)));
    return pageOf("refreshes", { ...page, items });
  },
});

const getRefresh = readRoute({
  path: "/v1/refreshes/{id}",
  operationId: "getRefresh",
  summary: "Get a scheduled refresh with its deployments' outcomes",
  params: RefreshParams,
  answer: "The refresh",
  schema: RefreshView,
  async read({ params, context }) {
    const store = context.dependencies.store;
    const found = await RefreshRecord.get(store, params.id);
    if (!found) throw new ApiError("NOT_FOUND", `refresh ${params.id} does not exist`);
    return Service.describeRefresh(store, found);
  },
});

export const refreshRoutes = [listRefreshes, getRefresh];

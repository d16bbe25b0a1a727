import { type DeploymentRequest, Service } from "@berth/core/deployments";
import type { z } from "zod";
import { readLogs } from "../logs.ts";
import { coreContext, defineRoute, reply } from "../route.ts";
import {
  DeploymentPage,
  LogsQuery,
  LogsResponse,
  NoQuery,
  PageQuery,
  RedeployBody,
  RequestedDeploymentBody,
  RollbackBody,
  ScaleBody,
  ServiceParams,
  ServiceView,
} from "../schemas.ts";
import { requestedBody, serviceView } from "../views.ts";

const getService = defineRoute({
  method: "GET",
  path: "/v1/stacks/{stack}/services/{service}",
  operationId: "getService",
  summary: "Get a service: spec, status, live revision, address and deployments in flight",
  access: "read",
  params: ServiceParams,
  query: NoQuery,
  responses: { 200: { description: "The service", schema: ServiceView } },
  async handle({ params, context }) {
    const described = await Service.describeLive(coreContext(context), params);
    return reply(200, ServiceView, serviceView(described, described));
  },
});

const listDeployments = defineRoute({
  method: "GET",
  path: "/v1/stacks/{stack}/services/{service}/deployments",
  operationId: "listDeployments",
  summary: "List a service's deployments, newest first",
  access: "read",
  params: ServiceParams,
  query: PageQuery,
  responses: { 200: { description: "One page of deployments", schema: DeploymentPage } },
  async handle({ params, query, context }) {
    const page = await Service.listDeployments(context.dependencies.store, params, query);
    return reply(200, DeploymentPage, {
      deployments: page.items,
      ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}),
    });
  },
});

/**
 * The routes that ask for one new deployment of a service: one core verb each, answered with the
 * requested deployment (202). A row of this table names only what differs.
 */
function requestsDeployment<Body extends z.ZodType>(route: {
  method: "POST" | "PUT";
  action: string;
  operationId: string;
  summary: string;
  description?: string;
  body: Body;
  optionalBody?: boolean;
  requested: string;
  request(
    context: ReturnType<typeof coreContext>,
    service: z.output<typeof ServiceParams>,
    body: z.output<Body>,
  ): Promise<DeploymentRequest.RequestedDeployment>;
}) {
  return defineRoute({
    method: route.method,
    path: `/v1/stacks/{stack}/services/{service}/${route.action}`,
    operationId: route.operationId,
    summary: route.summary,
    ...(route.description ? { description: route.description } : {}),
    access: "deploy",
    params: ServiceParams,
    query: NoQuery,
    body: { kind: "json", schema: route.body, ...(route.optionalBody ? { optional: true } : {}) },
    responses: { 202: { description: route.requested, schema: RequestedDeploymentBody } },
    async handle({ params, body, context }) {
      const requested = await route.request(coreContext(context), params, body);
      return reply(202, RequestedDeploymentBody, requestedBody(requested));
    },
  });
}

const redeploy = requestsDeployment({
  method: "POST",
  action: "deployments",
  operationId: "redeployService",
  summary: "Deploy a service again, optionally with a new image for some of its containers",
  body: RedeployBody,
  optionalBody: true,
  requested: "Deployment requested",
  request: (context, service, body) => Service.redeploy(context, { ...service, images: body.image ?? {} }),
});

const rollback = requestsDeployment({
  method: "POST",
  action: "rollback",
  operationId: "rollbackService",
  summary: "Roll a service back to its last good deployment, or to a named earlier one",
  body: RollbackBody,
  optionalBody: true,
  requested: "Rollback requested",
  request: (context, service, body) =>
    Service.rollback(context, {
      ...service,
      ...(body.deploymentId ? { deploymentId: body.deploymentId } : {}),
    }),
});

const scale = requestsDeployment({
  method: "PUT",
  action: "scale",
  operationId: "scaleService",
  summary: "Change a service's task counts",
  description:
    "`min` and `max` are written into the service's spec (scaling.minInstances and maxInstances), so a later " +
    "apply of an unchanged stack file shows them as a change; `desired` is carried by the deployment only.",
  body: ScaleBody,
  requested: "Scaling requested",
  request: (context, service, body) => Service.scale(context, { ...service, ...body }),
});

const logs = defineRoute({
  method: "GET",
  path: "/v1/stacks/{stack}/services/{service}/logs",
  operationId: "getServiceLogs",
  summary: "Read a service's logs from CloudWatch Logs",
  access: "read",
  params: ServiceParams,
  query: LogsQuery,
  responses: { 200: { description: "Log events, oldest first", schema: LogsResponse } },
  async handle({ params, query, context }) {
    const { store, logs: client, clock } = context.dependencies;
    await Service.requireService(store, params.stack, params.service);
    return reply(200, LogsResponse, await readLogs(client, clock(), params.stack, params.service, query));
  },
});

export const serviceRoutes = [getService, redeploy, listDeployments, rollback, scale, logs];

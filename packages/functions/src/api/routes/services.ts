import { type DeploymentRequest, Service } from "@berth/core/deployments";
import type { z } from "zod";
import { readLogs } from "../logs.ts";
import { pageOf, readRoute, writeRoute } from "../one-answer.ts";
import { coreContext } from "../route.ts";
import {
  DeploymentPage,
  LogsQuery,
  LogsResponse,
  PageQuery,
  RedeployBody,
  RequestedDeploymentBody,
  RollbackBody,
  ScaleBody,
  ServiceParams,
  ServiceView,
} from "../schemas.ts";
import { requestedBody, serviceView } from "../views.ts";

const getService = readRoute({
  path: "/v1/stacks/{stack}/services/{service}",
  operationId: "getService",
  summary: "Get a service: spec, status, live revision, address and deployments in flight",
  params: ServiceParams,
  answer: "The service",
  schema: ServiceView,
  async read({ params, context }) {
    const described = await Service.describeLive(coreContext(context), params);
    return serviceView(described, described);
  },
});

const listDeployments = readRoute({
  path: "/v1/stacks/{stack}/services/{service}/deployments",
  operationId: "listDeployments",
  summary: "List a service's deployments, newest first",
  params: ServiceParams,
  query: PageQuery,
  answer: "One page of deployments",
  schema: DeploymentPage,
  read: async ({ params, query, context }) =>
    pageOf("deployments", await Service.listDeployments(context.dependencies.store, params, query)),
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
  return writeRoute({
    method: route.method,
    path: `/v1/stacks/{stack}/services/{service}/${route.action}`,
    operationId: route.operationId,
    summary: route.summary,
    ...(route.description ? { description: route.description } : {}),
    access: "deploy",
    params: ServiceParams,
    body: { kind: "json", schema: route.body, ...(route.optionalBody ? { optional: true } : {}) },
    status: 202,
    answer: route.requested,
    schema: RequestedDeploymentBody,
    write: async ({ params, body, context }) =>
      requestedBody(await route.request(coreContext(context), params, body)),
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

const logs = readRoute({
  path: "/v1/stacks/{stack}/services/{service}/logs",
  operationId: "getServiceLogs",
  summary: "Read a service's logs from CloudWatch Logs",
  params: ServiceParams,
  query: LogsQuery,
  answer: "Log events, oldest first",
  schema: LogsResponse,
  async read({ params, query, context }) {
    const { store, logs: client, clock } = context.dependencies;
    await Service.requireService(store, params.stack, params.service);
    return readLogs(client, clock(), params.stack, params.service, query);
  },
});

export const serviceRoutes = [getService, redeploy, listDeployments, rollback, scale, logs];

import { Service } from "@berth/core/deployments";
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

const redeploy = defineRoute({
  method: "POST",
  path: "/v1/stacks/{stack}/services/{service}/deployments",
  operationId: "redeployService",
  summary: "Deploy a service again, optionally with a new image for some of its containers",
  access: "deploy",
  params: ServiceParams,
  query: NoQuery,
  body: { kind: "json", schema: RedeployBody, optional: true },
  responses: { 202: { description: "Deployment requested", schema: RequestedDeploymentBody } },
  async handle({ params, body, context }) {
    const requested = await Service.redeploy(coreContext(context), { ...params, images: body.image ?? {} });
    return reply(202, RequestedDeploymentBody, requestedBody(requested));
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

const rollback = defineRoute({
  method: "POST",
  path: "/v1/stacks/{stack}/services/{service}/rollback",
  operationId: "rollbackService",
  summary: "Roll a service back to its last good deployment, or to a named earlier one",
  access: "deploy",
  params: ServiceParams,
  query: NoQuery,
  body: { kind: "json", schema: RollbackBody, optional: true },
  responses: { 202: { description: "Rollback requested", schema: RequestedDeploymentBody } },
  async handle({ params, body, context }) {
    const requested = await Service.rollback(coreContext(context), {
      ...params,
      ...(body.deploymentId ? { deploymentId: body.deploymentId } : {}),
    });
    return reply(202, RequestedDeploymentBody, requestedBody(requested));
  },
});

const scale = defineRoute({
  method: "PUT",
  path: "/v1/stacks/{stack}/services/{service}/scale",
  operationId: "scaleService",
  summary: "Change a service's task counts",
  description:
    "`min` and `max` are written into the service's spec (scaling.minInstances and maxInstances), so a later " +
    "apply of an unchanged stack file shows them as a change; `desired` is carried by the deployment only.",
  access: "deploy",
  params: ServiceParams,
  query: NoQuery,
  body: { kind: "json", schema: ScaleBody },
  responses: { 202: { description: "Scaling requested", schema: RequestedDeploymentBody } },
  async handle({ params, body, context }) {
    const requested = await Service.scale(coreContext(context), { ...params, ...body });
    return reply(202, RequestedDeploymentBody, requestedBody(requested));
  },
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

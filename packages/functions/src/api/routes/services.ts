import { DescribeServicesCommand } from "@aws-sdk/client-ecs";
import { DeploymentRecord, type Store } from "@berth/core/store";
import type { ApiDependencies } from "../dependencies.ts";
import { ApiError } from "../errors.ts";
import { readLogs } from "../logs.ts";
import { specHash } from "../plan.ts";
import { defineRoute, reply } from "../route.ts";
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
import { pinnedDigests, scalingOf, withImages, withScaling } from "../service-spec.ts";
import { type LiveCounts, requestedBody, requireService, serviceView, updateServiceSpec } from "../views.ts";
import { requestDeployment, workflowContextOf } from "../workflow.ts";

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
    const { store, ecs, logger } = context.dependencies;
    const service = await requireService(store, params.stack, params.service);
    return reply(
      200,
      ServiceView,
      await serviceView(store, service, await liveCounts(ecs, logger, params.stack, params.service)),
    );
  },
});

/**
 * Desired and running counts as ECS reports them for the service's ECS service, named
 * `<stack>-<service>` as the renderer names it. A read must not fail because ECS cannot answer:
 * the counts are then null.
 */
async function liveCounts(
  ecs: ApiDependencies["ecs"],
  logger: ApiDependencies["logger"],
  stack: string,
  service: string,
): Promise<LiveCounts> {
  if (!ecs) return { desired: null, running: null };
  try {
    const { services = [] } = await ecs.client.send(
      new DescribeServicesCommand({ cluster: ecs.cluster, services: [`${stack}-${service}`] }),
    );
    const found = services.find((candidate) => candidate.status === "ACTIVE");
    return found
      ? { desired: found.desiredCount ?? null, running: found.runningCount ?? null }
      : { desired: null, running: null };
  } catch (error) {
    logger.warn("live task counts unavailable", { error: error as Error });
    return { desired: null, running: null };
  }
}

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
    const { store } = context.dependencies;
    const images = body.image ?? {};
    const hasImages = Object.keys(images).length > 0;
    const service = await updateServiceSpec(store, params.stack, params.service, (current) =>
      hasImages ? withImages(params.service, current.spec, images) : undefined,
    );
    const named = Object.entries(images).map(([container, image]) => `${container}=${image}`);
    const requested = await requestDeployment(workflowContextOf(context), {
      stack: params.stack,
      service: params.service,
      trigger: "api",
      specHash: specHash(service.spec),
      imageDigests: pinnedDigests(images),
      reason: hasImages ? `redeploy with ${named.join(", ")}`.slice(0, 1000) : "redeploy requested",
      parameters: { action: "deploy", ...(hasImages ? { images } : {}) },
    });
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
    const { store } = context.dependencies;
    await requireService(store, params.stack, params.service);
    const page = await DeploymentRecord.listForService(store, params.stack, params.service, query);
    return reply(200, DeploymentPage, {
      deployments: page.items,
      ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}),
    });
  },
});

/** Deployment listings this deep without a success mean there is nothing good to return to. */
const ROLLBACK_SEARCH_PAGES = 10;

async function lastSucceeded(store: Store, stack: string, service: string) {
  let cursor: string | undefined;
  for (let page = 0; page < ROLLBACK_SEARCH_PAGES; page++) {
    const listing = await DeploymentRecord.listForService(store, stack, service, { limit: 100, cursor });
    const found = listing.items.find((deployment) => deployment.status === "SUCCEEDED");
    if (found) return found;
    if (!listing.nextCursor) return undefined;
    cursor = listing.nextCursor;
  }
  return undefined;
}

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
    const { store } = context.dependencies;
    const service = await requireService(store, params.stack, params.service);
    let target: DeploymentRecord.Info | undefined;
    if (body.deploymentId) {
      target = await DeploymentRecord.get(store, body.deploymentId);
      if (!target || target.stack !== params.stack || target.service !== params.service) {
        throw new ApiError(
          "NOT_FOUND",
          `${params.stack}/${params.service} has no deployment ${body.deploymentId}`,
        );
      }
      if (target.status !== "SUCCEEDED") {
        throw new ApiError(
          "CONFLICT",
          `deployment ${target.id} ended ${target.status}; only a deployment that succeeded can be returned to`,
        );
      }
    } else {
      target = await lastSucceeded(store, params.stack, params.service);
      if (!target || !service.lastGoodTaskDefinitionArn) {
        throw new ApiError(
          "CONFLICT",
          `${params.stack}/${params.service} has no successful deployment to roll back to`,
        );
      }
    }
    const taskDefinitionArn = body.deploymentId ? undefined : service.lastGoodTaskDefinitionArn;
    const requested = await requestDeployment(workflowContextOf(context), {
      stack: params.stack,
      service: params.service,
      trigger: "rollback",
      specHash: target.specHash,
      imageDigests: target.imageDigests,
      reason: `rollback to ${target.id}`,
      parameters: {
        action: "rollback",
        rollbackTo: { deploymentId: target.id, ...(taskDefinitionArn ? { taskDefinitionArn } : {}) },
      },
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
    const { store } = context.dependencies;
    let bounds = { min: 0, max: 0 };
    const service = await updateServiceSpec(store, params.stack, params.service, (current) => {
      const scaling = scalingOf(current.spec);
      if (!scaling) {
        throw new ApiError(
          "INVALID_INPUT",
          `${params.stack}/${params.service} does not scale (it is a batch job)`,
        );
      }
      bounds = { min: body.min ?? scaling.min, max: body.max ?? scaling.max };
      if (bounds.min > bounds.max) {
        const path = body.min === undefined ? "body.max" : "body.min";
        throw new ApiError("INVALID_INPUT", `min ${bounds.min} would exceed max ${bounds.max}`, [
          { path, message: `min ${bounds.min} must not exceed max ${bounds.max}` },
        ]);
      }
      if (body.desired !== undefined && (body.desired < bounds.min || body.desired > bounds.max)) {
        throw new ApiError(
          "INVALID_INPUT",
          `desired ${body.desired} is outside ${bounds.min}..${bounds.max}`,
          [{ path: "body.desired", message: `must be from ${bounds.min} to ${bounds.max}` }],
        );
      }
      const unchanged = bounds.min === scaling.min && bounds.max === scaling.max;
      return unchanged ? undefined : withScaling(current.spec, bounds);
    });
    const desired = body.desired === undefined ? "" : `, desired ${body.desired}`;
    const requested = await requestDeployment(workflowContextOf(context), {
      stack: params.stack,
      service: params.service,
      trigger: "api",
      specHash: specHash(service.spec),
      reason: `scale to min ${bounds.min}, max ${bounds.max}${desired}`,
      parameters: {
        action: "scale",
        scale: { ...bounds, ...(body.desired === undefined ? {} : { desired: body.desired }) },
      },
    });
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
    await requireService(store, params.stack, params.service);
    return reply(200, LogsResponse, await readLogs(client, clock(), params.stack, params.service, query));
  },
});

export const serviceRoutes = [getService, redeploy, listDeployments, rollback, scale, logs];

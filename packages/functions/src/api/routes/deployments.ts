import { Deployment } from "@berth/core/deployments";
import { DeploymentRecord } from "@berth/core/store";
import type { z } from "zod";
import { ApiError } from "../errors.ts";
import { defineRoute, reply } from "../route.ts";
import { CancelBody, CancelResponse, DeploymentParams, DeploymentWithEvents, NoQuery } from "../schemas.ts";
import { describeStart, startPromoted, workflowContextOf } from "../workflow.ts";

const getDeployment = defineRoute({
  method: "GET",
  path: "/v1/deployments/{id}",
  operationId: "getDeployment",
  summary: "Get a deployment with its events, in order",
  access: "read",
  params: DeploymentParams,
  query: NoQuery,
  responses: { 200: { description: "The deployment", schema: DeploymentWithEvents } },
  async handle({ params, context }) {
    const found = await DeploymentRecord.getWithEvents(context.dependencies.store, params.id);
    if (!found) throw new ApiError("NOT_FOUND", `deployment ${params.id} does not exist`);
    return reply(200, DeploymentWithEvents, found);
  },
});

const cancelDeployment = defineRoute({
  method: "POST",
  path: "/v1/deployments/{id}/cancel",
  operationId: "cancelDeployment",
  summary: "Cancel a deployment",
  description:
    "A waiting deployment ends CANCELLED at once (200); a building or deploying one is flagged and its " +
    "workflow ends it at its next step (202). A rollback in progress cannot be cancelled (409).",
  access: "deploy",
  params: DeploymentParams,
  query: NoQuery,
  body: { kind: "json", schema: CancelBody, optional: true },
  responses: {
    200: { description: "Cancelled", schema: CancelResponse },
    202: { description: "Cancellation requested from the running workflow", schema: CancelResponse },
  },
  async handle({ params, body, context }) {
    const { store } = context.dependencies;
    const outcome = await Deployment.cancel(store, params.id, body.reason);
    if (outcome.outcome === "cancel-requested") {
      return reply(202, CancelResponse, { outcome: outcome.outcome, deployment: outcome.deployment });
    }
    let promoted: z.input<typeof CancelResponse>["promoted"];
    if (outcome.promoted) {
      const started = await startPromoted(workflowContextOf(context), outcome.promoted);
      promoted = {
        deployment: started.deployment,
        workflow: describeStart(started.workflow),
      };
    }
    return reply(200, CancelResponse, {
      outcome: outcome.outcome,
      deployment: outcome.deployment,
      ...(promoted ? { promoted } : {}),
    });
  },
});

export const deploymentRoutes = [getDeployment, cancelDeployment];

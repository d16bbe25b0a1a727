import { DeploymentRequest } from "@berth/core/deployments";
import { DeploymentRecord } from "@berth/core/store";
import { ApiError } from "../errors.ts";
import { readRoute } from "../one-answer.ts";
import { coreContext, defineRoute, reply } from "../route.ts";
import { CancelBody, CancelResponse, DeploymentParams, DeploymentWithEvents, NoQuery } from "../schemas.ts";
import { startBody } from "../views.ts";

const getDeployment = readRoute({
  path: "/v1/deployments/{id}",
  operationId: "getDeployment",
  summary: "Get a deployment with its events, in order",
  params: DeploymentParams,
  answer: "The deployment",
  schema: DeploymentWithEvents,
  async read({ params, context }) {
    const found = await DeploymentRecord.getWithEvents(context.dependencies.store, params.id);
    if (!found) throw new ApiError("NOT_FOUND", `deployment ${params.id} does not exist`);
    return found;
  },
});

const cancelDeployment = defineRoute({
  method: "POST",
  path: "/v1/deployments/{id}/cancel",
  operationId: "cancelDeployment",
  summary: "Cancel a deployment",
  description:
    "A waiting deployment ends CANCELLED at once (200); a building or deploying one is flagged and its " +
    "workflow stops it (202): once ECS runs the new revision, the service is returned to the revision it " +
    "ran before, and the deployment ends CANCELLED saying what was undone. A rollback in progress cannot " +
    "be cancelled (409).",
  access: "deploy",
  params: DeploymentParams,
  query: NoQuery,
  body: { kind: "json", schema: CancelBody, optional: true },
  responses: {
    200: { description: "Cancelled", schema: CancelResponse },
    202: { description: "Cancellation requested from the running workflow", schema: CancelResponse },
  },
  async handle({ params, body, context }) {
    const cancelled = await DeploymentRequest.cancelDeployment(coreContext(context), params.id, body.reason);
    const { outcome, deployment } = cancelled;
    if (cancelled.outcome === "cancel-requested") return reply(202, CancelResponse, { outcome, deployment });
    const { promoted } = cancelled;
    return reply(200, CancelResponse, {
      outcome,
      deployment,
      ...(promoted
        ? { promoted: { deployment: promoted.deployment, workflow: startBody(promoted.workflow) } }
        : {}),
    });
  },
});

export const deploymentRoutes = [getDeployment, cancelDeployment];

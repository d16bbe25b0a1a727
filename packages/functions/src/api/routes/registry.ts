import { Approval } from "@berth/core/deployments";
import { DeliveryRecord, DeploymentRecord } from "@berth/core/store";
import { z } from "zod";
import { pageOf, readRoute, writeRoute } from "../one-answer.ts";
import { coreContext } from "../route.ts";
import {
  CancelBody,
  DeliveryPage,
  DeploymentParams,
  PageQuery,
  RequestedDeploymentBody,
} from "../schemas.ts";
import { requestedBody } from "../views.ts";

/**
 * Registry pushes: approving or rejecting a deployment a push holds for approval, and what
 * reached Berth (each delivery and what it did). Kept apart from the other routes' files.
 */

const RejectResponse = z.object({ deployment: DeploymentRecord.Info });
const DeliveryParams = z.strictObject({ id: DeliveryRecord.Source });

const who = (token: { name: string } | undefined) => (token ? `token ${token.name}` : "an anonymous caller");

const approve = writeRoute({
  method: "POST",
  path: "/v1/deployments/{id}/approve",
  operationId: "approveDeployment",
  summary: "Approve a deployment a registry push holds for approval",
  description:
    "The deployment takes its place on its service like any request: it runs now, or after the one that " +
    "runs (202). A deployment that does not wait for an approval, or was approved or rejected already, is a 409.",
  access: "deploy",
  params: DeploymentParams,
  status: 202,
  answer: "Approved and requested",
  schema: RequestedDeploymentBody,
  async write({ params, context }) {
    return requestedBody(await Approval.approve(coreContext(context), params.id, who(context.token)));
  },
});

const reject = writeRoute({
  method: "POST",
  path: "/v1/deployments/{id}/reject",
  operationId: "rejectDeployment",
  summary: "Reject a deployment a registry push holds for approval",
  description: "It ends CANCELLED, saying who rejected it and why, and never runs.",
  access: "deploy",
  params: DeploymentParams,
  body: { kind: "json", schema: CancelBody, optional: true },
  status: 200,
  answer: "Rejected",
  schema: RejectResponse,
  async write({ params, body, context }) {
    return {
      deployment: await Approval.reject(coreContext(context), params.id, who(context.token), body.reason),
    };
  },
});

const listDeliveries = readRoute({
  path: "/v1/webhooks/{id}/deliveries",
  operationId: "listDeliveries",
  summary: "List what a receiver (or `ecr`: pushes through EventBridge) received, newest first",
  description:
    "Each delivery: when, the provider's event, the image and digest, and its outcome: the services it " +
    "deployed or holds for approval, or why it was ignored or refused.",
  params: DeliveryParams,
  query: PageQuery,
  answer: "One page of deliveries",
  schema: DeliveryPage,
  read: async ({ params, query, context }) =>
    pageOf("deliveries", await DeliveryRecord.list(context.dependencies.store, params.id, query)),
});

export const registryRoutes = [approve, reject, listDeliveries];

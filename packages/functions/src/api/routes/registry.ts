import { Approval } from "@berth/core/deployments";
import { DeliveryRecord, DeploymentRecord } from "@berth/core/store";
import { z } from "zod";
import { coreContext, defineRoute, reply } from "../route.ts";
import {
  CancelBody,
  DeliveryPage,
  DeploymentParams,
  NoQuery,
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

const approve = defineRoute({
  method: "POST",
  path: "/v1/deployments/{id}/approve",
  operationId: "approveDeployment",
  summary: "Approve a deployment a registry push holds for approval",
  description:
    "The deployment takes its place on its service like any request: it runs now, or after the one that " +
    "runs (202). A deployment that does not wait for an approval, or was approved or rejected already, is a 409.",
  access: "deploy",
  params: DeploymentParams,
  query: NoQuery,
  responses: { 202: { description: "Approved and requested", schema: RequestedDeploymentBody } },
  async handle({ params, context }) {
    const requested = await Approval.approve(coreContext(context), params.id, who(context.token));
    return reply(202, RequestedDeploymentBody, requestedBody(requested));
  },
});

const reject = defineRoute({
  method: "POST",
  path: "/v1/deployments/{id}/reject",
  operationId: "rejectDeployment",
  summary: "Reject a deployment a registry push holds for approval",
  description: "It ends CANCELLED, saying who rejected it and why, and never runs.",
  access: "deploy",
  params: DeploymentParams,
  query: NoQuery,
  body: { kind: "json", schema: CancelBody, optional: true },
  responses: { 200: { description: "Rejected", schema: RejectResponse } },
  async handle({ params, body, context }) {
    const deployment = await Approval.reject(
      coreContext(context),
      params.id,
      who(context.token),
      body.reason,
    );
    return reply(200, RejectResponse, { deployment });
  },
});

const listDeliveries = defineRoute({
  method: "GET",
  path: "/v1/webhooks/{id}/deliveries",
  operationId: "listDeliveries",
  summary: "List what a receiver (or `ecr`: pushes through EventBridge) received, newest first",
  description:
    "Each delivery: when, the provider's event, the image and digest, and its outcome: the services it " +
    "deployed or holds for approval, or why it was ignored or refused.",
  access: "read",
  params: DeliveryParams,
  query: PageQuery,
  responses: { 200: { description: "One page of deliveries", schema: DeliveryPage } },
  async handle({ params, query, context }) {
    const page = await DeliveryRecord.list(context.dependencies.store, params.id, query);
    return reply(200, DeliveryPage, {
      deliveries: page.items,
      ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}),
    });
  },
});

export const registryRoutes = [approve, reject, listDeliveries];

import { Receiver } from "@berth/core/deployments";
import { DeliveryRecord, ReceiverRecord } from "@berth/core/store";
import { z } from "zod";
import { ApiError } from "../errors.ts";
import type { ApiRequest } from "../http.ts";
import { readRoute, writeRoute } from "../one-answer.ts";
import { coreContext, defineRoute, type RouteContext, reply } from "../route.ts";
import { CreatedReceiver, NoQuery, ReceiverList } from "../schemas.ts";

/**
 * Webhook receivers: created, listed, rotated and deleted by an admin; the receiving URL itself
 * takes no token and authenticates each delivery the provider's way (see core's `Receiver`).
 */

const ReceiverParams = z.strictObject({ id: ReceiverRecord.Info.shape.id });
const DeliveryAnswer = z.object({
  /** One per pushed tag (one for a delivery that pushed nothing). */
  deliveries: z.array(DeliveryRecord.Info),
  /** Every one of them was handled before: nothing was done this time. */
  replay: z.boolean(),
});

/** The API's own base URL, as the caller reached it (API Gateway sets X-Forwarded-Proto). */
function baseUrl(request: ApiRequest): string {
  const host = request.headers.host ?? "localhost";
  const protocol = request.headers["x-forwarded-proto"]?.split(",")[0]?.trim() || "https";
  return `${protocol}://${host}`;
}

const created = (context: RouteContext, receiver: Receiver.Created) => ({
  id: receiver.info.id,
  url: `${baseUrl(context.request)}${receiver.path}`,
  secret: receiver.secret,
  receiver: receiver.info,
});

// The secret must not sit in the table for a day inside a stored response (nor the URL that holds it).
const withoutSecret = (json: unknown) => ({
  id: (json as { id: unknown }).id,
  receiver: (json as { receiver: unknown }).receiver,
});

const createReceiver = writeRoute({
  method: "POST",
  path: "/v1/webhooks",
  operationId: "createReceiver",
  summary: "Create a webhook receiver for a registry (github, dockerhub, harbor, quay, gitlab, generic)",
  description:
    "The answer holds the receiver's URL and secret, once. `stack` (and `service`) bind it: its deliveries " +
    "reach only those. A replay of the request (same Idempotency-Key) answers without the secret.",
  access: "admin",
  body: { kind: "json", schema: ReceiverRecord.CreateInput },
  status: 201,
  answer: "The new receiver, with its secret",
  schema: CreatedReceiver,
  storedForReplay: withoutSecret,
  write: async ({ body, context }) => created(context, await Receiver.create(coreContext(context), body)),
});

const listReceivers = readRoute({
  path: "/v1/webhooks",
  operationId: "listReceivers",
  summary: "List webhook receivers (never their secrets)",
  access: "admin",
  answer: "Every receiver, oldest first",
  schema: ReceiverList,
  read: async ({ context }) => ({ receivers: await ReceiverRecord.list(context.dependencies.store) }),
});

const deleteReceiver = defineRoute({
  method: "DELETE",
  path: "/v1/webhooks/{id}",
  operationId: "deleteReceiver",
  summary: "Delete a webhook receiver: its URL stops working at once",
  description: "Its deliveries stay listed until they expire (30 days).",
  access: "admin",
  params: ReceiverParams,
  query: NoQuery,
  responses: { 204: { description: "Deleted" } },
  async handle({ params, context }) {
    await Receiver.remove(coreContext(context), params.id);
    return { status: 204 };
  },
});

const rotateReceiver = writeRoute({
  method: "POST",
  path: "/v1/webhooks/{id}/rotate",
  operationId: "rotateReceiver",
  summary: "Give a webhook receiver a new secret; the old one stops working at once",
  description: "For Docker Hub and Quay the URL changes too, as it holds the secret.",
  access: "admin",
  params: ReceiverParams,
  status: 200,
  answer: "The receiver, with its new secret",
  schema: CreatedReceiver,
  storedForReplay: withoutSecret,
  write: async ({ params, context }) =>
    created(context, await Receiver.rotate(coreContext(context), params.id)),
});

async function deliver(context: RouteContext, id: string, pathSecret?: string) {
  const answer = await Receiver.deliver(
    { ...coreContext(context), resolveDigest: context.dependencies.resolveDigest ?? (async () => undefined) },
    id,
    {
      headers: context.request.headers,
      body: context.request.body,
      ...(pathSecret !== undefined ? { pathSecret } : {}),
    },
  );
  const replay = answer.deliveries.every((received) => received.replay);
  return reply(replay ? 200 : 202, DeliveryAnswer, {
    deliveries: answer.deliveries.map((received) => received.delivery),
    replay,
  });
}

const DELIVERY_BODY = {
  kind: "delivery",
  description: "The provider's payload, exactly as it sent it (its signature covers these bytes)",
} as const;
const HookResponses = {
  200: { description: "A replay of deliveries handled before: nothing was done", schema: DeliveryAnswer },
  202: { description: "Received: what it did, per pushed tag", schema: DeliveryAnswer },
};
const HookId = z.strictObject({ id: z.string().min(1).max(100) });

const receive = defineRoute({
  method: "POST",
  path: "/v1/hooks/{id}",
  operationId: "receiveDelivery",
  summary: "A registry's delivery to a receiver (GitHub, Harbor, GitLab, generic)",
  description:
    "No bearer token: GitHub signs with X-Hub-Signature-256, a generic sender with X-Signature (both " +
    "`sha256=` and the HMAC-SHA256 of the body under the secret); Harbor and GitLab send the secret as " +
    "Authorization. Each pushed tag is resolved to a digest and deployed to the services that follow it.",
  access: "public",
  params: HookId,
  query: NoQuery,
  body: DELIVERY_BODY,
  responses: HookResponses,
  async handle({ params, context }) {
    return deliver(context, params.id);
  },
});

const receiveWithSecret = defineRoute({
  method: "POST",
  path: "/v1/hooks/{id}/{secret}",
  operationId: "receiveUnsignedDelivery",
  summary: "A registry's delivery to a receiver whose URL holds the secret (Docker Hub, Quay)",
  description:
    "These providers sign nothing: the URL's secret authenticates the delivery, and its digest is never " +
    "trusted: Berth reads the tag's digest from the registry itself, and refuses (recorded) what it cannot read.",
  access: "public",
  params: HookId.extend({ secret: z.string().min(1).max(200) }),
  query: NoQuery,
  body: DELIVERY_BODY,
  responses: HookResponses,
  async handle({ params, context }) {
    if (!params.secret) throw new ApiError("UNAUTHORIZED", "the URL names no secret");
    return deliver(context, params.id, params.secret);
  },
});

export const receiverRoutes = [
  createReceiver,
  listReceivers,
  deleteReceiver,
  rotateReceiver,
  receive,
  receiveWithSecret,
];

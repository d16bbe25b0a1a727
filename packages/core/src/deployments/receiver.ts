import { BerthError } from "../errors.ts";
import { ReceiverRecord } from "../store/index.ts";
import { type ImagePush, type PushContext, type Received, receive, record } from "./image-push.ts";
import { authenticate, type Delivery, parse } from "./webhook-payloads.ts";

/**
 * Webhook receivers: the door other registries (and anything that can sign a request) push
 * through. Each receiver has one provider, a secret, and optionally a stack (and service) it is
 * bound to; a delivery is authenticated the provider's way, then each pushed tag goes through
 * `ImagePush.receive` like an ECR push.
 */

/** Deliveries a receiver may make per window, counted across every API instance. */
const RATE_LIMIT: ReceiverRecord.RateLimit = { limit: 60, windowSeconds: 60 };

export interface Created {
  info: ReceiverRecord.Info;
  /** Shown once: only the receiver's own verification keeps it (or its hash). */
  secret: string;
  /** Where the provider sends deliveries, relative to the API's base URL. */
  path: string;
}

/** The receiver's path; for providers that sign nothing the secret is its last segment. */
export function pathOf(info: ReceiverRecord.Info, secret: string): string {
  return ReceiverRecord.SECRET_IN_URL_PROVIDERS.includes(info.provider)
    ? `/v1/hooks/${info.id}/${secret}`
    : `/v1/hooks/${info.id}`;
}

export async function create(
  context: Pick<PushContext, "store">,
  input: ReceiverRecord.CreateInput,
): Promise<Created> {
  const created = await ReceiverRecord.create(context.store, input);
  return { ...created, path: pathOf(created.info, created.secret) };
}

export async function rotate(context: Pick<PushContext, "store">, id: string): Promise<Created> {
  const rotated = await ReceiverRecord.rotate(context.store, id);
  return { ...rotated, path: pathOf(rotated.info, rotated.secret) };
}

export async function remove(context: Pick<PushContext, "store">, id: string): Promise<void> {
  if (!(await ReceiverRecord.remove(context.store, id))) {
    throw new BerthError("NOT_FOUND", `receiver ${id} does not exist`);
  }
}

export interface Answer {
  /** What each pushed tag did (one delivery record each), or what was recorded for a non-push. */
  deliveries: Received[];
}

/**
 * One delivery to a receiver: authenticated (UNAUTHORIZED, with nothing written, when it is
 * not), counted against the receiver's rate (TOO_MANY_REQUESTS with the seconds to wait, nothing
 * else written), then recorded and handled. A payload that is not the provider's is recorded as
 * refused and answered INVALID_INPUT.
 */
export async function deliver(context: PushContext, id: string, delivery: Delivery): Promise<Answer> {
  const receiver = await ReceiverRecord.getWithSecret(context.store, id);
  if (!receiver) throw new BerthError("NOT_FOUND", `receiver ${id} does not exist`);
  if (!authenticate(receiver.provider, receiver, delivery)) {
    throw new BerthError("UNAUTHORIZED", unauthenticatedReason(receiver.provider));
  }
  const wait = await ReceiverRecord.takeRateToken(context.store, receiver.id, RATE_LIMIT);
  if (wait !== undefined) {
    throw new BerthError(
      "TOO_MANY_REQUESTS",
      `receiver ${receiver.id} takes at most ${RATE_LIMIT.limit} deliveries in ${RATE_LIMIT.windowSeconds} s; send it again in ${wait} s`,
      [],
      { retryAfterSeconds: wait },
    );
  }
  const base = { source: receiver.id, provider: receiver.provider };
  const parsed = parse(receiver.provider, delivery);
  if (parsed.kind === "malformed") {
    await record(context, { ...base, event: parsed.event, outcome: "refused", reason: parsed.reason });
    throw new BerthError("INVALID_INPUT", parsed.reason);
  }
  if (parsed.kind === "other") {
    const recorded = await record(context, {
      ...base,
      event: parsed.event,
      ...(parsed.deliveryKey ? { deliveryKey: parsed.deliveryKey } : {}),
      outcome: "ignored",
      reason: parsed.reason,
    });
    return { deliveries: [recorded] };
  }
  const scope = {
    ...(receiver.stack ? { stack: receiver.stack } : {}),
    ...(receiver.service ? { service: receiver.service } : {}),
  };
  const deliveries: Received[] = [];
  for (const [index, pushed] of parsed.pushes.entries()) {
    const push: ImagePush = {
      ...base,
      event: parsed.event,
      ...pushed,
      ...(parsed.deliveryKey
        ? { deliveryKey: parsed.pushes.length > 1 ? `${parsed.deliveryKey}#${index}` : parsed.deliveryKey }
        : {}),
      trustDigest: parsed.trustDigest,
      ...(Object.keys(scope).length > 0 ? { scope } : {}),
    };
    deliveries.push(await receive(context, push));
  }
  return { deliveries };
}

function unauthenticatedReason(provider: ReceiverRecord.Provider): string {
  switch (provider) {
    case "github":
      return "X-Hub-Signature-256 is missing or is not the HMAC-SHA256 of the body under this receiver's secret";
    case "generic":
      return "X-Signature is missing or is not sha256= and the HMAC-SHA256 of the body under this receiver's secret";
    case "harbor":
    case "gitlab":
      return "the Authorization header is missing or is not this receiver's secret";
    case "dockerhub":
    case "quay":
      return "the URL's last segment is not this receiver's secret";
  }
}

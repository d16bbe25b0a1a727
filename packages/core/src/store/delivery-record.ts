import { PutCommand } from "@aws-sdk/lib-dynamodb";
import { z } from "zod";
import type { Item, Page, PageRequest } from "./dynamo.ts";
import { getItem, isConditionFailure, newestFirst, parseInput, parseStored, updateItem } from "./dynamo.ts";
import { newRecordId } from "./ids.ts";
import { RecordId, Timestamp } from "./names.ts";
import type { Store } from "./store.ts";

/**
 * What reached Berth from a registry: one item per delivery, keyed by where it came from (a
 * receiver's id, or `ecr` for pushes EventBridge delivers) and the delivery's own identity (the
 * provider's delivery id, else the pushed digest), so a replay finds the item it wrote before.
 *
 *   PK = DELIVERY#<source>#<key>, SK = DELIVERY
 *   GSI1PK = DELIVERIES#<source>, GSI1SK = DELIVERY#<id>   (newest first by id)
 *
 * Deliveries are kept 30 days (`expiresAt`, the table's TTL attribute on AWS; readers never act
 * on an expired one).
 */

export const KEEP_DAYS = 30;

export const Source = z.string().regex(/^(ecr|[0-9A-HJKMNP-TV-Z]{26})$/, "must be ecr or a receiver id");

const DeliveryKey = z
  .string()
  .min(1)
  .max(300)
  .regex(/^[\x21-\x7e]+$/, "must be printable ASCII without spaces");

export const ServiceOutcome = z.object({
  /** `stack/service`. */
  service: z.string().min(1).max(300),
  outcome: z.enum(["deployed", "awaiting-approval", "ignored"]),
  reason: z.string().max(1024),
  deploymentId: RecordId.optional(),
});
export type ServiceOutcome = z.infer<typeof ServiceOutcome>;

export const Outcome = z.enum(["received", "deployed", "awaiting-approval", "ignored", "refused"]);
export type Outcome = z.infer<typeof Outcome>;

export const Info = z.object({
  id: RecordId,
  source: Source,
  key: DeliveryKey,
  receivedAt: Timestamp,
  /** The provider, and its event as it named it (`ECR Image Action PUSH`, `registry_package published`). */
  provider: z.string().min(1).max(50),
  event: z.string().max(200),
  /** `registry/repository:tag`, when the delivery named one. */
  image: z.string().max(1024).optional(),
  digest: z.string().max(200).optional(),
  /** `received` until it was handled: a retry of a delivery still `received` is handled again. */
  outcome: Outcome,
  reason: z.string().max(1024),
  services: z.array(ServiceOutcome).default([]),
  /** Epoch seconds after which it no longer counts (`TTL_ATTRIBUTE`, removed by DynamoDB on AWS). */
  expiresAt: z.number().int(),
});
export type Info = z.infer<typeof Info>;

/** What a delivery says of itself; the rest is Berth's. */
const DELIVERED = {
  source: true,
  key: true,
  provider: true,
  event: true,
  image: true,
  digest: true,
} as const;

const NewDelivery = Info.pick(DELIVERED).extend({
  outcome: Outcome.default("received"),
  reason: z.string().max(1024).default(""),
});
export type NewDelivery = z.input<typeof NewDelivery>;

const key = (source: string, deliveryKey: string) => ({
  PK: `DELIVERY#${source}#${deliveryKey}`,
  SK: "DELIVERY",
});
const partition = (source: string) => `DELIVERIES#${source}`;

const fromItem = (item: Item): Info => parseStored(Info, item, "delivery");

const isExpired = (info: Info, now: Date) => info.expiresAt * 1000 <= now.getTime();

/**
 * Records a delivery, unless one with the same source and key exists and has not expired: then
 * it answers that one as `replayOf` and writes nothing. One conditional put decides.
 */
export async function claim(
  store: Store,
  input: NewDelivery,
): Promise<{ delivery: Info; replayOf?: undefined } | { replayOf: Info; delivery?: undefined }> {
  const delivery = parseInput(NewDelivery, input, "delivery");
  const now = store.clock();
  const info: Info = {
    ...delivery,
    id: newRecordId(now),
    receivedAt: now.toISOString(),
    services: [],
    expiresAt: Math.floor(now.getTime() / 1000) + KEEP_DAYS * 86_400,
  };
  try {
    await store.client.send(
      new PutCommand({
        TableName: store.tableName,
        Item: Object.fromEntries(
          Object.entries({
            ...key(info.source, info.key),
            GSI1PK: partition(info.source),
            GSI1SK: `DELIVERY#${info.id}`,
            ...info,
          }).filter(([, value]) => value !== undefined),
        ),
        ConditionExpression: "attribute_not_exists(PK) OR expiresAt <= :now",
        ExpressionAttributeValues: { ":now": Math.floor(now.getTime() / 1000) },
      }),
    );
    return { delivery: info };
  } catch (error) {
    if (!isConditionFailure(error)) throw error;
    const existing = await get(store, info.source, info.key);
    if (!existing || isExpired(existing, store.clock())) throw error;
    return { replayOf: existing };
  }
}

export async function get(store: Store, source: string, deliveryKey: string): Promise<Info | undefined> {
  const item = await getItem(store, key(source, deliveryKey));
  return item ? fromItem(item) : undefined;
}

/** Writes how a delivery was handled. */
export async function settle(
  store: Store,
  delivery: Pick<Info, "source" | "key">,
  result: { outcome: Outcome; reason: string; services?: ServiceOutcome[]; digest?: string },
): Promise<Info> {
  const item = await updateItem(
    store,
    key(delivery.source, delivery.key),
    {
      set: {
        outcome: result.outcome,
        reason: result.reason.slice(0, 1024),
        services: result.services ?? [],
        ...(result.digest ? { digest: result.digest } : {}),
      },
    },
    { expression: "attribute_exists(PK)" },
  );
  return fromItem(item);
}

/** A source's deliveries, newest first; expired ones are left out. */
export async function list(store: Store, source: string, request: PageRequest = {}): Promise<Page<Info>> {
  const checked = parseInput(Source, source, "delivery source");
  const page = await newestFirst(store, partition(checked), request);
  const now = store.clock();
  return { ...page, items: page.items.map(fromItem).filter((info) => !isExpired(info, now)) };
}

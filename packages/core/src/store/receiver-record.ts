import { createHash, randomBytes } from "node:crypto";
import { PutCommand } from "@aws-sdk/lib-dynamodb";
import { z } from "zod";
import { BerthError } from "../errors.ts";
import type { Item } from "./dynamo.ts";
import {
  deleteItemIf,
  getItem,
  isConditionFailure,
  parseInput,
  parseStored,
  queryAll,
  updateItem,
} from "./dynamo.ts";
import { newRecordId } from "./ids.ts";
import { RecordId, ServiceName, StackName, Timestamp } from "./names.ts";
import { LISTING_INDEX, type Store, TTL_ATTRIBUTE } from "./store.ts";

/**
 * Webhook receivers: one item each, and one rate-limit item per receiver and minute.
 *
 *   PK = RECEIVER#<id>, SK = RECEIVER              GSI1PK = RECEIVERS, GSI1SK = RECEIVER#<id>
 *   PK = RECEIVER#<id>, SK = RATE#<epoch minute>   (expiresAt: the table's TTL attribute)
 *
 * How the secret is kept depends on how the provider proves it knows it. GitHub and generic
 * receivers check an HMAC of the body, which needs the secret itself: it is stored as it is
 * (the table is encrypted at rest; only the API reads it). Harbor, GitLab, Docker Hub and Quay
 * present the secret itself (a header, or the URL's last segment): only its SHA-256 is stored.
 */
export const Provider = z.enum(["github", "dockerhub", "harbor", "quay", "gitlab", "generic"]);
export type Provider = z.infer<typeof Provider>;

/** Providers that sign the body with the secret (HMAC-SHA256). */
const SIGNING_PROVIDERS: readonly Provider[] = ["github", "generic"];
/** Providers that sign nothing: the secret is the last segment of the receiver's URL. */
export const SECRET_IN_URL_PROVIDERS: readonly Provider[] = ["dockerhub", "quay"];

export const Info = z.object({
  id: RecordId,
  provider: Provider,
  stack: StackName.optional(),
  service: ServiceName.optional(),
  createdAt: Timestamp,
  rotatedAt: Timestamp.optional(),
});
export type Info = z.infer<typeof Info>;

const Stored = Info.extend({
  /** The secret itself (signing providers), or its SHA-256 in hex (the others). */
  secret: z.string().min(1).optional(),
  secretHash: z
    .string()
    .regex(/^[0-9a-f]{64}$/)
    .optional(),
});
export type Stored = z.infer<typeof Stored>;

export const CreateInput = z
  .strictObject({
    provider: Provider,
    stack: StackName.optional(),
    service: ServiceName.optional(),
  })
  .refine((input) => input.service === undefined || input.stack !== undefined, {
    message: "a receiver bound to a service names its stack too",
    path: ["stack"],
  });
export type CreateInput = z.input<typeof CreateInput>;

/** 32 random bytes, base64url: long enough to be the only credential of a URL. */
const SECRET_BYTES = 32;
const SECRET_PREFIX = "whsec_";

export const hashSecret = (secret: string) => createHash("sha256").update(secret, "utf8").digest("hex");

const key = (id: string) => ({ PK: `RECEIVER#${id}`, SK: "RECEIVER" });
const LISTING = "RECEIVERS";

const fromItem = (item: Item): Stored => parseStored(Stored, item, "receiver");
const toInfo = (stored: Stored): Info => Info.parse(stored);

function secretFields(provider: Provider, secret: string): Pick<Stored, "secret" | "secretHash"> {
  return SIGNING_PROVIDERS.includes(provider) ? { secret } : { secretHash: hashSecret(secret) };
}

const newSecret = () => SECRET_PREFIX + randomBytes(SECRET_BYTES).toString("base64url");

/** Creates a receiver; the secret exists only in the return value (and, for signing providers, the item). */
export async function create(store: Store, input: CreateInput): Promise<{ info: Info; secret: string }> {
  const checked = parseInput(CreateInput, input, "receiver");
  const now = store.clock();
  const secret = newSecret();
  const info: Info = {
    id: newRecordId(now),
    provider: checked.provider,
    ...(checked.stack ? { stack: checked.stack } : {}),
    ...(checked.service ? { service: checked.service } : {}),
    createdAt: now.toISOString(),
  };
  await store.client.send(
    new PutCommand({
      TableName: store.tableName,
      Item: {
        ...key(info.id),
        GSI1PK: LISTING,
        GSI1SK: `RECEIVER#${info.id}`,
        ...info,
        ...secretFields(info.provider, secret),
      },
      ConditionExpression: "attribute_not_exists(PK)",
    }),
  );
  return { info, secret };
}

/** The receiver with what verifies its deliveries; only the receiving verb reads this. */
export async function getWithSecret(store: Store, id: string): Promise<Stored | undefined> {
  if (!RecordId.safeParse(id).success) return undefined;
  const item = await getItem(store, key(id));
  return item ? fromItem(item) : undefined;
}

export async function get(store: Store, id: string): Promise<Info | undefined> {
  const stored = await getWithSecret(store, id);
  return stored ? toInfo(stored) : undefined;
}

/** Every receiver, oldest first, without secrets. */
export async function list(store: Store): Promise<Info[]> {
  const items = await queryAll(store, {
    IndexName: LISTING_INDEX,
    KeyConditionExpression: "GSI1PK = :partition",
    ExpressionAttributeValues: { ":partition": LISTING },
  });
  // The index is eventually consistent and holds keys only as projected: read each item.
  const receivers: Info[] = [];
  for (const listed of items) {
    const item = await getItem(store, { PK: listed.PK, SK: listed.SK });
    if (item) receivers.push(toInfo(fromItem(item)));
  }
  return receivers;
}

/** Deletes a receiver: its URL stops working at once. False when it did not exist. */
export async function remove(store: Store, id: string): Promise<boolean> {
  const checked = parseInput(RecordId, id, "receiver id");
  return deleteItemIf(store, key(checked), { expression: "attribute_exists(PK)" });
}

/** A new secret; the old one stops working at once. */
export async function rotate(store: Store, id: string): Promise<{ info: Info; secret: string }> {
  const checked = parseInput(RecordId, id, "receiver id");
  const current = await getWithSecret(store, checked);
  if (!current) throw new BerthError("NOT_FOUND", `receiver ${checked} does not exist`);
  const secret = newSecret();
  try {
    const item = await updateItem(
      store,
      key(checked),
      {
        set: { ...secretFields(current.provider, secret), rotatedAt: store.clock().toISOString() },
        remove: SIGNING_PROVIDERS.includes(current.provider) ? ["secretHash"] : ["secret"],
      },
      { expression: "attribute_exists(PK)" },
    );
    return { info: toInfo(fromItem(item)), secret };
  } catch (error) {
    if (isConditionFailure(error))
      throw new BerthError("NOT_FOUND", `receiver ${checked} does not exist`, [], { cause: error });
    throw error;
  }
}

export interface RateLimit {
  /** Deliveries a receiver may make in one window. */
  limit: number;
  windowSeconds: number;
}

/**
 * Counts one delivery against the receiver's current window, unless the window is full: one
 * conditional update of the window's own item, so every API instance shares the count. Answers
 * the seconds until the window ends when it is full, else undefined. A window's item carries the
 * TTL attribute; it is never read after its window, so an item DynamoDB has not removed yet
 * changes nothing.
 */
export async function takeRateToken(store: Store, id: string, rate: RateLimit): Promise<number | undefined> {
  const nowSeconds = Math.floor(store.clock().getTime() / 1000);
  const windowStart = nowSeconds - (nowSeconds % rate.windowSeconds);
  const windowEnd = windowStart + rate.windowSeconds;
  try {
    await updateItem(
      store,
      { PK: key(id).PK, SK: `RATE#${windowStart}` },
      { add: { count: 1 }, set: { [TTL_ATTRIBUTE]: windowEnd + rate.windowSeconds } },
      {
        expression: "attribute_not_exists(#c_count) OR #c_count < :c_limit",
        names: { "#c_count": "count" },
        values: { ":c_limit": rate.limit },
      },
    );
    return undefined;
  } catch (error) {
    if (isConditionFailure(error)) return Math.max(1, windowEnd - nowSeconds);
    throw error;
  }
}

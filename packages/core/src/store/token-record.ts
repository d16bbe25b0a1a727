import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { DeleteCommand, PutCommand, QueryCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { z } from "zod";
import { BerthError } from "../errors.ts";
import { getItem, type Item, isConditionFailure, parseInput, parseStored, queryAll } from "./dynamo.ts";
import { newRecordId } from "./ids.ts";
import { listing, tokenHashEntry, tokenKey } from "./keys.ts";
import { RecordId, Sha256Hex, Timestamp } from "./names.ts";
import { LISTING_INDEX, type Store, TOKEN_HASH_INDEX } from "./store.ts";

/** Each scope includes the ones before it: `deploy` can read, `admin` can do everything. */
export const Scope = z.enum(["read", "deploy", "admin"]);
export type Scope = z.infer<typeof Scope>;

/** Recognisable in logs and by secret scanners; the rest is 32 random bytes in base64url. */
const TOKEN_PREFIX = "berth_";
const SECRET_BYTES = 32;
const TOKEN_PATTERN = /^berth_[A-Za-z0-9_-]{43}$/;

/** Writing the last use on every request would double the cost of a read; a minute is precise enough. */
export const LAST_USED_RESOLUTION_MS = 60_000;

export const Id = RecordId;

/** What may be shown about a token; the hash of its secret stays in the store. */
export const Info = z.object({
  id: RecordId,
  name: z.string().min(1).max(100),
  scopes: z.array(Scope).min(1),
  createdAt: Timestamp,
  lastUsedAt: Timestamp.optional(),
});
export type Info = z.infer<typeof Info>;

const Stored = Info.extend({ secretHash: Sha256Hex });

const toInfo = (item: Item): Info => Info.parse(parseStored(Stored, item, "token"));

export const CreateInput = z.object({
  name: z.string().min(1).max(100),
  scopes: z
    .array(Scope)
    .min(1)
    .transform((scopes) => [...new Set(scopes)]),
});
export type CreateInput = z.input<typeof CreateInput>;

export interface CreatedToken {
  /** The bearer token. It exists only in this return value: show it once, never store it. */
  token: string;
  info: Info;
}

/** The SHA-256 of a bearer token, hex: what the store keeps, and what a cache of verified tokens may key on. */
export function hashSecret(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex");
}

export async function create(store: Store, input: CreateInput): Promise<CreatedToken> {
  return put(store, input, TOKEN_PREFIX + randomBytes(SECRET_BYTES).toString("base64url"));
}

/**
 * Registers a token whose secret the operator chose (Berth Local's `BERTH_ADMIN_TOKEN`), or
 * returns the existing record when that secret is already registered.
 */
export async function adopt(store: Store, input: CreateInput, token: string): Promise<Info> {
  if (!TOKEN_PATTERN.test(token)) {
    throw new BerthError(
      "INVALID_INPUT",
      "a token is berth_ followed by 43 base64url characters (32 random bytes); generate one with: node -e \"console.log('berth_' + require('crypto').randomBytes(32).toString('base64url'))\"",
    );
  }
  const existing = await verify(store, token);
  return existing ?? (await put(store, input, token)).info;
}

async function put(store: Store, input: CreateInput, token: string): Promise<CreatedToken> {
  const { name, scopes } = parseInput(CreateInput, input, "token");
  const now = store.clock();
  const secretHash = hashSecret(token);
  const info: Info = { id: newRecordId(now), name, scopes, createdAt: now.toISOString() };
  await store.client.send(
    new PutCommand({
      TableName: store.tableName,
      Item: {
        ...tokenKey(info.id),
        ...listing.token(info.id),
        ...tokenHashEntry(secretHash),
        ...info,
        secretHash,
      },
      ConditionExpression: "attribute_not_exists(PK)",
    }),
  );
  return { token, info };
}

/**
 * The token a bearer credential belongs to, or undefined. The hash index finds the candidate;
 * the item itself is then read consistently, so a revoked token stops working at once, and its
 * hash is compared in constant time.
 */
export async function verify(store: Store, token: string): Promise<Info | undefined> {
  if (!TOKEN_PATTERN.test(token)) return undefined;
  const presentedHash = Buffer.from(hashSecret(token), "hex");
  const candidates = await store.client.send(
    new QueryCommand({
      TableName: store.tableName,
      IndexName: TOKEN_HASH_INDEX,
      KeyConditionExpression: "GSI2PK = :hash",
      ExpressionAttributeValues: { ":hash": tokenHashEntry(presentedHash.toString("hex")).GSI2PK },
      Limit: 1,
    }),
  );
  const candidate = candidates.Items?.[0];
  if (!candidate) return undefined;
  const item = await getItem(store, { PK: candidate.PK, SK: candidate.SK });
  if (!item) return undefined;
  const stored = parseStored(Stored, item, "token");
  if (!timingSafeEqual(Buffer.from(stored.secretHash, "hex"), presentedHash)) return undefined;
  const info = Info.parse(stored);
  return (await touch(store, info)) ?? info;
}

async function touch(store: Store, info: Info): Promise<Info | undefined> {
  const now = store.clock();
  if (info.lastUsedAt && now.getTime() - Date.parse(info.lastUsedAt) < LAST_USED_RESOLUTION_MS)
    return undefined;
  try {
    await store.client.send(
      new UpdateCommand({
        TableName: store.tableName,
        Key: tokenKey(info.id),
        UpdateExpression: "SET #lastUsedAt = :now",
        ConditionExpression: "attribute_exists(PK)",
        ExpressionAttributeNames: { "#lastUsedAt": "lastUsedAt" },
        ExpressionAttributeValues: { ":now": now.toISOString() },
      }),
    );
  } catch (error) {
    // Revoked between the read and this write: the request was already authorised by the read.
    if (isConditionFailure(error)) return undefined;
    throw error;
  }
  return { ...info, lastUsedAt: now.toISOString() };
}

export function allows(info: Info, required: Scope): boolean {
  const rank = Scope.options.indexOf(required);
  return info.scopes.some((scope) => Scope.options.indexOf(scope) >= rank);
}

export async function get(store: Store, id: string): Promise<Info | undefined> {
  const item = await getItem(store, tokenKey(parseInput(RecordId, id, "token id")));
  return item ? toInfo(item) : undefined;
}

/** All tokens, oldest first. */
export async function list(store: Store): Promise<Info[]> {
  const items = await queryAll(store, {
    IndexName: LISTING_INDEX,
    KeyConditionExpression: "GSI1PK = :tokens",
    ExpressionAttributeValues: { ":tokens": listing.tokens },
  });
  return items.map(toInfo);
}

/** Deletes the token; false if there was none. */
export async function revoke(store: Store, id: string): Promise<boolean> {
  const result = await store.client.send(
    new DeleteCommand({
      TableName: store.tableName,
      Key: tokenKey(parseInput(RecordId, id, "token id")),
      ReturnValues: "ALL_OLD",
    }),
  );
  return result.Attributes !== undefined;
}

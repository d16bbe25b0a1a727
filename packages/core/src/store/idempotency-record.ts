import { createHash } from "node:crypto";
import { PutCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { z } from "zod";
import { BerthError } from "../errors.ts";
import { deleteItemIf, getItem, isConditionFailure, parseInput, parseStored } from "./dynamo.ts";
import { idempotencyKey } from "./keys.ts";
import { Timestamp } from "./names.ts";
import { type Store, TTL_ATTRIBUTE } from "./store.ts";

/** How long a completed response is replayed. */
export const RESPONSE_TTL_SECONDS = 24 * 60 * 60;
/**
 * How long a claim blocks the same key while its request runs. A handler that dies mid-request
 * leaves its claim behind; after the lease a retry may claim the key again.
 */
export const CLAIM_LEASE_SECONDS = 5 * 60;

/** Keys are scoped (to the token that sent them), so one client can never replay another's response. */
export const Scope = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, "must be letters, digits, '_' or '-'");
/** The client's `Idempotency-Key`: printable ASCII without spaces. */
export const Key = z.string().regex(/^[\x21-\x7e]{1,255}$/, "must be 1 to 255 printable ASCII characters");
const RequestHash = z.string().regex(/^[0-9a-f]{64}$/, "must be a lowercase hex SHA-256 digest");

export const Response = z.object({
  status: z.number().int().min(100).max(599),
  body: z.string(),
});
export type Response = z.infer<typeof Response>;

export const Info = z.object({
  scope: Scope,
  key: Key,
  requestHash: RequestHash,
  state: z.enum(["IN_PROGRESS", "COMPLETED"]),
  /** The first response, replayed to every retry; present once COMPLETED. */
  response: Response.optional(),
  createdAt: Timestamp,
  /** Epoch seconds; past it the record counts as absent, whether or not DynamoDB has deleted it yet. */
  [TTL_ATTRIBUTE]: z.number().int(),
});
export type Info = z.infer<typeof Info>;

const Target = z.object({ scope: Scope, key: Key, requestHash: RequestHash });
export type Target = z.input<typeof Target>;

/** What identifies "the same request": method, path and body, unambiguously joined. */
export function hashRequest(request: { method: string; path: string; body: string }): string {
  return createHash("sha256")
    .update(JSON.stringify([request.method.toUpperCase(), request.path, request.body]), "utf8")
    .digest("hex");
}

const epochSeconds = (date: Date) => Math.floor(date.getTime() / 1000);

export async function get(store: Store, scope: string, key: string): Promise<Info | undefined> {
  const item = await getItem(
    store,
    idempotencyKey(parseInput(Scope, scope, "idempotency scope"), parseInput(Key, key, "idempotency key")),
  );
  if (!item) return undefined;
  const record = parseStored(Info, item, "idempotency record");
  return record.expiresAt <= epochSeconds(store.clock()) ? undefined : record;
}

export type ClaimOutcome =
  /** Nobody ran this request yet: run it, then `complete` (or `release` if it failed). */
  | { outcome: "claimed" }
  /** It ran before: send this response again. */
  | { outcome: "replay"; response: Response }
  /** The key was used for a different request. */
  | { outcome: "mismatch" }
  /** The same request is running right now. */
  | { outcome: "in-progress" };

/** Bounded: a record only vanishes between our write and our read when it expires meanwhile. */
const CLAIM_ATTEMPTS = 3;

export async function claim(
  store: Store,
  target: Target,
  leaseSeconds = CLAIM_LEASE_SECONDS,
): Promise<ClaimOutcome> {
  const { scope, key, requestHash } = parseInput(Target, target, "idempotency claim");
  for (let attempt = 0; attempt < CLAIM_ATTEMPTS; attempt++) {
    const now = store.clock();
    const record: Info = {
      scope,
      key,
      requestHash,
      state: "IN_PROGRESS",
      createdAt: now.toISOString(),
      expiresAt: epochSeconds(now) + leaseSeconds,
    };
    try {
      await store.client.send(
        new PutCommand({
          TableName: store.tableName,
          Item: { ...idempotencyKey(scope, key), ...record },
          // DynamoDB deletes expired items only eventually (dynalite never), so an expired one is overwritten.
          ConditionExpression: "attribute_not_exists(PK) OR #expiresAt <= :now",
          ExpressionAttributeNames: { "#expiresAt": TTL_ATTRIBUTE },
          ExpressionAttributeValues: { ":now": epochSeconds(now) },
        }),
      );
      return { outcome: "claimed" };
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    }
    const existing = await get(store, scope, key);
    if (!existing) continue;
    if (existing.requestHash !== requestHash) return { outcome: "mismatch" };
    if (existing.state === "COMPLETED" && existing.response)
      return { outcome: "replay", response: existing.response };
    return { outcome: "in-progress" };
  }
  throw new BerthError("CONFLICT", `idempotency key ${key} is changing too quickly; retry the request`);
}

/** Stores the response of a claimed request, to be replayed for 24 hours. */
export async function complete(store: Store, target: Target, response: Response): Promise<Info> {
  const { scope, key, requestHash } = parseInput(Target, target, "idempotency record");
  const checkedResponse = parseInput(Response, response, "idempotent response");
  const expiresAt = epochSeconds(store.clock()) + RESPONSE_TTL_SECONDS;
  try {
    const result = await store.client.send(
      new UpdateCommand({
        TableName: store.tableName,
        Key: idempotencyKey(scope, key),
        UpdateExpression: "SET #state = :completed, #response = :response, #expiresAt = :expiresAt",
        ConditionExpression: "#state = :inProgress AND #requestHash = :requestHash",
        ExpressionAttributeNames: {
          "#state": "state",
          "#response": "response",
          "#expiresAt": TTL_ATTRIBUTE,
          "#requestHash": "requestHash",
        },
        ExpressionAttributeValues: {
          ":completed": "COMPLETED",
          ":inProgress": "IN_PROGRESS",
          ":response": checkedResponse,
          ":expiresAt": expiresAt,
          ":requestHash": requestHash,
        },
        ReturnValues: "ALL_NEW",
      }),
    );
    return parseStored(Info, result.Attributes ?? {}, "idempotency record");
  } catch (error) {
    if (isConditionFailure(error)) {
      throw new BerthError("CONFLICT", `idempotency key ${key} is not claimed by this request`, [], {
        cause: error,
      });
    }
    throw error;
  }
}

/** Gives up a claim whose request failed, so that a retry runs it again; false if it was not held. */
export async function release(store: Store, target: Target): Promise<boolean> {
  const { scope, key, requestHash } = parseInput(Target, target, "idempotency record");
  return deleteItemIf(store, idempotencyKey(scope, key), {
    expression: "#state = :inProgress AND #requestHash = :requestHash",
    names: { "#state": "state", "#requestHash": "requestHash" },
    values: { ":inProgress": "IN_PROGRESS", ":requestHash": requestHash },
  });
}

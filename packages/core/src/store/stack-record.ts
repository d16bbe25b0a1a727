import { createHash } from "node:crypto";
import { DeleteCommand } from "@aws-sdk/lib-dynamodb";
import { z } from "zod";
import { BerthError } from "../errors.ts";
import type { Condition, Item } from "./dynamo.ts";
import { getItem, isConditionFailure, parseInput, parseStored, queryAll, updateItem } from "./dynamo.ts";
import { listing, SERVICE_SORT_PREFIX, STACK_SORT_KEY, servicePartition, stackKey } from "./keys.ts";
import { Sha256Hex, StackName, Timestamp } from "./names.ts";
import * as ServiceRecord from "./service-record.ts";
import { LISTING_INDEX, type Store } from "./store.ts";

export const Name = StackName;

export const Info = z.object({
  name: StackName,
  stage: z.string().min(1).max(64),
  /** The stack file exactly as it was applied (YAML or JSON text). */
  stackFile: z.string(),
  stackFileHash: Sha256Hex,
  createdAt: Timestamp,
  updatedAt: Timestamp,
});
export type Info = z.infer<typeof Info>;

export const PutInput = z.object({
  name: StackName,
  stage: z.string().min(1).max(64),
  stackFile: z.string(),
  /**
   * Optimistic check on what the caller planned against: the hash it read, or null for "the stack
   * must not exist yet". Omitted: write unconditionally.
   */
  expectedHash: Sha256Hex.nullable().optional(),
});
export type PutInput = z.input<typeof PutInput>;

export function hashStackFile(stackFile: string): string {
  return createHash("sha256").update(stackFile, "utf8").digest("hex");
}

/** Stores the applied stack file; keeps the creation time of an existing stack. */
export async function put(store: Store, input: PutInput): Promise<Info> {
  const { name, stage, stackFile, expectedHash } = parseInput(PutInput, input, "stack");
  const now = store.clock().toISOString();
  const update = {
    set: {
      ...listing.stack(name),
      name,
      stage,
      stackFile,
      stackFileHash: hashStackFile(stackFile),
      updatedAt: now,
    },
    setIfAbsent: { createdAt: now },
  };
  // undefined: write whatever is there; null: only if there is no stack yet; a hash: only if
  // the stored stack file is still the one read.
  const condition: Condition | undefined =
    expectedHash === undefined
      ? undefined
      : expectedHash === null
        ? { expression: "attribute_not_exists(PK)" }
        : {
            expression: "#c_hash = :c_hash",
            names: { "#c_hash": "stackFileHash" },
            values: { ":c_hash": expectedHash },
          };
  try {
    return parseStored(Info, await updateItem(store, stackKey(name), update, condition), "stack");
  } catch (error) {
    if (isConditionFailure(error)) {
      throw new BerthError("CONFLICT", `stack ${name} changed since it was read; plan again`, [], {
        cause: error,
      });
    }
    throw error;
  }
}

export async function get(store: Store, name: string): Promise<Info | undefined> {
  const stack = parseInput(StackName, name, "stack name");
  const item = await getItem(store, stackKey(stack));
  return item ? parseStored(Info, item, "stack") : undefined;
}

/** A stack item and its services' items, as one consistent Query of their shared partition reads them. */
export interface WithServices {
  stack: Info | undefined;
  /** By name. */
  services: ServiceRecord.Info[];
}

/**
 * The stack and its services in one read: they share a partition (`STACK#<name>`), so one
 * consistent Query returns both, where a GetItem and a Query would take two round trips.
 */
export async function getWithServices(store: Store, name: string): Promise<WithServices> {
  const stack = parseInput(StackName, name, "stack name");
  const items = await queryAll(store, {
    KeyConditionExpression: "PK = :partition",
    ExpressionAttributeValues: { ":partition": servicePartition(stack) },
    ConsistentRead: true,
  });
  const stored = items.find((item) => item.SK === STACK_SORT_KEY);
  return {
    stack: stored ? parseStored(Info, stored, "stack") : undefined,
    services: items
      .filter((item) => typeof item.SK === "string" && item.SK.startsWith(SERVICE_SORT_PREFIX))
      .map(ServiceRecord.fromItem),
  };
}

/** All stacks, by name. */
export async function list(store: Store): Promise<Info[]> {
  const items = await queryAll(store, {
    IndexName: LISTING_INDEX,
    KeyConditionExpression: "GSI1PK = :stacks",
    ExpressionAttributeValues: { ":stacks": listing.stacks },
  });
  return items.map((item: Item) => parseStored(Info, item, "stack"));
}

/** Deletes the stack item only; its services are separate items that the caller removes. */
export async function remove(store: Store, name: string): Promise<boolean> {
  const stack = parseInput(StackName, name, "stack name");
  const result = await store.client.send(
    new DeleteCommand({ TableName: store.tableName, Key: stackKey(stack), ReturnValues: "ALL_OLD" }),
  );
  return result.Attributes !== undefined;
}

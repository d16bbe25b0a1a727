import { PutCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { z } from "zod";
import { BerthError } from "../errors.ts";
import type { Item, Page, PageRequest } from "./dynamo.ts";
import { isConditionFailure, parseInput, parseStored, queryAll, queryPage } from "./dynamo.ts";
import { deploymentEventKey, deploymentKey, deploymentPartition, EVENT_SORT_PREFIX } from "./keys.ts";
import { RecordId, Timestamp } from "./names.ts";
import type { Store } from "./store.ts";

const Data = z.record(z.string(), z.unknown());

export const Info = z.object({
  deploymentId: RecordId,
  /** 1, 2, 3…: allocated by an atomic counter on the deployment, so concurrent writers never collide. */
  sequence: z.number().int().positive(),
  at: Timestamp,
  /** What happened, as a short kebab-case word: `requested`, `status`, `queued`, `cancel-requested`… */
  type: z
    .string()
    .max(64)
    .regex(/^[a-z][a-z0-9-]*$/, "must be a kebab-case word"),
  message: z.string().max(16_384),
  data: Data.optional(),
});
export type Info = z.infer<typeof Info>;

export const NewEvent = Info.pick({ type: true, message: true, data: true });
export type NewEvent = z.input<typeof NewEvent>;

// Data is kept as JSON text so that any JSON the caller passes round-trips exactly.
const Stored = Info.omit({ data: true }).extend({ dataJson: z.string().optional() });

function fromItem(item: Item): Info {
  const { dataJson, ...rest } = parseStored(Stored, item, "deployment event");
  return dataJson === undefined
    ? rest
    : { ...rest, data: parseStored(Data, JSON.parse(dataJson), "event data") };
}

/**
 * Writes an event at a sequence number already taken from the deployment's counter (the status
 * writes take it in the same update as the status). Use `append` otherwise.
 */
export async function writeAt(
  store: Store,
  deploymentId: string,
  sequence: number,
  event: NewEvent,
): Promise<Info> {
  const { info, item } = eventItem(deploymentId, sequence, event, store.clock().toISOString());
  await store.client.send(
    new PutCommand({
      TableName: store.tableName,
      Item: item,
      ConditionExpression: "attribute_not_exists(PK)",
    }),
  );
  return info;
}

/** An event as it is stored, for a writer that puts it along with other new items (`writeAt` otherwise). */
export function eventItem(
  deploymentId: string,
  sequence: number,
  event: NewEvent,
  at: string,
): { info: Info; item: Item } {
  const { type, message, data } = parseInput(NewEvent, event, "deployment event");
  const info: Info = { deploymentId, sequence, at, type, message };
  if (data !== undefined) info.data = data;
  const item = {
    ...deploymentEventKey(deploymentId, sequence),
    deploymentId,
    sequence,
    at,
    type,
    message,
    ...(data === undefined ? {} : { dataJson: JSON.stringify(data) }),
  };
  return { info, item };
}

/** Appends an event to an existing deployment. */
export async function append(store: Store, deploymentId: string, event: NewEvent): Promise<Info> {
  const id = parseInput(RecordId, deploymentId, "deployment id");
  const checked = parseInput(NewEvent, event, "deployment event");
  let sequence: number;
  try {
    const result = await store.client.send(
      new UpdateCommand({
        TableName: store.tableName,
        Key: deploymentKey(id),
        UpdateExpression: "ADD #count :one",
        ConditionExpression: "attribute_exists(PK)",
        ExpressionAttributeNames: { "#count": "eventCount" },
        ExpressionAttributeValues: { ":one": 1 },
        ReturnValues: "UPDATED_NEW",
      }),
    );
    sequence = z.number().int().positive().parse(result.Attributes?.eventCount);
  } catch (error) {
    if (isConditionFailure(error)) {
      throw new BerthError("NOT_FOUND", `deployment ${id} does not exist`, [], { cause: error });
    }
    throw error;
  }
  return writeAt(store, id, sequence, checked);
}

const eventsOf = (deploymentId: string) => ({
  KeyConditionExpression: "PK = :partition AND begins_with(SK, :events)",
  ExpressionAttributeValues: {
    ":partition": deploymentPartition(deploymentId),
    ":events": EVENT_SORT_PREFIX,
  },
  ConsistentRead: true,
});

/** A deployment's events in order, one page at a time. */
export async function list(
  store: Store,
  deploymentId: string,
  request: PageRequest = {},
): Promise<Page<Info>> {
  const id = parseInput(RecordId, deploymentId, "deployment id");
  const page = await queryPage(
    store,
    {
      input: eventsOf(id),
      partitionAttribute: "PK",
      partition: deploymentPartition(id),
      keyAttributes: ["PK", "SK"],
    },
    request,
  );
  return { ...page, items: page.items.map(fromItem) };
}

/** Every event of a deployment, in order. */
export async function all(store: Store, deploymentId: string): Promise<Info[]> {
  const id = parseInput(RecordId, deploymentId, "deployment id");
  const items = await queryAll(store, eventsOf(id));
  return items.map(fromItem);
}

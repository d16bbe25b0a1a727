import {
  BatchWriteCommand,
  DeleteCommand,
  GetCommand,
  type NativeAttributeValue,
  QueryCommand,
  type QueryCommandInput,
  UpdateCommand,
} from "@aws-sdk/lib-dynamodb";
import { z } from "zod";
import { BerthError } from "../errors.ts";
import { backOff, busy } from "../retry.ts";
import { LISTING_INDEX, type Store } from "./store.ts";

export type Item = Record<string, NativeAttributeValue>;

export interface Page<Entry> {
  items: Entry[];
  /** Pass back as `cursor` for the next page; absent on the last page. */
  nextCursor?: string;
}

export interface PageRequest {
  limit?: number;
  cursor?: string;
}

const DEFAULT_PAGE_LIMIT = 20;
const MAX_PAGE_LIMIT = 100;

// The records' modules reach every DynamoDB helper through this one.
import { isConditionFailure } from "../aws/dynamodb.ts";

export { isConditionFailure };

/** Validates caller input; a failure is the caller's mistake, so it carries the offending paths. */
export function parseInput<Schema extends z.ZodType>(schema: Schema, value: unknown, what: string) {
  const result = schema.safeParse(value);
  if (result.success) return result.data as z.output<Schema>;
  const details = result.error.issues.map((issue) => ({
    path: issue.path.map(String).join("."),
    message: issue.message,
  }));
  const summary = details.map((detail) =>
    detail.path ? `${detail.path}: ${detail.message}` : detail.message,
  );
  throw new BerthError("INVALID_INPUT", `invalid ${what}: ${summary.join("; ")}`, details);
}

/** Validates what the table returned; a failure means the data is damaged, which is a bug, not input. */
export function parseStored<Schema extends z.ZodType>(schema: Schema, item: Item, what: string) {
  const result = schema.safeParse(item);
  if (result.success) return result.data as z.output<Schema>;
  throw new Error(`stored ${what} does not match its schema: ${z.prettifyError(result.error)}`);
}

/** Callers' document clients may not strip undefined values, and DynamoDB rejects them. */
function definedOnly(item: Item): Item {
  return Object.fromEntries(Object.entries(item).filter(([, value]) => value !== undefined));
}

export interface UpdateParts {
  set?: Item;
  remove?: readonly string[];
  /** Numeric increments, applied atomically by DynamoDB. */
  add?: Record<string, number>;
  /** Written only when the attribute is absent (first start, creation time). */
  setIfAbsent?: Item;
}

export interface Expression {
  expression: string;
  names: Record<string, string>;
  values: Item;
}

/** Builds an UpdateExpression with every attribute name aliased, so reserved words never matter. */
function updateExpression(parts: UpdateParts): Expression {
  const names: Record<string, string> = {};
  const values: Item = {};
  const clauses: string[] = [];
  const alias = (attribute: string) => {
    const name = `#u_${attribute}`;
    names[name] = attribute;
    return name;
  };
  const assignments = Object.entries(parts.set ?? {})
    .filter(([, value]) => value !== undefined)
    .map(([attribute, value]) => {
      values[`:u_${attribute}`] = value;
      return `${alias(attribute)} = :u_${attribute}`;
    });
  for (const [attribute, value] of Object.entries(parts.setIfAbsent ?? {})) {
    if (value === undefined) continue;
    values[`:u_${attribute}`] = value;
    const name = alias(attribute);
    assignments.push(`${name} = if_not_exists(${name}, :u_${attribute})`);
  }
  if (assignments.length > 0) clauses.push(`SET ${assignments.join(", ")}`);
  const increments = Object.entries(parts.add ?? {}).map(([attribute, amount]) => {
    values[`:u_${attribute}`] = amount;
    return `${alias(attribute)} :u_${attribute}`;
  });
  if (increments.length > 0) clauses.push(`ADD ${increments.join(", ")}`);
  if (parts.remove && parts.remove.length > 0) clauses.push(`REMOVE ${parts.remove.map(alias).join(", ")}`);
  return { expression: clauses.join(" "), names, values };
}

/** A condition on a write, with the names and values it uses (`#c_…` and `:c_…` beside an update's). */
export interface Condition {
  expression: string;
  names?: Record<string, string>;
  /** Undefined values are dropped, so a condition can leave out what it does not use. */
  values?: Item;
}

/** One item by its key, read consistently: every record's `get` follows its own writes. */
export async function getItem(store: Store, key: Item): Promise<Item | undefined> {
  const result = await store.client.send(
    new GetCommand({ TableName: store.tableName, Key: key, ConsistentRead: true }),
  );
  return result.Item;
}

/**
 * Applies `parts` to the item at `key` if `condition` holds (always, without one), and answers
 * the item as it is afterwards. A failed condition throws DynamoDB's own error: callers tell it
 * apart with `isConditionFailure` and say what it means for their record.
 */
export async function updateItem(
  store: Store,
  key: Item,
  parts: UpdateParts,
  condition?: Condition,
): Promise<Item> {
  const update = updateExpression(parts);
  const result = await store.client.send(
    new UpdateCommand({
      TableName: store.tableName,
      Key: key,
      UpdateExpression: update.expression,
      ConditionExpression: condition?.expression,
      ExpressionAttributeNames: { ...update.names, ...condition?.names },
      ExpressionAttributeValues: definedOnly({ ...update.values, ...condition?.values }),
      ReturnValues: "ALL_NEW",
    }),
  );
  return result.Attributes ?? {};
}

/** BatchWriteItem takes at most 25 items a call. */
const ITEMS_PER_BATCH_WRITE = 25;
/** How often items DynamoDB left unprocessed (throttled) are sent again before giving up. */
const BATCH_WRITE_ATTEMPTS = 8;

/**
 * Puts new items in as few calls as DynamoDB allows, unconditionally: only for items under keys
 * nobody else can know yet (a fresh ULID's), whose existence decides nothing. The items come in
 * groups (a record and its events), and a group is never split between two calls (calls run side
 * by side). Items DynamoDB leaves unprocessed are sent again after a back-off; past the attempts
 * it throws a CONFLICT with a Retry-After, as contention does.
 */
export async function putNewItems(store: Store, groups: Item[][]): Promise<void> {
  const chunks: Item[][] = [];
  for (const group of groups) {
    if (group.length > ITEMS_PER_BATCH_WRITE)
      throw new Error(`a group of ${group.length} items is too big for one batch write`);
    const last = chunks.at(-1);
    if (last && last.length + group.length <= ITEMS_PER_BATCH_WRITE) last.push(...group);
    else chunks.push([...group]);
  }
  await Promise.all(
    chunks.map(async (chunk) => {
      let requests = chunk.map((item) => ({ PutRequest: { Item: definedOnly(item) } }));
      for (let attempt = 0; requests.length > 0; attempt++) {
        if (attempt >= BATCH_WRITE_ATTEMPTS) {
          throw busy(`${requests.length} items were left unprocessed after ${attempt} batch writes`);
        }
        if (attempt > 0) await backOff(attempt, { baseMs: 10, capMs: 500 });
        const result = await store.client.send(
          new BatchWriteCommand({ RequestItems: { [store.tableName]: requests } }),
        );
        requests = (result.UnprocessedItems?.[store.tableName] ?? []).flatMap((request) =>
          request.PutRequest?.Item ? [{ PutRequest: { Item: request.PutRequest.Item } }] : [],
        );
      }
    }),
  );
}

/** Deletes the item at `key` if `condition` holds; false when it did not (nothing is deleted). */
export async function deleteItemIf(store: Store, key: Item, condition: Condition): Promise<boolean> {
  try {
    await store.client.send(
      new DeleteCommand({
        TableName: store.tableName,
        Key: key,
        ConditionExpression: condition.expression,
        ExpressionAttributeNames: condition.names,
        ExpressionAttributeValues: condition.values && definedOnly(condition.values),
      }),
    );
    return true;
  } catch (error) {
    if (isConditionFailure(error)) return false;
    throw error;
  }
}

const StoredKey = z.record(z.string(), z.string());

function encodeCursor(lastEvaluatedKey: Item | undefined): string | undefined {
  if (!lastEvaluatedKey) return undefined;
  return Buffer.from(JSON.stringify(lastEvaluatedKey), "utf8").toString("base64url");
}

/**
 * Decodes a continuation token and checks that it belongs to the partition being read: a token
 * from another listing must not steer a query elsewhere.
 */
function decodeCursor(cursor: string, partitionAttribute: string, partition: string): Item {
  const invalid = () =>
    new BerthError("INVALID_CURSOR", "the continuation token is not valid for this listing");
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
  } catch {
    throw invalid();
  }
  const key = StoredKey.safeParse(decoded);
  if (!key.success || key.data[partitionAttribute] !== partition) throw invalid();
  return key.data;
}

function pageLimit(limit: number | undefined): number {
  if (limit === undefined) return DEFAULT_PAGE_LIMIT;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE_LIMIT) {
    throw new BerthError("INVALID_INPUT", `limit must be an integer from 1 to ${MAX_PAGE_LIMIT}`, [
      { path: "limit", message: `must be an integer from 1 to ${MAX_PAGE_LIMIT}` },
    ]);
  }
  return limit;
}

/** Reads every page of a query; for collections that stay small (stacks, a stack's services, tokens). */
export async function queryAll(store: Store, input: Omit<QueryCommandInput, "TableName">): Promise<Item[]> {
  const items: Item[] = [];
  let startKey: Item | undefined;
  do {
    const page = await store.client.send(
      new QueryCommand({ ...input, TableName: store.tableName, ExclusiveStartKey: startKey }),
    );
    items.push(...(page.Items ?? []));
    startKey = page.LastEvaluatedKey;
  } while (startKey);
  return items;
}

export interface PageQuery {
  input: Omit<QueryCommandInput, "TableName" | "Limit" | "ExclusiveStartKey">;
  /** The partition the query reads, which a cursor must name. */
  partitionAttribute: string;
  partition: string;
  /** The attributes DynamoDB puts in a LastEvaluatedKey for this query (table keys, plus index keys). */
  keyAttributes: readonly string[];
}

/**
 * One page of a query. It asks for one item more than the page holds, so a cursor is returned
 * only when another item really follows (DynamoDB's own LastEvaluatedKey can point at nothing).
 */
export async function queryPage(store: Store, query: PageQuery, request: PageRequest): Promise<Page<Item>> {
  const limit = pageLimit(request.limit);
  const startKey =
    request.cursor === undefined
      ? undefined
      : decodeCursor(request.cursor, query.partitionAttribute, query.partition);
  const items: Item[] = [];
  let nextKey = startKey;
  // A filtered or size-capped response can hold fewer items than asked for; keep reading.
  do {
    const response = await store.client.send(
      new QueryCommand({
        ...query.input,
        TableName: store.tableName,
        Limit: limit + 1 - items.length,
        ExclusiveStartKey: nextKey,
      }),
    );
    items.push(...(response.Items ?? []));
    nextKey = response.LastEvaluatedKey;
  } while (nextKey && items.length <= limit);
  if (items.length <= limit) return { items };
  const pageItems = items.slice(0, limit);
  const last = pageItems[pageItems.length - 1] as Item;
  const lastKey = Object.fromEntries(query.keyAttributes.map((attribute) => [attribute, last[attribute]]));
  return { items: pageItems, nextCursor: encodeCursor(lastKey) };
}

/** One page of a listing partition (the GSI1 index, keyed by `listing.*`), newest first. */
export function newestFirst(store: Store, partition: string, request: PageRequest): Promise<Page<Item>> {
  return queryPage(
    store,
    {
      input: {
        IndexName: LISTING_INDEX,
        KeyConditionExpression: "GSI1PK = :partition",
        ExpressionAttributeValues: { ":partition": partition },
        ScanIndexForward: false,
      },
      partitionAttribute: "GSI1PK",
      partition,
      keyAttributes: ["PK", "SK", "GSI1PK", "GSI1SK"],
    },
    request,
  );
}

import { PutCommand } from "@aws-sdk/lib-dynamodb";
import { z } from "zod";
import { getItem, type Item, newestFirst, type Page, type PageRequest, parseStored } from "./dynamo.ts";
import { newRecordId } from "./ids.ts";
import { RecordId, Timestamp } from "./names.ts";
import type { Store } from "./store.ts";

/**
 * One scheduled refresh (the weekly one, or a stack's own schedule firing): which refresh
 * deployments it requested, which stacks it left alone and why, what it did to the EC2 hosts.
 * The deployments' outcomes are read from their own records when the refresh is shown, so a
 * refresh whose deployment later ends FAILED says so without anything writing back here.
 *
 *   PK = REFRESH#<id>, SK = REFRESH
 *   GSI1PK = REFRESHES, GSI1SK = REFRESH#<id>   (newest first by id)
 *
 * Refreshes are kept 90 days (`expiresAt`, the table's TTL attribute on AWS; listings leave
 * expired ones out).
 */

export const KEEP_DAYS = 90;

export const Requested = z.object({
  stack: z.string().min(1).max(63),
  service: z.string().min(1).max(63),
  deploymentId: RecordId,
});
export type Requested = z.infer<typeof Requested>;

export const Info = z.object({
  id: RecordId,
  startedAt: Timestamp,
  /** `weekly`: the installation's weekly refresh; `stack`: the stack's own schedule. */
  trigger: z.enum(["weekly", "stack"]),
  /** The stack whose schedule fired (trigger `stack`). */
  stack: z.string().min(1).max(63).optional(),
  requested: z.array(Requested),
  /** `stack: why` of each stack left alone. */
  skipped: z.array(z.string()),
  /** `stack/service: why` of each refresh that could not be requested. */
  notRequested: z.array(z.string()),
  /** What happened to the EC2 hosts, as the host refresh reported it (absent without EC2 capacity). */
  hosts: z.record(z.string(), z.unknown()).optional(),
  expiresAt: z.number().int(),
});
export type Info = z.infer<typeof Info>;

export type NewRefresh = Omit<Info, "id" | "startedAt" | "expiresAt">;

const key = (id: string) => ({ PK: `REFRESH#${id}`, SK: "REFRESH" });
const PARTITION = "REFRESHES";

const fromItem = (item: Item): Info => parseStored(Info, item, "refresh");
const isExpired = (info: Info, now: Date) => info.expiresAt * 1000 <= now.getTime();

/** Records a refresh that has requested its deployments; `startedAt` is when it began. */
export async function create(store: Store, input: NewRefresh, startedAt: Date): Promise<Info> {
  const now = store.clock();
  const info = Info.parse({
    ...input,
    id: newRecordId(startedAt),
    startedAt: startedAt.toISOString(),
    expiresAt: Math.floor(now.getTime() / 1000) + KEEP_DAYS * 86_400,
  });
  await store.client.send(
    new PutCommand({
      TableName: store.tableName,
      Item: Object.fromEntries(
        Object.entries({ ...key(info.id), GSI1PK: PARTITION, GSI1SK: `REFRESH#${info.id}`, ...info }).filter(
          ([, value]) => value !== undefined,
        ),
      ),
      ConditionExpression: "attribute_not_exists(PK)",
    }),
  );
  return info;
}

export async function get(store: Store, id: string): Promise<Info | undefined> {
  if (!RecordId.safeParse(id).success) return undefined;
  const item = await getItem(store, key(id));
  if (!item) return undefined;
  const info = fromItem(item);
  return isExpired(info, store.clock()) ? undefined : info;
}

/** The refreshes, newest first; expired ones are left out. */
export async function list(store: Store, request: PageRequest = {}): Promise<Page<Info>> {
  const page = await newestFirst(store, PARTITION, request);
  const now = store.clock();
  return { ...page, items: page.items.map(fromItem).filter((info) => !isExpired(info, now)) };
}

import { PutCommand } from "@aws-sdk/lib-dynamodb";
import { z } from "zod";
import { isTerminal, RUNNING, Status } from "../deployments/status.ts";
import { BerthError } from "../errors.ts";
import * as DeploymentEventRecord from "./deployment-event-record.ts";
import type { Item, Page, PageRequest, UpdateParts } from "./dynamo.ts";
import {
  getItem,
  isConditionFailure,
  newestFirst,
  parseInput,
  parseStored,
  putNewItems,
  updateItem,
} from "./dynamo.ts";
import { newRecordId } from "./ids.ts";
import { deploymentKey, listing } from "./keys.ts";
import { RecordId, ServiceName, StackName, Timestamp } from "./names.ts";
import type { Store } from "./store.ts";

export const Id = RecordId;

/** What asked for a deployment: a script or the console (`api`), the `berth` CLI, a registry push, a schedule, a rollback. */
export const Trigger = z.enum(["api", "cli", "webhook", "schedule", "rollback"]);
export type Trigger = z.infer<typeof Trigger>;

const RequestedBy = z.string().min(1).max(200);

const SpecHash = z
  .string()
  .regex(/^[A-Za-z0-9:_-]{1,128}$/, "must be a digest: letters, digits, ':', '_' or '-', at most 128");
const ImageDigests = z.record(
  z.string().min(1).max(255),
  z.string().regex(/^sha256:[0-9a-f]{64}$/, "must be an image digest (sha256:…)"),
);

/**
 * What a deployment asks its workflow to do. `deploy` makes ECS run the service's stored spec;
 * the others carry what the spec cannot say (which earlier version, how many tasks, removal).
 * Kept on the record, written with it, so whoever starts the deployment later (a queued one is
 * started by the end of the one before it) reads exactly what was asked.
 */
export const Parameters = z.object({
  action: z.enum(["deploy", "delete", "rollback", "scale", "refresh"]),
  /** rollback: the deployment to return to, and the task definition when the store knows it. */
  rollbackTo: z
    .object({ deploymentId: RecordId, taskDefinitionArn: z.string().min(1).optional() })
    .optional(),
  /** scale: the counts asked for; min and max are also in the stored spec. */
  scale: z
    .object({
      min: z.number().int().optional(),
      max: z.number().int().optional(),
      desired: z.number().int().optional(),
    })
    .optional(),
  /**
   * deploy: container name → `registry/repository@sha256:…`, the digest a followed tag was
   * resolved to when the deployment was requested; the task definition names exactly it.
   */
  pinnedImages: z
    .record(
      z.string(),
      z.string().regex(/^[^\s@]+@sha256:[0-9a-f]{64}$/, "must be repository@sha256:<64 hex>"),
    )
    .optional(),
  /** deploy: container name → image reference the request set (already written into the spec). */
  images: z.record(z.string(), z.string()).optional(),
  /**
   * deploy: where the source of packaging that is built lives (`file:///dir` for Berth Local's
   * builder, `s3://bucket/key` for CodeBuild), as the client said when it applied the stack.
   */
  source: z
    .string()
    .regex(/^(file:\/\/\/|s3:\/\/)\S+$/, "must be a file:/// or s3:// URL")
    .max(2048)
    .optional(),
});
export type Parameters = z.infer<typeof Parameters>;

/** Records written before parameters were kept on them read as plain deploys. */
const PLAIN_DEPLOY: Parameters = { action: "deploy" };

export const Info = z.object({
  id: RecordId,
  stack: StackName,
  service: ServiceName,
  trigger: Trigger,
  /**
   * Who asked for it, as the API knows the caller (`token NAME`); never a secret. Absent on
   * deployments nobody asked for through the API (pushes, schedules) and on older records.
   */
  requestedBy: RequestedBy.optional(),
  specHash: SpecHash,
  /** Container name → the image digest this deployment runs. */
  imageDigests: ImageDigests,
  parameters: Parameters.default(PLAIN_DEPLOY),
  status: Status,
  /** Why the deployment is in its status, in words a person can act on. */
  reason: z.string(),
  createdAt: Timestamp,
  updatedAt: Timestamp,
  /** When it left PENDING to do work. */
  startedAt: Timestamp.optional(),
  /** When it reached a final status. */
  finishedAt: Timestamp.optional(),
  /** The Step Functions execution running it. */
  executionArn: z.string().min(1).max(2048).optional(),
  /** Set while running when someone asked to cancel; the workflow ends it as CANCELLED. */
  cancelRequestedAt: Timestamp.optional(),
  /** How many events it has; the next event takes the next number. */
  eventCount: z.number().int().nonnegative(),
  /** Held PENDING, outside the service's slots, until someone approves it (or rejects it). */
  awaitingApproval: z.boolean().optional(),
  /** When it was approved, and by whom (a token's name). */
  approvedAt: Timestamp.optional(),
  approvedBy: z.string().max(200).optional(),
});
export type Info = z.infer<typeof Info>;

export const CreateInput = z.object({
  stack: StackName,
  service: ServiceName,
  trigger: Trigger,
  requestedBy: RequestedBy.optional(),
  specHash: SpecHash,
  imageDigests: ImageDigests.default({}),
  parameters: Parameters.default(PLAIN_DEPLOY),
  /** Shown as the reason while it is PENDING; defaults to naming the trigger. */
  reason: z.string().min(1).max(1024).optional(),
  awaitingApproval: z.boolean().optional(),
});
export type CreateInput = z.input<typeof CreateInput>;

const fromItem = (item: Item): Info => parseStored(Info, item, "deployment");

/** Stores a new PENDING deployment and its first event. It does not queue it: see `Deployment.requestDeployment`. */
export async function create(store: Store, input: CreateInput): Promise<Info> {
  return insert(store, prepare(store, input));
}

/**
 * A new PENDING deployment as `create` stores it, with its id, not written yet: a caller that
 * learns where it goes before writing it stores it with `insert`, or once in its final state
 * with `insertEnded`.
 */
export function prepare(store: Store, input: CreateInput): Info {
  const request = parseInput(CreateInput, input, "deployment");
  const now = store.clock();
  return {
    id: newRecordId(now),
    stack: request.stack,
    service: request.service,
    trigger: request.trigger,
    ...(request.requestedBy ? { requestedBy: request.requestedBy } : {}),
    specHash: request.specHash,
    imageDigests: request.imageDigests,
    parameters: request.parameters,
    status: "PENDING",
    reason: request.reason ?? `requested by ${request.requestedBy ?? request.trigger}`,
    createdAt: now.toISOString(),
    updatedAt: now.toISOString(),
    eventCount: 1,
    ...(request.awaitingApproval ? { awaitingApproval: true } : {}),
  };
}

const itemOf = (info: Info) => ({
  ...deploymentKey(info.id),
  ...listing.deployment(info.stack, info.service, info.id),
  ...info,
});

/** The first event of every deployment: what was asked. */
function requestedEvent(info: Info): DeploymentEventRecord.NewEvent {
  return {
    type: "requested",
    message: info.reason,
    data: {
      trigger: info.trigger,
      ...(info.requestedBy ? { requestedBy: info.requestedBy } : {}),
      specHash: info.specHash,
      parameters: info.parameters,
    },
  };
}

/** The event of a status write (`compareAndSetStatus`), or of a deployment stored already ended. */
function statusEvent({ from, to, reason }: StatusChange): DeploymentEventRecord.NewEvent {
  return { type: "status", message: `${from} → ${to}: ${reason}`, data: { from, to, reason } };
}

/**
 * Writes a deployment from `prepare`, PENDING, and its first event, side by side: both are new
 * items under an id nobody has been told yet (a collision fails both conditions).
 */
export async function insert(store: Store, info: Info): Promise<Info> {
  await Promise.all([
    store.client.send(
      new PutCommand({
        TableName: store.tableName,
        Item: itemOf(info),
        ConditionExpression: "attribute_not_exists(PK)",
      }),
    ),
    DeploymentEventRecord.writeAt(store, info.id, 1, requestedEvent(info)),
  ]);
  return info;
}

/**
 * Writes deployments from `prepare` that ended before anyone but their requester knew their ids
 * (superseded while being placed, or refused a place): each once, in its final status, with the
 * two events a PENDING record ended by `compareAndSetStatus` would have (requested, then the
 * status change), all in as few batch writes as DynamoDB allows. Answers them as stored.
 */
export async function insertEnded(
  store: Store,
  ended: { deployment: Info; to: Status; reason: string }[],
): Promise<Info[]> {
  const now = store.clock().toISOString();
  const groups: Item[][] = [];
  const stored = ended.map(({ deployment, to, reason }) => {
    const info: Info = {
      ...deployment,
      status: to,
      reason,
      updatedAt: now,
      ...(isTerminal(to) ? { finishedAt: now } : {}),
      eventCount: 2,
    };
    groups.push([
      itemOf(info),
      DeploymentEventRecord.eventItem(info.id, 1, requestedEvent(deployment), deployment.createdAt).item,
      DeploymentEventRecord.eventItem(info.id, 2, statusEvent({ from: "PENDING", to, reason }), now).item,
    ]);
    return info;
  });
  await putNewItems(store, groups);
  return stored;
}

export async function get(store: Store, id: string): Promise<Info | undefined> {
  const item = await getItem(store, deploymentKey(parseInput(RecordId, id, "deployment id")));
  return item ? fromItem(item) : undefined;
}

export async function getWithEvents(
  store: Store,
  id: string,
): Promise<{ deployment: Info; events: DeploymentEventRecord.Info[] } | undefined> {
  const deployment = await get(store, id);
  if (!deployment) return undefined;
  return { deployment, events: await DeploymentEventRecord.all(store, id) };
}

/** A service's deployments, newest first. */
export async function listForService(
  store: Store,
  stack: string,
  service: string,
  request: PageRequest = {},
): Promise<Page<Info>> {
  const partition = listing.serviceDeployments(
    parseInput(StackName, stack, "stack name"),
    parseInput(ServiceName, service, "service name"),
  );
  const page = await newestFirst(store, partition, request);
  return { ...page, items: page.items.map(fromItem) };
}

/**
 * Applies `update` only if the deployment is still in `expectedStatus`, takes the next event
 * number in the same write, then records the event under it.
 */
async function updateInStatus(
  store: Store,
  id: string,
  expectedStatus: Status,
  update: UpdateParts,
  event: DeploymentEventRecord.NewEvent,
  unapproved = false,
): Promise<Info> {
  let updated: Info;
  try {
    const item = await updateItem(
      store,
      deploymentKey(id),
      { ...update, add: { ...update.add, eventCount: 1 } },
      {
        expression: `attribute_exists(PK) AND #c_status = :c_status${unapproved ? " AND attribute_not_exists(approvedAt)" : ""}`,
        names: { "#c_status": "status" },
        values: { ":c_status": expectedStatus },
      },
    );
    updated = fromItem(item);
  } catch (error) {
    if (!isConditionFailure(error)) throw error;
    const current = await get(store, id);
    if (!current) throw new BerthError("NOT_FOUND", `deployment ${id} does not exist`, [], { cause: error });
    const state = unapproved && current.approvedAt ? "approved" : current.status;
    throw new BerthError("CONFLICT", `deployment ${id} is ${state}, not ${expectedStatus}`, [], {
      cause: error,
    });
  }
  await DeploymentEventRecord.writeAt(store, id, updated.eventCount, event);
  return updated;
}

/** A status write: from the status the deployment must still be in, to the new one, and why. */
export interface StatusChange {
  from: Status;
  to: Status;
  reason: string;
  /** Also only while nobody approved it: how a rejection loses to an approval that came first. */
  unapproved?: boolean;
}

/**
 * The conditional status write behind `Deployment.transition`, which also checks that the
 * transition is allowed; call that instead.
 */
export async function compareAndSetStatus(
  store: Store,
  id: string,
  { from, to, reason, unapproved }: StatusChange,
): Promise<Info> {
  const deploymentId = parseInput(RecordId, id, "deployment id");
  const now = store.clock().toISOString();
  const startsWork = from === "PENDING" && RUNNING.includes(to);
  return updateInStatus(
    store,
    deploymentId,
    from,
    {
      set: { status: to, reason, updatedAt: now, finishedAt: isTerminal(to) ? now : undefined },
      setIfAbsent: startsWork ? { startedAt: now } : undefined,
    },
    statusEvent({ from, to, reason }),
    unapproved,
  );
}

/** Flags a running deployment for cancellation, provided it is still in `expectedStatus`. */
export async function requestCancellation(
  store: Store,
  id: string,
  expectedStatus: Status,
  reason: string,
): Promise<Info> {
  const deploymentId = parseInput(RecordId, id, "deployment id");
  const now = store.clock().toISOString();
  return updateInStatus(
    store,
    deploymentId,
    expectedStatus,
    { set: { updatedAt: now }, setIfAbsent: { cancelRequestedAt: now } },
    { type: "cancel-requested", message: reason },
  );
}

export const Details = z.object({
  executionArn: z.string().min(1).max(2048).optional(),
  imageDigests: ImageDigests.optional(),
});
export type Details = z.input<typeof Details>;

/** Records facts learnt while it runs (its execution, the digests a build produced); status is untouched. */
export async function recordDetails(store: Store, id: string, details: Details): Promise<Info> {
  const deploymentId = parseInput(RecordId, id, "deployment id");
  const checked = parseInput(Details, details, "deployment details");
  try {
    const item = await updateItem(
      store,
      deploymentKey(deploymentId),
      { set: { ...checked, updatedAt: store.clock().toISOString() } },
      { expression: "attribute_exists(PK)" },
    );
    return fromItem(item);
  } catch (error) {
    if (isConditionFailure(error))
      throw new BerthError("NOT_FOUND", `deployment ${deploymentId} does not exist`, [], { cause: error });
    throw error;
  }
}

/**
 * Marks a deployment held for approval as approved, once: only while it is PENDING, awaiting
 * approval and not approved yet. Answers undefined when someone else approved it first.
 */
export async function markApproved(store: Store, id: string, by: string): Promise<Info | undefined> {
  const deploymentId = parseInput(RecordId, id, "deployment id");
  const now = store.clock().toISOString();
  try {
    const item = await updateItem(
      store,
      deploymentKey(deploymentId),
      { set: { approvedAt: now, approvedBy: by.slice(0, 200), updatedAt: now } },
      {
        expression:
          "attribute_exists(PK) AND #c_status = :c_status AND awaitingApproval = :c_yes AND attribute_not_exists(approvedAt)",
        names: { "#c_status": "status" },
        values: { ":c_status": "PENDING", ":c_yes": true },
      },
    );
    return fromItem(item);
  } catch (error) {
    if (isConditionFailure(error)) return undefined;
    throw error;
  }
}

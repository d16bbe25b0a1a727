import { DeleteCommand, PutCommand } from "@aws-sdk/lib-dynamodb";
import { z } from "zod";
import { BerthError } from "../errors.ts";
import type { Item } from "./dynamo.ts";
import { getItem, isConditionFailure, parseInput, parseStored, queryAll, updateItem } from "./dynamo.ts";
import { SERVICE_SORT_PREFIX, serviceKey, servicePartition } from "./keys.ts";
import { RecordId, ServiceName, StackName, Timestamp } from "./names.ts";
import type { Store } from "./store.ts";

export const Name = ServiceName;

const Spec = z.record(z.string(), z.unknown());
const TaskDefinitionArn = z.string().min(1).max(2048);
const SourceDigest = z.string().regex(/^sha256:[0-9a-f]{64}$/, "must be sha256:<64 hex digits>");
export const SourceDigests = z.record(z.string().min(1).max(255), SourceDigest);

export const Info = z.object({
  stack: StackName,
  name: ServiceName,
  /** The service's resource from the applied stack file, as JSON. */
  spec: Spec,
  /** The task definition ECS runs now. */
  liveTaskDefinitionArn: TaskDefinitionArn.optional(),
  /** The last task definition that passed its health checks: where a rollback goes. */
  lastGoodTaskDefinitionArn: TaskDefinitionArn.optional(),
  /** A batch job's run state machine, once a deployment registered it: what a run executes. */
  jobStateMachineArn: z.string().min(1).max(2048).optional(),
  /** The one deployment allowed to run for this service. */
  activeDeploymentId: RecordId.optional(),
  /** The newest request waiting for the active one to finish. */
  queuedDeploymentId: RecordId.optional(),
  /**
   * Container → digest of the build inputs the client last applied it with; absent where the
   * client sent none (the source is then unknown, and not compared).
   */
  sourceDigests: SourceDigests.optional(),
  /** Where its built containers' source was last applied from; a redeploy builds from it again. */
  source: z.string().min(1).max(2048).optional(),
  updatedAt: Timestamp,
  /** Incremented by every write; writers name the version they read. */
  version: z.number().int().positive(),
});
export type Info = z.infer<typeof Info>;

// The spec is kept as JSON text: it round-trips exactly, whatever the caller's marshalling options.
const Stored = Info.omit({ spec: true }).extend({ specJson: z.string() });

/** A service item, as read by any query that returns one. */
export function fromItem(item: Item): Info {
  const { specJson, ...rest } = parseStored(Stored, item, "service");
  return { ...rest, spec: parseStored(Spec, JSON.parse(specJson), "service spec") };
}

export const CreateInput = z.object({
  stack: StackName,
  name: ServiceName,
  spec: Spec,
  sourceDigests: SourceDigests.optional(),
  source: z.string().min(1).max(2048).optional(),
});
export type CreateInput = z.input<typeof CreateInput>;

export async function create(store: Store, input: CreateInput): Promise<Info> {
  const { stack, name, spec, sourceDigests, source } = parseInput(CreateInput, input, "service");
  const info: Info = {
    stack,
    name,
    spec,
    ...(sourceDigests ? { sourceDigests } : {}),
    ...(source ? { source } : {}),
    updatedAt: store.clock().toISOString(),
    version: 1,
  };
  const { spec: _, ...attributes } = info;
  try {
    await store.client.send(
      new PutCommand({
        TableName: store.tableName,
        Item: { ...serviceKey(stack, name), ...attributes, specJson: JSON.stringify(spec) },
        ConditionExpression: "attribute_not_exists(PK)",
      }),
    );
  } catch (error) {
    if (isConditionFailure(error))
      throw new BerthError("CONFLICT", `service ${stack}/${name} already exists`, [], { cause: error });
    throw error;
  }
  return info;
}

export async function get(store: Store, stack: string, name: string): Promise<Info | undefined> {
  const key = serviceKey(
    parseInput(StackName, stack, "stack name"),
    parseInput(ServiceName, name, "service name"),
  );
  const item = await getItem(store, key);
  return item ? fromItem(item) : undefined;
}

/** A stack's services, by name. */
export async function list(store: Store, stack: string): Promise<Info[]> {
  const partition = servicePartition(parseInput(StackName, stack, "stack name"));
  const items = await queryAll(store, {
    KeyConditionExpression: "PK = :partition AND begins_with(SK, :services)",
    ExpressionAttributeValues: { ":partition": partition, ":services": SERVICE_SORT_PREFIX },
    ConsistentRead: true,
  });
  return items.map(fromItem);
}

const Nullable = <Schema extends z.ZodType>(schema: Schema) => schema.nullable().optional();

/** Fields a write may change; `null` clears an optional field, absence leaves it alone. */
export const Changes = z.object({
  spec: Spec.optional(),
  liveTaskDefinitionArn: Nullable(TaskDefinitionArn),
  lastGoodTaskDefinitionArn: Nullable(TaskDefinitionArn),
  jobStateMachineArn: Nullable(z.string().min(1).max(2048)),
  activeDeploymentId: Nullable(RecordId),
  queuedDeploymentId: Nullable(RecordId),
  sourceDigests: Nullable(SourceDigests),
  source: Nullable(z.string().min(1).max(2048)),
});
export type Changes = z.input<typeof Changes>;

export interface VersionedKey {
  stack: string;
  name: string;
  /** The version the caller read; the write fails with CONFLICT if anyone wrote since. */
  expectedVersion: number;
}

export async function update(store: Store, target: VersionedKey, changes: Changes): Promise<Info> {
  const stack = parseInput(StackName, target.stack, "stack name");
  const name = parseInput(ServiceName, target.name, "service name");
  const { spec, ...slots } = parseInput(Changes, changes, "service changes");
  const set: Item = {
    updatedAt: store.clock().toISOString(),
    version: target.expectedVersion + 1,
    specJson: spec === undefined ? undefined : JSON.stringify(spec),
  };
  const remove: string[] = [];
  for (const [attribute, value] of Object.entries(slots)) {
    if (value === null) remove.push(attribute);
    else set[attribute] = value;
  }
  try {
    const item = await updateItem(
      store,
      serviceKey(stack, name),
      { set, remove },
      {
        expression: "#c_version = :c_version",
        names: { "#c_version": "version" },
        values: { ":c_version": target.expectedVersion },
      },
    );
    return fromItem(item);
  } catch (error) {
    if (!isConditionFailure(error)) throw error;
    if (!(await get(store, stack, name)))
      throw new BerthError("NOT_FOUND", `service ${stack}/${name} does not exist`, [], { cause: error });
    throw new BerthError(
      "CONFLICT",
      `service ${stack}/${name} changed since version ${target.expectedVersion} was read`,
      [],
      { cause: error },
    );
  }
}

/** Deletes the service item; with `expectedVersion`, only if nobody wrote it since. */
export async function remove(
  store: Store,
  stack: string,
  name: string,
  expectedVersion?: number,
): Promise<boolean> {
  const key = serviceKey(
    parseInput(StackName, stack, "stack name"),
    parseInput(ServiceName, name, "service name"),
  );
  try {
    const result = await store.client.send(
      new DeleteCommand({
        TableName: store.tableName,
        Key: key,
        ReturnValues: "ALL_OLD",
        ...(expectedVersion === undefined
          ? {}
          : {
              // A service that is already gone is not a conflict: there is nothing to delete.
              ConditionExpression: "attribute_not_exists(PK) OR #c_version = :c_version",
              ExpressionAttributeNames: { "#c_version": "version" },
              ExpressionAttributeValues: { ":c_version": expectedVersion },
            }),
      }),
    );
    return result.Attributes !== undefined;
  } catch (error) {
    if (isConditionFailure(error)) {
      throw new BerthError(
        "CONFLICT",
        `service ${stack}/${name} changed since version ${expectedVersion} was read`,
        [],
        { cause: error },
      );
    }
    throw error;
  }
}

import { PutCommand } from "@aws-sdk/lib-dynamodb";
import { z } from "zod";
import { BerthError, isConflict } from "../errors.ts";
import { backOff } from "../retry.ts";
import { deleteItemIf, getItem, isConditionFailure, parseInput, parseStored } from "./dynamo.ts";
import { waitKey } from "./keys.ts";
import { Given, RecordId, ServiceName, StackName, Timestamp } from "./names.ts";
import { type Store, TTL_ATTRIBUTE } from "./store.ts";

/**
 * A deployment waiting on ECS: the ECS deployment it waits for, the Step Functions task token
 * that resumes its workflow, and what the ECS event handler learnt so far (the failed tasks of
 * the new revision, a rollback it started). One per service, because only the service's active
 * deployment ever waits. Every change is conditioned on `version`.
 */
/**
 * deploying → stabilizing (ECS completed the rollout; the new revision must stay up for the
 * stability window) → answered; either of the first two → rolling-back (a task of the new
 * revision failed) or cancelling (someone cancelled: the service returns to its previous
 * revision) → answered.
 */
export const Phase = z.enum(["deploying", "stabilizing", "rolling-back", "cancelling", "answered"]);
export type Phase = z.infer<typeof Phase>;

export const Info = z.object({
  stack: StackName,
  service: ServiceName,
  deploymentId: RecordId,
  /** The ECS service (`<stack>-<service>`) and its cluster. */
  cluster: Given,
  ecsService: Given,
  /** The ECS deployment (`ecs-svc/…`) the workflow waits for. */
  ecsDeploymentId: Given,
  taskDefinitionArn: Given,
  /** Where a failing revision goes back to; absent on a service's first deployment. */
  rollbackTaskDefinitionArn: Given.optional(),
  /** Failed tasks of the new revision that make the handler roll back at once. */
  failFastThreshold: z.number().int().positive(),
  /** How long the new revision's tasks must stay up after ECS completed the rollout. */
  stabilitySeconds: z.number().int().nonnegative().default(0),
  /** Whether a container of the new revision has a health check: its tasks must then be HEALTHY. */
  healthChecked: z.boolean().default(false),
  /** When ECS completed the rollout: the stability window starts here. */
  stableSince: Timestamp.optional(),
  /** What the service ran before (absent when this deployment created it): a cancel returns there. */
  previousTaskDefinitionArn: Given.optional(),
  previousDesiredCount: z.number().int().nonnegative().optional(),
  /** Why the deployment is being cancelled, for its final reason. */
  cancelReason: z.string().optional(),
  /** Task ARNs already counted as failed: a repeated or late event is never counted twice. */
  failedTasks: z.array(z.string()).default([]),
  /** Set once the workflow stored its token; events before it are recorded, answered after. */
  taskToken: Given.optional(),
  phase: Phase,
  /** The ECS deployment of a rollback the handler started, or of a cancel's return. */
  rollbackEcsDeploymentId: Given.optional(),
  /**
   * The service deployment (gradual strategies) ECS rolls back: Berth stopped it with
   * StopServiceDeployment, or ECS did; its status (ROLLBACK_IN_PROGRESS, ROLLBACK_SUCCESSFUL,
   * ROLLBACK_FAILED) says how the rollback ends.
   */
  rollbackServiceDeploymentArn: Given.optional(),
  /** Why the handler rolled back, for the deployment's final reason. */
  rollbackReason: z.string().optional(),
  /** An outcome decided before the token was stored, answered as soon as it is. */
  pendingOutcome: z.record(z.string(), z.unknown()).optional(),
  createdAt: Timestamp,
  version: z.number().int().positive(),
  /** Epoch seconds: a wait outlives no workflow (their longest is 4 hours). */
  [TTL_ATTRIBUTE]: z.number().int(),
});
export type Info = z.infer<typeof Info>;

const TTL_SECONDS = 6 * 60 * 60;

export type CreateInput = Omit<
  z.input<typeof Info>,
  "version" | "createdAt" | typeof TTL_ATTRIBUTE | "failedTasks" | "phase"
>;

function fromItem(item: Record<string, unknown>): Info {
  const { PK: _pk, SK: _sk, ...rest } = item;
  return parseStored(Info, rest, "wait");
}

/** Starts waiting: replaces whatever an earlier deployment of the service left behind. */
export async function create(store: Store, input: CreateInput): Promise<Info> {
  const now = store.clock();
  const info = parseInput(
    Info,
    {
      ...input,
      failedTasks: [],
      phase: "deploying",
      createdAt: now.toISOString(),
      version: 1,
      [TTL_ATTRIBUTE]: Math.floor(now.getTime() / 1000) + TTL_SECONDS,
    },
    "wait",
  );
  await store.client.send(
    new PutCommand({
      TableName: store.tableName,
      Item: { ...waitKey(info.cluster, info.ecsService), ...info },
    }),
  );
  return info;
}

/** The ECS service's wait, or undefined when there is none or it expired (DynamoDB's TTL is lazy). */
export async function get(store: Store, cluster: string, ecsService: string): Promise<Info | undefined> {
  const item = await getItem(store, waitKey(cluster, ecsService));
  if (!item) return undefined;
  const info = fromItem(item);
  if (info[TTL_ATTRIBUTE] * 1000 <= store.clock().getTime()) return undefined;
  return info;
}

/**
 * Writes `next` in place of `current`, on the condition that nobody wrote since `current` was
 * read; CONFLICT otherwise (the caller re-reads and decides again).
 */
export async function replace(store: Store, current: Info, next: Partial<Info>): Promise<Info> {
  const parsed = parseInput(Info, { ...current, ...next, version: current.version + 1 }, "wait");
  // A change may clear a field (a used task token) by setting it undefined; DynamoDB takes no undefined.
  const updated = Object.fromEntries(
    Object.entries(parsed).filter(([, value]) => value !== undefined),
  ) as Info;
  try {
    await store.client.send(
      new PutCommand({
        TableName: store.tableName,
        Item: { ...waitKey(current.cluster, current.ecsService), ...updated },
        ConditionExpression: "#version = :version AND #deployment = :deployment",
        ExpressionAttributeNames: { "#version": "version", "#deployment": "deploymentId" },
        ExpressionAttributeValues: { ":version": current.version, ":deployment": current.deploymentId },
      }),
    );
  } catch (error) {
    if (!isConditionFailure(error)) throw error;
    throw new BerthError("CONFLICT", `the wait of ${current.ecsService} changed`, [], { cause: error });
  }
  return updated;
}

/** Ends the wait of one deployment; a newer deployment's wait is left alone. */
export async function remove(
  store: Store,
  cluster: string,
  ecsService: string,
  deploymentId: string,
): Promise<void> {
  await deleteItemIf(store, waitKey(cluster, ecsService), {
    expression: "#deployment = :deployment",
    names: { "#deployment": "deploymentId" },
    values: { ":deployment": deploymentId },
  });
}

/**
 * Changes the wait with `decide` until the write wins: `decide` gets the current wait and
 * returns the changes, or undefined to leave it as it is.
 */
export async function change(
  store: Store,
  cluster: string,
  ecsService: string,
  decide: (current: Info) => Partial<Info> | undefined,
  attempts = 20,
): Promise<{ before: Info; after: Info } | undefined> {
  for (let attempt = 0; attempt < attempts; attempt += 1) {
    const current = await get(store, cluster, ecsService);
    if (!current) return undefined;
    const changes = decide(current);
    if (!changes) return undefined;
    try {
      return { before: current, after: await replace(store, current, changes) };
    } catch (error) {
      if (!isConflict(error)) throw error;
      await backOff(attempt, { baseMs: 10, capMs: 50 });
    }
  }
  throw new BerthError("CONFLICT", `the wait of ${ecsService} kept changing`);
}

import { createHash } from "node:crypto";
import { z } from "zod";
import { Spec } from "../spec/index.ts";
import { DeploymentRecord, type ServiceRecord, StackRecord, type Store } from "../store/index.ts";
import { isTerminal } from "./status.ts";

export type SpecJson = Record<string, unknown>;

/** The stored form of each compute resource: the parsed, defaulted resource as plain JSON. */
export function desiredServices(stack: Spec.Stack): Map<string, SpecJson> {
  const services = new Map<string, SpecJson>();
  for (const [name, resource] of Object.entries(stack.resources)) {
    if (Spec.isCompute(resource)) services.set(name, JSON.parse(JSON.stringify(resource)) as SpecJson);
  }
  return services;
}

/** Key order is not meaning: two specs that differ only in it hash alike. */
function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((key) => [key, canonical((value as Record<string, unknown>)[key])]),
    );
  }
  return value;
}

export function specHash(spec: SpecJson): string {
  const digest = createHash("sha256")
    .update(JSON.stringify(canonical(spec)), "utf8")
    .digest("hex");
  return `sha256:${digest}`;
}

export const FieldChange = z.object({
  /** Dotted path with array indexes, from the resource: `properties.environment[0].value`. */
  path: z.string(),
  /** Absent when the field is new. */
  before: z.unknown().optional(),
  /** Absent when the field was removed. */
  after: z.unknown().optional(),
});
export type FieldChange = z.infer<typeof FieldChange>;

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function join(path: string, key: string | number): string {
  if (typeof key === "number") return `${path}[${key}]`;
  return path === "" ? key : `${path}.${key}`;
}

/**
 * Field-level differences between two JSON values: objects are compared key by key, arrays
 * index by index (an added or removed item shows at its index), anything else as a whole.
 */
export function diffJson(before: unknown, after: unknown, path = ""): FieldChange[] {
  if (isRecord(before) && isRecord(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
    return keys.flatMap((key) => {
      const inBefore = Object.hasOwn(before, key);
      const inAfter = Object.hasOwn(after, key);
      if (!inBefore) return [{ path: join(path, key), after: after[key] }];
      if (!inAfter) return [{ path: join(path, key), before: before[key] }];
      return diffJson(before[key], after[key], join(path, key));
    });
  }
  if (Array.isArray(before) && Array.isArray(after)) {
    const changes: FieldChange[] = [];
    for (let index = 0; index < Math.max(before.length, after.length); index++) {
      if (index >= before.length) changes.push({ path: join(path, index), after: after[index] });
      else if (index >= after.length) changes.push({ path: join(path, index), before: before[index] });
      else changes.push(...diffJson(before[index], after[index], join(path, index)));
    }
    return changes;
  }
  if (Object.is(before, after)) return [];
  return [{ path, before, after }];
}

/**
 * `retry`: the file is as stored, but the service does not run it (never deployed, or its last
 * deployment failed); `forced`: unchanged, deployed again because the caller asked.
 */
export const Change = z.enum(["created", "updated", "retry", "forced", "unchanged", "deleted"]);
export type Change = z.infer<typeof Change>;

/** Container → digest of its build inputs, as the client computed them. */
export type SourceDigests = Record<string, string>;

export interface PlannedService {
  service: string;
  /** The resource type, from the file (or from the stored spec for a deletion). */
  type: string;
  change: Change;
  /** Field-level differences from the stored spec (and `source.<container>` digests); only for `updated`. */
  changes?: FieldChange[];
  /** Why a `retry`: what the service runs differs from the file. */
  reason?: string;
  /** The spec to store; absent for deletions. */
  spec?: SpecJson;
  /** The digests to store with it, when the client sent them. */
  sourceDigests?: SourceDigests;
  /** The stored service it replaces or removes. */
  current?: ServiceRecord.Info;
  /** Set when a deletion of the service is already on its way (so it is not requested twice, or is undone). */
  pendingDeletion?: boolean;
}

function typeOf(spec: SpecJson): string {
  return typeof spec.type === "string" ? spec.type : "unknown";
}

export interface PlanOptions {
  /** Service → its containers' source digests; a service without them has its source not compared. */
  sourceDigests?: ReadonlyMap<string, SourceDigests>;
  /** Deploy every service in the file again, changed or not. */
  force?: boolean;
  /** Service → why what it runs differs from its stored spec (see `retryReason`). */
  retries?: ReadonlyMap<string, string>;
}

/**
 * What applying a stack file does to each service: compare every compute resource's spec (and,
 * where the client sent them, its source digests) with the stored one. A stored service whose
 * deletion is under way counts as created again when the file still has it, because without a
 * new deployment the deletion would remove it. An unchanged service that does not run what it
 * stores is deployed again (`retry`), as is every one when `force` is set.
 */
export function planStack(
  desired: ReadonlyMap<string, SpecJson>,
  current: readonly ServiceRecord.Info[],
  pendingDeletions: ReadonlySet<string>,
  options: PlanOptions = {},
): PlannedService[] {
  const stored = new Map(current.map((service) => [service.name, service]));
  const names = [...new Set([...desired.keys(), ...stored.keys()])].sort();
  return names.map((service): PlannedService => {
    const spec = desired.get(service);
    const existing = stored.get(service);
    const pendingDeletion = pendingDeletions.has(service);
    if (!spec) {
      return {
        service,
        type: typeOf((existing as ServiceRecord.Info).spec),
        change: "deleted",
        current: existing as ServiceRecord.Info,
        ...(pendingDeletion ? { pendingDeletion } : {}),
      };
    }
    const digests = options.sourceDigests?.get(service);
    const base = { service, type: typeOf(spec), spec, ...(digests ? { sourceDigests: digests } : {}) };
    if (!existing) return { ...base, change: "created" };
    if (pendingDeletion) return { ...base, change: "created", current: existing, pendingDeletion };
    const changes = [
      ...diffJson(existing.spec, spec),
      ...(digests ? diffJson(existing.sourceDigests ?? {}, digests, "source") : []),
    ];
    if (changes.length > 0) return { ...base, change: "updated", changes, current: existing };
    if (options.force) return { ...base, change: "forced", current: existing };
    const reason = options.retries?.get(service);
    if (reason) return { ...base, change: "retry", reason, current: existing };
    return { ...base, change: "unchanged", current: existing };
  });
}

/**
 * Whether the service's newest waiting or running deployment removes it: the queued one runs
 * last, so it decides; else the active one.
 */
async function isBeingDeleted(store: Store, service: ServiceRecord.Info): Promise<boolean> {
  const newest = service.queuedDeploymentId ?? service.activeDeploymentId;
  if (!newest) return false;
  return (await DeploymentRecord.get(store, newest))?.parameters.action === "delete";
}

/** Final statuses after which the service does not run its stored spec. */
const NOT_RUNNING_ITS_SPEC: ReadonlySet<string> = new Set(["FAILED", "ROLLED_BACK", "ROLLBACK_FAILED"]);

/**
 * Why the service does not run its stored spec, or undefined when it does or a deployment is
 * on its way (which will decide): it was never deployed, or its newest deployment failed.
 */
export function retryReason(
  service: ServiceRecord.Info,
  newest: Pick<DeploymentRecord.Info, "id" | "status"> | undefined,
  underway: boolean,
): string | undefined {
  if (underway) return undefined;
  if (newest && NOT_RUNNING_ITS_SPEC.has(newest.status)) {
    return `its last deployment ${newest.id} ended ${newest.status}`;
  }
  // A deployment that succeeded made the service run; one that ended otherwise left it as it was.
  if (!service.liveTaskDefinitionArn && newest?.status !== "SUCCEEDED") return "it has never been deployed";
  return undefined;
}

async function retryReasonOf(store: Store, service: ServiceRecord.Info): Promise<string | undefined> {
  const slots = [service.activeDeploymentId, service.queuedDeploymentId].filter(
    (id): id is string => id !== undefined,
  );
  const inSlots = await Promise.all(slots.map((id) => DeploymentRecord.get(store, id)));
  const underway = inSlots.some((deployment) => deployment !== undefined && !isTerminal(deployment.status));
  if (underway) return undefined;
  const { items } = await DeploymentRecord.listForService(store, service.stack, service.name, { limit: 1 });
  return retryReason(service, items[0], false);
}

/** The stored stack and what applying `desired` to it would do. */
export async function read(
  store: Store,
  stack: string,
  desired: ReadonlyMap<string, SpecJson>,
  options: Omit<PlanOptions, "retries"> = {},
) {
  const { stack: stored, services } = await StackRecord.getWithServices(store, stack);
  const deleting = await Promise.all(services.map((service) => isBeingDeleted(store, service)));
  const pendingDeletions = new Set(
    services.filter((_, index) => deleting[index]).map((service) => service.name),
  );
  const reasons = await Promise.all(
    services.map((service) => (desired.has(service.name) ? retryReasonOf(store, service) : undefined)),
  );
  const retries = new Map(
    services.flatMap((service, index) => {
      const reason = reasons[index];
      return reason ? [[service.name, reason] as const] : [];
    }),
  );
  return { stored, plan: planStack(desired, services, pendingDeletions, { ...options, retries }) };
}

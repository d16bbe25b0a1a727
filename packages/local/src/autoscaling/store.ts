import { randomBytes, randomUUID } from "node:crypto";
import { z } from "zod";
import { AwsError } from "../protocol.ts";
import { JsonFile } from "../state.ts";
import type { ScalableServices } from "./types.ts";

export const ECS_NAMESPACE = "ecs";
export const ECS_DESIRED_COUNT = "ecs:service:DesiredCount";
export const PREDEFINED_METRICS = [
  "ECSServiceAverageCPUUtilization",
  "ECSServiceAverageMemoryUtilization",
] as const;
export type PredefinedMetric = (typeof PREDEFINED_METRICS)[number];
/** Target tracking's cooldowns when a policy gives none, as Application Auto Scaling documents them. */
export const DEFAULT_COOLDOWN_SECONDS = 300;
/** Activities kept per scalable target, newest first (AWS keeps six weeks of them). */
const MAX_ACTIVITIES_PER_TARGET = 100;

const PersistedTarget = z.object({
  resourceId: z.string(),
  scalableDimension: z.string(),
  arn: z.string(),
  minCapacity: z.number(),
  maxCapacity: z.number(),
  roleArn: z.string(),
  creationTime: z.number(),
  suspended: z.object({ scaleIn: z.boolean(), scaleOut: z.boolean(), scheduled: z.boolean() }),
  // Pairs, not a record: a tag key may be `__proto__`.
  tags: z.array(z.tuple([z.string(), z.string()])),
  /** When the scaler last scaled the target out, and when anything last changed its count (epoch ms). */
  lastScaleOutTime: z.number().optional(),
  lastScalingTime: z.number().optional(),
});
export type ScalableTargetRecord = z.infer<typeof PersistedTarget>;

const PersistedPolicy = z.object({
  name: z.string(),
  arn: z.string(),
  resourceId: z.string(),
  scalableDimension: z.string(),
  metric: z.enum(PREDEFINED_METRICS),
  resourceLabel: z.string().optional(),
  targetValue: z.number(),
  /** As the request gave them; `DEFAULT_COOLDOWN_SECONDS` applies when absent. */
  scaleOutCooldown: z.number().optional(),
  scaleInCooldown: z.number().optional(),
  disableScaleIn: z.boolean().optional(),
  creationTime: z.number(),
});
export type ScalingPolicyRecord = z.infer<typeof PersistedPolicy>;

const PersistedActivity = z.object({
  id: z.string(),
  resourceId: z.string(),
  scalableDimension: z.string(),
  description: z.string(),
  cause: z.string(),
  details: z.string().optional(),
  startTime: z.number(),
  endTime: z.number(),
  statusCode: z.enum(["Successful", "Failed"]),
  statusMessage: z.string(),
});
export type ScalingActivityRecord = z.infer<typeof PersistedActivity>;

const PersistedState = z.object({
  version: z.literal(1),
  targets: z.array(PersistedTarget),
  policies: z.array(PersistedPolicy),
  activities: z.array(PersistedActivity),
});
type PersistedState = z.infer<typeof PersistedState>;

export interface AutoscalingStoreOptions {
  account: string;
  region: string;
  /** The ECS services targets refer to: registration checks them and clamps their desired count. */
  services: ScalableServices;
  /** Epoch milliseconds; creation times and registration activities are dated by it. */
  now?: () => number;
}

export interface RegisterTargetInput {
  resourceId: string;
  scalableDimension: string;
  minCapacity?: number | undefined;
  maxCapacity?: number | undefined;
  roleArn?: string | undefined;
  suspendedState?:
    | {
        DynamicScalingInSuspended?: boolean | undefined;
        DynamicScalingOutSuspended?: boolean | undefined;
        ScheduledScalingSuspended?: boolean | undefined;
      }
    | undefined;
  tags?: Record<string, string> | undefined;
}

export interface PutPolicyInput {
  name: string;
  resourceId: string;
  scalableDimension: string;
  metric: PredefinedMetric;
  resourceLabel?: string | undefined;
  targetValue: number;
  scaleOutCooldown?: number | undefined;
  scaleInCooldown?: number | undefined;
  disableScaleIn?: boolean | undefined;
}

/** A change of a target's desired count, as the scaler or a registration decides it. */
export interface DesiredCountChange {
  target: ScalableTargetRecord;
  from: number;
  to: number;
  cause: string;
  details?: string;
  /** Epoch milliseconds. */
  at: number;
  /** Scale-outs start the scale-out cooldown; every change starts the scale-in cooldown. */
  direction: "out" | "in";
}

function targetNotFound(resourceId: string, scalableDimension: string, namespace = ECS_NAMESPACE) {
  return new AwsError(
    "ObjectNotFoundException",
    `No scalable target registered for service namespace: ${namespace}, resource ID: ${resourceId}, scalable dimension: ${scalableDimension}`,
  );
}

const sameTarget =
  (resourceId: string, scalableDimension: string) =>
  (item: { resourceId: string; scalableDimension: string }) =>
    item.resourceId === resourceId && item.scalableDimension === scalableDimension;

/** The service-linked role ECS targets use on AWS. */
function serviceLinkedRole(account: string): string {
  return `arn:aws:iam::${account}:role/aws-service-role/ecs.application-autoscaling.amazonaws.com/AWSServiceRoleForApplicationAutoScaling_ECSService`;
}

/**
 * Berth Local's Application Auto Scaling state: scalable targets, their target-tracking policies
 * and the scaling activities, in one JSON file written through on every change. One store per file.
 */
export class AutoscalingStore {
  readonly account: string;
  readonly region: string;
  readonly services: ScalableServices;
  readonly #file: JsonFile<PersistedState>;
  readonly #now: () => number;
  readonly #state: PersistedState;

  constructor(path: string, options: AutoscalingStoreOptions) {
    this.account = options.account;
    this.region = options.region;
    this.services = options.services;
    this.#now = options.now ?? Date.now;
    this.#file = new JsonFile<PersistedState>(path);
    this.#state = PersistedState.parse(
      this.#file.read({ version: 1, targets: [], policies: [], activities: [] }),
    );
  }

  targets(): readonly ScalableTargetRecord[] {
    return this.#state.targets;
  }

  target(resourceId: string, scalableDimension: string): ScalableTargetRecord | undefined {
    return this.#state.targets.find(sameTarget(resourceId, scalableDimension));
  }

  policies(): readonly ScalingPolicyRecord[] {
    return this.#state.policies;
  }

  policiesOf(target: { resourceId: string; scalableDimension: string }): ScalingPolicyRecord[] {
    return this.#state.policies.filter(sameTarget(target.resourceId, target.scalableDimension));
  }

  /** Newest first. */
  activities(): readonly ScalingActivityRecord[] {
    return this.#state.activities;
  }

  /**
   * Creates a target or updates one (capacities and suspension given; the rest kept). The service's
   * desired count is brought into [min, max] at once, as AWS does when a target is registered.
   */
  registerTarget(input: RegisterTargetInput): ScalableTargetRecord {
    if (!this.services.exists(input.resourceId)) {
      throw new AwsError("ValidationException", `ECS service doesn't exist: ${input.resourceId}`);
    }
    const existing = this.target(input.resourceId, input.scalableDimension);
    const minCapacity = input.minCapacity ?? existing?.minCapacity;
    const maxCapacity = input.maxCapacity ?? existing?.maxCapacity;
    if (minCapacity === undefined || maxCapacity === undefined) {
      throw new AwsError(
        "ValidationException",
        "MinCapacity and MaxCapacity are required to register a new scalable target.",
      );
    }
    if (minCapacity > maxCapacity) {
      throw new AwsError(
        "ValidationException",
        `Minimum capacity (${minCapacity}) cannot be greater than maximum capacity (${maxCapacity}).`,
      );
    }
    const suspended = input.suspendedState;
    const target: ScalableTargetRecord = existing ?? {
      resourceId: input.resourceId,
      scalableDimension: input.scalableDimension,
      arn: `arn:aws:application-autoscaling:${this.region}:${this.account}:scalable-target/${randomBytes(18).toString("hex")}`,
      minCapacity,
      maxCapacity,
      roleArn: input.roleArn ?? serviceLinkedRole(this.account),
      creationTime: this.#now(),
      suspended: { scaleIn: false, scaleOut: false, scheduled: false },
      // Tags are set when a target is created; TagResource changes them afterwards.
      tags: Object.entries(input.tags ?? {}),
    };
    target.minCapacity = minCapacity;
    target.maxCapacity = maxCapacity;
    target.suspended = {
      scaleIn: suspended?.DynamicScalingInSuspended ?? target.suspended.scaleIn,
      scaleOut: suspended?.DynamicScalingOutSuspended ?? target.suspended.scaleOut,
      scheduled: suspended?.ScheduledScalingSuspended ?? target.suspended.scheduled,
    };
    if (!existing) this.#state.targets.push(target);
    this.#save();

    const current = this.services.desiredCount(target.resourceId);
    if (current !== undefined && (current < minCapacity || current > maxCapacity)) {
      const to = Math.min(maxCapacity, Math.max(minCapacity, current));
      const bound =
        current < minCapacity ? `minimum capacity ${minCapacity}` : `maximum capacity ${maxCapacity}`;
      applyDesiredCount(this.services, this, {
        target,
        from: current,
        to,
        cause: `the scalable target was registered with ${bound}: desired count ${current} is outside [${minCapacity}, ${maxCapacity}]`,
        at: this.#now(),
        direction: to > current ? "out" : "in",
      });
    }
    return target;
  }

  /** Removes a target with its policies (its activities stay in the history). */
  deregisterTarget(resourceId: string, scalableDimension: string): void {
    const index = this.#state.targets.findIndex(sameTarget(resourceId, scalableDimension));
    if (index < 0) throw targetNotFound(resourceId, scalableDimension);
    this.#state.targets.splice(index, 1);
    this.#state.policies = this.#state.policies.filter(
      (policy) => !sameTarget(resourceId, scalableDimension)(policy),
    );
    this.#save();
  }

  /** Creates a policy, or updates the one of that name on that target (keeping its ARN). */
  putPolicy(input: PutPolicyInput): ScalingPolicyRecord {
    if (!this.target(input.resourceId, input.scalableDimension)) {
      throw targetNotFound(input.resourceId, input.scalableDimension);
    }
    const existing = this.#state.policies.find(
      (policy) => sameTarget(input.resourceId, input.scalableDimension)(policy) && policy.name === input.name,
    );
    const policy: ScalingPolicyRecord = {
      name: input.name,
      arn:
        existing?.arn ??
        `arn:aws:autoscaling:${this.region}:${this.account}:scalingPolicy:${randomUUID()}:resource/ecs/${input.resourceId}:policyName/${input.name}`,
      resourceId: input.resourceId,
      scalableDimension: input.scalableDimension,
      metric: input.metric,
      ...(input.resourceLabel === undefined ? {} : { resourceLabel: input.resourceLabel }),
      targetValue: input.targetValue,
      ...(input.scaleOutCooldown === undefined ? {} : { scaleOutCooldown: input.scaleOutCooldown }),
      ...(input.scaleInCooldown === undefined ? {} : { scaleInCooldown: input.scaleInCooldown }),
      ...(input.disableScaleIn === undefined ? {} : { disableScaleIn: input.disableScaleIn }),
      creationTime: existing?.creationTime ?? this.#now(),
    };
    if (existing) this.#state.policies[this.#state.policies.indexOf(existing)] = policy;
    else this.#state.policies.push(policy);
    this.#save();
    return policy;
  }

  deletePolicy(resourceId: string, scalableDimension: string, name: string): void {
    const index = this.#state.policies.findIndex(
      (policy) => sameTarget(resourceId, scalableDimension)(policy) && policy.name === name,
    );
    if (index < 0) {
      throw new AwsError(
        "ObjectNotFoundException",
        `No scaling policy found for service namespace: ${ECS_NAMESPACE}, resource ID: ${resourceId}, scalable dimension: ${scalableDimension}, policy name: ${name}`,
      );
    }
    this.#state.policies.splice(index, 1);
    this.#save();
  }

  targetByArn(arn: string): ScalableTargetRecord {
    const target = this.#state.targets.find((candidate) => candidate.arn === arn);
    if (!target) throw new AwsError("ResourceNotFoundException", `No scalable target found for ARN ${arn}.`);
    return target;
  }

  tagTarget(arn: string, tags: Record<string, string>): void {
    const target = this.targetByArn(arn);
    const merged = new Map(target.tags);
    for (const [key, value] of Object.entries(tags)) merged.set(key, value);
    target.tags = [...merged];
    this.#save();
  }

  untagTarget(arn: string, keys: readonly string[]): void {
    const target = this.targetByArn(arn);
    target.tags = target.tags.filter(([key]) => !keys.includes(key));
    this.#save();
  }

  /** Records a scaling activity and the cooldown clocks it starts; the caller has changed the count. */
  recordScaling(change: DesiredCountChange, outcome: { error?: string } = {}): ScalingActivityRecord {
    const { target } = change;
    const activity: ScalingActivityRecord = {
      id: randomUUID(),
      resourceId: target.resourceId,
      scalableDimension: target.scalableDimension,
      description: `Setting desired count to ${change.to}.`,
      cause: change.cause,
      ...(change.details === undefined ? {} : { details: change.details }),
      startTime: change.at,
      endTime: change.at,
      statusCode: outcome.error === undefined ? "Successful" : "Failed",
      statusMessage:
        outcome.error === undefined
          ? `Successfully set desired count to ${change.to}. Change successfully fulfilled by ecs.`
          : `Failed to set desired count to ${change.to}. ${outcome.error}`,
    };
    if (outcome.error === undefined) {
      target.lastScalingTime = change.at;
      if (change.direction === "out") target.lastScaleOutTime = change.at;
    }
    const sameResource = sameTarget(target.resourceId, target.scalableDimension);
    let kept = 0;
    this.#state.activities = [activity, ...this.#state.activities].filter(
      (item) => !sameResource(item) || ++kept <= MAX_ACTIVITIES_PER_TARGET,
    );
    this.#save();
    return activity;
  }

  #save(): void {
    this.#file.write(this.#state);
  }
}

/** Sets a service's desired count and records the activity, Failed if ECS refused the change. */
export function applyDesiredCount(
  services: ScalableServices,
  store: AutoscalingStore,
  change: DesiredCountChange,
): ScalingActivityRecord {
  try {
    services.setDesiredCount(change.target.resourceId, change.to, change.cause);
  } catch (error) {
    return store.recordScaling(change, { error: error instanceof Error ? error.message : String(error) });
  }
  return store.recordScaling(change);
}

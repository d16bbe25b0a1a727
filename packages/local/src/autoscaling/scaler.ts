import { ProcessMetrics, type TaskMetrics, type TaskUtilization } from "./metrics.ts";
import {
  type AutoscalingStore,
  applyDesiredCount,
  DEFAULT_COOLDOWN_SECONDS,
  type ScalableTargetRecord,
  type ScalingActivityRecord,
  type ScalingPolicyRecord,
} from "./store.ts";
import type { ScalableServices } from "./types.ts";

export interface ScalerOptions {
  /** Milliseconds between evaluations (15 s by default; tests use less). */
  intervalMs?: number;
  /** Epoch milliseconds: cooldowns and activity times are measured by it. */
  now?: () => number;
  /** Where task utilization comes from; /proc by default. */
  metrics?: TaskMetrics;
  /** An evaluation that throws is reported here and the next one runs as usual. */
  onError?: (error: unknown) => void;
}

/** What one policy makes of the current average. */
interface PolicyVerdict {
  policy: ScalingPolicyRecord;
  /** The average of the policy's metric over the measured tasks, in percent. */
  value: number;
  /** The count that brings the metric to the target: ceil(current × value / target). */
  wanted: number;
}

const METRIC_LABEL: Record<ScalingPolicyRecord["metric"], string> = {
  ECSServiceAverageCPUUtilization: "CPU",
  ECSServiceAverageMemoryUtilization: "memory",
};

const METRIC_OF: Record<ScalingPolicyRecord["metric"], keyof TaskUtilization> = {
  ECSServiceAverageCPUUtilization: "cpu",
  ECSServiceAverageMemoryUtilization: "memory",
};

/** A policy's cooldown in milliseconds. */
const cooldownMs = (seconds: number | undefined) => (seconds ?? DEFAULT_COOLDOWN_SECONDS) * 1000;

/** A product like 3 × 50 / 50 can land a hair above 3 in floating point; that is not a fourth task. */
function ceilCount(value: number): number {
  return Math.ceil(value - 1e-9);
}

function average(values: readonly number[]): number | undefined {
  const finite = values.filter(Number.isFinite);
  return finite.length === 0 ? undefined : finite.reduce((sum, value) => sum + value, 0) / finite.length;
}

/** The alarm a target-tracking policy's decision stands for, named as AWS names the alarms it creates. */
function alarmName(policy: ScalingPolicyRecord, side: "AlarmHigh" | "AlarmLow"): string {
  const id = /:scalingPolicy:([^:]+):/.exec(policy.arn)?.[1] ?? policy.name;
  return `TargetTracking-${policy.resourceId}-${side}-${id}`;
}

function describe(verdicts: readonly PolicyVerdict[]): string {
  return verdicts
    .map(
      ({ policy, value, wanted }) =>
        `policy ${policy.name}: average ${METRIC_LABEL[policy.metric]} utilization ${value.toFixed(1)}% against a target of ${policy.targetValue}% wants ${wanted}`,
    )
    .join("; ");
}

/**
 * Target tracking over Berth Local's tasks. Each pass measures every task of each scaled service
 * (tasks need two samples to have a CPU rate) and, per policy, wants
 * ceil(current × average / target) tasks:
 * - out, at once, when any policy wants more (the largest wish), unless that policy's scale-out
 *   cooldown since the last scale-out is still running;
 * - in, when every policy wants fewer and none disables scale-in, once they have agreed for the
 *   longest of their scale-in cooldowns and that long has passed since the last scaling activity,
 *   to the largest of their wishes (so no policy is pushed above its target);
 * - never outside the target's [min, max], and not while dynamic scaling is suspended.
 */
export class Scaler {
  readonly #store: AutoscalingStore;
  readonly #services: ScalableServices;
  readonly #intervalMs: number;
  readonly #now: () => number;
  readonly #metrics: TaskMetrics;
  readonly #onError: (error: unknown) => void;
  /** Per target: since when every policy has wanted fewer tasks (epoch ms). */
  readonly #agreedToScaleInSince = new Map<string, number>();
  #timer: NodeJS.Timeout | undefined;

  constructor(store: AutoscalingStore, services: ScalableServices, options: ScalerOptions = {}) {
    this.#store = store;
    this.#services = services;
    this.#intervalMs = options.intervalMs ?? 15_000;
    this.#now = options.now ?? Date.now;
    this.#metrics = options.metrics ?? new ProcessMetrics();
    this.#onError = options.onError ?? (() => {});
  }

  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => {
      try {
        this.evaluate();
      } catch (error) {
        this.#onError(error);
      }
    }, this.#intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** One pass over every target with policies; returns the activities it recorded. */
  evaluate(): ScalingActivityRecord[] {
    const activities: ScalingActivityRecord[] = [];
    const liveTasks = new Set<string>();
    const scaledTargets = new Set<string>();
    for (const target of [...this.#store.targets()]) {
      const key = `${target.resourceId}|${target.scalableDimension}`;
      const policies = this.#store.policiesOf(target);
      if (policies.length === 0 || !this.#services.exists(target.resourceId)) continue;
      scaledTargets.add(key);
      const utilizations: TaskUtilization[] = [];
      for (const task of this.#services.tasks(target.resourceId)) {
        liveTasks.add(task.taskId);
        const utilization = this.#metrics.sample(task);
        if (utilization) utilizations.push(utilization);
      }
      const current = this.#services.desiredCount(target.resourceId);
      if (current === undefined) continue;
      const activity = this.#decide(key, target, policies, current, utilizations);
      if (activity) activities.push(activity);
    }
    this.#metrics.retain(liveTasks);
    for (const key of this.#agreedToScaleInSince.keys()) {
      if (!scaledTargets.has(key)) this.#agreedToScaleInSince.delete(key);
    }
    return activities;
  }

  #decide(
    key: string,
    target: ScalableTargetRecord,
    policies: readonly ScalingPolicyRecord[],
    current: number,
    utilizations: readonly TaskUtilization[],
  ): ScalingActivityRecord | undefined {
    const at = this.#now();
    const verdicts: PolicyVerdict[] = [];
    for (const policy of policies) {
      const value = average(utilizations.map((utilization) => utilization[METRIC_OF[policy.metric]]));
      // No data is no alarm: a policy without measurements neither scales out nor agrees to scale in.
      if (value === undefined) continue;
      verdicts.push({ policy, value, wanted: ceilCount((current * value) / policy.targetValue) });
    }
    const clamp = (count: number) => Math.min(target.maxCapacity, Math.max(target.minCapacity, count));

    const outReady = verdicts.filter(
      ({ policy, wanted }) =>
        wanted > current &&
        (target.lastScaleOutTime === undefined ||
          at - target.lastScaleOutTime >= cooldownMs(policy.scaleOutCooldown)),
    );
    const outLeader = outReady.reduce<PolicyVerdict | undefined>(
      (best, verdict) => (best === undefined || verdict.wanted > best.wanted ? verdict : best),
      undefined,
    );
    if (outLeader && !target.suspended.scaleOut && clamp(outLeader.wanted) > current) {
      this.#agreedToScaleInSince.delete(key);
      return applyDesiredCount(this.#services, this.#store, {
        target,
        from: current,
        to: clamp(outLeader.wanted),
        cause: `monitor alarm ${alarmName(outLeader.policy, "AlarmHigh")} in state ALARM triggered policy ${outLeader.policy.name}`,
        details: describe(verdicts),
        at,
        direction: "out",
      });
    }

    const allAgree =
      verdicts.length === policies.length &&
      verdicts.every(({ policy, wanted }) => wanted < current && policy.disableScaleIn !== true);
    if (!allAgree) {
      this.#agreedToScaleInSince.delete(key);
      return undefined;
    }
    const since = this.#agreedToScaleInSince.get(key) ?? at;
    this.#agreedToScaleInSince.set(key, since);
    const cooldown = Math.max(...verdicts.map(({ policy }) => cooldownMs(policy.scaleInCooldown)));
    const cooledDown =
      at - since >= cooldown &&
      (target.lastScalingTime === undefined || at - target.lastScalingTime >= cooldown);
    // The largest wish: scaling in further would push that policy's metric above its target.
    const inLeader = verdicts.reduce((best, verdict) => (verdict.wanted > best.wanted ? verdict : best));
    const to = clamp(inLeader.wanted);
    // The agreement stands after a scale-in, as a low alarm stays in ALARM: the next step waits only for the cooldown.
    if (!cooledDown || target.suspended.scaleIn || to >= current) return undefined;
    return applyDesiredCount(this.#services, this.#store, {
      target,
      from: current,
      to,
      cause: `monitor alarm ${alarmName(inLeader.policy, "AlarmLow")} in state ALARM triggered policy ${inLeader.policy.name}`,
      details: describe(verdicts),
      at,
      direction: "in",
    });
  }
}

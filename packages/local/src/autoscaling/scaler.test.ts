import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { killGroup, ProcessGroups } from "../test-support.ts";
import type { TaskMetrics, TaskUtilization } from "./metrics.ts";
import { Scaler } from "./scaler.ts";
import { AutoscalingStore, type PutPolicyInput } from "./store.ts";
import type { ScalableServices, ScalableTask } from "./types.ts";

const WEB = "service/prod/web";
const DIMENSION = "ecs:service:DesiredCount";

const groups = new ProcessGroups();
const startGroup = (command: string, args: string[]) => groups.start(command, args);
afterAll(() => groups.killAll());

/** One ECS service whose tasks are whatever processes a test gives it; every count change is kept. */
class FakeServices implements ScalableServices {
  desired: number;
  running: ScalableTask[] = [];
  readonly changes: { count: number; cause: string; at: number }[] = [];
  refuse: string | undefined;

  constructor(desired: number) {
    this.desired = desired;
  }
  exists(resourceId: string): boolean {
    return resourceId === WEB;
  }
  desiredCount(resourceId: string): number | undefined {
    return resourceId === WEB ? this.desired : undefined;
  }
  setDesiredCount(_resourceId: string, count: number, cause: string): void {
    if (this.refuse) throw new Error(this.refuse);
    this.desired = count;
    this.changes.push({ count, cause, at: Date.now() });
  }
  tasks(resourceId: string): ScalableTask[] {
    return resourceId === WEB ? this.running : [];
  }
}

/** Utilization set by the test: the same for every task, undefined for "no measurement yet". */
class FakeMetrics implements TaskMetrics {
  current: TaskUtilization | undefined = { cpu: 50, memory: 50 };
  sample(): TaskUtilization | undefined {
    return this.current;
  }
  retain(): void {}
}

let dir: string;
let clock: number;
let services: FakeServices;
let store: AutoscalingStore;

function openStore(now: () => number): void {
  store = new AutoscalingStore(join(dir, "autoscaling.json"), {
    account: "000000000000",
    region: "us-east-1",
    services,
    now,
  });
}

function policy(
  input: Partial<PutPolicyInput> & Pick<PutPolicyInput, "name" | "metric" | "targetValue">,
): void {
  store.putPolicy({ resourceId: WEB, scalableDimension: DIMENSION, ...input });
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "berth-scaler-"));
  clock = Date.UTC(2025, 0, 15, 12, 0, 0);
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

async function waitFor(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("timed out");
    await sleep(20);
  }
}

describe("under real load", () => {
  it("scales out fast under a busy loop, holds through the scale-in cooldown, then scales in to min", async () => {
    services = new FakeServices(1);
    openStore(Date.now);
    store.registerTarget({ resourceId: WEB, scalableDimension: DIMENSION, minCapacity: 1, maxCapacity: 3 });
    policy({
      name: "web-cpu",
      metric: "ECSServiceAverageCPUUtilization",
      targetValue: 50,
      scaleOutCooldown: 0,
      scaleInCooldown: 2,
    });
    const busy = startGroup(process.execPath, ["-e", "for (;;) {}"]);
    const idle = startGroup("sleep", ["60"]);
    // A task of 32 CPU units (1/32 of a core): a busy loop measures far above the target even when
    // other work leaves it a small share of a core.
    const task: ScalableTask = { taskId: "task-1", processGroups: [busy], cpuUnits: 32, memoryMiB: 512 };
    services.running = [task];
    const scaler = new Scaler(store, services, { intervalMs: 100 });
    try {
      scaler.start();
      // A busy loop is hundreds of percent of a 32-unit task: against a 50 % target that wants more
      // tasks than max allows, so the first step goes to max at once.
      await waitFor(() => services.desired === 3, 60_000);
      expect(services.changes.map(({ count }) => count)).toEqual([3]);
      expect(services.changes[0]?.cause).toMatch(
        /^monitor alarm TargetTracking-service\/prod\/web-AlarmHigh-[0-9a-f-]{36} in state ALARM triggered policy web-cpu$/,
      );

      killGroup(busy);
      task.processGroups = [idle];
      const loadStopped = Date.now();
      await sleep(1200);
      expect(services.desired).toBe(3);

      await waitFor(() => services.desired === 1, 60_000);
      const scaleIn = services.changes[1];
      expect(scaleIn?.count).toBe(1);
      expect((scaleIn?.at ?? 0) - loadStopped).toBeGreaterThanOrEqual(2000);
      expect(scaleIn?.cause).toContain("AlarmLow");
      expect(services.changes).toHaveLength(2);

      const activities = store.activities();
      expect(activities.map((activity) => activity.description)).toEqual([
        "Setting desired count to 1.",
        "Setting desired count to 3.",
      ]);
      expect(activities[1]?.details).toMatch(
        /average CPU utilization \d+\.\d% against a target of 50% wants \d+/,
      );
    } finally {
      scaler.stop();
      killGroup(busy);
      killGroup(idle);
    }
  });

  it("does not act on a task measured once", () => {
    services = new FakeServices(1);
    openStore(Date.now);
    store.registerTarget({ resourceId: WEB, scalableDimension: DIMENSION, minCapacity: 1, maxCapacity: 3 });
    policy({ name: "web-cpu", metric: "ECSServiceAverageCPUUtilization", targetValue: 1 });
    const busy = startGroup(process.execPath, ["-e", "for (;;) {}"]);
    try {
      services.running = [{ taskId: "task-1", processGroups: [busy], cpuUnits: 256, memoryMiB: 512 }];
      expect(new Scaler(store, services).evaluate()).toEqual([]);
      expect(services.desired).toBe(1);
    } finally {
      killGroup(busy);
    }
  });
});

describe("target tracking decisions", () => {
  const SECOND = 1000;
  let metrics: FakeMetrics;
  let scaler: Scaler;

  function setUp(desired: number, policies: Parameters<typeof policy>[0][]): void {
    services = new FakeServices(desired);
    services.running = [{ taskId: "task-1", processGroups: [], cpuUnits: 256, memoryMiB: 512 }];
    openStore(() => clock);
    store.registerTarget({ resourceId: WEB, scalableDimension: DIMENSION, minCapacity: 1, maxCapacity: 10 });
    for (const input of policies) policy(input);
    metrics = new FakeMetrics();
    scaler = new Scaler(store, services, { now: () => clock, metrics });
  }

  /** Advances the clock and runs one pass; returns the new desired counts. */
  function at(offsetSeconds: number, utilization: TaskUtilization): number[] {
    clock += offsetSeconds * SECOND;
    metrics.current = utilization;
    return scaler.evaluate().map((activity) => Number(/(\d+)\.$/.exec(activity.description)?.[1]));
  }

  const both = (scaleInCooldown = 60, disableScaleIn = false) => [
    {
      name: "web-cpu",
      metric: "ECSServiceAverageCPUUtilization" as const,
      targetValue: 50,
      scaleOutCooldown: 30,
      scaleInCooldown,
    },
    {
      name: "web-memory",
      metric: "ECSServiceAverageMemoryUtilization" as const,
      targetValue: 50,
      scaleOutCooldown: 30,
      scaleInCooldown,
      disableScaleIn,
    },
  ];

  it("scales in only when every policy wants fewer, after they have agreed for the cooldown", () => {
    setUp(4, both());
    // CPU wants 1, memory wants ceil(4 × 45 / 50) = 4: no agreement, however long it lasts.
    expect(at(0, { cpu: 10, memory: 45 })).toEqual([]);
    expect(at(61, { cpu: 10, memory: 45 })).toEqual([]);
    expect(at(61, { cpu: 10, memory: 45 })).toEqual([]);
    // Now memory wants 2 and CPU 1: they agree, and the cooldown starts.
    expect(at(1, { cpu: 10, memory: 20 })).toEqual([]);
    expect(at(30, { cpu: 10, memory: 20 })).toEqual([]);
    // To the larger wish, 2, so memory does not go above its target.
    expect(at(30, { cpu: 10, memory: 20 })).toEqual([2]);
    const [activity] = store.activities();
    expect(activity?.cause).toMatch(/AlarmLow-.* triggered policy web-memory$/);
    expect(activity?.details).toContain("policy web-cpu: average CPU utilization 10.0%");
    // The next scale-in waits a whole cooldown after this one.
    expect(at(59, { cpu: 1, memory: 1 })).toEqual([]);
    expect(at(2, { cpu: 1, memory: 1 })).toEqual([1]);
    expect(at(600, { cpu: 1, memory: 1 })).toEqual([]);
  });

  it("never scales in while a policy disables scale-in", () => {
    setUp(4, both(60, true));
    expect(at(0, { cpu: 1, memory: 1 })).toEqual([]);
    expect(at(120, { cpu: 1, memory: 1 })).toEqual([]);
    expect(at(3600, { cpu: 1, memory: 1 })).toEqual([]);
    // It still scales out.
    expect(at(1, { cpu: 1, memory: 90 })).toEqual([8]);
  });

  it("scales out on the policy that wants most, at once, then waits out the scale-out cooldown", () => {
    setUp(2, both());
    expect(at(0, { cpu: 120, memory: 60 })).toEqual([5]);
    expect(store.activities()[0]?.cause).toMatch(/AlarmHigh-.* triggered policy web-cpu$/);
    // Now wants ceil(5 × 4) = 20, clamped to 10, but the 30 s cooldown runs.
    expect(at(10, { cpu: 200, memory: 60 })).toEqual([]);
    expect(at(21, { cpu: 200, memory: 60 })).toEqual([10]);
    // At max: no activity however high the load.
    expect(at(60, { cpu: 500, memory: 500 })).toEqual([]);
    // A policy at its target wants what runs: no scale-in while it holds.
    expect(at(600, { cpu: 50, memory: 10 })).toEqual([]);
  });

  it("after a scale-out, scales in only once the policies have agreed for a whole cooldown", () => {
    setUp(2, both(120));
    expect(at(0, { cpu: 100, memory: 10 })).toEqual([4]);
    // The load is gone at once: both agree from 5 s on, so the earliest scale-in is at 125 s.
    expect(at(5, { cpu: 1, memory: 1 })).toEqual([]);
    expect(at(100, { cpu: 1, memory: 1 })).toEqual([]);
    expect(at(16, { cpu: 1, memory: 1 })).toEqual([]);
    expect(at(5, { cpu: 1, memory: 1 })).toEqual([1]);
  });

  it("uses the default 300 s cooldowns when a policy gives none", () => {
    setUp(2, [{ name: "web-cpu", metric: "ECSServiceAverageCPUUtilization", targetValue: 50 }]);
    expect(at(0, { cpu: 100, memory: 0 })).toEqual([4]);
    expect(at(299, { cpu: 200, memory: 0 })).toEqual([]);
    expect(at(1, { cpu: 200, memory: 0 })).toEqual([10]);
    expect(at(1, { cpu: 0, memory: 0 })).toEqual([]);
    expect(at(299, { cpu: 0, memory: 0 })).toEqual([]);
    expect(at(1, { cpu: 0, memory: 0 })).toEqual([1]);
  });

  it("stays within [min, max], and does nothing without measurements or while suspended", () => {
    setUp(3, both(0));
    store.registerTarget({ resourceId: WEB, scalableDimension: DIMENSION, minCapacity: 2, maxCapacity: 4 });
    expect(at(0, { cpu: 1000, memory: 0 })).toEqual([4]);
    // A scale-in cooldown of 0 lets it scale in on the first pass that agrees, but not below min.
    expect(at(1, { cpu: 0, memory: 0 })).toEqual([2]);
    expect(at(1, { cpu: 0, memory: 0 })).toEqual([]);

    metrics.current = undefined;
    clock += 1000 * SECOND;
    expect(scaler.evaluate()).toEqual([]);

    store.registerTarget({
      resourceId: WEB,
      scalableDimension: DIMENSION,
      suspendedState: { DynamicScalingOutSuspended: true },
    });
    expect(at(1, { cpu: 1000, memory: 1000 })).toEqual([]);
    expect(services.desired).toBe(2);
  });

  it("records a Failed activity when ECS refuses the change", () => {
    setUp(2, both());
    services.refuse = "the service is being deleted";
    expect(at(0, { cpu: 100, memory: 0 })).toEqual([4]);
    expect(store.activities()[0]).toMatchObject({
      statusCode: "Failed",
      statusMessage: "Failed to set desired count to 4. the service is being deleted",
    });
    expect(services.desired).toBe(2);
  });

  it("leaves targets without policies, and services that are gone, alone", () => {
    setUp(2, []);
    expect(at(0, { cpu: 1000, memory: 1000 })).toEqual([]);
    policy({ name: "web-cpu", metric: "ECSServiceAverageCPUUtilization", targetValue: 50 });
    services.exists = () => false;
    expect(at(1, { cpu: 1000, memory: 1000 })).toEqual([]);
    expect(services.desired).toBe(2);
  });
});

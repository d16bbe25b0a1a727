import { describe, expect, it } from "vitest";
import type { BerthError } from "../errors.ts";
import * as DeploymentEventRecord from "../store/deployment-event-record.ts";
import * as DeploymentRecord from "../store/deployment-record.ts";
import * as ServiceRecord from "../store/service-record.ts";
import { createStore } from "../store/store.ts";
import { countWrites, localTableForFile, rejection } from "../store/test-support.ts";
import * as Deployment from "./deployment.ts";
import { isTerminal, Status, TRANSITIONS } from "./status.ts";

const local = localTableForFile();

const specHash = "c".repeat(64);
let serviceCounter = 0;

/** A fresh service in its own stack, so tests do not share slots. */
async function freshService(): Promise<{ stack: string; service: string }> {
  serviceCounter++;
  const stack = `stack-${serviceCounter}`;
  await ServiceRecord.create(local.store, { stack, name: "api", spec: {} });
  return { stack, service: "api" };
}

/** The statuses a deployment passes through from PENDING to reach `status`. */
const pathTo: Record<"PENDING" | "BUILDING" | "DEPLOYING" | "ROLLING_BACK", Status[]> = {
  PENDING: [],
  BUILDING: ["BUILDING"],
  DEPLOYING: ["DEPLOYING"],
  ROLLING_BACK: ["DEPLOYING", "ROLLING_BACK"],
};

async function deploymentIn(status: keyof typeof pathTo): Promise<string> {
  const { id } = await DeploymentRecord.create(local.store, {
    stack: "moves",
    service: "api",
    trigger: "api",
    specHash,
  });
  let current: Status = "PENDING";
  for (const next of pathTo[status]) {
    await Deployment.transition(local.store, id, current, next, `to ${next}`);
    current = next;
  }
  return id;
}

describe("transition", () => {
  const allowed = Status.options.flatMap((from) => TRANSITIONS[from].map((to) => [from, to] as const));

  it.each(allowed)("moves %s → %s and records the event", async (from, to) => {
    const id = await deploymentIn(from as keyof typeof pathTo);
    const before = await DeploymentRecord.get(local.store, id);
    const moved = await Deployment.transition(local.store, id, from, to, `because ${to}`);
    expect(moved).toMatchObject({ status: to, reason: `because ${to}` });
    expect(moved.finishedAt !== undefined).toBe(isTerminal(to));
    expect(moved.eventCount).toBe((before?.eventCount ?? 0) + 1);
    const events = await DeploymentEventRecord.all(local.store, id);
    expect(events.at(-1)).toMatchObject({
      sequence: moved.eventCount,
      type: "status",
      data: { from, to, reason: `because ${to}` },
    });
  });

  it.each([
    ["PENDING", "SUCCEEDED"],
    ["PENDING", "ROLLING_BACK"],
    ["BUILDING", "SUCCEEDED"],
    ["DEPLOYING", "PENDING"],
    ["ROLLING_BACK", "CANCELLED"],
    ["SUCCEEDED", "FAILED"],
    ["CANCELLED", "PENDING"],
  ] as const)("refuses %s → %s without writing", async (from, to) => {
    const id = await deploymentIn("PENDING");
    const error = await rejection(Deployment.transition(local.store, id, from, to, "no"));
    expect(error.code).toBe("INVALID_TRANSITION");
    expect(await DeploymentRecord.get(local.store, id)).toMatchObject({ status: "PENDING", eventCount: 1 });
  });

  it("lets one of two racing transitions from the same status win; the other gets CONFLICT", async () => {
    const id = await deploymentIn("PENDING");
    const results = await Promise.allSettled([
      Deployment.transition(local.store, id, "PENDING", "BUILDING", "started"),
      Deployment.transition(local.store, id, "PENDING", "CANCELLED", "cancelled"),
    ]);
    expect(results.filter((result) => result.status === "fulfilled")).toHaveLength(1);
    const rejected = results.find((result) => result.status === "rejected");
    expect(rejected?.reason).toMatchObject({ code: "CONFLICT" });
    expect(
      (await DeploymentEventRecord.all(local.store, id)).filter((event) => event.type === "status"),
    ).toHaveLength(1);
  });

  it("reports a missing deployment and an unknown status", async () => {
    const missing = await rejection(
      Deployment.transition(local.store, "01J00000000000000000000000", "PENDING", "BUILDING", "x"),
    );
    expect(missing.code).toBe("NOT_FOUND");
    const unknown = await rejection(
      Deployment.transition(local.store, await deploymentIn("PENDING"), "PENDING", "DONE" as Status, "x"),
    );
    expect(unknown.code).toBe("INVALID_INPUT");
  });
});

async function finish(deployment: DeploymentRecord.Info): Promise<Deployment.ReleaseOutcome> {
  await Deployment.transition(local.store, deployment.id, "PENDING", "DEPLOYING", "rolling out");
  await Deployment.transition(local.store, deployment.id, "DEPLOYING", "SUCCEEDED", "healthy");
  return Deployment.releaseService(local.store, deployment.stack, deployment.service, deployment.id);
}

describe("one active deployment per service", () => {
  it("activates the first request, queues the next, and supersedes a waiting one with a newer one", async () => {
    const target = await freshService();
    const request = () => Deployment.requestDeployment(local.store, { ...target, trigger: "api", specHash });
    const first = await request();
    expect(first).toMatchObject({ activate: true, placement: "active" });
    const second = await request();
    expect(second).toMatchObject({ activate: false, placement: "queued" });
    const third = await request();
    expect(third).toMatchObject({ activate: false, placement: "queued" });

    expect(await DeploymentRecord.get(local.store, second.deployment.id)).toMatchObject({
      status: "SUPERSEDED",
      reason: `superseded by ${third.deployment.id}`,
    });
    expect(await ServiceRecord.get(local.store, target.stack, target.service)).toMatchObject({
      activeDeploymentId: first.deployment.id,
      queuedDeploymentId: third.deployment.id,
    });

    const released = await finish(first.deployment);
    expect(released.promoted?.id).toBe(third.deployment.id);
    expect(await ServiceRecord.get(local.store, target.stack, target.service)).toMatchObject({
      activeDeploymentId: third.deployment.id,
    });
    // A second release of the same deployment changes nothing.
    expect(
      await Deployment.releaseService(local.store, target.stack, target.service, first.deployment.id),
    ).toEqual({ released: false });
  });

  it("supersedes at once a request older than the one already waiting or running", async () => {
    const target = await freshService();
    const request = (trigger: DeploymentRecord.Trigger) =>
      Deployment.requestDeployment(local.store, { ...target, trigger, specHash });
    const active = await request("api");
    // A request stamped before the active one (a slow writer) must not run after it.
    local.advanceClock(-60_000);
    const behindActive = await request("webhook");
    local.advanceClock(60_000);
    expect(behindActive).toMatchObject({ placement: "superseded", activate: false });
    expect(behindActive.deployment.reason).toBe(`superseded by ${active.deployment.id}`);

    const queued = await request("api");
    local.advanceClock(-60_000);
    const behindQueued = await request("schedule");
    local.advanceClock(60_000);
    expect(queued.placement).toBe("queued");
    expect(behindQueued.deployment).toMatchObject({
      status: "SUPERSEDED",
      reason: `superseded by ${queued.deployment.id}`,
    });
    expect(await ServiceRecord.get(local.store, target.stack, target.service)).toMatchObject({
      activeDeploymentId: active.deployment.id,
      queuedDeploymentId: queued.deployment.id,
    });
  });

  it("refuses to release a service for a deployment still running", async () => {
    const target = await freshService();
    const { deployment } = await Deployment.requestDeployment(local.store, {
      ...target,
      trigger: "api",
      specHash,
    });
    await Deployment.transition(local.store, deployment.id, "PENDING", "BUILDING", "building");
    const error = await rejection(
      Deployment.releaseService(local.store, target.stack, target.service, deployment.id),
    );
    expect(error.code).toBe("CONFLICT");
    expect((await ServiceRecord.get(local.store, target.stack, target.service))?.activeDeploymentId).toBe(
      deployment.id,
    );
  });

  it("refuses a request for a service that does not exist, storing nothing", async () => {
    const error = await rejection(
      Deployment.requestDeployment(local.store, {
        stack: "nowhere",
        service: "api",
        trigger: "api",
        specHash,
      }),
    );
    expect(error.code).toBe("NOT_FOUND");
    expect((await DeploymentRecord.listForService(local.store, "nowhere", "api")).items).toEqual([]);
  });

  it("keeps 50 simultaneous requests to one active, one queued and the rest superseded, then drains in order", async () => {
    const target = await freshService();
    const lostRaces = countConditionFailures();
    // Each through its own store, as fifty Lambda instances would: writers sharing one store are
    // placed in batches (placeTogether), which would keep them from colliding at all.
    const outcomes = await Promise.all(
      Array.from({ length: 50 }, (_, index) =>
        Deployment.requestDeployment(createStore({ ...local.store }), {
          ...target,
          trigger: index % 2 === 0 ? "api" : "webhook",
          specHash,
        }),
      ),
    );
    // The requests really collided: the retry path ran, not fifty writes in a row.
    const lost = lostRaces.stop();
    expect(lost).toBeGreaterThan(0);
    const ids = outcomes.map((outcome) => outcome.deployment.id);
    expect(new Set(ids).size).toBe(50);
    expect(outcomes.filter((outcome) => outcome.activate)).toHaveLength(1);

    const service = await ServiceRecord.get(local.store, target.stack, target.service);
    const stored = await collect(target);
    expect(stored).toHaveLength(50);
    const active = stored.filter((deployment) => deployment.id === service?.activeDeploymentId);
    const queued = stored.filter((deployment) => deployment.id === service?.queuedDeploymentId);
    const superseded = stored.filter((deployment) => deployment.status === "SUPERSEDED");
    expect(active).toHaveLength(1);
    expect(queued.length).toBeLessThanOrEqual(1);
    expect(active.length + queued.length + superseded.length).toBe(50);
    for (const deployment of [...active, ...queued]) expect(deployment.status).toBe("PENDING");
    const slotted = new Set([service?.activeDeploymentId, service?.queuedDeploymentId]);
    for (const deployment of superseded) {
      expect(deployment.reason).toMatch(/^superseded by [0-9A-Z]{26}$/);
      const newer = deployment.reason.slice("superseded by ".length);
      expect(newer > deployment.id).toBe(true);
      expect(ids).toContain(newer);
      expect(slotted.has(deployment.id)).toBe(false);
    }
    // The one left waiting is the newest request of all, unless the newest already runs.
    const newest = [...ids].sort().at(-1);
    if (newest === service?.activeDeploymentId) expect(queued).toEqual([]);
    else expect(service?.queuedDeploymentId).toBe(newest);
    expect(outcomes.find((outcome) => outcome.placement === "active")?.deployment.id).toBe(
      service?.activeDeploymentId,
    );

    // Finishing the active deployment hands the slot to the waiting one, one at a time.
    const order: string[] = [];
    let running = active[0];
    while (running) {
      order.push(running.id);
      const current = await ServiceRecord.get(local.store, target.stack, target.service);
      expect(current?.activeDeploymentId).toBe(running.id);
      const { released, promoted } = await finish(running);
      expect(released).toBe(true);
      running = promoted;
    }
    expect(order).toEqual([service?.activeDeploymentId, ...queued.map((deployment) => deployment.id)]);
    const drained = await ServiceRecord.get(local.store, target.stack, target.service);
    expect(drained?.activeDeploymentId).toBeUndefined();
    expect(drained?.queuedDeploymentId).toBeUndefined();
    const final = await collect(target);
    expect(final.every((deployment) => isTerminal(deployment.status))).toBe(true);
    expect(final.filter((deployment) => deployment.status === "SUCCEEDED")).toHaveLength(order.length);
  });
});

describe("simultaneous requests through one store (one process)", () => {
  it("places them in batches: the same slots and reasons as one by one, in far fewer writes of the service", async () => {
    const target = await freshService();
    // One already runs and one waits, so every request either displaces the waiting one or is superseded.
    const running = await Deployment.requestDeployment(local.store, { ...target, trigger: "api", specHash });
    const waiting = await Deployment.requestDeployment(local.store, { ...target, trigger: "api", specHash });
    expect([running.placement, waiting.placement]).toEqual(["active", "queued"]);
    const before = await ServiceRecord.get(local.store, target.stack, target.service);

    const outcomes = await Promise.all(
      Array.from({ length: 50 }, () =>
        Deployment.requestDeployment(local.store, { ...target, trigger: "api", specHash }),
      ),
    );
    const after = await ServiceRecord.get(local.store, target.stack, target.service);
    // Each write of the service bumps its version; fifty one by one would take fifty.
    const writes = (after?.version ?? 0) - (before?.version ?? 0);
    expect(writes).toBeGreaterThan(0);
    expect(writes).toBeLessThanOrEqual(25);

    const ids = outcomes.map((outcome) => outcome.deployment.id);
    const newest = [...ids].sort().at(-1);
    expect(after?.activeDeploymentId).toBe(running.deployment.id);
    expect(after?.queuedDeploymentId).toBe(newest);
    expect(outcomes.filter((outcome) => outcome.activate)).toEqual([]);
    expect(outcomes.find((outcome) => outcome.deployment.id === newest)?.placement).toBe("queued");
    const displaced = await DeploymentRecord.get(local.store, waiting.deployment.id);
    expect(displaced?.status).toBe("SUPERSEDED");
    for (const outcome of outcomes.filter((outcome) => outcome.deployment.id !== newest)) {
      // Superseded in its batch, or queued and displaced by a newer batch (before or after its own
      // re-read: core then says "cancelled", which the API reports from the status as superseded).
      expect(["superseded", "queued", "cancelled"]).toContain(outcome.placement);
      const stored = await DeploymentRecord.get(local.store, outcome.deployment.id);
      expect(stored?.status).toBe("SUPERSEDED");
      const newer = stored?.reason.slice("superseded by ".length) ?? "";
      expect(stored?.reason).toMatch(/^superseded by [0-9A-Z]{26}$/);
      expect(newer > outcome.deployment.id).toBe(true);
      expect(ids).toContain(newer);
    }
    // Written once ended or ended after its place, its history reads the same: asked, then superseded.
    const superseded = outcomes.find((outcome) => outcome.placement === "superseded");
    expect(superseded).toBeDefined();
    const events = await DeploymentEventRecord.all(local.store, superseded?.deployment.id ?? "");
    expect(events.map((event) => [event.sequence, event.type])).toEqual([
      [1, "requested"],
      [2, "status"],
    ]);
    expect(events[1]?.data).toEqual({
      from: "PENDING",
      to: "SUPERSEDED",
      reason: superseded?.deployment.reason,
    });
    expect(superseded?.deployment).toMatchObject({ status: "SUPERSEDED", eventCount: 2 });
    expect(superseded?.deployment.finishedAt).toBeDefined();
  });

  it("writes the requests of a batch that get no slot once each, ended, in batch writes", async () => {
    const target = await freshService();
    await Deployment.requestDeployment(local.store, { ...target, trigger: "api", specHash });
    const known = await ServiceRecord.get(local.store, target.stack, target.service);
    const calls = countWrites(local.client);
    // With the service already read, all fifty join one batch.
    const outcomes = await Promise.all(
      Array.from({ length: 50 }, () =>
        Deployment.requestDeployment(local.store, { ...target, trigger: "api", specHash }, known),
      ),
    );
    const writeCalls = calls.stop();
    expect(outcomes.filter((outcome) => outcome.placement === "superseded")).toHaveLength(49);
    expect(outcomes.filter((outcome) => outcome.placement === "queued")).toHaveLength(1);
    // Created and then ended one by one, forty-nine would take four writes each.
    expect(writeCalls).toBeLessThan(49);
    const stored = await collect(target);
    expect(stored.filter((deployment) => deployment.status === "SUPERSEDED")).toHaveLength(49);
  });

  it("gives a free active slot to the oldest of a batch and the queued slot to the newest", async () => {
    const target = await freshService();
    const outcomes = await Promise.all(
      Array.from({ length: 10 }, () =>
        Deployment.requestDeployment(local.store, { ...target, trigger: "api", specHash }),
      ),
    );
    const service = await ServiceRecord.get(local.store, target.stack, target.service);
    const active = outcomes.filter((outcome) => outcome.activate);
    expect(active).toHaveLength(1);
    expect(service?.activeDeploymentId).toBe(active[0]?.deployment.id);
    expect(service?.queuedDeploymentId).toBe(
      [...outcomes.map((outcome) => outcome.deployment.id)].sort().at(-1),
    );
    const stored = await collect(target);
    expect(stored).toHaveLength(10);
    expect(stored.filter((deployment) => deployment.status === "PENDING")).toHaveLength(2);
    expect(stored.filter((deployment) => deployment.status === "SUPERSEDED")).toHaveLength(8);
  });
});

/** Counts writes that lost a conditional check, from now until `stop`. */
function countConditionFailures(): { stop(): number } {
  let failures = 0;
  let counting = true;
  const name = `count-condition-failures-${serviceCounter}`;
  local.client.middlewareStack.add(
    (next) => async (args) => {
      try {
        return await next(args);
      } catch (error) {
        if (counting && error instanceof Error && error.name === "ConditionalCheckFailedException")
          failures++;
        throw error;
      }
    },
    { step: "initialize", name },
  );
  return {
    stop() {
      counting = false;
      local.client.middlewareStack.remove(name);
      return failures;
    },
  };
}

async function collect(target: { stack: string; service: string }): Promise<DeploymentRecord.Info[]> {
  const all: DeploymentRecord.Info[] = [];
  let cursor: string | undefined;
  do {
    const page = await DeploymentRecord.listForService(local.store, target.stack, target.service, {
      limit: 100,
      cursor,
    });
    all.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor);
  return all;
}

describe("cancel", () => {
  it("cancels a queued deployment, which leaves the queue and is never promoted", async () => {
    const target = await freshService();
    const active = await Deployment.requestDeployment(local.store, { ...target, trigger: "api", specHash });
    const queued = await Deployment.requestDeployment(local.store, { ...target, trigger: "api", specHash });
    const outcome = await Deployment.cancel(local.store, queued.deployment.id);
    expect(outcome).toMatchObject({ outcome: "cancelled", deployment: { status: "CANCELLED" } });
    expect(
      (await ServiceRecord.get(local.store, target.stack, target.service))?.queuedDeploymentId,
    ).toBeUndefined();
    expect(await finish(active.deployment)).toEqual({ released: true });
    // Cancelling again reports the same outcome.
    expect(await Deployment.cancel(local.store, queued.deployment.id)).toMatchObject({
      outcome: "cancelled",
    });
  });

  it("cancels an active deployment that has not started and promotes the queued one", async () => {
    const target = await freshService();
    const active = await Deployment.requestDeployment(local.store, { ...target, trigger: "api", specHash });
    const queued = await Deployment.requestDeployment(local.store, { ...target, trigger: "api", specHash });
    const outcome = await Deployment.cancel(local.store, active.deployment.id, "wrong image");
    expect(outcome).toMatchObject({
      outcome: "cancelled",
      deployment: { status: "CANCELLED", reason: "wrong image" },
      promoted: { id: queued.deployment.id },
    });
    expect((await ServiceRecord.get(local.store, target.stack, target.service))?.activeDeploymentId).toBe(
      queued.deployment.id,
    );
  });

  it("flags a running deployment for its workflow to stop, and refuses to cancel a rollback or a finished one", async () => {
    const target = await freshService();
    const { deployment } = await Deployment.requestDeployment(local.store, {
      ...target,
      trigger: "api",
      specHash,
    });
    await Deployment.transition(local.store, deployment.id, "PENDING", "DEPLOYING", "rolling out");
    const outcome = await Deployment.cancel(local.store, deployment.id);
    expect(outcome.outcome).toBe("cancel-requested");
    expect(outcome.deployment).toMatchObject({ status: "DEPLOYING" });
    expect(outcome.deployment.cancelRequestedAt).toBeDefined();
    expect((await DeploymentEventRecord.all(local.store, deployment.id)).at(-1)?.type).toBe(
      "cancel-requested",
    );
    expect((await Deployment.cancel(local.store, deployment.id)).outcome).toBe("cancel-requested");

    await Deployment.transition(local.store, deployment.id, "DEPLOYING", "ROLLING_BACK", "unhealthy");
    expect((await rejection(Deployment.cancel(local.store, deployment.id))).code).toBe("INVALID_TRANSITION");
    await Deployment.transition(local.store, deployment.id, "ROLLING_BACK", "ROLLED_BACK", "restored");
    expect((await rejection(Deployment.cancel(local.store, deployment.id))).code).toBe("INVALID_TRANSITION");
    expect((await rejection(Deployment.cancel(local.store, "01J00000000000000000000000"))).code).toBe(
      "NOT_FOUND",
    );
  });

  it("leaves nothing stuck when cancellations race with requests", async () => {
    const target = await freshService();
    const requests = Array.from({ length: 12 }, () =>
      Deployment.requestDeployment(local.store, { ...target, trigger: "api", specHash }),
    );
    const outcomes = await Promise.all(requests);
    const cancellations = await Promise.allSettled(
      outcomes.map((outcome) => Deployment.cancel(local.store, outcome.deployment.id)),
    );
    for (const result of cancellations) {
      if (result.status === "rejected") expect((result.reason as BerthError).code).toBe("INVALID_TRANSITION");
    }
    const service = await ServiceRecord.get(local.store, target.stack, target.service);
    const stored = await collect(target);
    expect(stored.every((deployment) => isTerminal(deployment.status))).toBe(true);
    expect(service?.activeDeploymentId).toBeUndefined();
    expect(service?.queuedDeploymentId).toBeUndefined();
  });
});

import { z } from "zod";
import { BerthError, isConflict } from "../errors.ts";
import { backOff as wait } from "../retry.ts";
import * as DeploymentEventRecord from "../store/deployment-event-record.ts";
import * as DeploymentRecord from "../store/deployment-record.ts";
import { parseInput } from "../store/dynamo.ts";
import * as ServiceRecord from "../store/service-record.ts";
import type { Store } from "../store/store.ts";
import { canTransition, isTerminal, RUNNING, Status } from "./status.ts";

export const Info = DeploymentRecord.Info;
export type Info = DeploymentRecord.Info;
export const Trigger = DeploymentRecord.Trigger;
export type Trigger = DeploymentRecord.Trigger;

/**
 * How often a writer re-reads the service item and tries again when another writer got there
 * first. Fifty simultaneous requests settle in a handful of rounds, because only a request
 * newer than everything already placed needs to write at all.
 */
const SERVICE_WRITE_ATTEMPTS = 100;

function backOff(attempt: number): Promise<void> {
  return wait(attempt, { baseMs: 1, capMs: 100 });
}

function tooMuchContention(what: string): BerthError {
  return new BerthError(
    "CONFLICT",
    `${what}: the service record changed on each of ${SERVICE_WRITE_ATTEMPTS} attempts; retry`,
  );
}

/**
 * Moves a deployment from `from` to `to` if the lifecycle allows it and it is still in `from`
 * (a conditional write), and appends the event. INVALID_TRANSITION: the lifecycle forbids it;
 * CONFLICT: someone else moved it first; NOT_FOUND: no such deployment.
 */
export async function transition(
  store: Store,
  id: string,
  from: Status,
  to: Status,
  reason: string,
): Promise<Info> {
  const source = parseInput(Status, from, "status");
  const target = parseInput(Status, to, "status");
  if (!canTransition(source, target)) {
    throw new BerthError("INVALID_TRANSITION", `a deployment cannot go from ${source} to ${target}`);
  }
  return DeploymentRecord.compareAndSetStatus(store, id, { from: source, to: target, reason });
}

/**
 * Says why a PENDING deployment is still waiting, if it is still PENDING: the reason changes and
 * a status event records it, with no transition (CONFLICT when something moved it meanwhile).
 */
export async function explainWait(store: Store, id: string, reason: string): Promise<Info> {
  return DeploymentRecord.compareAndSetStatus(store, id, { from: "PENDING", to: "PENDING", reason });
}

/**
 * Ends a PENDING deployment that holds no slot, unless it already ended (cancelled meanwhile):
 * either way it is final afterwards.
 */
async function endWaiting(store: Store, id: string, to: Status, reason: string): Promise<Info> {
  try {
    return await transition(store, id, "PENDING", to, reason);
  } catch (error) {
    if (!isConflict(error)) throw error;
    const current = await DeploymentRecord.get(store, id);
    if (current && isTerminal(current.status)) return current;
    throw error;
  }
}

export type RequestInput = DeploymentRecord.CreateInput;

export interface RequestOutcome {
  /** The stored deployment as it stands after queueing. */
  deployment: Info;
  /** It holds the service's active slot: the caller starts its workflow now. */
  activate: boolean;
  /**
   * `active`: it runs now. `queued`: it runs when the active one finishes. `superseded`: a newer
   * request was already waiting or running, so this one will not run. `cancelled`: cancelled
   * while it was being queued.
   */
  placement: "active" | "queued" | "superseded" | "cancelled";
  /** Another deployment the caller must start: only when this one was cancelled while taking the active slot. */
  promoted?: Info;
}

/**
 * Stores a deployment request as PENDING and gives it a place on its service: the active slot
 * if it is free, else the single queued slot. Requests are ordered by id (creation time): a
 * newer request displaces an older waiting one (SUPERSEDED, "superseded by <newer id>"), and a
 * request older than the one already active or waiting is superseded at once, so a slow writer
 * can never put an older spec in line after a newer one. Every request ends active, queued or
 * final with a reason, including when the service keeps changing (FAILED) or disappears (FAILED).
 */
export async function requestDeployment(
  store: Store,
  input: RequestInput,
  /** The service as the caller has just read it, if it has: saves reading it again. */
  known?: ServiceRecord.Info,
): Promise<RequestOutcome> {
  const { stack, service } = parseInput(DeploymentRecord.CreateInput, input, "deployment request");
  const current = known ?? (await ServiceRecord.get(store, stack, service));
  if (!current) throw new BerthError("NOT_FOUND", `service ${stack}/${service} does not exist`);
  // Written once its place is known: before the service names it, if it takes a slot; else once,
  // already ended, with the others of its batch that ended too (one batch write for many).
  return place(store, { deployment: DeploymentRecord.prepare(store, input), stored: false }, current);
}

/** Where a deployment went; an unstored one that did not take a slot comes with its record as written, ended. */
type PlacementStep = (
  | { kind: "gone" }
  | { kind: "newer"; newer: string }
  | { kind: "contended" }
  | { kind: "placed"; service: ServiceRecord.Info; takesActiveSlot: boolean; displaced: string | undefined }
) & { ended?: Info };

/** A deployment to place: `stored` once its record is written (an approved one always is). */
interface Candidate {
  deployment: Info;
  stored: boolean;
}

/** Deployments of one service waiting to be placed together (`placeTogether`). */
interface PlacementBatch {
  members: Map<string, Candidate>;
  /** The service as its first member read it, used when the batch is alone and did not wait. */
  known: ServiceRecord.Info | undefined;
  waited: boolean;
  /** Each member's step once the slots are written. */
  placed: Promise<Map<string, PlacementStep>>;
  /** The same, once the members that got no place are also stored, ended (`writeEnded`). */
  steps: Promise<Map<string, PlacementStep>>;
}

/** Per store (one per process, as a Lambda builds it) and `stack/service`: the batch still open, and the one running. */
const batchesByStore = new WeakMap<
  Store,
  Map<string, { open?: PlacementBatch; running?: Promise<unknown> }>
>();

/**
 * Where each of `ids` (deployments of one service, none placed yet) goes, given the service as it
 * stands: the same outcome as placing them one after another in id order, written at once. An id
 * older than a deployment already active or queued is superseded by that one; of the rest, the
 * oldest takes the active slot when it is free, the newest takes the queued slot (displacing the
 * one there), and each in between is superseded by the next newer one.
 */
function plan(current: ServiceRecord.Info, ids: string[]) {
  const steps = new Map<string, { kind: "newer"; newer: string } | { kind: "active" } | { kind: "queued" }>();
  const placed = [current.activeDeploymentId, current.queuedDeploymentId].filter(
    (other): other is string => other !== undefined,
  );
  const top = placed.sort().at(-1);
  const fresh = [...ids].sort().filter((id) => {
    if (top !== undefined && top > id) steps.set(id, { kind: "newer", newer: top });
    return !steps.has(id);
  });
  let rest = fresh;
  if (current.activeDeploymentId === undefined && fresh[0] !== undefined) {
    steps.set(fresh[0], { kind: "active" });
    rest = fresh.slice(1);
  }
  rest.forEach((id, index) => {
    const next = rest[index + 1];
    steps.set(id, next === undefined ? { kind: "queued" } : { kind: "newer", newer: next });
  });
  const active = fresh[0] !== undefined && steps.get(fresh[0])?.kind === "active" ? fresh[0] : undefined;
  const queued = rest.at(-1);
  return { steps, active, queued };
}

/** Writes the record of a deployment about to take a slot, unless it is written already. */
async function stored(store: Store, candidate: Candidate | undefined): Promise<void> {
  if (!candidate || candidate.stored) return;
  await DeploymentRecord.insert(store, candidate.deployment);
  candidate.stored = true;
}

/** Reads, plans and writes one batch's placements, re-reading and trying again while other writers get there first. */
async function placeBatch(store: Store, stack: string, service: string, batch: PlacementBatch) {
  const ids = [...batch.members.keys()];
  const steps = new Map<string, PlacementStep>();
  const everyone = (step: PlacementStep) => {
    for (const id of ids) if (!steps.has(id)) steps.set(id, step);
    return steps;
  };
  const alone = ids.length === 1 && !batch.waited;
  let current = alone ? batch.known : undefined;
  for (let attempt = 0; attempt < SERVICE_WRITE_ATTEMPTS; attempt++) {
    if (attempt > 0) await backOff(attempt);
    // Whoever placed before may have changed the service since it was read.
    if (attempt > 0 || !alone || !current) current = await ServiceRecord.get(store, stack, service);
    if (!current) return everyone({ kind: "gone" });
    const { steps: planned, active, queued } = plan(current, ids);
    if (active === undefined && queued === undefined) {
      for (const [id, step] of planned) if (step.kind === "newer") steps.set(id, step);
      return steps;
    }
    const displaced = queued === undefined ? undefined : current.queuedDeploymentId;
    // A slot must never name a deployment that has no record: whoever reads the slot reads it.
    await Promise.all([active, queued].map((id) => stored(store, id ? batch.members.get(id) : undefined)));
    try {
      const updated = await ServiceRecord.update(
        store,
        { stack, name: service, expectedVersion: current.version },
        {
          ...(active ? { activeDeploymentId: active } : {}),
          ...(queued ? { queuedDeploymentId: queued } : {}),
        },
      );
      for (const [id, step] of planned) {
        if (step.kind === "newer") steps.set(id, step);
        else {
          const takesActiveSlot = step.kind === "active";
          steps.set(id, {
            kind: "placed",
            service: updated,
            takesActiveSlot,
            displaced: takesActiveSlot ? undefined : displaced,
          });
        }
      }
      return steps;
    } catch (error) {
      if (isConflict(error)) continue;
      if (error instanceof BerthError && error.code === "NOT_FOUND") {
        current = undefined;
        continue;
      }
      throw error;
    }
  }
  return everyone({ kind: "contended" });
}

/** How a deployment that got no place ends, and why. */
function endOf(
  stack: string,
  service: string,
  step: Exclude<PlacementStep, { kind: "placed" }>,
): { to: Status; reason: string } {
  switch (step.kind) {
    case "newer":
      return { to: "SUPERSEDED", reason: `superseded by ${step.newer}` };
    case "gone":
      return {
        to: "FAILED",
        reason: `service ${stack}/${service} was deleted before the deployment could run`,
      };
    case "contended":
      return {
        to: "FAILED",
        reason: `could not be queued: the service record changed on each of ${SERVICE_WRITE_ATTEMPTS} attempts`,
      };
  }
}

/**
 * Writes the batch's members that got no place and were never written, each once, ended (their
 * ids were never handed out, so nothing can have moved them); the stored ones are ended by their
 * own requests (`placeDeployment`), since a cancellation may have ended them first.
 */
async function writeEnded(
  store: Store,
  stack: string,
  service: string,
  batch: PlacementBatch,
  steps: Map<string, PlacementStep>,
): Promise<Map<string, PlacementStep>> {
  const ended = [...steps].flatMap(([id, step]) => {
    const candidate = batch.members.get(id);
    if (!candidate || candidate.stored || step.kind === "placed") return [];
    return [{ deployment: candidate.deployment, ...endOf(stack, service, step) }];
  });
  if (ended.length === 0) return steps;
  for (const info of await DeploymentRecord.insertEnded(store, ended)) {
    const step = steps.get(info.id);
    if (step) steps.set(info.id, { ...step, ended: info });
  }
  return steps;
}

/**
 * Places deployment `id` together with every other deployment of the same service that asked
 * through the same store while the batch before was being written: fifty requests to one service
 * in one process then cost a few reads and conditional writes of its item, not fifty of each (and
 * not ~n² lost ones: dynalite applies the writes of one item one at a time, so every lost one
 * delays all the others). Between processes (Lambda instances) the conditional write still decides.
 */
function placeTogether(
  store: Store,
  candidate: Candidate,
  known: ServiceRecord.Info | undefined,
): Promise<PlacementStep> {
  const { stack, service, id } = candidate.deployment;
  let batches = batchesByStore.get(store);
  if (!batches) {
    batches = new Map();
    batchesByStore.set(store, batches);
  }
  const key = `${stack}/${service}`;
  let slot = batches.get(key);
  if (!slot) {
    slot = {};
    batches.set(key, slot);
  }
  const lane = slot;
  let batch = lane.open;
  if (!batch) {
    const before = lane.running;
    let resolvePlaced!: (steps: Promise<Map<string, PlacementStep>>) => void;
    let resolveSteps!: (steps: Promise<Map<string, PlacementStep>>) => void;
    const opened: PlacementBatch = {
      members: new Map(),
      known,
      waited: before !== undefined,
      placed: new Promise((resolve) => {
        resolvePlaced = resolve;
      }),
      steps: new Promise((resolve) => {
        resolveSteps = resolve;
      }),
    };
    // Whoever reads only `placed` must not leave a failure of the ended records unhandled.
    opened.steps.catch(() => {});
    batch = opened;
    lane.open = opened;
    const run = (async () => {
      // Joined by every request that arrives until the batch before it is written (or, with none
      // before it, until the requests already on their way in this tick have asked).
      if (before) await before.catch(() => {});
      else await Promise.resolve();
      if (lane.open === opened) lane.open = undefined;
      const placed = placeBatch(store, stack, service, opened);
      resolvePlaced(placed);
      // The next batch waits for the slots only: the ended records are written beside it.
      resolveSteps(placed.then((steps) => writeEnded(store, stack, service, opened, steps)));
      await placed;
    })();
    const running = run.finally(() => {
      if (lane.running === running) lane.running = undefined;
      if (!lane.open && !lane.running && batches?.get(key) === lane) batches.delete(key);
    });
    // A failure reaches the batch's members through `steps`; the next batch only waits for it.
    running.catch(() => {});
    lane.running = running;
  }
  batch.members.set(id, candidate);
  const joined = batch;
  // A member that got a place, or whose record is already stored, does not wait for (nor fail
  // with) the batch write of the members that got none.
  return joined.placed.then((steps) => {
    const step = steps.get(id);
    if (step?.kind === "placed" || candidate.stored) return step ?? { kind: "contended" };
    return joined.steps.then((ended) => ended.get(id) ?? { kind: "contended" });
  });
}

/**
 * Gives a stored PENDING deployment its place on its service (see `requestDeployment`): what a
 * new request does right after it is stored, and what an approval does for one held until then.
 */
export async function placeDeployment(
  store: Store,
  deployment: Info,
  known?: ServiceRecord.Info,
): Promise<RequestOutcome> {
  return place(store, { deployment, stored: true }, known);
}

async function place(
  store: Store,
  candidate: Candidate,
  known?: ServiceRecord.Info,
): Promise<RequestOutcome> {
  const { deployment } = candidate;
  const { stack, service, id } = deployment;
  const step = await placeTogether(store, candidate, known);
  if (step.kind !== "placed") {
    const { to, reason } = endOf(stack, service, step);
    const ended = step.ended ?? (await endWaiting(store, id, to, reason));
    if (step.kind === "contended") throw tooMuchContention(`deployment ${id} could not be queued`);
    if (step.kind === "gone") throw new BerthError("NOT_FOUND", `service ${stack}/${service} does not exist`);
    return {
      deployment: ended,
      activate: false,
      placement: ended.status === "SUPERSEDED" ? "superseded" : "cancelled",
    };
  }
  const { takesActiveSlot, displaced } = step;
  // The slot write above is what decides; everything below only records its consequences.
  // Two different items: the displaced one's end and this one's event are written side by side.
  await Promise.all([
    displaced ? endWaiting(store, displaced, "SUPERSEDED", `superseded by ${id}`) : undefined,
    DeploymentEventRecord.append(
      store,
      id,
      takesActiveSlot
        ? { type: "activated", message: "holds the service's active slot" }
        : { type: "queued", message: `waiting for ${step.service.activeDeploymentId} to finish` },
    ),
  ]);
  // A cancellation that read the service before this write could not see the slot taken;
  // whichever of the two writes came second sees the other's and gives the slot back.
  const latest = (await DeploymentRecord.get(store, id)) ?? deployment;
  if (isTerminal(latest.status)) {
    const promoted = await vacate(store, latest);
    return {
      deployment: latest,
      activate: false,
      placement: "cancelled",
      ...(promoted ? { promoted } : {}),
    };
  }
  return {
    deployment: latest,
    activate: takesActiveSlot,
    placement: takesActiveSlot ? "active" : "queued",
  };
}

export interface ReleaseOutcome {
  /** False when the deployment did not hold the active slot (already released, or never active). */
  released: boolean;
  /** The queued deployment that now holds the active slot: the caller starts its workflow. */
  promoted?: Info;
}

/**
 * Frees the active slot of a service whose active deployment has finished, and promotes the
 * queued one. Safe to repeat: it changes nothing unless `finishedDeploymentId` still holds the slot.
 */
export async function releaseService(
  store: Store,
  stack: string,
  service: string,
  finishedDeploymentId: string,
): Promise<ReleaseOutcome> {
  const finished = await DeploymentRecord.get(store, finishedDeploymentId);
  if (finished && !isTerminal(finished.status)) {
    // Releasing a running deployment would let a second one run beside it.
    throw new BerthError(
      "CONFLICT",
      `deployment ${finishedDeploymentId} is ${finished.status}; release the service once it has finished`,
    );
  }
  for (let attempt = 0; attempt < SERVICE_WRITE_ATTEMPTS; attempt++) {
    if (attempt > 0) await backOff(attempt);
    const current = await ServiceRecord.get(store, stack, service);
    if (current?.activeDeploymentId !== finishedDeploymentId) return { released: false };
    const queued = current.queuedDeploymentId
      ? await DeploymentRecord.get(store, current.queuedDeploymentId)
      : undefined;
    // A waiting deployment that ended meanwhile (cancelled) gives up its turn.
    const next = queued?.status === "PENDING" ? queued : undefined;
    try {
      await ServiceRecord.update(
        store,
        { stack, name: service, expectedVersion: current.version },
        { activeDeploymentId: next?.id ?? null, queuedDeploymentId: null },
      );
    } catch (error) {
      if (isConflict(error)) continue;
      throw error;
    }
    if (!next) return { released: true };
    await DeploymentEventRecord.append(store, next.id, {
      type: "activated",
      message: `holds the service's active slot after ${finishedDeploymentId} finished`,
    });
    return { released: true, promoted: (await DeploymentRecord.get(store, next.id)) ?? next };
  }
  throw tooMuchContention(`the service ${stack}/${service} could not be released`);
}

/**
 * Takes a finished deployment out of whichever slot it still holds. Returns the deployment
 * promoted in its place, which the caller must start.
 */
async function vacate(store: Store, deployment: Info): Promise<Info | undefined> {
  const { stack, service, id } = deployment;
  for (let attempt = 0; attempt < SERVICE_WRITE_ATTEMPTS; attempt++) {
    if (attempt > 0) await backOff(attempt);
    const current = await ServiceRecord.get(store, stack, service);
    if (current?.activeDeploymentId === id) return (await releaseService(store, stack, service, id)).promoted;
    if (current?.queuedDeploymentId !== id) return undefined;
    try {
      await ServiceRecord.update(
        store,
        { stack, name: service, expectedVersion: current.version },
        { queuedDeploymentId: null },
      );
      return undefined;
    } catch (error) {
      if (!isConflict(error)) throw error;
    }
  }
  throw tooMuchContention(`deployment ${id} could not leave its service's slots`);
}

export type CancelOutcome =
  /**
   * It was waiting and is now CANCELLED. If it held the active slot, `promoted` is the deployment
   * that took it over, which the caller starts; if its workflow had been started, the caller
   * stops `executionArn` (its first status write would fail anyway).
   */
  | { outcome: "cancelled"; deployment: Info; promoted?: Info }
  /**
   * It is building or deploying: it is flagged (`cancelRequestedAt`), and its workflow ends it as
   * CANCELLED (after returning ECS to the previous revision, when it had changed it; the caller
   * wakes a workflow waiting on ECS, `request.ts`) and then releases the service. A caller that stops the execution
   * outright must do both itself.
   */
  | { outcome: "cancel-requested"; deployment: Info };

const CancelReason = z.string().min(1).max(1024);

/**
 * Cancels a deployment. INVALID_TRANSITION when it already finished otherwise, or is rolling
 * back (a rollback must complete). Repeating a cancellation returns the same outcome.
 */
export async function cancel(
  store: Store,
  id: string,
  reason = "cancelled on request",
): Promise<CancelOutcome> {
  const why = parseInput(CancelReason, reason, "cancellation reason");
  for (let attempt = 0; attempt < SERVICE_WRITE_ATTEMPTS; attempt++) {
    if (attempt > 0) await backOff(attempt);
    const deployment = await DeploymentRecord.get(store, id);
    if (!deployment) throw new BerthError("NOT_FOUND", `deployment ${id} does not exist`);
    const { status } = deployment;
    if (status === "CANCELLED") return { outcome: "cancelled", deployment };
    if (isTerminal(status)) {
      throw new BerthError("INVALID_TRANSITION", `deployment ${id} already finished as ${status}`);
    }
    if (status === "ROLLING_BACK") {
      throw new BerthError(
        "INVALID_TRANSITION",
        `deployment ${id} is rolling back; a rollback cannot be cancelled`,
      );
    }
    try {
      if (RUNNING.includes(status)) {
        const flagged = deployment.cancelRequestedAt
          ? deployment
          : await DeploymentRecord.requestCancellation(store, id, status, why);
        return { outcome: "cancel-requested", deployment: flagged };
      }
      // PENDING: leave the queue before ending, so that nothing promotes a cancelled deployment.
      const current = await ServiceRecord.get(store, deployment.stack, deployment.service);
      if (current?.queuedDeploymentId === id) {
        await ServiceRecord.update(
          store,
          { stack: deployment.stack, name: deployment.service, expectedVersion: current.version },
          { queuedDeploymentId: null },
        );
      }
      const cancelled = await transition(store, id, "PENDING", "CANCELLED", why);
      // It may have taken a slot after the read above (its request was still being queued).
      const promoted = await vacate(store, cancelled);
      return { outcome: "cancelled", deployment: cancelled, ...(promoted ? { promoted } : {}) };
    } catch (error) {
      if (!isConflict(error)) throw error;
    }
  }
  throw tooMuchContention(`deployment ${id} could not be cancelled`);
}

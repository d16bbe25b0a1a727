import { randomBytes } from "node:crypto";
import { backOff, busy } from "../retry.ts";
import { IdempotencyRecord, type Store } from "../store/index.ts";

/**
 * Applies and deletions of one stack run one at a time. An apply writes the stack item, then
 * each service item, then the deployments: two applies interleaving those writes would leave the
 * stored file saying one thing and the services another, with no conditional write able to see it.
 *
 * The store has no lock record; an idempotency claim is exactly a lease (a conditional put that
 * lapses on its own), so the lease is a claim under a scope no token id can take (token ids are
 * upper-case ULIDs). A holder that dies leaves it to lapse after `LEASE_SECONDS`.
 *
 * A caller waits at most `waitMs` for the lease (the API: half a second), then is refused with
 * CONFLICT and a Retry-After, having changed nothing: a burst of applies is answered at once
 * instead of queueing behind each other for tens of seconds. Callers in one process wait for
 * each other in memory (`localTurn`) and only the one whose turn it is asks the store.
 */
const LEASE_SCOPE = "stack-apply";
const LEASE_SECONDS = 60;

/** Per store (one per process, as a Lambda builds it): the stacks this process holds or is claiming, and when each is let go. */
const heldByStore = new WeakMap<Store, Map<string, Promise<void>>>();

/**
 * Waits, without asking the store, while this process itself holds or claims the stack's lease:
 * fifty applies of one stack in one process then wait on a promise instead of each re-trying a
 * conditional write of the same item (which dynalite applies one at a time, delaying the holder's
 * own writes). Resolves once the stack is free here and this caller has taken the local turn;
 * false when the deadline came first.
 */
async function localTurn(
  held: Map<string, Promise<void>>,
  stack: string,
  deadline: number,
  release: Promise<void>,
) {
  for (;;) {
    const holder = held.get(stack);
    if (!holder) {
      held.set(stack, release);
      return true;
    }
    const remaining = deadline - Date.now();
    if (remaining <= 0) return false;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      holder.then(() => false),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(true), remaining);
      }),
    ]);
    clearTimeout(timer);
    if (timedOut) return false;
  }
}

export async function withStackLease<Result>(
  store: Store,
  stack: string,
  waitMs: number,
  work: () => Promise<Result>,
): Promise<Result> {
  const refused = () =>
    busy(`another apply or deletion of stack ${stack} is still running; retry once it has finished`);
  let held = heldByStore.get(store);
  if (!held) {
    held = new Map();
    heldByStore.set(store, held);
  }
  const local = held;
  let letGo = () => {};
  const released = new Promise<void>((resolve) => {
    letGo = resolve;
  });
  const deadline = Date.now() + waitMs;
  if (!(await localTurn(local, stack, deadline, released))) throw refused();
  const target = { scope: LEASE_SCOPE, key: stack, requestHash: randomBytes(32).toString("hex") };
  try {
    // Another process (Lambda instance) may hold it: the store decides.
    for (let attempt = 0; ; attempt++) {
      const claim = await IdempotencyRecord.claim(store, target, LEASE_SECONDS);
      if (claim.outcome === "claimed") break;
      if (Date.now() >= deadline) throw refused();
      await backOff(attempt, { baseMs: 10, capMs: 250 });
    }
    try {
      return await work();
    } finally {
      await IdempotencyRecord.release(store, target);
    }
  } finally {
    if (local.get(stack) === released) local.delete(stack);
    letGo();
  }
}

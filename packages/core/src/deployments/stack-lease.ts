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
 * instead of queueing behind each other for tens of seconds.
 */
const LEASE_SCOPE = "stack-apply";
const LEASE_SECONDS = 60;

export async function withStackLease<Result>(
  store: Store,
  stack: string,
  waitMs: number,
  work: () => Promise<Result>,
): Promise<Result> {
  const target = { scope: LEASE_SCOPE, key: stack, requestHash: randomBytes(32).toString("hex") };
  const deadline = Date.now() + waitMs;
  for (let attempt = 0; ; attempt++) {
    const claim = await IdempotencyRecord.claim(store, target, LEASE_SECONDS);
    if (claim.outcome === "claimed") break;
    if (Date.now() >= deadline) {
      throw busy(`another apply or deletion of stack ${stack} is still running; retry once it has finished`);
    }
    await backOff(attempt, { baseMs: 10, capMs: 250 });
  }
  try {
    return await work();
  } finally {
    await IdempotencyRecord.release(store, target);
  }
}

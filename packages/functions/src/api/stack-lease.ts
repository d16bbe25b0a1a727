import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { IdempotencyRecord, type Store } from "@berth/core/store";
import { ApiError } from "./errors.ts";

/**
 * Applies and deletions of one stack run one at a time. An apply writes the stack item, then
 * each service item, then the deployments: two applies interleaving those writes would leave the
 * stored file saying one thing and the services another, with no conditional write able to see it.
 *
 * The store has no lock record; an idempotency claim is exactly a lease (a conditional put that
 * lapses on its own), so the lease is a claim under a scope no token id can take (token ids are
 * upper-case ULIDs). A holder that dies leaves it to lapse after `LEASE_SECONDS`.
 */
const LEASE_SCOPE = "stack-apply";
export const LEASE_SECONDS = 60;

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
      throw new ApiError(
        "CONFLICT",
        `another apply or deletion of stack ${stack} is still running; retry once it has finished`,
      );
    }
    // Randomised and growing: the waiters of one busy stack should not poll it in lockstep.
    await sleep(Math.random() * Math.min(250, 10 * 2 ** Math.min(attempt, 5)));
  }
  try {
    return await work();
  } finally {
    await IdempotencyRecord.release(store, target);
  }
}

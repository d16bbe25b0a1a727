import { setTimeout as sleep } from "node:timers/promises";

/** How a writer that lost a conditional write waits before it reads and tries again. */
export interface BackOff {
  /** The wait bound of the first retry; it doubles with each attempt. */
  baseMs: number;
  /** The largest wait bound, however many attempts came before. */
  capMs: number;
}

/**
 * Waits a random time below `min(capMs, baseMs · 2^attempt)` ("full jitter"): writers that
 * collided must not read and collide again in lockstep, and a busy record must not be polled
 * ever harder as its waiters grow.
 */
export async function backOff(attempt: number, { baseMs, capMs }: BackOff): Promise<void> {
  // Past 2^10 every bound in use has long reached its cap; the exponent stays small anyway.
  await sleep(Math.random() * Math.min(capMs, baseMs * 2 ** Math.min(attempt, 10)));
}

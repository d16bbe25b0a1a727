import { setTimeout as sleep } from "node:timers/promises";
import { BerthError } from "./errors.ts";

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

/**
 * How long a request keeps retrying a record that other writers keep changing before it gives
 * up. Past it the request is refused at once (`busy`) rather than held: fifty writers of one
 * record would otherwise hold each other for tens of seconds, past API Gateway's 30 s.
 */
export const CONTENTION_BUDGET_MS = 500;

/** What a refused client is told to wait before it tries again. */
const BUSY_RETRY_AFTER_SECONDS = 1;

/**
 * The refusal of a request that changed nothing because others held what it needed: CONFLICT
 * with a Retry-After, which the API sends as 409 and the CLI honours.
 */
export function busy(message: string, cause?: unknown): BerthError {
  return new BerthError("CONFLICT", message, [], {
    retryAfterSeconds: BUSY_RETRY_AFTER_SECONDS,
    ...(cause === undefined ? {} : { cause }),
  });
}

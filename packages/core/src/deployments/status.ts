import { z } from "zod";

export const Status = z.enum([
  "PENDING",
  "BUILDING",
  "DEPLOYING",
  "SUCCEEDED",
  "FAILED",
  "ROLLING_BACK",
  "ROLLED_BACK",
  "ROLLBACK_FAILED",
  "CANCELLED",
  "SUPERSEDED",
]);
export type Status = z.infer<typeof Status>;

/**
 * The lifecycle as data: every status and where it may go next. An empty list marks a final
 * status. PENDING may skip BUILDING (nothing to build: an image redeploy or a rollback) and is
 * the only status a waiting request can leave for SUPERSEDED. A rollback cannot be cancelled:
 * stopping it halfway would leave no healthy version.
 */
export const TRANSITIONS = {
  PENDING: ["BUILDING", "DEPLOYING", "CANCELLED", "SUPERSEDED", "FAILED"],
  BUILDING: ["DEPLOYING", "FAILED", "CANCELLED"],
  DEPLOYING: ["SUCCEEDED", "FAILED", "ROLLING_BACK", "CANCELLED"],
  ROLLING_BACK: ["ROLLED_BACK", "ROLLBACK_FAILED"],
  SUCCEEDED: [],
  FAILED: [],
  ROLLED_BACK: [],
  ROLLBACK_FAILED: [],
  CANCELLED: [],
  SUPERSEDED: [],
} as const satisfies Record<Status, readonly Status[]>;

export const TERMINAL: readonly Status[] = Status.options.filter(
  (status) => TRANSITIONS[status].length === 0,
);

export function isTerminal(status: Status): boolean {
  return TRANSITIONS[status].length === 0;
}

export function canTransition(from: Status, to: Status): boolean {
  return (TRANSITIONS[from] as readonly Status[]).includes(to);
}

/** Statuses in which the deployment's workflow is doing work that a cancellation has to stop. */
export const RUNNING: readonly Status[] = ["BUILDING", "DEPLOYING"];

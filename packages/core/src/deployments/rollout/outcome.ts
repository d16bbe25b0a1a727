import { z } from "zod";

/** How a wait on ECS ended: what finalize records. */
export const Outcome = z.object({
  status: z.enum(["SUCCEEDED", "ROLLED_BACK", "ROLLBACK_FAILED", "FAILED", "CANCELLED"]),
  reason: z.string().min(1).max(1000),
  /** The revision ECS runs afterwards. */
  taskDefinitionArn: z.string().min(1).optional(),
});
export type Outcome = z.infer<typeof Outcome>;

/**
 * An answer that is not an end: where the workflow goes next. STABILIZING: ECS completed the
 * rollout, wait `stabilitySeconds`, then check; WAITING: follow the ECS deployment of a rollback
 * or of a cancel's return; CANCELLING: undo the rollout.
 */
export const Continuation = z.object({
  status: z.enum(["STABILIZING", "WAITING", "CANCELLING"]),
  stabilitySeconds: z.number().int().nonnegative().optional(),
});
export type Continuation = z.infer<typeof Continuation>;

/** What a wait answers its workflow (through the task token, or as a step's result). */
export type Answer = Outcome | Continuation;

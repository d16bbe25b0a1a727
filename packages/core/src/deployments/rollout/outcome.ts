import { z } from "zod";

/** How a wait on ECS ended: what finalize records. */
export const Outcome = z.object({
  status: z.enum(["SUCCEEDED", "ROLLED_BACK", "ROLLBACK_FAILED", "FAILED"]),
  reason: z.string().min(1).max(1000),
  /** The revision ECS runs afterwards. */
  taskDefinitionArn: z.string().min(1).optional(),
});
export type Outcome = z.infer<typeof Outcome>;

import { Rollout } from "@berth/core/rollout";
import { z } from "zod";
import { stepHandler } from "./runtime.ts";
import { StepInput } from "./schemas.ts";

export const handler = stepHandler(
  "finalize",
  StepInput.extend({ outcome: z.unknown().optional(), error: z.unknown().optional() }),
  (runtime, input) => Rollout.finalize(runtime, input),
);

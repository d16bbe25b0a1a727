import { Rollout } from "@berth/core/rollout";
import { stepHandler } from "./runtime.ts";
import { AppliedService, StepInput } from "./schemas.ts";

export const handler = stepHandler(
  "advance-wait",
  StepInput.extend({ applied: AppliedService }),
  (runtime, input) => Rollout.advanceWait(runtime, input),
);

import { Rollout } from "@berth/core/rollout";
import { stepHandler } from "./runtime.ts";
import { AppliedService, StepInput } from "./schemas.ts";

export const handler = stepHandler(
  "reconcile",
  StepInput.extend({ applied: AppliedService }),
  (runtime, input) => Rollout.reconcile(runtime, input),
);

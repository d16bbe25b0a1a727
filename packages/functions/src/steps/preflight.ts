import { Rollout } from "@berth/core/rollout";
import { stepHandler } from "./runtime.ts";
import { StepInput } from "./schemas.ts";

export const handler = stepHandler("preflight", StepInput.loose(), (runtime, input) =>
  Rollout.preflight(runtime, input),
);

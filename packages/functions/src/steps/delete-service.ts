import { Rollout } from "@berth/core/rollout";
import { stepHandler } from "./runtime.ts";
import { StepInput } from "./schemas.ts";

export const handler = stepHandler("delete-service", StepInput, (runtime, input) =>
  Rollout.deleteService(runtime, input),
);

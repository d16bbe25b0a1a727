import { Rollout } from "@berth/core/rollout";
import { stepHandler } from "./runtime.ts";
import { StepInput } from "./schemas.ts";

export const handler = stepHandler("load-deployment", StepInput, (runtime, input) =>
  Rollout.loadDeployment(runtime, input),
);

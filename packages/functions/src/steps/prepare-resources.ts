import { Rollout } from "@berth/core/rollout";
import { z } from "zod";
import { stepHandler } from "./runtime.ts";
import { FinishedBuild, StepInput } from "./schemas.ts";

export const handler = stepHandler(
  "prepare-resources",
  StepInput.extend({ builds: z.array(FinishedBuild).nullish() }),
  (runtime, input) => Rollout.prepareResources(runtime, input),
);

import { Rollout } from "@berth/core/rollout";
import { z } from "zod";
import { stepHandler } from "./runtime.ts";
import { AppliedService, StepInput } from "./schemas.ts";

export const handler = stepHandler(
  "wait-for-deployment",
  StepInput.extend({ taskToken: z.string().min(1), applied: AppliedService }),
  (runtime, input) => Rollout.waitForDeployment(runtime, input),
);

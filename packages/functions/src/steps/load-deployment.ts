import { Rollout } from "@berth/core/rollout";
import { z } from "zod";
import { stepHandler } from "./runtime.ts";
import { StepInput } from "./schemas.ts";

export const handler = stepHandler(
  "load-deployment",
  StepInput.extend({ preflight: z.boolean().optional(), apply: z.boolean().optional() }),
  (runtime, input) => Rollout.loadDeployment(runtime, input),
);

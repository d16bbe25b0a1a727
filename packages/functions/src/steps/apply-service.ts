import { Rollout } from "@berth/core/rollout";
import { z } from "zod";
import { stepHandler } from "./runtime.ts";
import { StepInput } from "./schemas.ts";

export const handler = stepHandler(
  "apply-service",
  StepInput.extend({
    resources: z
      .looseObject({ taskDefinitionArn: z.string().min(1).optional(), register: z.boolean().optional() })
      .nullish(),
    forceNewDeployment: z.boolean().optional(),
  }),
  (runtime, input) => Rollout.applyService(runtime, input),
);

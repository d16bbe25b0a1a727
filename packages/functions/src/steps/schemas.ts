import { z } from "zod";

/** What every step is told about the deployment it works for (`DEPLOYMENT_REF` in the workflows). */
export const StepInput = z.object({
  deploymentId: z.string().min(1),
  stack: z.string().min(1),
  service: z.string().min(1),
});

export const AppliedService = z.object({
  ecsService: z.string().min(1),
  serviceArn: z.string().min(1),
  ecsDeploymentId: z.string().min(1),
  taskDefinitionArn: z.string().min(1),
  created: z.boolean(),
});

export const FinishedBuild = z.looseObject({
  container: z.string().min(1),
  repositoryUri: z.string().min(1),
  result: z.looseObject({
    id: z.string().optional(),
    exported: z.array(z.looseObject({ Name: z.string().optional(), Value: z.string().optional() })).nullish(),
  }),
});

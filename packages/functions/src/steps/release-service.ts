import { DeploymentRequest } from "@berth/core/deployments";
import { Rollout } from "@berth/core/rollout";
import { type Runtime, stepHandler } from "./runtime.ts";
import { StepInput } from "./schemas.ts";

/**
 * Frees the service's slot and starts the deployment promoted into it. A start that fails keeps
 * that deployment PENDING with the failure as its reason (`startPromoted`), so this step does
 * not fail for it: the finished deployment's release did happen.
 */
export async function releaseAndStartNext(runtime: Runtime, input: Rollout.StepInput) {
  const released = await Rollout.releaseService(runtime, input);
  if (!released.promoted) return { released: released.released, removed: released.removed };
  const started = await DeploymentRequest.startPromoted(runtime.workflowContext(), released.promoted);
  return {
    released: released.released,
    removed: released.removed,
    promoted: { deploymentId: released.promoted.id, started: started.workflow.started },
  };
}

export const handler = stepHandler("release-service", StepInput, releaseAndStartNext);

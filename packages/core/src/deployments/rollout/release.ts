import { DeploymentRecord, ServiceRecord } from "../../store/index.ts";
import { Deployment } from "../index.ts";
import type { StepContext } from "./context.ts";
import type { StepInput } from "./load.ts";

/**
 * release-service: frees the service's active slot and returns the queued deployment promoted
 * into it, for the caller to start. A service whose deletion succeeded and that nothing was
 * queued behind is removed from the store; one a newer request waits on is kept for it.
 */
export async function releaseService(
  context: StepContext,
  input: StepInput,
): Promise<{ released: boolean; promoted?: DeploymentRecord.Info; removed: boolean }> {
  const { store } = context;
  const outcome = await Deployment.releaseService(store, input.stack, input.service, input.deploymentId);
  let removed = false;
  if (outcome.released && !outcome.promoted) {
    const deployment = await DeploymentRecord.get(store, input.deploymentId);
    if (deployment?.status === "SUCCEEDED" && deployment.parameters.action === "delete") {
      const current = await ServiceRecord.get(store, input.stack, input.service);
      if (current && !current.activeDeploymentId && !current.queuedDeploymentId) {
        removed = await ServiceRecord.remove(store, input.stack, input.service, current.version).then(
          () => true,
          () => false,
        );
      }
    }
  }
  return { released: outcome.released, ...(outcome.promoted ? { promoted: outcome.promoted } : {}), removed };
}

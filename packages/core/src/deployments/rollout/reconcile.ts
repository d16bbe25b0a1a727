import { WaitRecord } from "../../store/index.ts";
import { type AppliedService, describeService } from "./apply.ts";
import type { StepContext } from "./context.ts";
import type { StepInput } from "./load.ts";
import type { Outcome } from "./outcome.ts";
import { rollBack } from "./rollback.ts";

/**
 * reconcile: the wait ran out. One DescribeServices decides: the ECS deployment completed (its
 * event was lost), failed, or is still not healthy, which fails it here and rolls back; a
 * rollback the event handler started is judged the same way.
 */
export async function reconcile(
  context: StepContext,
  input: StepInput & { applied: AppliedService; waitTimeoutSeconds?: number },
): Promise<Outcome> {
  const { store, settings } = context;
  const wait = await WaitRecord.get(store, settings.cluster, input.applied.ecsService);
  const pending = wait?.deploymentId === input.deploymentId ? wait.pendingOutcome : undefined;
  if (pending) return pending as Outcome;
  const service = await describeService(context, input.applied.ecsService);
  const deployments = service?.deployments ?? [];
  const find = (id: string | undefined) => deployments.find((deployment) => deployment.id === id);
  const rollingBack = wait?.deploymentId === input.deploymentId && wait.phase === "rolling-back";
  if (rollingBack) {
    const rollback = find(wait.rollbackEcsDeploymentId);
    const target = wait.rollbackTaskDefinitionArn;
    if (rollback?.rolloutState === "COMPLETED") {
      return {
        status: "ROLLED_BACK",
        reason: `${wait.rollbackReason}; back on ${target}`,
        ...(target ? { taskDefinitionArn: target } : {}),
      };
    }
    return {
      status: "ROLLBACK_FAILED",
      reason: `${wait.rollbackReason}; the rollback to ${target} had not completed when the wait ran out (${rollback?.rolloutStateReason ?? "ECS reports no rollback deployment"})`,
    };
  }
  const deployment = find(input.applied.ecsDeploymentId);
  if (deployment?.rolloutState === "COMPLETED") {
    return {
      status: "SUCCEEDED",
      reason: "every task of the new revision is running and healthy (found by reconciling after the wait)",
      taskDefinitionArn: input.applied.taskDefinitionArn,
    };
  }
  const running = deployment?.runningCount ?? 0;
  const desired = deployment?.desiredCount ?? 0;
  const why =
    deployment?.rolloutState === "FAILED"
      ? `ECS failed the deployment: ${deployment.rolloutStateReason ?? "no reason given"}`
      : `the new revision was not healthy when the wait ran out (${running} of ${desired} tasks running)`;
  if (wait?.deploymentId === input.deploymentId && wait.phase === "deploying") {
    await rollBack(context, wait, why);
    const after = await WaitRecord.get(store, settings.cluster, input.applied.ecsService);
    const target = after?.rollbackTaskDefinitionArn;
    if (after?.pendingOutcome) return after.pendingOutcome as Outcome;
    if (after?.phase === "rolling-back" && target) {
      return {
        status: "ROLLED_BACK",
        reason: `${why}; ECS was pointed back at ${target}`,
        taskDefinitionArn: target,
      };
    }
  }
  return { status: "FAILED", reason: why };
}

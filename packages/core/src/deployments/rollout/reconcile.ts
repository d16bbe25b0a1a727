import { WaitRecord } from "../../store/index.ts";
import type { StepContext } from "./context.ts";
import { cancelOutcome, stabilize } from "./ecs-events.ts";
import type { StepInput } from "./load.ts";
import type { Answer } from "./outcome.ts";
import { rollBack, serviceDeploymentState } from "./rollback.ts";
import { type AppliedService, describeService } from "./service-state.ts";
import { pendingAnswer } from "./wait.ts";

/**
 * reconcile: the wait ran out. One DescribeServices decides: the ECS deployment completed (its
 * event was lost), failed, or is still not healthy, which fails it here and rolls back; a
 * rollback the event handler started, or a cancel's return, is judged the same way. A rollout ECS
 * completed still has its stability window to pass.
 */
export async function reconcile(
  context: StepContext,
  input: StepInput & { applied: AppliedService; waitTimeoutSeconds?: number },
): Promise<Answer> {
  const { store, settings } = context;
  const wait = await WaitRecord.get(store, settings.cluster, input.applied.ecsService);
  const pending = wait?.deploymentId === input.deploymentId ? pendingAnswer(wait) : undefined;
  if (pending) return pending;
  const service = await describeService(context, input.applied.ecsService);
  const deployments = service?.deployments ?? [];
  const find = (id: string | undefined) => deployments.find((deployment) => deployment.id === id);
  if (wait?.deploymentId === input.deploymentId && wait.phase === "cancelling") {
    if (!wait.rollbackEcsDeploymentId) return { status: "CANCELLING" };
    const back = find(wait.rollbackEcsDeploymentId);
    return cancelOutcome(
      wait,
      back?.rolloutState === "COMPLETED",
      `it had not completed when the wait ran out (${back?.rolloutStateReason ?? "ECS reports no such deployment"})`,
    );
  }
  const rollingBack = wait?.deploymentId === input.deploymentId && wait.phase === "rolling-back";
  if (rollingBack) {
    const rollback = find(wait.rollbackEcsDeploymentId);
    const target = wait.rollbackTaskDefinitionArn;
    // A gradual rollout's rollback is told by its service deployment's status.
    const stopped = wait.rollbackServiceDeploymentArn
      ? await serviceDeploymentState(context, wait.rollbackServiceDeploymentArn)
      : undefined;
    if (stopped?.status === "ROLLBACK_SUCCESSFUL" || (!stopped && rollback?.rolloutState === "COMPLETED")) {
      return {
        status: "ROLLED_BACK",
        reason: `${wait.rollbackReason}; back on ${target}`,
        ...(target ? { taskDefinitionArn: target } : {}),
      };
    }
    return {
      status: "ROLLBACK_FAILED",
      reason: `${wait.rollbackReason}; the rollback to ${target} had not completed when the wait ran out (${stopped ? `service deployment ${stopped.status}${stopped.reason ? `: ${stopped.reason}` : ""}` : (rollback?.rolloutStateReason ?? "ECS reports no rollback deployment")})`,
    };
  }
  const deployment = find(input.applied.ecsDeploymentId);
  if (deployment?.rolloutState === "COMPLETED" && wait?.deploymentId === input.deploymentId) {
    if (wait.phase === "deploying") await stabilize(context, wait);
    return { status: "STABILIZING", stabilitySeconds: wait.stabilitySeconds };
  }
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
    const decided = after ? pendingAnswer(after) : undefined;
    if (decided) return decided;
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

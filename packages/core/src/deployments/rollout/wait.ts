import { WaitRecord } from "../../store/index.ts";
import { sendOutcome } from "./answer.ts";
import { type AppliedService, describeService } from "./apply.ts";
import type { StepContext } from "./context.ts";
import { handleDeploymentState } from "./ecs-events.ts";
import { STEP_ERRORS, StepError } from "./errors.ts";
import type { StepInput } from "./load.ts";
import { Outcome } from "./outcome.ts";

/**
 * wait-for-deployment: stores the workflow's task token against the ECS deployment, for the ECS
 * event handler to answer. An outcome decided before the token arrived is answered now, and one
 * DescribeServices catches an ECS deployment that ended before its events could be matched.
 */
export async function waitForDeployment(
  context: StepContext,
  input: StepInput & { taskToken: string; applied: AppliedService },
): Promise<{ waiting: boolean }> {
  const { store, settings } = context;
  const changed = await WaitRecord.change(store, settings.cluster, input.applied.ecsService, (current) => {
    if (current.deploymentId !== input.deploymentId) return undefined;
    return { taskToken: input.taskToken };
  });
  if (!changed) {
    throw new StepError(STEP_ERRORS.notRunnable, `deployment ${input.deploymentId} is not waiting on ECS`);
  }
  const pending = changed.before.pendingOutcome
    ? Outcome.safeParse(changed.before.pendingOutcome)
    : undefined;
  if (pending?.success) {
    await sendOutcome(context, input.taskToken, pending.data);
    return { waiting: false };
  }
  const service = await describeService(context, input.applied.ecsService);
  const ecsDeployment = service?.deployments?.find(
    (deployment) => deployment.id === input.applied.ecsDeploymentId,
  );
  if (ecsDeployment?.rolloutState === "COMPLETED" || ecsDeployment?.rolloutState === "FAILED") {
    await handleDeploymentState(context, {
      cluster: settings.cluster,
      ecsService: input.applied.ecsService,
      ecsDeploymentId: ecsDeployment.id ?? "",
      eventName:
        ecsDeployment.rolloutState === "COMPLETED"
          ? "SERVICE_DEPLOYMENT_COMPLETED"
          : "SERVICE_DEPLOYMENT_FAILED",
      reason: ecsDeployment.rolloutStateReason ?? "",
    });
  }
  return { waiting: true };
}

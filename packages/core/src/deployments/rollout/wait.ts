import { DeploymentEventRecord, DeploymentRecord, WaitRecord } from "../../store/index.ts";
import { sendOutcome } from "./answer.ts";
import { interruptForCancel } from "./cancel.ts";
import type { StepContext } from "./context.ts";
import { handleDeploymentState } from "./ecs-events.ts";
import { STEP_ERRORS, StepError } from "./errors.ts";
import type { StepInput } from "./load.ts";
import { type Answer, Continuation, Outcome } from "./outcome.ts";
import { followRollback } from "./rollback.ts";
import { type AppliedService, describeService } from "./service-state.ts";

/** The ECS deployment a wait follows now: the rollout, or the rollback or cancel's return it started. */
function followedEcsDeployment(wait: WaitRecord.Info): string | undefined {
  return wait.phase === "rolling-back" || wait.phase === "cancelling"
    ? wait.rollbackEcsDeploymentId
    : wait.ecsDeploymentId;
}

/**
 * wait-for-deployment: stores the workflow's task token against the ECS deployment, for the ECS
 * event handler to answer. An answer decided before the token arrived is given now, and one
 * DescribeServices catches an ECS deployment that ended before its events could be matched. The
 * workflow comes back here to follow a rollback or a cancel's return.
 */
export async function waitForDeployment(
  context: StepContext,
  input: StepInput & { taskToken: string; applied: AppliedService },
): Promise<{ waiting: boolean }> {
  const { store, settings } = context;
  const changed = await WaitRecord.change(store, settings.cluster, input.applied.ecsService, (current) => {
    if (current.deploymentId !== input.deploymentId) return undefined;
    // A pending answer is given instead of waiting, and given once.
    return current.pendingOutcome ? { pendingOutcome: undefined } : { taskToken: input.taskToken };
  });
  if (!changed) {
    throw new StepError(STEP_ERRORS.notRunnable, `deployment ${input.deploymentId} is not waiting on ECS`);
  }
  const pending = pendingAnswer(changed.before);
  if (pending) {
    await sendOutcome(context, input.taskToken, pending);
    return { waiting: false };
  }
  const wait = changed.after;
  // A cancel that came before the wait was recorded could not find it: it is noticed here.
  const deployment = await DeploymentRecord.get(store, input.deploymentId);
  if (deployment?.cancelRequestedAt && (wait.phase === "deploying" || wait.phase === "stabilizing")) {
    const events = await DeploymentEventRecord.all(store, deployment.id);
    const requested = events.findLast((event) => event.type === "cancel-requested");
    const interrupted = await interruptForCancel(
      store,
      (token, answer) => sendOutcome(context, token, answer),
      wait,
      requested?.message ?? "cancelled on request",
    );
    if (interrupted) return { waiting: false };
  }
  // A gradual rollout's rollback whose end came before the token: its service deployment tells.
  if (await followRollback(context, wait)) return { waiting: true };
  const followed = followedEcsDeployment(wait);
  const service = await describeService(context, input.applied.ecsService);
  const ecsDeployment = service?.deployments?.find((candidate) => candidate.id === followed);
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

export function pendingAnswer(wait: WaitRecord.Info): Answer | undefined {
  if (!wait.pendingOutcome) return undefined;
  const outcome = Outcome.safeParse(wait.pendingOutcome);
  if (outcome.success) return outcome.data;
  const next = Continuation.safeParse(wait.pendingOutcome);
  return next.success ? next.data : undefined;
}

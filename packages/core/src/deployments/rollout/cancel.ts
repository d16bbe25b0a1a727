import { UpdateServiceCommand } from "@aws-sdk/client-ecs";
import { Render } from "../../render/index.ts";
import { DeploymentEventRecord, type Store, WaitRecord } from "../../store/index.ts";
import { type AnswerWait, decide, handOn } from "./answer.ts";
import type { StepContext } from "./context.ts";
import type { Answer } from "./outcome.ts";

/**
 * A cancel that reaches a deployment waiting on ECS: the wait moves to `cancelling` and the
 * workflow is woken (its task token answered CANCELLING, or the answer left pending for the wait
 * step) to undo the rollout. Only a wait on the new revision can be cancelled; false otherwise
 * (a rollback under way, or already decided).
 */
export async function interruptForCancel(
  store: Store,
  answer: AnswerWait,
  wait: WaitRecord.Info,
  reason: string,
): Promise<boolean> {
  const moved = await handOn(
    store,
    answer,
    wait,
    { status: "CANCELLING" },
    { phase: "cancelling", cancelReason: reason },
    ["deploying", "stabilizing"],
  );
  return moved !== undefined;
}

/** The cancel verb's side: finds the deployment's wait, if it waits on ECS, and interrupts it. */
export async function cancelWait(
  store: Store,
  waits: { cluster: string; answer: AnswerWait },
  deployment: { id: string; stack: string; service: string },
  reason: string,
): Promise<boolean> {
  const ecsService = Render.serviceName({ stack: deployment.stack }, deployment.service);
  const wait = await WaitRecord.get(store, waits.cluster, ecsService);
  if (wait?.deploymentId !== deployment.id) return false;
  return interruptForCancel(store, waits.answer, wait, reason);
}

/**
 * The undo of a cancelled rollout: ECS is pointed back at the revision and task count the service
 * had before (UpdateService, which ECS and Berth Local both take), and the wait follows that ECS
 * deployment; a service this deployment created is scaled to 0 and the deployment ends at once.
 */
export async function undoRollout(context: StepContext, wait: WaitRecord.Info): Promise<Answer> {
  const reason = wait.cancelReason ?? "cancelled on request";
  const target = wait.previousTaskDefinitionArn;
  const ecs = context.clients.ecs;
  try {
    if (!target) {
      await ecs.send(
        new UpdateServiceCommand({ cluster: wait.cluster, service: wait.ecsService, desiredCount: 0 }),
      );
      const outcome: Answer = {
        status: "CANCELLED",
        reason: `${reason}; undone: the service did not exist before this deployment, so it was scaled to 0`,
      };
      await decide(context, wait, outcome, ["cancelling"]);
      return outcome;
    }
    const updated = await ecs.send(
      new UpdateServiceCommand({
        cluster: wait.cluster,
        service: wait.ecsService,
        taskDefinition: target,
        ...(wait.previousDesiredCount === undefined ? {} : { desiredCount: wait.previousDesiredCount }),
        forceNewDeployment: true,
      }),
    );
    const primary = updated.service?.deployments?.find((candidate) => candidate.status === "PRIMARY");
    if (!primary?.id) throw new Error("ECS answered no primary deployment for the return");
    // The workflow is in this step, not on a token: it follows the return with the WAITING it gets.
    await WaitRecord.change(context.store, wait.cluster, wait.ecsService, (current) =>
      current.deploymentId === wait.deploymentId && current.phase === "cancelling"
        ? { rollbackEcsDeploymentId: primary.id, pendingOutcome: undefined, taskToken: undefined }
        : undefined,
    );
    await DeploymentEventRecord.append(context.store, wait.deploymentId, {
      type: "cancel-undo",
      message: `cancelling: ECS deployment ${primary.id} returns the service to ${target}`,
      data: {
        ecsDeploymentId: primary.id,
        taskDefinitionArn: target,
        desiredCount: wait.previousDesiredCount ?? null,
      },
    });
    return { status: "WAITING" };
  } catch (error) {
    const outcome: Answer = {
      status: "FAILED",
      reason: `${reason}; the return to ${target ?? "0 tasks"} could not start: ${(error as Error).message}`,
    };
    await decide(context, wait, outcome, ["cancelling"]);
    return outcome;
  }
}

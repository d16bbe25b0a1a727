import { SendTaskSuccessCommand } from "@aws-sdk/client-sfn";
import { isTaskGone } from "../../aws/step-functions.ts";
import { WaitRecord } from "../../store/index.ts";
import type { StepContext } from "./context.ts";
import type { Outcome } from "./outcome.ts";

/** Resumes the waiting workflow with the outcome; a workflow that moved on is left alone. */
export async function sendOutcome(
  context: StepContext,
  taskToken: string,
  outcome: Outcome,
): Promise<boolean> {
  try {
    await context.clients.sfn.send(
      new SendTaskSuccessCommand({ taskToken, output: JSON.stringify(outcome) }),
    );
    return true;
  } catch (error) {
    if (isTaskGone(error)) return false;
    throw error;
  }
}

/**
 * Decides a wait's outcome exactly once: the write that moves the wait to `answered` wins, and
 * whoever wins answers the token, or leaves the outcome for the wait step to answer when the
 * token arrives after it. `expected` guards against deciding on a wait that moved meanwhile.
 */
export async function decide(
  context: StepContext,
  wait: WaitRecord.Info,
  outcome: Outcome,
  expected: WaitRecord.Phase[],
): Promise<boolean> {
  const changed = await WaitRecord.change(context.store, wait.cluster, wait.ecsService, (current) => {
    if (current.deploymentId !== wait.deploymentId || !expected.includes(current.phase)) return undefined;
    return current.taskToken ? { phase: "answered" } : { phase: "answered", pendingOutcome: outcome };
  });
  if (!changed) return false;
  if (changed.before.taskToken) await sendOutcome(context, changed.before.taskToken, outcome);
  return true;
}

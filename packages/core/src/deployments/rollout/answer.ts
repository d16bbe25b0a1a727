import { taskAnswerer } from "../../aws/step-functions.ts";
import { WaitRecord } from "../../store/index.ts";
import type { StepContext } from "./context.ts";
import type { Answer, Continuation, Outcome } from "./outcome.ts";

/** Resumes the waiting workflow (SendTaskSuccess); false when it had moved on. */
export type AnswerWait = (taskToken: string, answer: Answer) => Promise<boolean>;

/** Resumes the waiting workflow with the answer; a workflow that moved on is left alone. */
export async function sendOutcome(context: StepContext, taskToken: string, answer: Answer): Promise<boolean> {
  return taskAnswerer(context.clients.sfn)(taskToken, answer);
}

/**
 * Moves a wait on without ending it (`changes`, from one of the `expected` phases) and hands the
 * workflow where to go next: through the task token, which is used up, or, when none is stored,
 * as the pending answer the wait step gives as soon as it arrives.
 */
export async function handOn(
  store: StepContext["store"],
  answer: AnswerWait,
  wait: WaitRecord.Info,
  next: Continuation,
  changes: Partial<WaitRecord.Info>,
  expected: WaitRecord.Phase[],
): Promise<WaitRecord.Info | undefined> {
  const changed = await WaitRecord.change(store, wait.cluster, wait.ecsService, (current) => {
    if (current.deploymentId !== wait.deploymentId || !expected.includes(current.phase)) return undefined;
    return current.taskToken
      ? { ...changes, taskToken: undefined, pendingOutcome: undefined }
      : { ...changes, pendingOutcome: next };
  });
  if (!changed) return undefined;
  const token = changed.before.taskToken;
  if (token && !(await answer(token, next))) {
    // The token's wait had ended (timed out into reconcile): whoever looks next finds the answer.
    await WaitRecord.change(store, wait.cluster, wait.ecsService, (current) =>
      current.deploymentId === wait.deploymentId && current.version === changed.after.version
        ? { pendingOutcome: next }
        : undefined,
    );
  }
  return changed.after;
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

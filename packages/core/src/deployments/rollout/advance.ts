import { DescribeTasksCommand, type Task } from "@aws-sdk/client-ecs";
import { Ecs } from "../../aws/index.ts";
import { WaitRecord } from "../../store/index.ts";
import { decide } from "./answer.ts";
import { undoRollout } from "./cancel.ts";
import type { StepContext } from "./context.ts";
import { handleTaskState, isFailedTask, TaskStateDetail } from "./ecs-events.ts";
import { STEP_ERRORS, StepError } from "./errors.ts";
import type { StepInput } from "./load.ts";
import type { Answer } from "./outcome.ts";
import { rollBack } from "./rollback.ts";
import { type AppliedService, describeService } from "./service-state.ts";
import { pendingAnswer } from "./wait.ts";

/**
 * advance-wait: the workflow comes here after the stability window, or to undo a cancelled
 * rollout, and goes where the answer says (an outcome ends it; WAITING follows a rollback or a
 * cancel's return on the task token).
 */
export async function advanceWait(
  context: StepContext,
  input: StepInput & { applied: AppliedService },
): Promise<Answer> {
  const wait = await WaitRecord.get(context.store, context.settings.cluster, input.applied.ecsService);
  if (wait?.deploymentId !== input.deploymentId) {
    throw new StepError(STEP_ERRORS.notRunnable, `deployment ${input.deploymentId} is not waiting on ECS`);
  }
  return advance(context, wait);
}

async function advance(context: StepContext, wait: WaitRecord.Info): Promise<Answer> {
  switch (wait.phase) {
    case "stabilizing":
      return checkStability(context, wait);
    case "cancelling":
      return wait.rollbackEcsDeploymentId ? { status: "WAITING" } : undoRollout(context, wait);
    case "answered": {
      const pending = pendingAnswer(wait);
      if (pending) return pending;
      throw new StepError(STEP_ERRORS.notRunnable, `the wait of ${wait.deploymentId} was answered already`);
    }
    default:
      return { status: "WAITING" };
  }
}

/** Where the wait went after someone else moved it (a rollback started, an outcome decided). */
async function afterwards(context: StepContext, wait: WaitRecord.Info): Promise<Answer> {
  const now = await WaitRecord.get(context.store, wait.cluster, wait.ecsService);
  if (now?.deploymentId !== wait.deploymentId || now.phase === "stabilizing") {
    throw new StepError(STEP_ERRORS.notRunnable, `the wait of ${wait.deploymentId} did not move on`);
  }
  return advance(context, now);
}

/** The service's tasks ECS still knows, running and recently stopped, as DescribeTasks gives them. */
async function tasksOf(context: StepContext, wait: WaitRecord.Info): Promise<Task[]> {
  const arns: string[] = [];
  for (const desiredStatus of ["RUNNING", "STOPPED"] as const) {
    const input = { cluster: wait.cluster, serviceName: wait.ecsService, desiredStatus };
    arns.push(...(await Ecs.listAllTasks(context.clients.ecs, input)));
  }
  const tasks: Task[] = [];
  for (let start = 0; start < arns.length; start += 100) {
    const described = await context.clients.ecs.send(
      new DescribeTasksCommand({ cluster: wait.cluster, tasks: arns.slice(start, start + 100) }),
    );
    tasks.push(...(described.tasks ?? []));
  }
  return tasks;
}

function millis(at: Date | string | undefined): number {
  return at === undefined ? Number.NaN : new Date(at).getTime();
}

/**
 * The stability gate, from DescribeServices and DescribeTasks only: success when no task of the
 * new revision stopped since ECS completed the rollout and as many of its tasks as the ECS
 * deployment wants are RUNNING (and HEALTHY where a container has a health check). A task
 * stopped inside the window whose event was missed is handled as that event would have been.
 */
async function checkStability(context: StepContext, wait: WaitRecord.Info): Promise<Answer> {
  const since = millis(wait.stableSince);
  const tasks = (await tasksOf(context, wait)).filter(
    (task) => task.taskDefinitionArn === wait.taskDefinitionArn,
  );
  for (const task of tasks) {
    const state = TaskStateDetail.safeParse(task);
    if (!state.success || !isFailedTask(state.data) || !(millis(task.stoppedAt) >= since)) continue;
    await handleTaskState(context, state.data);
    return afterwards(context, wait);
  }
  const service = await describeService(context, wait.ecsService);
  const ecsDeployment = service?.deployments?.find((candidate) => candidate.id === wait.ecsDeploymentId);
  const desired = ecsDeployment?.desiredCount ?? service?.desiredCount ?? 0;
  const up = tasks.filter(
    (task) =>
      task.lastStatus === "RUNNING" &&
      task.desiredStatus === "RUNNING" &&
      (!wait.healthChecked || task.healthStatus === "HEALTHY"),
  );
  const seconds = wait.stabilitySeconds;
  if (up.length < desired) {
    await rollBack(
      context,
      wait,
      `only ${up.length} of ${desired} tasks of the new revision were running${wait.healthChecked ? " and healthy" : ""} at the end of the ${seconds} s stability window after ECS completed the rollout`,
    );
    return afterwards(context, wait);
  }
  const outcome: Answer = {
    status: "SUCCEEDED",
    reason: `every task of the new revision (${up.length}) stayed running${wait.healthChecked ? " and healthy" : ""} for the ${seconds} s stability window after ECS completed the rollout`,
    taskDefinitionArn: wait.taskDefinitionArn,
  };
  if (await decide(context, wait, outcome, ["stabilizing"])) return outcome;
  return afterwards(context, wait);
}

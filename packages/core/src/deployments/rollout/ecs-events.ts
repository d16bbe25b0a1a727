import { GetLogEventsCommand } from "@aws-sdk/client-cloudwatch-logs";
import { z } from "zod";
import { DeploymentEventRecord, WaitRecord } from "../../store/index.ts";
import { decide, handOn, sendOutcome } from "./answer.ts";
import type { StepContext } from "./context.ts";
import { followRollback, type RollbackStart, rollBack } from "./rollback.ts";

/** How many of a failed task's last log lines a deployment's event carries. */
export const LOG_LINES = 20;

const DeploymentStateDetail = z.looseObject({
  eventName: z.string(),
  deploymentId: z.string(),
  reason: z.string().optional(),
});

const TaskStateDetail = z.looseObject({
  taskArn: z.string(),
  clusterArn: z.string(),
  taskDefinitionArn: z.string(),
  group: z.string().optional(),
  startedBy: z.string().optional(),
  lastStatus: z.string(),
  stopCode: z.string().optional(),
  stoppedReason: z.string().optional(),
  containers: z
    .array(
      z.looseObject({
        name: z.string(),
        exitCode: z.number().optional(),
        reason: z.string().optional(),
        healthStatus: z.string().optional(),
      }),
    )
    .default([]),
});

const EcsEvent = z.looseObject({
  "detail-type": z.string(),
  resources: z.array(z.string()).default([]),
  detail: z.unknown(),
});

/** `arn:…:service/<cluster>/<service>` → its cluster and service names. */
function serviceOfArn(arn: string): { cluster: string; ecsService: string } | undefined {
  const match = /:service\/([^/]+)\/([^/]+)$/.exec(arn);
  return match?.[1] && match[2] ? { cluster: match[1], ecsService: match[2] } : undefined;
}

function clusterOfArn(arn: string): string {
  return arn.slice(arn.lastIndexOf("/") + 1);
}

export interface DeploymentState {
  cluster: string;
  ecsService: string;
  ecsDeploymentId: string;
  eventName: string;
  reason: string;
}

export type Handled =
  | RollbackStart
  | "stabilizing"
  | "rolled-back"
  | "cancelled"
  | "cancel-failed"
  | "task-failure-recorded";

/**
 * The ECS event handler: matches `ECS Deployment State Change`, `ECS Task State Change` and
 * `ECS Service Action` (a task placement failure) to the deployment waiting on that ECS service. Events of other services, revisions or ECS
 * deployments, repeated and late ones are ignored: a wait records which tasks it counted and
 * moves through its phases only forwards.
 */
export async function handleEcsEvent(context: StepContext, event: unknown): Promise<Handled> {
  const parsed = EcsEvent.safeParse(event);
  if (!parsed.success) return "ignored";
  if (parsed.data["detail-type"] === "ECS Deployment State Change") {
    const detail = DeploymentStateDetail.safeParse(parsed.data.detail);
    const service = parsed.data.resources.map(serviceOfArn).find((found) => found !== undefined);
    if (!detail.success || !service) return "ignored";
    return handleDeploymentState(context, {
      ...service,
      ecsDeploymentId: detail.data.deploymentId,
      eventName: detail.data.eventName,
      reason: detail.data.reason ?? "",
    });
  }
  if (parsed.data["detail-type"] === "ECS Task State Change") {
    const detail = TaskStateDetail.safeParse(parsed.data.detail);
    if (!detail.success) return "ignored";
    return handleTaskState(context, detail.data);
  }
  if (parsed.data["detail-type"] === "ECS Service Action") {
    const detail = ServiceActionDetail.safeParse(parsed.data.detail);
    const service = parsed.data.resources.map(serviceOfArn).find((found) => found !== undefined);
    if (!detail.success || !service || detail.data.eventName !== "SERVICE_TASK_PLACEMENT_FAILURE") {
      return "ignored";
    }
    return handlePlacementFailure(context, service, detail.data.reason ?? "no reason given");
  }
  return "ignored";
}

const ServiceActionDetail = z.looseObject({ eventName: z.string(), reason: z.string().optional() });

/** ECS's reasons for a task it could not place, in words. */
const PLACEMENT_REASONS: Record<string, string> = {
  "RESOURCE:MEMORY": "no container instance has enough memory for it",
  "RESOURCE:CPU": "no container instance has enough CPU for it",
};

/**
 * ECS could not place a task of the new revision on any container instance (an EC2 task bigger
 * than the instances, or the capacity provider at its maximum): ECS keeps retrying and its
 * circuit breaker never counts it, so the deployment would only end at its timeout. It fails
 * now, with ECS's reason, and returns to the previous revision.
 */
async function handlePlacementFailure(
  context: StepContext,
  service: { cluster: string; ecsService: string },
  reason: string,
): Promise<Handled> {
  const wait = await WaitRecord.get(context.store, service.cluster, service.ecsService);
  if (wait?.phase !== "deploying") return "ignored";
  const words = PLACEMENT_REASONS[reason];
  return rollBack(
    context,
    wait,
    `ECS could not place a task of the new revision: ${reason}${words ? ` (${words})` : ""}`,
  );
}

export async function handleDeploymentState(context: StepContext, state: DeploymentState): Promise<Handled> {
  const wait = await WaitRecord.get(context.store, state.cluster, state.ecsService);
  if (!wait) return "ignored";
  const completed = state.eventName === "SERVICE_DEPLOYMENT_COMPLETED";
  const failed = state.eventName === "SERVICE_DEPLOYMENT_FAILED";
  if (!completed && !failed) return "ignored";

  const onNewRevision = wait.phase === "deploying" || wait.phase === "stabilizing";
  if (onNewRevision && state.ecsDeploymentId === wait.ecsDeploymentId) {
    if (completed) {
      if (wait.phase !== "deploying") return "ignored";
      return (await stabilize(context, wait)) ? "stabilizing" : "ignored";
    }
    return rollBack(context, wait, `ECS failed the deployment: ${state.reason || "no reason given"}`);
  }
  if (wait.phase === "rolling-back" && state.ecsDeploymentId === wait.rollbackEcsDeploymentId) {
    const target = wait.rollbackTaskDefinitionArn;
    const decided = await decide(
      context,
      wait,
      completed
        ? {
            status: "ROLLED_BACK",
            reason: `${wait.rollbackReason ?? "the new revision failed"}; back on ${target}`,
            ...(target ? { taskDefinitionArn: target } : {}),
          }
        : {
            status: "ROLLBACK_FAILED",
            reason: `${wait.rollbackReason ?? "the new revision failed"}; the rollback to ${target} failed too: ${state.reason}`,
          },
      ["rolling-back"],
    );
    if (!decided) return "ignored";
    return completed ? "rolled-back" : "rollback-failed";
  }
  if (wait.phase === "rolling-back" && wait.rollbackServiceDeploymentArn) {
    // ECS's events name ECS deployments: the service deployment it rolls back says how it ended.
    return (await followRollback(context, wait)) ?? "ignored";
  }
  if (wait.phase === "cancelling" && state.ecsDeploymentId === wait.rollbackEcsDeploymentId) {
    const decided = await decide(context, wait, cancelOutcome(wait, completed, state.reason), ["cancelling"]);
    if (!decided) return "ignored";
    return completed ? "cancelled" : "cancel-failed";
  }
  return "ignored";
}

/** How a cancel's return to the previous revision ended: CANCELLED once ECS runs it again. */
export function cancelOutcome(wait: WaitRecord.Info, returned: boolean, why: string) {
  const cancelled = wait.cancelReason ?? "cancelled on request";
  const target = wait.previousTaskDefinitionArn;
  const count = wait.previousDesiredCount;
  return returned
    ? {
        status: "CANCELLED" as const,
        reason: `${cancelled}; undone: the rollout of ${wait.taskDefinitionArn} was stopped and the service is back on ${target}${count === undefined ? "" : ` with ${count} task${count === 1 ? "" : "s"}`}`,
        ...(target ? { taskDefinitionArn: target } : {}),
      }
    : {
        status: "FAILED" as const,
        reason: `${cancelled}; the return to ${target} failed: ${why || "no reason given"}`,
      };
}

/**
 * ECS completed the rollout: that is not yet success, because ECS may call a deployment
 * complete while tasks that reached RUNNING keep exiting. The wait starts the stability window
 * and hands the workflow the window to wait out.
 */
export async function stabilize(context: StepContext, wait: WaitRecord.Info): Promise<boolean> {
  const moved = await handOn(
    context.store,
    (token, answer) => sendOutcome(context, token, answer),
    wait,
    { status: "STABILIZING", stabilitySeconds: wait.stabilitySeconds },
    { phase: "stabilizing", stableSince: context.store.clock().toISOString() },
    ["deploying"],
  );
  if (moved) {
    await DeploymentEventRecord.append(context.store, wait.deploymentId, {
      type: "rollout-completed",
      message: `ECS completed the rollout; every task of the new revision must now stay up for ${wait.stabilitySeconds} s`,
      data: { stabilitySeconds: wait.stabilitySeconds },
    });
  }
  return moved !== undefined;
}

export type TaskState = z.infer<typeof TaskStateDetail>;
export { TaskStateDetail };

/** A stopped task counts as failed when it crashed, failed to start or failed its health checks. */
export function isFailedTask(task: TaskState): boolean {
  if (task.lastStatus !== "STOPPED") return false;
  if (task.stopCode === "EssentialContainerExited" || task.stopCode === "TaskFailedToStart") return true;
  return /^Task failed (container|ELB) health checks/.test(task.stoppedReason ?? "");
}

/** A stopped task of a service, from its event or from DescribeTasks (the same fields). */
export async function handleTaskState(context: StepContext, task: TaskState): Promise<Handled> {
  if (!isFailedTask(task)) return "ignored";
  const ecsService = task.group?.startsWith("service:") ? task.group.slice("service:".length) : undefined;
  if (!ecsService) return "ignored";
  const cluster = clusterOfArn(task.clusterArn);
  const wait = await WaitRecord.get(context.store, cluster, ecsService);
  // Only the new revision's tasks count: the old one's stop as ECS replaces them.
  const counting = (phase: WaitRecord.Phase) => phase === "deploying" || phase === "stabilizing";
  if (!wait || !counting(wait.phase) || task.taskDefinitionArn !== wait.taskDefinitionArn) return "ignored";
  const counted = await WaitRecord.change(context.store, cluster, ecsService, (current) => {
    if (current.deploymentId !== wait.deploymentId || !counting(current.phase)) return undefined;
    if (current.failedTasks.includes(task.taskArn)) return undefined;
    return { failedTasks: [...current.failedTasks, task.taskArn] };
  });
  if (!counted) return "ignored";
  await recordTaskFailure(context, counted.after, task);
  const summary = describeFailure(task);
  if (counted.after.phase === "stabilizing") {
    // After ECS called the rollout complete, one task that stops is enough: the revision is not stable.
    return rollBack(
      context,
      counted.after,
      `a task of the new revision stopped inside the ${counted.after.stabilitySeconds} s stability window after ECS completed the rollout: ${summary}`,
    );
  }
  if (counted.after.failedTasks.length < counted.after.failFastThreshold) return "task-failure-recorded";
  return rollBack(
    context,
    counted.after,
    `${counted.after.failedTasks.length} task${counted.after.failedTasks.length === 1 ? "" : "s"} of the new revision failed (threshold ${counted.after.failFastThreshold}); the last: ${summary}`,
  );
}

function failedContainer(task: TaskState) {
  return (
    task.containers.find((container) => container.exitCode !== undefined && container.exitCode !== 0) ??
    task.containers.find((container) => container.healthStatus === "UNHEALTHY") ??
    task.containers[0]
  );
}

function describeFailure(task: TaskState): string {
  const container = failedContainer(task);
  // An exit code of 0 only says the task stopped when asked (after failing its health checks).
  const exit = container?.exitCode ? `, container ${container.name} exit code ${container.exitCode}` : "";
  return `${task.stoppedReason ?? task.stopCode ?? "stopped"}${exit}`;
}

/** The task's last log lines, from the awslogs stream `<prefix>/<container>/<task id>`. */
async function lastLogLines(context: StepContext, wait: WaitRecord.Info, task: TaskState): Promise<string[]> {
  const container = failedContainer(task);
  if (!container) return [];
  const taskId = task.taskArn.slice(task.taskArn.lastIndexOf("/") + 1);
  try {
    const result = await context.clients.logs.send(
      new GetLogEventsCommand({
        logGroupName: `/berth/${wait.stack}/${wait.service}`,
        logStreamName: `${wait.service}/${container.name}/${taskId}`,
        limit: LOG_LINES,
        startFromHead: false,
      }),
    );
    return (result.events ?? []).map((event) => event.message ?? "").filter((line) => line.length > 0);
  } catch {
    // Logs are evidence, not a condition: a task that never logged has no stream.
    return [];
  }
}

async function recordTaskFailure(
  context: StepContext,
  wait: WaitRecord.Info,
  task: TaskState,
): Promise<void> {
  const container = failedContainer(task);
  const logLines = await lastLogLines(context, wait, task);
  // ECS's wording, which Berth Local writes too: "Task failed container health checks[: <output>]".
  const healthOutput = /^Task failed container health checks(?:: ?(.*))?$/s.exec(
    task.stoppedReason ?? "",
  )?.[1];
  await DeploymentEventRecord.append(context.store, wait.deploymentId, {
    type: "task-failed",
    message: `task ${task.taskArn.slice(task.taskArn.lastIndexOf("/") + 1)} failed: ${describeFailure(task)}`,
    data: {
      taskArn: task.taskArn,
      stopCode: task.stopCode ?? null,
      stoppedReason: task.stoppedReason ?? null,
      container: container?.name ?? null,
      exitCode: container?.exitCode ?? null,
      ...(healthOutput ? { healthCheckOutput: healthOutput } : {}),
      logLines,
      failures: wait.failedTasks.length,
      threshold: wait.failFastThreshold,
    },
  });
}

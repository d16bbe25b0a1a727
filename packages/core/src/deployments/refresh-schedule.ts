import {
  CreateScheduleCommand,
  type CreateScheduleCommandInput,
  DeleteScheduleCommand,
  GetScheduleCommand,
  type GetScheduleCommandOutput,
  type SchedulerClient,
  UpdateScheduleCommand,
} from "@aws-sdk/client-scheduler";
import { Scheduler } from "../aws/index.ts";
import { Spec } from "../spec/index.ts";

/**
 * A stack's own refresh schedule, kept in EventBridge Scheduler: one schedule per stack whose
 * stack file names a cron (`berth.refresh.schedule`), in the installation's schedule group. Its
 * target is the scheduled-refresh function, invoked with `{"stack": …}`. A stack without a cron
 * (no `refresh`, or `off`) has no schedule: the weekly refresh covers the first, nothing the second.
 */

/** Where the schedules live and what they invoke: the installation's, from configuration. */
export interface RefreshScheduler {
  client: Pick<SchedulerClient, "send">;
  /** The schedule group every stack's schedule is created in. */
  group: string;
  /** The role EventBridge Scheduler assumes to invoke the target (passed with iam:PassRole). */
  roleArn: string;
  /** The scheduled-refresh function's ARN. */
  targetArn: string;
}

/** What the scheduled-refresh function receives from a stack's schedule. */
export interface ScheduledRefreshInput {
  stack: string;
}

/** A schedule's name for a stack (stack names are at most 63 characters of `a-z0-9-`). */
function scheduleName(stack: string): string {
  return `refresh-${stack}`;
}

/** Minutes EventBridge Scheduler may start a refresh late when the file says nothing. */
const DEFAULT_FLEXIBLE_WINDOW_MINUTES = 15;

export type ScheduleChange = "created" | "updated" | "deleted" | "unchanged";

/** The CreateSchedule/UpdateSchedule input a stack file asks for, or undefined for none. */
function desiredSchedule(
  scheduler: Omit<RefreshScheduler, "client">,
  stack: string,
  stackFile: string | undefined,
): CreateScheduleCommandInput | undefined {
  if (stackFile === undefined) return undefined;
  const parsed = Spec.parse(stackFile);
  // A stored file a later Berth refuses keeps the schedule it had: nothing here can read it.
  if (!parsed.ok) return undefined;
  const refresh = parsed.stack.berth?.refresh;
  if (!refresh || refresh.schedule === "off") return undefined;
  const input: ScheduledRefreshInput = { stack };
  return {
    Name: scheduleName(stack),
    GroupName: scheduler.group,
    Description: `Berth: refreshes every service of stack ${stack}`,
    ScheduleExpression: refresh.schedule.trim(),
    ScheduleExpressionTimezone: refresh.timeZone,
    FlexibleTimeWindow: {
      Mode: "FLEXIBLE",
      MaximumWindowInMinutes: refresh.flexibleWindowMinutes ?? DEFAULT_FLEXIBLE_WINDOW_MINUTES,
    },
    State: "ENABLED",
    Target: {
      Arn: scheduler.targetArn,
      RoleArn: scheduler.roleArn,
      Input: JSON.stringify(input),
      RetryPolicy: { MaximumRetryAttempts: 4, MaximumEventAgeInSeconds: 3600 },
    },
  };
}

/** Whether the schedule as it is already does what `wanted` asks. */
function matches(current: GetScheduleCommandOutput, wanted: CreateScheduleCommandInput): boolean {
  return (
    current.ScheduleExpression === wanted.ScheduleExpression &&
    (current.ScheduleExpressionTimezone ?? "UTC") === wanted.ScheduleExpressionTimezone &&
    current.FlexibleTimeWindow?.Mode === wanted.FlexibleTimeWindow?.Mode &&
    current.FlexibleTimeWindow?.MaximumWindowInMinutes ===
      wanted.FlexibleTimeWindow?.MaximumWindowInMinutes &&
    current.State === wanted.State &&
    current.Description === wanted.Description &&
    current.Target?.Arn === wanted.Target?.Arn &&
    current.Target?.RoleArn === wanted.Target?.RoleArn &&
    current.Target?.Input === wanted.Target?.Input &&
    current.Target?.RetryPolicy?.MaximumRetryAttempts === wanted.Target?.RetryPolicy?.MaximumRetryAttempts &&
    current.Target?.RetryPolicy?.MaximumEventAgeInSeconds ===
      wanted.Target?.RetryPolicy?.MaximumEventAgeInSeconds
  );
}

async function current(scheduler: RefreshScheduler, name: string) {
  try {
    return await scheduler.client.send(new GetScheduleCommand({ Name: name, GroupName: scheduler.group }));
  } catch (error) {
    if (Scheduler.isNotFound(error)) return undefined;
    throw error;
  }
}

async function change(
  scheduler: RefreshScheduler,
  stack: string,
  stackFile: string | undefined,
): Promise<ScheduleChange> {
  const name = scheduleName(stack);
  const wanted = desiredSchedule(scheduler, stack, stackFile);
  const found = await current(scheduler, name);
  if (!wanted) {
    if (!found) return "unchanged";
    try {
      await scheduler.client.send(new DeleteScheduleCommand({ Name: name, GroupName: scheduler.group }));
    } catch (error) {
      // Someone deleted it between our read and our delete: the outcome is the one we wanted.
      if (!Scheduler.isNotFound(error)) throw error;
    }
    return "deleted";
  }
  if (!found) {
    try {
      await scheduler.client.send(new CreateScheduleCommand(wanted));
      return "created";
    } catch (error) {
      // A concurrent writer created it: update it to this file's settings.
      if (!Scheduler.isConflict(error)) throw error;
    }
  } else if (matches(found, wanted)) {
    return "unchanged";
  }
  await scheduler.client.send(new UpdateScheduleCommand(wanted));
  return "updated";
}

/**
 * Makes the stack's schedule what its stack file asks for (`undefined`: the stack is deleted):
 * creates, updates or deletes it, and changes nothing when it already matches, so the same apply
 * twice sends no write.
 */
export const syncSchedule = change;

/** What an apply or a deletion did to the stack's schedule, or why it could not. */
export type ScheduleOutcome = { change: ScheduleChange } | { error: string };

/**
 * `syncSchedule` for an apply or a deletion whose services are already written: a failure is
 * reported and logged, not thrown, so the deployments it placed still start; applying the same
 * file again retries it.
 */
export async function reconcile(
  scheduler: RefreshScheduler,
  logger: { warn(message: string, details: Record<string, unknown>): void },
  stack: string,
  stackFile: string | undefined,
): Promise<ScheduleOutcome> {
  try {
    return { change: await change(scheduler, stack, stackFile) };
  } catch (error) {
    const described = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    logger.warn("refresh schedule not synchronised", { stack, error: described });
    return {
      error:
        `the refresh schedule could not be ${stackFile === undefined ? "deleted" : "written"} (${described}); ${
          stackFile === undefined ? "delete the schedule by hand" : "apply the stack again to retry"
        }`.slice(0, 1000),
    };
  }
}

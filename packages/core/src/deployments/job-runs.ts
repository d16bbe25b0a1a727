import {
  DescribeExecutionCommand,
  GetExecutionHistoryCommand,
  type HistoryEvent,
  ListExecutionsCommand,
  type SFNClient,
  StartExecutionCommand,
} from "@aws-sdk/client-sfn";
import { z } from "zod";
import { StepFunctions } from "../aws/index.ts";
import { BerthError } from "../errors.ts";
import { Render } from "../render/index.ts";
import type { Spec } from "../spec/index.ts";
import { newRecordId } from "../store/ids.ts";
import { ServiceRecord, type Store } from "../store/index.ts";
import { computeResourceOf } from "./service-spec.ts";

/**
 * A batch job's runs: each one an execution of the job's run state machine, named after the
 * run's id. They are read from Step Functions, so runs started by services show too.
 */

export interface JobRunContext {
  store: Store;
  /** Starts and reads the executions of the job's run state machine. */
  sfn: Pick<SFNClient, "send">;
  /** When a run is started: its id sorts by it. */
  clock?: () => Date;
}

export interface JobKey {
  stack: string;
  job: string;
}

/** Step Functions' execution names: what a run id may be. */
export const RunId = z.string().regex(/^[A-Za-z0-9_-]{1,80}$/, "must be 1 to 80 letters, digits, '-' or '_'");

const RunStatus = z.enum(["RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", "PENDING_REDRIVE"]);

export const Run = z.object({
  id: RunId,
  status: RunStatus,
  startedAt: z.string(),
  stoppedAt: z.string().optional(),
  executionArn: z.string(),
});
export type Run = z.infer<typeof Run>;

export const Attempt = z.object({
  /** 1 for the first attempt, then one more per retry. */
  number: z.number().int().positive(),
  status: z.enum(["RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT"]),
  taskArn: z.string().optional(),
  startedAt: z.string(),
  stoppedAt: z.string().optional(),
  stoppedReason: z.string().optional(),
  /** Every container's exit code, once the task stopped. */
  exitCodes: z.array(z.object({ container: z.string(), exitCode: z.number().int().nullable() })),
  /** The Step Functions error of a failed attempt. */
  error: z.string().optional(),
});
export type Attempt = z.infer<typeof Attempt>;

export const RunWithAttempts = Run.extend({ attempts: z.array(Attempt) });
export type RunWithAttempts = z.infer<typeof RunWithAttempts>;

export const StartInput = z.object({
  command: z.array(z.string().max(4096)).min(1).max(100).optional(),
  environment: z
    .record(
      z
        .string()
        .regex(/^[A-Za-z_][A-Za-z0-9_]*$/)
        .max(255),
      z.string().max(32_768),
    )
    .optional(),
});
export type StartInput = z.infer<typeof StartInput>;

/** The job's record, its spec and its run state machine; 404 for what is not a batch job, 409 before its first deployment. */
async function deployedJob(
  store: Store,
  { stack, job }: JobKey,
): Promise<{ spec: Spec.BatchJob; stateMachineArn: string }> {
  const record = await ServiceRecord.get(store, stack, job);
  const spec = record ? computeResourceOf(record.spec) : undefined;
  if (!record || spec?.type !== "batch-job") {
    throw new BerthError("NOT_FOUND", `batch job ${stack}/${job} does not exist`);
  }
  if (!record.jobStateMachineArn) {
    throw new BerthError("CONFLICT", `batch job ${stack}/${job} has not been deployed yet`);
  }
  return { spec, stateMachineArn: record.jobStateMachineArn };
}

/** The job's record names a run state machine that is gone (deleted outside Berth). */
function noMachine({ stack, job }: JobKey, cause: unknown): BerthError {
  return new BerthError(
    "CONFLICT",
    `batch job ${stack}/${job} has no run state machine; deploy it again`,
    [],
    {
      cause,
    },
  );
}

const iso = (date: Date | undefined) => date?.toISOString();

/** The RunTask overrides of a run: the job's one container's command and environment. */
function overridesOf(jobName: string, spec: Spec.BatchJob, input: StartInput): unknown {
  if (!input.command && !input.environment) return {};
  const container = {
    Name: Render.jobContainer(jobName, spec),
    ...(input.command ? { Command: input.command } : {}),
    ...(input.environment
      ? { Environment: Object.entries(input.environment).map(([Name, Value]) => ({ Name, Value })) }
      : {}),
  };
  return { overrides: { ContainerOverrides: [container] } };
}

/** Starts a run of a deployed batch job; it runs as its run state machine says (retries, timeout). */
export async function start(context: JobRunContext, key: JobKey & StartInput): Promise<Run> {
  const { spec, stateMachineArn } = await deployedJob(context.store, key);
  const now = (context.clock ?? (() => new Date()))();
  const id = newRecordId(now);
  const input = JSON.stringify(overridesOf(key.job, spec, StartInput.parse(key)));
  try {
    const started = await context.sfn.send(new StartExecutionCommand({ stateMachineArn, name: id, input }));
    return {
      id,
      status: "RUNNING",
      startedAt: (started.startDate ?? now).toISOString(),
      executionArn: started.executionArn ?? StepFunctions.executionArnOf(stateMachineArn, id),
    };
  } catch (error) {
    if (StepFunctions.isStateMachineMissing(error)) throw noMachine(key, error);
    throw error;
  }
}

export interface RunPage {
  runs: Run[];
  nextCursor?: string;
}

/** The job's runs, newest first. */
export async function list(
  context: JobRunContext,
  key: JobKey & { limit?: number; cursor?: string },
): Promise<RunPage> {
  const { stateMachineArn } = await deployedJob(context.store, key);
  try {
    const page = await context.sfn.send(
      new ListExecutionsCommand({
        stateMachineArn,
        maxResults: key.limit ?? 20,
        ...(key.cursor ? { nextToken: key.cursor } : {}),
      }),
    );
    return {
      runs: (page.executions ?? []).map((execution) => ({
        id: execution.name ?? "",
        status: RunStatus.catch("RUNNING").parse(execution.status),
        startedAt: iso(execution.startDate) ?? "",
        ...(execution.stopDate ? { stoppedAt: execution.stopDate.toISOString() } : {}),
        executionArn: execution.executionArn ?? "",
      })),
      ...(page.nextToken ? { nextCursor: page.nextToken } : {}),
    };
  } catch (error) {
    if (StepFunctions.isInvalidPageToken(error)) {
      throw new BerthError("INVALID_CURSOR", "the cursor is not one this API issued", [], { cause: error });
    }
    if (StepFunctions.isStateMachineMissing(error)) throw noMachine(key, error);
    throw error;
  }
}

/** One run, with its attempts read from the execution's history. */
export async function describe(
  context: JobRunContext,
  key: JobKey & { id: string },
): Promise<RunWithAttempts> {
  const { stateMachineArn } = await deployedJob(context.store, key);
  const id = RunId.safeParse(key.id);
  if (!id.success)
    throw new BerthError("NOT_FOUND", `run ${key.id} of ${key.stack}/${key.job} does not exist`);
  const executionArn = StepFunctions.executionArnOf(stateMachineArn, id.data);
  try {
    const described = await context.sfn.send(new DescribeExecutionCommand({ executionArn }));
    const events: HistoryEvent[] = [];
    let nextToken: string | undefined;
    do {
      const page = await context.sfn.send(
        new GetExecutionHistoryCommand({
          executionArn,
          maxResults: 1000,
          ...(nextToken ? { nextToken } : {}),
        }),
      );
      events.push(...(page.events ?? []));
      nextToken = page.nextToken;
    } while (nextToken);
    return {
      id: id.data,
      status: RunStatus.catch("RUNNING").parse(described.status),
      startedAt: iso(described.startDate) ?? "",
      ...(described.stopDate ? { stoppedAt: described.stopDate.toISOString() } : {}),
      executionArn,
      attempts: attemptsOf(events),
    };
  } catch (error) {
    if (StepFunctions.isExecutionMissing(error)) {
      throw new BerthError("NOT_FOUND", `run ${key.id} of ${key.stack}/${key.job} does not exist`, [], {
        cause: error,
      });
    }
    throw error;
  }
}

/** What Step Functions says of an ECS task: RunTask's answer (`Tasks[0]`) or the task itself, as JSON text. */
const TaskJson = z.object({
  TaskArn: z.string().optional(),
  StoppedReason: z.string().optional(),
  Containers: z
    .array(z.object({ Name: z.string().optional(), ExitCode: z.number().int().nullable().optional() }))
    .optional(),
});
type TaskJson = z.infer<typeof TaskJson>;

function taskOf(text: string | undefined): TaskJson | undefined {
  if (!text) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  const tasks = z.object({ Tasks: z.array(z.unknown()).min(1) }).safeParse(value);
  const parsed = TaskJson.safeParse(tasks.success ? tasks.data.Tasks[0] : value);
  return parsed.success ? parsed.data : undefined;
}

/** An attempt's end, from the task Step Functions reports. */
function ended(
  attempt: Attempt,
  status: Attempt["status"],
  at: Date | undefined,
  task: TaskJson | undefined,
): void {
  attempt.status = status;
  const stoppedAt = iso(at);
  if (stoppedAt) attempt.stoppedAt = stoppedAt;
  if (task?.TaskArn) attempt.taskArn = task.TaskArn;
  if (task?.StoppedReason) attempt.stoppedReason = task.StoppedReason;
  if (task?.Containers) {
    attempt.exitCodes = task.Containers.map((container) => ({
      container: container.Name ?? "",
      exitCode: container.ExitCode ?? null,
    }));
  }
}

/** Each scheduling of the run's task is an attempt: submitted, then succeeded, failed or timed out. */
export function attemptsOf(events: readonly HistoryEvent[]): Attempt[] {
  const attempts: Attempt[] = [];
  let current: Attempt | undefined;
  for (const event of events) {
    switch (event.type) {
      case "TaskScheduled":
        current = {
          number: attempts.length + 1,
          status: "RUNNING",
          startedAt: iso(event.timestamp) ?? "",
          exitCodes: [],
        };
        attempts.push(current);
        break;
      case "TaskSubmitted": {
        const task = taskOf(event.taskSubmittedEventDetails?.output);
        if (current && task?.TaskArn) current.taskArn = task.TaskArn;
        break;
      }
      case "TaskSucceeded":
        if (current)
          ended(current, "SUCCEEDED", event.timestamp, taskOf(event.taskSucceededEventDetails?.output));
        current = undefined;
        break;
      case "TaskFailed":
      case "TaskStartFailed":
      case "TaskSubmitFailed": {
        const details =
          event.taskFailedEventDetails ??
          event.taskStartFailedEventDetails ??
          event.taskSubmitFailedEventDetails;
        if (current) {
          ended(current, "FAILED", event.timestamp, taskOf(details?.cause));
          if (details?.error) current.error = details.error;
        }
        current = undefined;
        break;
      }
      case "TaskTimedOut":
        if (current) {
          ended(current, "TIMED_OUT", event.timestamp, taskOf(event.taskTimedOutEventDetails?.cause));
          if (event.taskTimedOutEventDetails?.error) current.error = event.taskTimedOutEventDetails.error;
        }
        current = undefined;
        break;
      default:
        break;
    }
  }
  return attempts;
}

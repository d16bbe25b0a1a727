import { Spec } from "../spec/index.ts";
import type { StateMachine } from "../workflows/asl.ts";
import type { Environment } from "./environment.ts";
import { RenderError } from "./errors.ts";
import { jobStateMachineName, standardTags } from "./names.ts";
import { capacity, network } from "./service.ts";

/** A batch job's run state machine: one execution is one run. */
export interface JobRunMachine {
  name: string;
  definition: StateMachine;
  roleArn: string;
  tags: { key: string; value: string }[];
}

/** The state that runs the task; its history events are the run's attempts. */
export const JOB_RUN_STATE = "Run task";

/** Step Functions' ECS Parameters are PascalCase; the rendered ECS requests are camelCase. */
function pascalKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(pascalKeys);
  if (typeof value !== "object" || value === null) return value;
  return Object.fromEntries(
    Object.entries(value).map(([key, item]) => [
      key.charAt(0).toUpperCase() + key.slice(1),
      pascalKeys(item),
    ]),
  );
}

/**
 * The state machine a batch job's runs execute: `ecs:runTask.sync` of the job's revision, its
 * Task bounded by `timeout` and retried per `retryConfig` when the task fails (a container exits
 * non-zero). A timed-out attempt is not retried: the timeout bounds the run, not one attempt.
 * The execution's input may carry `overrides` (RunTask's, in PascalCase); without them the job
 * runs as declared.
 */
export function renderJobRun(
  stack: Spec.Stack,
  jobName: string,
  env: Environment,
  taskDefinitionArn: string,
): JobRunMachine {
  const job = stack.resources[jobName];
  if (job?.type !== "batch-job") {
    throw new RenderError("UNKNOWN_RESOURCE", `"${jobName}" is not a batch job of this stack`);
  }
  if (!env.jobRunRoleArn) {
    throw new RenderError(
      "MISSING_ENVIRONMENT",
      "batch jobs need the installation's job run role (jobRunRoleArn)",
    );
  }
  const { timeout, retryConfig } = job.properties;
  const retries = retryConfig.attempts - 1;
  // Step Functions' Retry needs at least a second between attempts.
  const interval = Math.max(1, retryConfig.retryIntervalSeconds);
  let waits = 0;
  for (let retry = 0; retry < retries; retry += 1)
    waits += interval * retryConfig.retryIntervalMultiplier ** retry;
  const definition: StateMachine = {
    Comment: `Berth batch job ${env.stack}/${jobName}: one execution is one run`,
    StartAt: "Overrides given?",
    // Every attempt at its longest, the waits between them, and ten minutes per attempt to place and stop it.
    TimeoutSeconds: Math.ceil(retryConfig.attempts * (timeout + 600) + waits),
    States: {
      "Overrides given?": {
        Type: "Choice",
        Choices: [{ Variable: "$.overrides", IsPresent: true, Next: JOB_RUN_STATE }],
        Default: "No overrides",
      },
      "No overrides": {
        Type: "Pass",
        Result: { ContainerOverrides: [] },
        ResultPath: "$.overrides",
        Next: JOB_RUN_STATE,
      },
      [JOB_RUN_STATE]: {
        Type: "Task",
        Resource: "arn:aws:states:::ecs:runTask.sync",
        Parameters: {
          Cluster: env.cluster,
          TaskDefinition: taskDefinitionArn,
          ...(pascalKeys(capacity(job, env)) as Record<string, unknown>),
          NetworkConfiguration: pascalKeys(network(job, env)),
          PropagateTags: "TASK_DEFINITION",
          "Overrides.$": "$.overrides",
        },
        TimeoutSeconds: timeout,
        ...(retries > 0
          ? {
              Retry: [
                {
                  ErrorEquals: ["States.TaskFailed"],
                  MaxAttempts: retries,
                  IntervalSeconds: interval,
                  BackoffRate: retryConfig.retryIntervalMultiplier,
                },
              ],
            }
          : {}),
        End: true,
      },
    },
  };
  return {
    name: jobStateMachineName(env, jobName),
    definition,
    roleArn: env.jobRunRoleArn,
    tags: Object.entries(standardTags(env, jobName)).map(([key, value]) => ({ key, value })),
  };
}

/** The container a run's overrides name: a batch job has one. */
export function jobContainer(jobName: string, job: Spec.BatchJob): string {
  return Spec.containersOf(jobName, job)[0]?.name ?? jobName;
}

import type { HistoryEvent } from "@aws-sdk/client-sfn";
import { describe, expect, it } from "vitest";
import { attemptsOf } from "./job-runs.ts";

const at = (second: number) => new Date(Date.UTC(2030, 0, 1, 12, 0, second));
const ECS_TASK = { resourceType: "ecs", resource: "runTask.sync" };
const TASK = "arn:aws:ecs:us-east-1:123456789012:task/berth/abc";
const stopped = (exitCode: number, taskArn = TASK) =>
  JSON.stringify({
    TaskArn: taskArn,
    StoppedReason: "Essential container in task exited",
    Containers: [{ Name: "report", ExitCode: exitCode }],
  });

function event(type: string, second: number, details: Partial<HistoryEvent> = {}): HistoryEvent {
  return { type: type as HistoryEvent["type"], timestamp: at(second), id: second, ...details };
}

describe("attemptsOf", () => {
  it("reads each scheduling of the task as an attempt, with the task AWS submitted (RunTask's answer) and its exit codes", () => {
    const attempts = attemptsOf([
      event("ExecutionStarted", 0),
      event("TaskScheduled", 1),
      event("TaskSubmitted", 2, {
        // On AWS the submitted output is RunTask's answer; Berth Local gives the task itself.
        taskSubmittedEventDetails: {
          resourceType: "ecs",
          resource: "runTask.sync",
          output: JSON.stringify({ Tasks: [{ TaskArn: TASK }], Failures: [] }),
        },
      }),
      event("TaskFailed", 10, {
        taskFailedEventDetails: { ...ECS_TASK, error: "States.TaskFailed", cause: stopped(1) },
      }),
      event("TaskScheduled", 15),
      event("TaskSubmitted", 16, {
        taskSubmittedEventDetails: {
          resourceType: "ecs",
          resource: "runTask.sync",
          output: JSON.stringify({ TaskArn: `${TASK}2` }),
        },
      }),
      event("TaskSucceeded", 20, {
        taskSucceededEventDetails: {
          resourceType: "ecs",
          resource: "runTask.sync",
          output: stopped(0, `${TASK}2`),
        },
      }),
      event("TaskScheduled", 25),
      event("TaskSubmitted", 26, {
        taskSubmittedEventDetails: { resourceType: "ecs", resource: "runTask.sync", output: "not json" },
      }),
    ]);
    expect(attempts).toEqual([
      {
        number: 1,
        status: "FAILED",
        taskArn: TASK,
        startedAt: at(1).toISOString(),
        stoppedAt: at(10).toISOString(),
        stoppedReason: "Essential container in task exited",
        exitCodes: [{ container: "report", exitCode: 1 }],
        error: "States.TaskFailed",
      },
      {
        number: 2,
        status: "SUCCEEDED",
        taskArn: `${TASK}2`,
        startedAt: at(15).toISOString(),
        stoppedAt: at(20).toISOString(),
        stoppedReason: "Essential container in task exited",
        exitCodes: [{ container: "report", exitCode: 0 }],
      },
      { number: 3, status: "RUNNING", startedAt: at(25).toISOString(), exitCodes: [] },
    ]);
  });

  it("ends a timed-out attempt TIMED_OUT with its error, and one whose cause is not a task without exit codes", () => {
    const attempts = attemptsOf([
      event("TaskScheduled", 1),
      event("TaskTimedOut", 5, {
        taskTimedOutEventDetails: { ...ECS_TASK, error: "States.Timeout", cause: "" },
      }),
      event("TaskScheduled", 6),
      event("TaskFailed", 7, {
        taskFailedEventDetails: { ...ECS_TASK, error: "ECS.AmazonECSException", cause: "refused" },
      }),
    ]);
    expect(attempts.map(({ status, error, exitCodes }) => ({ status, error, exitCodes }))).toEqual([
      { status: "TIMED_OUT", error: "States.Timeout", exitCodes: [] },
      { status: "FAILED", error: "ECS.AmazonECSException", exitCodes: [] },
    ]);
  });
});

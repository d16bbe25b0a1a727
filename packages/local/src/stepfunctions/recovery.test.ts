import {
  DescribeExecutionCommand,
  DescribeStateMachineCommand,
  SendTaskSuccessCommand,
  StartExecutionCommand,
} from "@aws-sdk/client-sfn";
import { afterEach, describe, expect, it } from "vitest";
import { failure } from "../test-support.ts";
import { LOCAL_RESTART } from "./runner.ts";
import {
  callbacks,
  createMachine,
  type Harness,
  historyOf,
  settled,
  startHarness,
  until,
  WAIT_FOR_TOKEN,
} from "./test-support.ts";

let harness: Harness | undefined;

afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

describe("a restart of Berth Local", () => {
  it("ends the executions it left RUNNING ABORTED with Berth.LocalRestart, and keeps the rest", async () => {
    harness = await startHarness();
    const waiting = await createMachine(harness, "waiting", { TimeoutSeconds: 60, ...WAIT_FOR_TOKEN });
    const quick = await createMachine(harness, "quick", {
      StartAt: "Done",
      States: { Done: { Type: "Pass", End: true } },
    });
    const orphan = await harness.sfn.send(
      new StartExecutionCommand({ stateMachineArn: waiting, name: "orphan" }),
    );
    const orphanArn = orphan.executionArn ?? "";
    const token = await until(
      "the token",
      () => callbacks().find((event) => event.execution === "orphan")?.taskToken,
    );
    const done = await harness.sfn.send(new StartExecutionCommand({ stateMachineArn: quick, name: "done" }));
    await settled(harness, done.executionArn ?? "");
    const historyBefore = await historyOf(harness, orphanArn);

    await harness.engine.close();
    await harness.restart();
    // Until recovery runs, the lost execution is as the old process left it.
    const before = await harness.sfn.send(new DescribeExecutionCommand({ executionArn: orphanArn }));
    expect(before.status).toBe("RUNNING");
    const published = harness.events.length;

    expect(await harness.engine.recover()).toBe(1);

    const after = await harness.sfn.send(new DescribeExecutionCommand({ executionArn: orphanArn }));
    expect(after).toMatchObject({
      status: "ABORTED",
      error: "Berth.LocalRestart",
      cause: LOCAL_RESTART.cause,
    });
    expect(after.cause).toBe("Berth Local stopped while this execution ran; its state was lost");
    const history = await historyOf(harness, orphanArn);
    expect(history.slice(0, -1)).toEqual(historyBefore);
    const last = history.at(-1);
    expect(last).toMatchObject({
      type: "ExecutionAborted",
      id: historyBefore.length + 1,
      previousEventId: historyBefore.length,
      executionAbortedEventDetails: { error: "Berth.LocalRestart", cause: LOCAL_RESTART.cause },
    });
    const events = harness.events.slice(published);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      source: "aws.states",
      "detail-type": "Step Functions Execution Status Change",
      resources: [orphanArn],
      detail: { executionArn: orphanArn, status: "ABORTED", error: "Berth.LocalRestart" },
    });
    // The old process's tokens died with it.
    const late = await failure(
      harness.sfn.send(new SendTaskSuccessCommand({ taskToken: token, output: "{}" })),
    );
    expect(late.name).toBe("TaskDoesNotExist");

    // What had ended, and the state machines, are as they were.
    expect(
      await harness.sfn.send(new DescribeExecutionCommand({ executionArn: done.executionArn })),
    ).toMatchObject({
      status: "SUCCEEDED",
    });
    expect((await historyOf(harness, done.executionArn ?? "")).map((event) => event.type)).toEqual([
      "ExecutionStarted",
      "PassStateEntered",
      "PassStateExited",
      "ExecutionSucceeded",
    ]);
    expect(
      await harness.sfn.send(new DescribeStateMachineCommand({ stateMachineArn: waiting })),
    ).toMatchObject({
      name: "waiting",
    });
    expect(await harness.engine.recover()).toBe(0);
  });

  it("starts new executions normally after recovery, reusing nothing of the old ones", async () => {
    harness = await startHarness();
    const quick = await createMachine(harness, "again", {
      StartAt: "Done",
      States: { Done: { Type: "Succeed" } },
    });
    await harness.engine.close();
    await harness.restart();
    await harness.engine.recover();
    const started = await harness.sfn.send(
      new StartExecutionCommand({ stateMachineArn: quick, name: "fresh" }),
    );
    expect(await settled(harness, started.executionArn ?? "")).toMatchObject({ status: "SUCCEEDED" });
  });
});

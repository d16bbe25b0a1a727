import { execFile } from "node:child_process";
import { promisify } from "node:util";
import {
  CreateStateMachineCommand,
  DeleteStateMachineCommand,
  DescribeStateMachineCommand,
  GetExecutionHistoryCommand,
  ListExecutionsCommand,
  ListStateMachinesCommand,
  StartExecutionCommand,
  StopExecutionCommand,
  UpdateStateMachineCommand,
} from "@aws-sdk/client-sfn";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { responseProblems } from "../../../../test/support/botocore.ts";
import { executable } from "../../../../test/support/executables.ts";
import { dispatch } from "../protocol.ts";
import { failure } from "../test-support.ts";
import { stepFunctionsService } from "./service.ts";
import {
  callbacks,
  createMachine,
  type Harness,
  ROLE_ARN,
  settled,
  startHarness,
  until,
  WAIT_FOR_TOKEN,
} from "./test-support.ts";

let harness: Harness;

beforeAll(async () => {
  harness = await startHarness();
});

afterAll(async () => {
  await harness.close();
});

const PASS = { StartAt: "Done", States: { Done: { Type: "Pass", End: true } } };

describe("state machines", () => {
  it("creates idempotently, refuses another definition under the same name, updates and deletes", async () => {
    const definition = JSON.stringify(PASS);
    const first = await harness.sfn.send(
      new CreateStateMachineCommand({ name: "machines-a", definition, roleArn: ROLE_ARN }),
    );
    expect(first.stateMachineArn).toBe("arn:aws:states:us-east-1:123456789012:stateMachine:machines-a");
    const again = await harness.sfn.send(
      new CreateStateMachineCommand({ name: "machines-a", definition, roleArn: ROLE_ARN }),
    );
    expect(again.creationDate).toEqual(first.creationDate);
    const other = JSON.stringify({ ...PASS, Comment: "changed" });
    const conflict = await failure(
      harness.sfn.send(
        new CreateStateMachineCommand({ name: "machines-a", definition: other, roleArn: ROLE_ARN }),
      ),
    );
    expect(conflict.name).toBe("StateMachineAlreadyExists");

    const updated = await harness.sfn.send(
      new UpdateStateMachineCommand({ stateMachineArn: first.stateMachineArn, definition: other }),
    );
    expect(updated.updateDate).toBeInstanceOf(Date);
    const described = await harness.sfn.send(
      new DescribeStateMachineCommand({ stateMachineArn: first.stateMachineArn }),
    );
    expect(described).toMatchObject({
      name: "machines-a",
      status: "ACTIVE",
      definition: other,
      roleArn: ROLE_ARN,
      type: "STANDARD",
    });
    const listed = await harness.sfn.send(new ListStateMachinesCommand({}));
    expect(listed.stateMachines?.map((machine) => machine.name)).toContain("machines-a");

    await harness.sfn.send(new DeleteStateMachineCommand({ stateMachineArn: first.stateMachineArn }));
    const gone = await failure(
      harness.sfn.send(new DescribeStateMachineCommand({ stateMachineArn: first.stateMachineArn })),
    );
    expect(gone.name).toBe("StateMachineDoesNotExist");
  });

  it("refuses invalid definitions, names, ARNs and resources it cannot run", async () => {
    const create = (name: string, definition: unknown, roleArn = ROLE_ARN) =>
      failure(
        harness.sfn.send(
          new CreateStateMachineCommand({
            name,
            definition: typeof definition === "string" ? definition : JSON.stringify(definition),
            roleArn,
          }),
        ),
      );
    expect((await create("bad-json", "{not json")).name).toBe("InvalidDefinition");
    const unreachable = await create("bad-schema", {
      StartAt: "Nowhere",
      States: { Done: { Type: "Pass", End: true } },
    });
    expect(unreachable.name).toBe("InvalidDefinition");
    const activity = await create("bad-resource", {
      StartAt: "Work",
      States: {
        Work: { Type: "Task", Resource: "arn:aws:states:us-east-1:123456789012:activity:x", End: true },
      },
    });
    expect(activity).toMatchObject({ name: "InvalidDefinition" });
    expect(activity.message).toContain("does not run the resource");
    const duplicate = await create("duplicate-names", {
      StartAt: "Each",
      States: {
        Each: {
          Type: "Map",
          ItemProcessor: {
            ProcessorConfig: { Mode: "INLINE" },
            StartAt: "Each",
            States: { Each: { Type: "Pass", End: true } },
          },
          End: true,
        },
      },
    });
    expect(duplicate.name).toBe("InvalidDefinition");
    expect((await create("has space", PASS)).name).toBe("InvalidName");
    expect((await create("bad-role", PASS, "not-a-role")).name).toBe("InvalidArn");
    const notArn = await failure(harness.sfn.send(new DescribeStateMachineCommand({ stateMachineArn: "x" })));
    expect(notArn.name).toBe("InvalidArn");
  });
});

describe("StartExecution", () => {
  it("is idempotent by name and input while the execution runs, as on AWS", async () => {
    const stateMachineArn = await createMachine(harness, "start-idempotent", WAIT_FOR_TOKEN);
    const start = (input: string) =>
      harness.sfn.send(new StartExecutionCommand({ stateMachineArn, name: "deployment-1", input }));
    const first = await start('{"n":1}');
    expect(first.executionArn).toBe(
      "arn:aws:states:us-east-1:123456789012:execution:start-idempotent:deployment-1",
    );
    const repeated = await start('{"n":1}');
    expect(repeated).toMatchObject({ executionArn: first.executionArn, startDate: first.startDate });
    expect((await failure(start('{"n":2}'))).name).toBe("ExecutionAlreadyExists");

    await harness.sfn.send(new StopExecutionCommand({ executionArn: first.executionArn }));
    expect((await failure(start('{"n":1}'))).name).toBe("ExecutionAlreadyExists");
  });

  it("names executions with a UUID by default and refuses bad input", async () => {
    const stateMachineArn = await createMachine(harness, "start-checks", PASS);
    const started = await harness.sfn.send(new StartExecutionCommand({ stateMachineArn }));
    expect(started.executionArn).toMatch(/:execution:start-checks:[0-9a-f-]{36}$/);
    expect(await settled(harness, started.executionArn ?? "")).toMatchObject({
      status: "SUCCEEDED",
      output: "{}",
    });
    const notJson = await failure(
      harness.sfn.send(new StartExecutionCommand({ stateMachineArn, input: "{" })),
    );
    expect(notJson.name).toBe("InvalidExecutionInput");
    const missing = await failure(
      harness.sfn.send(
        new StartExecutionCommand({ stateMachineArn: stateMachineArn.replace("start-checks", "nope") }),
      ),
    );
    expect(missing.name).toBe("StateMachineDoesNotExist");
  });
});

describe("ListExecutions and GetExecutionHistory", () => {
  let stateMachineArn: string;
  const names = ["list-1", "list-2", "list-3"];

  beforeAll(async () => {
    stateMachineArn = await createMachine(harness, "listing", PASS);
    for (const name of names) {
      const { executionArn } = await harness.sfn.send(new StartExecutionCommand({ stateMachineArn, name }));
      await settled(harness, executionArn ?? "");
    }
  });

  it("lists newest first, filters by status and pages with nextToken", async () => {
    const first = await harness.sfn.send(new ListExecutionsCommand({ stateMachineArn, maxResults: 2 }));
    expect(first.executions).toHaveLength(2);
    expect(first.nextToken).toBeDefined();
    const second = await harness.sfn.send(
      new ListExecutionsCommand({ stateMachineArn, maxResults: 2, nextToken: first.nextToken }),
    );
    const all = [...(first.executions ?? []), ...(second.executions ?? [])];
    expect(all.map((execution) => execution.name).sort()).toEqual(names);
    expect(second.nextToken).toBeUndefined();
    const starts = all.map((execution) => execution.startDate?.getTime() ?? 0);
    expect(starts).toEqual([...starts].sort((a, b) => b - a));
    expect(all[0]).toMatchObject({ status: "SUCCEEDED", stateMachineArn, stopDate: expect.any(Date) });

    const running = await harness.sfn.send(
      new ListExecutionsCommand({ stateMachineArn, statusFilter: "RUNNING" }),
    );
    expect(running.executions).toEqual([]);
    const badToken = await failure(
      harness.sfn.send(new ListExecutionsCommand({ stateMachineArn, nextToken: "bogus" })),
    );
    expect(badToken.name).toBe("InvalidToken");
  });

  it("pages the history, in reverse on request, and leaves data out when asked", async () => {
    const executionArn = `${stateMachineArn.replace(":stateMachine:", ":execution:")}:list-1`;
    const all = await harness.sfn.send(new GetExecutionHistoryCommand({ executionArn }));
    expect(all.events?.map((event) => event.type)).toEqual([
      "ExecutionStarted",
      "PassStateEntered",
      "PassStateExited",
      "ExecutionSucceeded",
    ]);
    const reversed = await harness.sfn.send(
      new GetExecutionHistoryCommand({ executionArn, reverseOrder: true, maxResults: 3 }),
    );
    expect(reversed.events?.map((event) => event.id)).toEqual([4, 3, 2]);
    const rest = await harness.sfn.send(
      new GetExecutionHistoryCommand({ executionArn, reverseOrder: true, nextToken: reversed.nextToken }),
    );
    expect(rest.events?.map((event) => event.id)).toEqual([1]);
    const bare = await harness.sfn.send(
      new GetExecutionHistoryCommand({ executionArn, includeExecutionData: false }),
    );
    expect(bare.events?.[0]?.executionStartedEventDetails).toEqual({ roleArn: ROLE_ARN });
    const missing = await failure(
      harness.sfn.send(new GetExecutionHistoryCommand({ executionArn: `${executionArn}-nope` })),
    );
    expect(missing.name).toBe("ExecutionDoesNotExist");
  });
});

describe("response shapes", () => {
  it("match botocore's Step Functions output shapes", async () => {
    const service = stepFunctionsService(harness.engine);
    // What the endpoint serializes: the handlers' answers, through JSON.
    const call = async (operation: string, input: unknown) => ({
      operation,
      output: JSON.parse(JSON.stringify(await dispatch(service, operation, input))) as Record<
        string,
        unknown
      >,
    });
    const created = await call("CreateStateMachine", {
      name: "shapes",
      definition: JSON.stringify(WAIT_FOR_TOKEN),
      roleArn: ROLE_ARN,
    });
    const stateMachineArn = created.output.stateMachineArn as string;
    const started = await call("StartExecution", { stateMachineArn, name: "shaped", input: '{"a":1}' });
    const executionArn = started.output.executionArn as string;
    await until("the callback", () => callbacks().find((event) => event.execution === "shaped"));
    const responses = [
      created,
      started,
      await call("DescribeStateMachine", { stateMachineArn }),
      await call("ListStateMachines", {}),
      await call("DescribeExecution", { executionArn }),
      await call("GetExecutionHistory", { executionArn }),
      await call("StopExecution", { executionArn, error: "E", cause: "C" }),
      await call("DescribeExecution", { executionArn }),
      await call("ListExecutions", { stateMachineArn }),
      await call("GetExecutionHistory", { executionArn, reverseOrder: true }),
      await call("UpdateStateMachine", { stateMachineArn, definition: JSON.stringify(PASS) }),
    ];
    const problems = responseProblems("stepfunctions", responses);
    expect(problems).toEqual(responses.map(() => []));
    // The validator does look at these responses: a missing required member is reported.
    const broken = responseProblems("stepfunctions", [
      { operation: "StartExecution", output: { executionArn } },
    ]);
    expect(broken[0]?.join(" ")).toContain("startDate");
  });
});

describe("the aws CLI", () => {
  it("lists executions and reads their history through the endpoint", async () => {
    const stateMachineArn = await createMachine(harness, "cli", PASS);
    const { executionArn } = await harness.sfn.send(
      new StartExecutionCommand({ stateMachineArn, name: "from-cli" }),
    );
    await settled(harness, executionArn ?? "");
    // Asynchronously: the endpoint runs in this process and must keep answering meanwhile.
    const aws = (...args: string[]) =>
      promisify(execFile)(
        executable("aws"),
        ["--endpoint-url", harness.endpoint.url, "--region", "us-east-1", ...args],
        {
          env: { ...process.env, AWS_ACCESS_KEY_ID: "berth", AWS_SECRET_ACCESS_KEY: "berth", AWS_PAGER: "" },
          encoding: "utf8",
        },
      );
    const [listing, reading] = await Promise.all([
      aws("stepfunctions", "list-executions", "--state-machine-arn", stateMachineArn),
      aws("stepfunctions", "get-execution-history", "--execution-arn", executionArn ?? ""),
    ]);
    const listed = JSON.parse(listing.stdout);
    expect(listed.executions).toEqual([
      expect.objectContaining({ executionArn, name: "from-cli", status: "SUCCEEDED" }),
    ]);
    const history = JSON.parse(reading.stdout);
    expect(history.events.map((event: { type: string }) => event.type)).toEqual([
      "ExecutionStarted",
      "PassStateEntered",
      "PassStateExited",
      "ExecutionSucceeded",
    ]);
  });
});

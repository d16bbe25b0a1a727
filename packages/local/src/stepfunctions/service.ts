import { z } from "zod";
import { AwsError, type AwsJsonService, operation } from "../protocol.ts";
import type { StepFunctionsEngine } from "./runner.ts";
import type { ExecutionRecord, HistoryEvent, StateMachineRecord } from "./store.ts";

const Arn = z.string().min(1).max(2048);
const Name = z.string().min(1).max(80);
const Definition = z.string().min(1).max(1_048_576);
const Data = z.string().max(262_144);
const TaskToken = z.string().min(1).max(2048);
const PageToken = z.string().min(1).max(1024);
const PageSize = z.number().int().min(0).max(1000);
const Status = z.enum(["RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", "PENDING_REDRIVE"]);
/** Accepted as AWS accepts them; Berth Local keeps no logs, traces, tags or keys for them. */
const Ignored = {
  loggingConfiguration: z.unknown().optional(),
  tracingConfiguration: z.unknown().optional(),
  encryptionConfiguration: z.unknown().optional(),
  publish: z.boolean().optional(),
  versionDescription: z.string().optional(),
};

const CreateStateMachineInput = z.object({
  name: Name,
  definition: Definition,
  roleArn: Arn,
  type: z.enum(["STANDARD", "EXPRESS"]).optional(),
  tags: z.array(z.object({ key: z.string().optional(), value: z.string().optional() })).optional(),
  ...Ignored,
});
const UpdateStateMachineInput = z.object({
  stateMachineArn: Arn,
  definition: Definition.optional(),
  roleArn: Arn.optional(),
  ...Ignored,
});
const StateMachineInput = z.object({ stateMachineArn: Arn, includedData: z.string().optional() });
const ListStateMachinesInput = z.object({ maxResults: PageSize.optional(), nextToken: PageToken.optional() });
const StartExecutionInput = z.object({
  stateMachineArn: Arn,
  name: Name.optional(),
  input: Data.optional(),
  traceHeader: z.string().max(256).optional(),
});
const ExecutionInput = z.object({ executionArn: Arn, includedData: z.string().optional() });
const ListExecutionsInput = z.object({
  stateMachineArn: Arn.optional(),
  statusFilter: Status.optional(),
  maxResults: PageSize.optional(),
  nextToken: PageToken.optional(),
  mapRunArn: Arn.optional(),
  redriveFilter: z.string().optional(),
});
const StopExecutionInput = z.object({
  executionArn: Arn,
  error: z.string().max(256).optional(),
  cause: z.string().max(32_768).optional(),
});
const GetExecutionHistoryInput = z.object({
  executionArn: Arn,
  maxResults: PageSize.optional(),
  reverseOrder: z.boolean().optional(),
  nextToken: PageToken.optional(),
  includeExecutionData: z.boolean().optional(),
});
const SendTaskSuccessInput = z.object({ taskToken: TaskToken, output: Data });
const SendTaskFailureInput = z.object({
  taskToken: TaskToken,
  error: z.string().max(256).optional(),
  cause: z.string().max(32_768).optional(),
});
const SendTaskHeartbeatInput = z.object({ taskToken: TaskToken });

/** JSON 1.0 timestamps are epoch seconds. */
function seconds(milliseconds: number): number {
  return milliseconds / 1000;
}

/** Page tokens are opaque to callers: the position after the page's last item. */
function encodeToken(position: string | number): string {
  return Buffer.from(JSON.stringify({ after: position })).toString("base64url");
}

function decodeToken(token: string | undefined): string | number | undefined {
  if (token === undefined) return undefined;
  try {
    const decoded = JSON.parse(Buffer.from(token, "base64url").toString("utf8")) as { after?: unknown };
    if (typeof decoded.after === "string" || typeof decoded.after === "number") return decoded.after;
  } catch {
    // Reported below, like any token this service did not hand out.
  }
  throw new AwsError("InvalidToken", `Invalid Token: '${token}'`);
}

/** One page of `items` after the item `token` names (by `key`), with the token for the next. */
function page<T>(
  items: T[],
  key: (item: T) => string | number,
  maxResults: number | undefined,
  token?: string,
) {
  const after = decodeToken(token);
  let start = 0;
  if (after !== undefined) {
    const index = items.findIndex((item) => key(item) === after);
    if (index < 0) throw new AwsError("InvalidToken", `Invalid Token: '${token}'`);
    start = index + 1;
  }
  const size = maxResults === undefined || maxResults === 0 ? 100 : maxResults;
  const slice = items.slice(start, start + size);
  const last = slice.at(-1);
  const more = start + size < items.length && last !== undefined;
  return { items: slice, ...(more ? { nextToken: encodeToken(key(last)) } : {}) };
}

function describeMachine(machine: StateMachineRecord) {
  return {
    stateMachineArn: machine.arn,
    name: machine.name,
    status: "ACTIVE",
    definition: machine.definition,
    roleArn: machine.roleArn,
    type: machine.type,
    creationDate: seconds(machine.creationDate),
    revisionId: machine.revisionId,
    loggingConfiguration: { level: "OFF", includeExecutionData: false },
    tracingConfiguration: { enabled: false },
  };
}

function executionItem(execution: ExecutionRecord) {
  return {
    executionArn: execution.executionArn,
    stateMachineArn: execution.stateMachineArn,
    name: execution.name,
    status: execution.status,
    startDate: seconds(execution.startDate),
    ...(execution.stopDate !== undefined ? { stopDate: seconds(execution.stopDate) } : {}),
  };
}

function describeExecution(execution: ExecutionRecord) {
  return {
    ...executionItem(execution),
    input: execution.input,
    inputDetails: { included: true },
    ...(execution.output !== undefined
      ? { output: execution.output, outputDetails: { included: true } }
      : {}),
    ...(execution.error !== undefined ? { error: execution.error } : {}),
    ...(execution.cause !== undefined ? { cause: execution.cause } : {}),
    ...(execution.traceHeader !== undefined ? { traceHeader: execution.traceHeader } : {}),
    redriveCount: 0,
    redriveStatus: "NOT_REDRIVABLE",
    redriveStatusReason: "Berth Local does not redrive executions",
  };
}

const DATA_FIELDS = new Set(["input", "inputDetails", "output", "outputDetails"]);

function historyEvent(event: HistoryEvent, includeExecutionData: boolean) {
  const shaped: Record<string, unknown> = { ...event, timestamp: seconds(event.timestamp) };
  if (!includeExecutionData) {
    for (const [key, value] of Object.entries(shaped)) {
      if (!key.endsWith("EventDetails") || typeof value !== "object" || value === null) continue;
      shaped[key] = Object.fromEntries(Object.entries(value).filter(([field]) => !DATA_FIELDS.has(field)));
    }
  }
  return shaped;
}

/**
 * Step Functions' API (AWS JSON 1.0, `AWSStepFunctions`) over the engine: state machines,
 * executions and their histories, and the task token callbacks.
 */
export function stepFunctionsService(engine: StepFunctionsEngine): AwsJsonService {
  return {
    name: "states",
    targetPrefix: "AWSStepFunctions",
    validationError: "ValidationException",
    operations: {
      CreateStateMachine: operation(CreateStateMachineInput, async (input) => {
        const machine = await engine.createStateMachine(input);
        return { stateMachineArn: machine.arn, creationDate: seconds(machine.creationDate) };
      }),

      UpdateStateMachine: operation(UpdateStateMachineInput, async (input) => {
        const machine = await engine.updateStateMachine(input);
        return { updateDate: seconds(machine.updateDate ?? Date.now()), revisionId: machine.revisionId };
      }),

      DescribeStateMachine: operation(StateMachineInput, (input) =>
        describeMachine(engine.machine(input.stateMachineArn)),
      ),

      ListStateMachines: operation(ListStateMachinesInput, (input) => {
        const { items, nextToken } = page(
          engine.store.listMachines(),
          (machine) => machine.arn,
          input.maxResults,
          input.nextToken,
        );
        return {
          stateMachines: items.map((machine) => ({
            stateMachineArn: machine.arn,
            name: machine.name,
            type: machine.type,
            creationDate: seconds(machine.creationDate),
          })),
          ...(nextToken ? { nextToken } : {}),
        };
      }),

      DeleteStateMachine: operation(StateMachineInput, (input) => {
        engine.deleteStateMachine(input.stateMachineArn);
        return {};
      }),

      StartExecution: operation(StartExecutionInput, (input) => {
        const execution = engine.startExecution(input);
        return { executionArn: execution.executionArn, startDate: seconds(execution.startDate) };
      }),

      DescribeExecution: operation(ExecutionInput, (input) =>
        describeExecution(engine.execution(input.executionArn)),
      ),

      ListExecutions: operation(ListExecutionsInput, (input) => {
        if (input.mapRunArn !== undefined)
          throw new AwsError("ValidationException", "Berth Local has no Distributed Map runs");
        if (input.stateMachineArn === undefined)
          throw new AwsError("ValidationException", "Must provide a StateMachine ARN or MapRun ARN");
        const machine = engine.machine(input.stateMachineArn);
        const executions = engine.store.listExecutions(
          (execution) =>
            execution.stateMachineArn === machine.arn &&
            (input.statusFilter === undefined || execution.status === input.statusFilter),
        );
        const { items, nextToken } = page(
          executions,
          (execution) => execution.executionArn,
          input.maxResults,
          input.nextToken,
        );
        return { executions: items.map(executionItem), ...(nextToken ? { nextToken } : {}) };
      }),

      StopExecution: operation(StopExecutionInput, (input) => {
        const execution = engine.stopExecution(input.executionArn, input.error, input.cause);
        return { stopDate: seconds(execution.stopDate ?? Date.now()) };
      }),

      GetExecutionHistory: operation(GetExecutionHistoryInput, async (input) => {
        const events = await engine.history(input.executionArn);
        if (input.reverseOrder) events.reverse();
        const { items, nextToken } = page(events, (event) => event.id, input.maxResults, input.nextToken);
        const includeData = input.includeExecutionData ?? true;
        return {
          events: items.map((event) => historyEvent(event, includeData)),
          ...(nextToken ? { nextToken } : {}),
        };
      }),

      SendTaskSuccess: operation(SendTaskSuccessInput, (input) => {
        engine.sendTaskSuccess(input.taskToken, input.output);
        return {};
      }),

      SendTaskFailure: operation(SendTaskFailureInput, (input) => {
        engine.sendTaskFailure(input.taskToken, input.error, input.cause);
        return {};
      }),

      SendTaskHeartbeat: operation(SendTaskHeartbeatInput, (input) => {
        engine.sendTaskHeartbeat(input.taskToken);
        return {};
      }),
    },
  };
}

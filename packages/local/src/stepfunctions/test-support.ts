import { randomUUID } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import {
  CreateStateMachineCommand,
  DescribeExecutionCommand,
  type DescribeExecutionCommandOutput,
  GetExecutionHistoryCommand,
  type HistoryEvent,
  SFNClient,
} from "@aws-sdk/client-sfn";
import { z } from "zod";
import { type BusEvent, EventBus } from "../events.ts";
import { FunctionRegistry, type LocalFunction } from "../lambda/registry.ts";
import { lambdaRoute } from "../lambda/service.ts";
import { type AwsJsonService, operation } from "../protocol.ts";
import { type AwsEndpoint, startAwsEndpoint } from "../server.ts";
import { StepFunctionsEngine } from "./runner.ts";
import { stepFunctionsService } from "./service.ts";

export const ACCOUNT = "123456789012";
export const REGION = "us-east-1";
export const ROLE_ARN = `arn:aws:iam::${ACCOUNT}:role/berth-test`;
const credentials = { accessKeyId: "local", secretAccessKey: "local" };

/** Handler sources shared by the tests, each a module exporting `handler`. */
const FUNCTION_SOURCES: Record<string, string | { source: string; timeoutSeconds: number }> = {
  echo: "export const handler = async (event) => ({ received: event });",
  draining: `export const handler = async () => {
    const error = new Error("the service still drains");
    error.name = "Berth.ServiceDraining";
    throw error;
  };`,
  // Fails with Berth.ServiceDraining until its `succeedOn`-th call for the same key.
  flaky: `const calls = new Map();
  export const handler = async (event) => {
    const n = (calls.get(event.key) ?? 0) + 1;
    calls.set(event.key, n);
    if (n < event.succeedOn) {
      const error = new Error("draining, call " + n);
      error.name = "Berth.ServiceDraining";
      throw error;
    }
    return { calls: n };
  };`,
  // Runs past its 1 s function timeout: Lambda answers Sandbox.Timedout.
  slow: {
    source:
      "export const handler = (event) => new Promise((done) => setTimeout(() => done('late'), event.ms ?? 3000));",
    timeoutSeconds: 1,
  },
  // Hands its event (with the task token) to the test, as wait-for-deployment stores it.
  callback: `export const handler = async (event) => {
    globalThis.berthStepFunctionsTest ??= [];
    globalThis.berthStepFunctionsTest.push(event);
    return { stored: true };
  };`,
};

/** The events the `callback` function received, in order. */
export function callbacks(): { taskToken: string; [key: string]: unknown }[] {
  const store = globalThis as { berthStepFunctionsTest?: { taskToken: string }[] };
  store.berthStepFunctionsTest ??= [];
  return store.berthStepFunctionsTest;
}

export interface FakeBuild {
  id: string;
  arn: string;
  projectName: string;
  buildStatus: string;
  startTime: number;
  endTime?: number;
  environment: {
    type: string;
    image: string;
    environmentVariables: { name: string; value: string; type: string }[];
  };
  exportedEnvironmentVariables: { name: string; value: string }[];
  logs: { groupName: string; streamName: string };
  /** Polls left before the build ends. */
  polls: number;
  outcome: string;
}

/**
 * A CodeBuild stand-in on the test endpoint (AWS JSON 1.1, `CodeBuild_20161006`): a build runs
 * for `POLLS` BatchGetBuilds (default 2) and ends with `OUTCOME` (default SUCCEEDED), both read
 * from its environment variables; it exports `IMAGE_DIGEST`.
 */
function fakeCodeBuild() {
  const builds = new Map<string, FakeBuild>();
  const stopped: string[] = [];
  const view = ({ polls: _, outcome: __, ...build }: FakeBuild) => build;
  const service: AwsJsonService = {
    name: "codebuild",
    targetPrefix: "CodeBuild_20161006",
    validationError: "InvalidInputException",
    operations: {
      StartBuild: operation(
        z.object({
          projectName: z.string().min(1),
          environmentVariablesOverride: z
            .array(z.object({ name: z.string(), value: z.string(), type: z.string().optional() }))
            .optional(),
        }),
        (input) => {
          const variables = (input.environmentVariablesOverride ?? []).map((variable) => ({
            name: variable.name,
            value: variable.value,
            type: variable.type ?? "PLAINTEXT",
          }));
          const setting = (name: string) => variables.find((variable) => variable.name === name)?.value;
          const id = `${input.projectName}:${randomUUID()}`;
          const build: FakeBuild = {
            id,
            arn: `arn:aws:codebuild:${REGION}:${ACCOUNT}:build/${id}`,
            projectName: input.projectName,
            buildStatus: "IN_PROGRESS",
            startTime: Date.now() / 1000,
            environment: { type: "LINUX_CONTAINER", image: "berth/builder", environmentVariables: variables },
            exportedEnvironmentVariables: [],
            logs: { groupName: "/aws/codebuild/berth-build", streamName: id.split(":")[1] ?? id },
            polls: Number(setting("POLLS") ?? 2),
            outcome: setting("OUTCOME") ?? "SUCCEEDED",
          };
          builds.set(id, build);
          return { build: view(build) };
        },
      ),
      BatchGetBuilds: operation(z.object({ ids: z.array(z.string()).min(1) }), (input) => {
        const found = input.ids.flatMap((id) => {
          const build = builds.get(id);
          if (!build) return [];
          if (build.buildStatus === "IN_PROGRESS" && --build.polls <= 0) {
            build.buildStatus = build.outcome;
            build.endTime = Date.now() / 1000;
            build.exportedEnvironmentVariables = [{ name: "IMAGE_DIGEST", value: "sha256:feed" }];
          }
          return [view(build)];
        });
        return { builds: found, buildsNotFound: input.ids.filter((id) => !builds.has(id)) };
      }),
      StopBuild: operation(z.object({ id: z.string() }), (input) => {
        const build = builds.get(input.id);
        stopped.push(input.id);
        if (build && build.buildStatus === "IN_PROGRESS") build.buildStatus = "STOPPED";
        return { build: build ? view(build) : undefined };
      }),
    },
  };
  return { service, builds, stopped };
}

interface FakeTask {
  taskArn: string;
  lastStatus: string;
  containers: { name: string; exitCode?: number }[];
  stoppedReason?: string;
  /** Polls left before the task stops. */
  polls: number;
  exitCode: number;
}

/**
 * An ECS stand-in on the test endpoint (AWS JSON 1.1): a task runs for `POLLS` DescribeTasks
 * (default 2) and its container exits with `EXIT_CODE` (default 0), both read from the first
 * container override's environment.
 */
function fakeEcs() {
  const tasks = new Map<string, FakeTask>();
  const started: unknown[] = [];
  const stopped: string[] = [];
  const view = ({ polls: _, exitCode: __, ...task }: FakeTask) => task;
  const service: AwsJsonService = {
    name: "ecs",
    targetPrefix: "AmazonEC2ContainerServiceV20141113",
    validationError: "InvalidParameterException",
    operations: {
      RunTask: operation(
        z.looseObject({
          taskDefinition: z.string().min(1),
          overrides: z
            .looseObject({
              containerOverrides: z
                .array(
                  z.looseObject({
                    name: z.string(),
                    environment: z.array(z.object({ name: z.string(), value: z.string() })).optional(),
                  }),
                )
                .optional(),
            })
            .optional(),
        }),
        (input) => {
          started.push(input);
          const override = input.overrides?.containerOverrides?.[0];
          const setting = (name: string) => override?.environment?.find((item) => item.name === name)?.value;
          const task: FakeTask = {
            taskArn: `arn:aws:ecs:${REGION}:${ACCOUNT}:task/berth/${randomUUID().replaceAll("-", "")}`,
            lastStatus: "PROVISIONING",
            containers: [{ name: override?.name ?? "main" }],
            polls: Number(setting("POLLS") ?? 2),
            exitCode: Number(setting("EXIT_CODE") ?? 0),
          };
          tasks.set(task.taskArn, task);
          return { tasks: [view(task)], failures: [] };
        },
      ),
      DescribeTasks: operation(z.looseObject({ tasks: z.array(z.string()).min(1) }), (input) => ({
        tasks: input.tasks.flatMap((arn) => {
          const task = tasks.get(arn);
          if (!task) return [];
          if (task.lastStatus !== "STOPPED" && --task.polls <= 0) {
            task.lastStatus = "STOPPED";
            task.stoppedReason = "Essential container in task exited";
            task.containers = task.containers.map((container) => ({ ...container, exitCode: task.exitCode }));
          }
          return [view(task)];
        }),
        failures: [],
      })),
      StopTask: operation(z.looseObject({ task: z.string() }), (input) => {
        stopped.push(input.task);
        const task = tasks.get(input.task);
        if (task) task.lastStatus = "STOPPED";
        return { task: task ? view(task) : undefined };
      }),
    },
  };
  return { service, tasks, started, stopped };
}

export interface Harness {
  dir: string;
  bus: EventBus;
  /** Every event published on the bus. */
  events: BusEvent[];
  engine: StepFunctionsEngine;
  endpoint: AwsEndpoint;
  sfn: SFNClient;
  codeBuild: ReturnType<typeof fakeCodeBuild>;
  ecs: ReturnType<typeof fakeEcs>;
  /** A fresh engine on the same data dir and endpoint (a restart); the old one must be closed. */
  restart(): Promise<void>;
  close(): Promise<void>;
}

export interface HarnessOptions {
  /** Extra functions (name → handler source); their timeout is 5 s unless given. */
  functions?: Record<string, string | { source: string; timeoutSeconds: number }>;
  /** Functions as the registry defines them, with their handler files relative to `rootDir`. */
  registry?: { definitions: LocalFunction[]; files: Record<string, string> };
  dataDir?: string;
}

/**
 * One real endpoint serving Step Functions, the Lambda route (functions from handler files in a
 * temp dir) and CodeBuild and ECS stand-ins, with an engine connected to it.
 */
export async function startHarness(options: HarnessOptions = {}): Promise<Harness> {
  const dir = options.dataDir ?? mkdtempSync(join(tmpdir(), "berth-sfn-"));
  const functionsDir = join(dir, "functions");
  const definitions: LocalFunction[] = [];
  const sources = { ...FUNCTION_SOURCES, ...options.functions };
  for (const [name, entry] of Object.entries(sources)) {
    const { source, timeoutSeconds } =
      typeof entry === "string" ? { source: entry, timeoutSeconds: 5 } : entry;
    const file = join(functionsDir, `${name}.mjs`);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, source);
    definitions.push({ name, handler: `${name}.handler`, timeoutSeconds });
  }
  for (const [path, source] of Object.entries(options.registry?.files ?? {})) {
    const file = join(functionsDir, path);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, source);
  }
  definitions.push(...(options.registry?.definitions ?? []));
  const registry = new FunctionRegistry(definitions, {
    rootDir: functionsDir,
    account: ACCOUNT,
    region: REGION,
  });
  const bus = new EventBus({ account: ACCOUNT, region: REGION });
  const events: BusEvent[] = [];
  bus.subscribe((event) => events.push(event));
  const codeBuild = fakeCodeBuild();
  const ecs = fakeEcs();
  const newEngine = () =>
    new StepFunctionsEngine({
      dir: join(dir, "stepfunctions"),
      bus,
      account: ACCOUNT,
      region: REGION,
      buildPollMs: 20,
    });
  let engine = newEngine();
  // The service reads `engine` at each call, so a restart swaps the engine behind the endpoint.
  const service = stepFunctionsService(
    new Proxy({} as StepFunctionsEngine, {
      get: (_, property) => {
        const value = Reflect.get(engine, property);
        return typeof value === "function" ? value.bind(engine) : value;
      },
    }),
  );
  const endpoint = await startAwsEndpoint({
    port: 0,
    services: [service, codeBuild.service, ecs.service],
    routes: [lambdaRoute(registry, { onAsyncError: () => {} })],
  });
  engine.connect(endpoint.url);
  const sfn = new SFNClient({ endpoint: endpoint.url, region: REGION, credentials, maxAttempts: 1 });
  const harness: Harness = {
    dir,
    bus,
    events,
    engine,
    endpoint,
    sfn,
    codeBuild,
    ecs,
    async restart() {
      engine = newEngine();
      engine.connect(endpoint.url);
      harness.engine = engine;
    },
    async close() {
      await engine.close();
      sfn.destroy();
      await endpoint.close();
      if (!options.dataDir) rmSync(dir, { recursive: true, force: true });
    },
  };
  return harness;
}

/** Creates a state machine through the API and answers its ARN. */
export async function createMachine(harness: Harness, name: string, definition: unknown): Promise<string> {
  const created = await harness.sfn.send(
    new CreateStateMachineCommand({ name, definition: JSON.stringify(definition), roleArn: ROLE_ARN }),
  );
  return created.stateMachineArn ?? "";
}

/** Waits for an execution to leave RUNNING and answers its description. */
export async function settled(
  harness: Harness,
  executionArn: string,
  timeoutMs = 10_000,
): Promise<DescribeExecutionCommandOutput> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const described = await harness.sfn.send(new DescribeExecutionCommand({ executionArn }));
    if (described.status !== "RUNNING") return described;
    if (Date.now() > deadline) throw new Error(`${executionArn} still RUNNING after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Polls until `probe` answers something other than undefined. */
export async function until<T>(
  what: string,
  probe: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 5000,
) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** The whole history, oldest first, through the API. */
export async function historyOf(harness: Harness, executionArn: string): Promise<HistoryEvent[]> {
  const events: HistoryEvent[] = [];
  let nextToken: string | undefined;
  do {
    const page = await harness.sfn.send(
      new GetExecutionHistoryCommand({ executionArn, nextToken, maxResults: 1000 }),
    );
    events.push(...(page.events ?? []));
    nextToken = page.nextToken;
  } while (nextToken);
  return events;
}

/** One task that hands its token to the `callback` function and waits for an answer. */
export const WAIT_FOR_TOKEN = {
  StartAt: "Wait",
  States: {
    Wait: {
      Type: "Task",
      Resource: "arn:aws:states:::lambda:invoke.waitForTaskToken",
      Parameters: {
        FunctionName: "arn:aws:lambda:us-east-1:123456789012:function:callback",
        Payload: { "execution.$": "$$.Execution.Name", "taskToken.$": "$$.Task.Token" },
      },
      End: true,
    },
  },
};

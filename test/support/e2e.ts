import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type Api, ApiGatewayV2Client, GetApisCommand } from "@aws-sdk/client-apigatewayv2";
import { DescribeTasksCommand, ECSClient, ListTasksCommand } from "@aws-sdk/client-ecs";
import { paginateListExecutions, SFNClient } from "@aws-sdk/client-sfn";
import { afterAll, beforeAll, beforeEach, expect } from "vitest";
import { parseDocument, stringify } from "yaml";
import { main } from "../../packages/cli/src/main.ts";
import {
  appPackaging,
  HEALTH_CHECK_TIMING,
  HTTP_HEALTH_CHECK,
  HTTP_HEALTH_CHECK_LINE,
  waitFor,
} from "./apps.ts";
import { BerthApi, BerthApi as BerthApiClient, type Deployment, type DeploymentEvent } from "./berth-api.ts";
import {
  type BerthLocalProcess,
  type HostProcess,
  logTail,
  newAdminToken,
  processesUnder,
  startBerthLocalProcess,
} from "./berth-local-process.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));

/** The newest deployment of a service. */
export async function newestDeployment(api: BerthApi, stack: string, service: string): Promise<Deployment> {
  const { deployments } = await api.request<{ deployments: Deployment[] }>(
    "GET",
    `/v1/stacks/${stack}/services/${service}/deployments?limit=1`,
  );
  const [newest] = deployments;
  if (!newest) throw new Error(`no deployment of ${stack}/${service}`);
  return newest;
}

/**
 * Deletes a stack through the API and waits for each of its services' delete deployments,
 * expecting every one to succeed.
 */
export async function deleteStackAndWait(api: BerthApi, stack: string, timeoutMs = 120_000): Promise<void> {
  const deleted = await api.request<{
    services: { service: string; deployment?: { deployment: { id: string } } }[];
  }>("DELETE", `/v1/stacks/${stack}`);
  for (const entry of deleted.services) {
    const ended = await api.waitForStatus(entry.deployment?.deployment.id ?? "", undefined, timeoutMs);
    expect(ended.deployment.status, `${entry.service}: ${ended.deployment.reason}`).toBe("SUCCEEDED");
  }
}

/**
 * The stability window of the tests' stacks (`failFast.stabilitySeconds`): after ECS completes a
 * rollout, Berth waits this long before it calls the deployment a success. Berth's default is
 * 10 s (or one health-check interval); a scenario deploys a dozen times, and only the stability
 * tests are about the window, so the others keep the wait short. The window still runs, and its
 * check (every task of the new revision running and healthy at its end) still decides.
 */
export const TEST_STABILITY_SECONDS = 2;

/**
 * A copy of `examples/<name>` in `work` (so a test can change it), its services given the tests'
 * stability window (TEST_STABILITY_SECONDS) instead of Berth's default; answers its stack
 * file's path. The rest of the file (comments, anchors) is kept as the example has it.
 */
export function copyExample(name: string, work: string): string {
  const dir = join(work, name);
  cpSync(join(root, "examples", name), dir, { recursive: true });
  const stackFile = join(dir, "berth.yml");
  const document = parseDocument(readFileSync(stackFile, "utf8"));
  const resources = document.toJS().resources as Record<string, { type: string }>;
  for (const [resource, { type }] of Object.entries(resources)) {
    if (!SERVICE_TYPES.includes(type)) continue;
    document.setIn(["resources", resource, "properties", "failFast"], {
      stabilitySeconds: TEST_STABILITY_SECONDS,
    });
  }
  writeFileSync(stackFile, document.toString({ lineWidth: 0 }));
  return stackFile;
}

/** The resource types that run an ECS service, and so have `failFast`. */
const SERVICE_TYPES = ["private-service", "web-service", "worker-service", "multi-container-workload"];

/** A stack with one private service running the test app of `apps.ts` (`httpApp()`). */
export function appStack(options: {
  service: string;
  image: string;
  version: string;
  environment?: Record<string, string>;
  healthCheckCommand?: string[];
  startPeriodSeconds?: number;
  /** false: no health check at all (ECS calls a task healthy once it runs). */
  healthCheck?: boolean;
  /** How many tasks the service runs (one when unset). */
  instances?: number;
  /** `failFast.stabilitySeconds`: TEST_STABILITY_SECONDS unless told; "default" leaves Berth's own. */
  stabilitySeconds?: number | "default";
}): string {
  const environment = Object.entries({ VERSION: options.version, ...options.environment }).map(
    ([name, value]) => ({ name, value }),
  );
  return stringify({
    resources: {
      [options.service]: {
        type: "private-service",
        properties: {
          packaging: appPackaging(options.image),
          resources: { cpu: 0.25, memory: 512 },
          environment,
          ...(options.instances === undefined
            ? {}
            : { scaling: { minInstances: options.instances, maxInstances: options.instances } }),
          ...(options.stabilitySeconds === "default"
            ? {}
            : { failFast: { stabilitySeconds: options.stabilitySeconds ?? TEST_STABILITY_SECONDS } }),
          ...(options.healthCheck === false
            ? {}
            : {
                internalHealthCheck: {
                  healthCheckCommand: options.healthCheckCommand ?? HTTP_HEALTH_CHECK,
                  ...HEALTH_CHECK_TIMING,
                  retries: 1,
                  startPeriodSeconds: options.startPeriodSeconds ?? 0,
                },
              }),
        },
      },
    },
  });
}

/**
 * A CMD health check that fails ("gate closed") until `gateFile` exists, then asks the app's
 * /health. With a long start period its failures do not count: the task stays RUNNING and its
 * health UNKNOWN, so the deployment stays DEPLOYING until the test opens the gate.
 */
export function gatedHealthCheck(gateFile: string): string[] {
  const quoted = `'${gateFile.replaceAll("'", `'\\''`)}'`;
  return [
    "CMD-SHELL",
    `if [ ! -e ${quoted} ]; then echo "gate closed"; exit 1; fi; ${HTTP_HEALTH_CHECK_LINE}`,
  ];
}

export interface RunningTask {
  taskArn: string;
  taskDefinitionArn: string;
  lastStatus: string;
  healthStatus: string;
  hostPort: number;
}

/** The service's tasks whose desired status is RUNNING, with the host port of their first binding. */
export async function runningTasks(ecs: ECSClient, service: string): Promise<RunningTask[]> {
  const { taskArns = [] } = await ecs.send(
    new ListTasksCommand({ cluster: "berth", serviceName: service, desiredStatus: "RUNNING" }),
  );
  if (taskArns.length === 0) return [];
  const { tasks = [] } = await ecs.send(new DescribeTasksCommand({ cluster: "berth", tasks: taskArns }));
  return tasks.map((task) => ({
    taskArn: task.taskArn ?? "",
    taskDefinitionArn: task.taskDefinitionArn ?? "",
    lastStatus: task.lastStatus ?? "",
    healthStatus: task.healthStatus ?? "",
    hostPort: task.containers?.[0]?.networkBindings?.[0]?.hostPort ?? 0,
  }));
}

/** GET a URL's body as text, failing on a non-2xx answer or after two seconds. */
export async function getText(url: string): Promise<string> {
  const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
  const text = await response.text();
  if (!response.ok) throw new Error(`GET ${url}: HTTP ${response.status} ${text}`);
  return text;
}

/** The single task of `service` once it runs `taskDefinitionArn` alone and has a host port. */
export async function soleTask(
  ecs: ECSClient,
  service: string,
  taskDefinitionArn: string,
): Promise<RunningTask> {
  return waitFor(
    `${service} to run ${taskDefinitionArn} alone`,
    async () => {
      const tasks = await runningTasks(ecs, service);
      const [task] = tasks;
      return tasks.length === 1 && task?.taskDefinitionArn === taskDefinitionArn && task.hostPort > 0
        ? task
        : undefined;
    },
    30_000,
    250,
  );
}

/** Writes `yaml` as `<work>/stacks/<name>/berth.yml` and returns its path. */
export function writeStackFile(work: string, name: string, yaml: string): string {
  const dir = join(work, "stacks", name);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, "berth.yml");
  writeFileSync(file, yaml);
  return file;
}

/** The deploy workflow's state machine on Berth Local. */
export const DEPLOY_STATE_MACHINE_ARN = "arn:aws:states:us-east-1:000000000000:stateMachine:berth-deploy";

/** The names of the deploy workflow's executions (deployment ids), all pages. */
export function deployExecutionNames(awsUrl: string): Promise<string[]> {
  return withClient(new SFNClient(localAwsConfig(awsUrl)), async (sfn) => {
    const names: string[] = [];
    for await (const page of paginateListExecutions(
      { client: sfn },
      { stateMachineArn: DEPLOY_STATE_MACHINE_ARN },
    )) {
      if (!page.executions) throw new Error("ListExecutions answered no executions");
      names.push(...page.executions.map((execution) => execution.name ?? ""));
    }
    return names;
  });
}

/** Every HTTP API of Berth Local's API Gateway, all pages. */
export function gatewayApis(awsUrl: string): Promise<Api[]> {
  return withClient(new ApiGatewayV2Client(localAwsConfig(awsUrl)), async (gateway) => {
    const apis: Api[] = [];
    let NextToken: string | undefined;
    do {
      const page = await gateway.send(new GetApisCommand({ NextToken }));
      if (!page.Items) throw new Error("GetApis answered no Items");
      apis.push(...page.Items);
      NextToken = page.NextToken;
    } while (NextToken);
    return apis;
  });
}

export interface ServiceConnectAlias {
  namespace: string;
  alias: string;
  address: string;
  service: string;
  healthyTasks: { taskId: string; address: string }[];
}

export async function serviceConnectAliases(awsUrl: string): Promise<ServiceConnectAlias[]> {
  const { aliases } = JSON.parse(await getText(`${awsUrl}/_local/service-connect`)) as {
    aliases: ServiceConnectAlias[];
  };
  return aliases;
}

/** The local address of a Service Connect alias (`api.rb:3000`) once it has a healthy task. */
export async function aliasAddress(awsUrl: string, alias: string): Promise<string> {
  return waitFor(`Service Connect alias ${alias}`, async () => {
    const found = (await serviceConnectAliases(awsUrl)).find((entry) => entry.alias === alias);
    return found && found.healthyTasks.length > 0 ? found.address : undefined;
  });
}

/** The environment a running process started with (Linux /proc), or undefined when unreadable. */
export function processEnvironment(pid: number): Record<string, string> | undefined {
  try {
    const entries = readFileSync(`/proc/${pid}/environ`, "utf8").split("\0").filter(Boolean);
    return Object.fromEntries(
      entries.map((entry) => {
        const equals = entry.indexOf("=");
        return [entry.slice(0, equals), entry.slice(equals + 1)];
      }),
    );
  } catch {
    return undefined;
  }
}

export interface Answer {
  /** When the answer (or the error) arrived, in ms since the epoch. */
  at: number;
  text: string;
}

/** Polls `probe` every `everyMs` until stopped; keeps every answer (or error) in order. */
export function keepAsking(probe: () => Promise<string>, everyMs = 100) {
  const answers: Answer[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      try {
        const text = await probe();
        answers.push({ at: Date.now(), text });
      } catch (error) {
        answers.push({ at: Date.now(), text: `ERROR ${String(error)}` });
      }
      await new Promise((resolve) => setTimeout(resolve, everyMs));
    }
  })();
  return {
    stop: async (): Promise<Answer[]> => {
      running = false;
      await loop;
      return answers;
    },
  };
}

/** `berth …` in-process against a running Berth Local (from the repository root unless told), with its output as one string. */
export async function runBerth(
  args: string[],
  target: { apiUrl: string; token: string; cwd?: string; lines?: string[]; progressIntervalMs?: number },
): Promise<{ code: number; output: string }> {
  // Given lines fill as the command prints, for a test that watches a long command.
  const lines = target.lines ?? [];
  const code = await main(args, {
    out: (text) => lines.push(text),
    err: (text) => lines.push(text),
    env: { BERTH_URL: target.apiUrl, BERTH_TOKEN: target.token, NO_COLOR: "1" },
    cwd: target.cwd ?? root,
    signal: new AbortController().signal,
    color: false,
    pollIntervalMs: 250,
    ...(target.progressIntervalMs ? { progressIntervalMs: target.progressIntervalMs } : {}),
  });
  return { code, output: lines.join("\n") };
}

export function eventsOfType(events: DeploymentEvent[], type: string): DeploymentEvent[] {
  return events.filter((event) => event.type === type);
}

/**
 * Expects a deployment's events to hold at least one task-failed event, each for a container that
 * exited with `exitCode` (and ECS's `stopCode`, when given) after logging a line containing `logLine`.
 */
export function expectTaskFailures(
  events: DeploymentEvent[],
  expected: { exitCode: number; stopCode?: string; logLine: string },
): void {
  const failures = eventsOfType(events, "task-failed");
  expect(failures.length).toBeGreaterThanOrEqual(1);
  for (const failure of failures) {
    expect(failure.data?.exitCode).toBe(expected.exitCode);
    if (expected.stopCode !== undefined) expect(failure.data?.stopCode).toBe(expected.stopCode);
    expect(failure.data?.logLines).toEqual(
      expect.arrayContaining([expect.stringContaining(expected.logLine)]),
    );
  }
}

/** The task definition a deployment's events name under `type` (e.g. `task-definition`, `service-updated`). */
export function taskDefinitionIn(events: DeploymentEvent[], type: string): string {
  const arn = eventsOfType(events, type)[0]?.data?.taskDefinitionArn;
  if (typeof arn !== "string") throw new Error(`no ${type} event: ${JSON.stringify(events)}`);
  return arn;
}

/** A fresh directory for one test file's Berth Local: its data dir, its log file, and an admin token. */
export function e2eWorkspace(prefix: string) {
  const work = mkdtempSync(join(tmpdir(), prefix));
  return {
    work,
    dataDir: join(work, "data"),
    logFile: join(work, "berth-local.log"),
    adminToken: newAdminToken(),
  };
}

/**
 * A test file's own Berth Local in a fresh workspace: started before its tests, stopped after
 * them (waiting for its task processes to end), with the API, an ECS client and the CLI pointed
 * at it.
 */
export function localSuite(prefix: string, options: { env?: Record<string, string> } = {}) {
  const workspace = e2eWorkspace(prefix);
  const { dataDir, logFile, adminToken } = workspace;
  let local: BerthLocalProcess | undefined;
  let api: BerthApi | undefined;
  let ecs: ECSClient | undefined;
  const started = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error("Berth Local has not started");
    return value;
  };
  beforeAll(async () => {
    local = await startBerthLocalProcess({ dataDir, adminToken, logFile, ...options });
    api = new BerthApiClient(local.apiUrl, adminToken);
  });
  afterAll(async () => {
    ecs?.destroy();
    await local?.stop();
    await waitFor(
      "task processes to end",
      () => (processesUnder([dataDir]).length === 0 ? true : undefined),
      30_000,
    );
  });
  return {
    ...workspace,
    get local(): BerthLocalProcess {
      return started(local);
    },
    get api(): BerthApi {
      return started(api);
    },
    /** An ECS client for its AWS endpoint, made on first use. */
    get ecs(): ECSClient {
      ecs ??= localEcsClient(started(local).awsUrl);
      return ecs;
    },
    berth: (args: string[]) => runBerth(args, { apiUrl: started(local).apiUrl, token: adminToken }),
  };
}

/** AWS SDK client settings for a Berth Local's AWS-compatible endpoint, which takes any credentials. */
export function localAwsConfig(awsUrl: string) {
  return {
    endpoint: awsUrl,
    region: "us-east-1",
    credentials: { accessKeyId: "berth-test", secretAccessKey: "berth-test" },
  };
}

/** Runs `read` with an SDK client made for Berth Local's endpoint, destroyed afterwards. */
export async function withClient<Client extends { destroy(): void }, T>(
  client: Client,
  read: (client: Client) => Promise<T>,
): Promise<T> {
  try {
    return await read(client);
  } finally {
    client.destroy();
  }
}

/** Once Berth Local has stopped: the task processes under `dirs` still there after up to 10 s. */
export function taskProcessesLeft(dirs: readonly string[]): Promise<HostProcess[]> {
  return waitFor(
    "task processes to end",
    () => (processesUnder(dirs).length === 0 ? [] : undefined),
    10_000,
    200,
  ).catch(() => processesUnder(dirs));
}

/** An ECS client for a Berth Local endpoint. */
export function localEcsClient(awsUrl: string): ECSClient {
  return new ECSClient(localAwsConfig(awsUrl));
}

/**
 * One Berth Local process for a whole test file (call at its top level): started before its
 * tests and handed to `started`, stopped after them. A task process left behind (under the data
 * dir or one of `appDirs`, the file's `httpApp()` directories) is killed and fails the file; the
 * workspace and the app directories are removed unless BERTH_TEST_KEEP is set; a failing test
 * prints the last lines of Berth Local's log. `stop()` and `start()` restart it on the same data
 * dir mid-file (`started` is called again with the new process).
 */
export function berthLocalForFile(
  workspace: ReturnType<typeof e2eWorkspace>,
  started: (running: { local: BerthLocalProcess; api: BerthApi }) => void,
  options: { appDirs?: readonly string[] } = {},
): { start(): Promise<BerthLocalProcess>; stop(): Promise<number | string | undefined> } {
  const { work, dataDir, logFile, adminToken } = workspace;
  const appDirs = options.appDirs ?? [];
  let local: BerthLocalProcess | undefined;
  const start = async () => {
    const running = await startBerthLocalProcess({ dataDir, adminToken, logFile });
    local = running;
    started({ local: running, api: new BerthApi(running.apiUrl, adminToken) });
    return running;
  };
  const stop = async () => {
    const exit = await local?.stop();
    local = undefined;
    return exit;
  };
  beforeAll(async () => {
    await start();
  });
  afterAll(async () => {
    await stop();
    const leftovers = await taskProcessesLeft([dataDir, ...appDirs]);
    for (const leftover of leftovers) {
      try {
        process.kill(leftover.pid, "SIGKILL");
      } catch {
        // Ended meanwhile.
      }
    }
    if (!process.env.BERTH_TEST_KEEP) {
      for (const dir of [work, ...appDirs]) rmSync(dir, { recursive: true, force: true });
    }
    expect(leftovers, logTail(logFile)).toEqual([]);
  });
  beforeEach(({ onTestFailed }) => {
    onTestFailed(() => {
      console.error(`--- Berth Local log (${logFile}), last lines ---\n${logTail(logFile, 80)}`);
    });
  });
  return { start, stop };
}

import { DescribeTaskDefinitionCommand, ECSClient } from "@aws-sdk/client-ecs";
import {
  DescribeExecutionCommand,
  GetExecutionHistoryCommand,
  type HistoryEvent,
  SFNClient,
  StartExecutionCommand,
} from "@aws-sdk/client-sfn";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "./support/apps.ts";
import { BerthApi, type Deployment, type DeploymentEvent } from "./support/berth-api.ts";
import { type BerthLocalProcess, logTail, startBerthLocalProcess } from "./support/berth-local-process.ts";
import {
  e2eWorkspace,
  localAwsConfig,
  newestDeployment as newestDeploymentOf,
  runBerth,
  runningTasks,
  taskProcessesLeft,
} from "./support/e2e.ts";

/**
 * Batch jobs end to end on Berth Local: `examples/worker-and-job` deployed with the CLI, as a
 * user would, in a Berth Local child process of its own.
 */

const { dataDir, logFile, adminToken } = e2eWorkspace("berth-jobs-e2e-");
const STACK = "jobs";

let local: BerthLocalProcess | undefined;
let api: BerthApi;
let sfn: SFNClient;
let ecs: ECSClient;
const JOB_STATE_MACHINE = `arn:aws:states:us-east-1:000000000000:stateMachine:berth-job-${STACK}-report`;

/** Starts a run of the report job straight through Step Functions and waits for its end. */
async function runReport(input: unknown): Promise<{ status: string; history: HistoryEvent[] }> {
  const { executionArn } = await sfn.send(
    new StartExecutionCommand({ stateMachineArn: JOB_STATE_MACHINE, input: JSON.stringify(input) }),
  );
  const status = await waitFor(
    `run ${executionArn} to end`,
    async () => {
      const described = await sfn.send(new DescribeExecutionCommand({ executionArn }));
      return described.status === "RUNNING" ? undefined : described.status;
    },
    120_000,
    250,
  );
  const { events = [] } = await sfn.send(new GetExecutionHistoryCommand({ executionArn, maxResults: 1000 }));
  return { status: status ?? "", history: events };
}

function current(): BerthLocalProcess {
  if (!local) throw new Error("Berth Local is not running");
  return local;
}

function berth(args: string[]): Promise<{ code: number; output: string }> {
  return runBerth(args, { apiUrl: current().apiUrl, token: adminToken });
}

/** `berth run-job --follow` of the report job with one more environment variable. */
function followRun(variable: string): Promise<{ code: number; output: string }> {
  return berth(["run-job", "--stack", STACK, "--job", "report", "--env", variable, "--follow"]);
}

function newestDeployment(service: string): Promise<Deployment> {
  return newestDeploymentOf(api, STACK, service);
}

beforeAll(async () => {
  local = await startBerthLocalProcess({ dataDir, adminToken, logFile });
  api = new BerthApi(local.apiUrl, adminToken);
  const aws = localAwsConfig(local.awsUrl);
  sfn = new SFNClient(aws);
  ecs = new ECSClient(aws);
});

afterAll(async () => {
  sfn?.destroy();
  ecs?.destroy();
  await local?.stop();
  const leftovers = await taskProcessesLeft([dataDir]);
  expect(leftovers, logTail(logFile)).toEqual([]);
});

describe("batch jobs on Berth Local", { shuffle: false }, () => {
  it("deploys examples/worker-and-job: the job is registered and its deployment SUCCEEDED, the worker runs", async () => {
    const { code, output } = await berth([
      "deploy",
      "-f",
      "examples/worker-and-job/berth.yml",
      "--stack",
      STACK,
      "--timeout",
      "5m",
    ]);
    expect(code, `${output}\n${logTail(logFile)}`).toBe(0);
    const report = await newestDeployment("report");
    expect(report.status).toBe("SUCCEEDED");
    const { events } = await api.deployment(report.id);
    const registered = events.find((event: DeploymentEvent) => event.type === "job-registered");
    expect(registered?.data?.taskDefinitionArn).toMatch(/:task-definition\/jobs-report:\d+$/);
    expect(events.map((event) => event.type)).not.toContain("service-updated");
    expect((await newestDeployment("mailer")).status).toBe("SUCCEEDED");
  }, 360_000);

  it("gives the worker that connects to the job its run state machine", async () => {
    const [mailer] = await runningTasks(ecs, `${STACK}-mailer`);
    const { taskDefinition } = await ecs.send(
      new DescribeTaskDefinitionCommand({ taskDefinition: mailer?.taskDefinitionArn }),
    );
    const environment = Object.fromEntries(
      (taskDefinition?.containerDefinitions?.[0]?.environment ?? []).map((item) => [item.name, item.value]),
    );
    expect(environment.STP_REPORT_STATE_MACHINE_ARN).toBe(JOB_STATE_MACHINE);
  });

  it("the worker starts a run of the job itself, with what connectTo gave it, and the run SUCCEEDED", async () => {
    const runs = `/v1/stacks/${STACK}/jobs/report/runs`;
    const fromWorker = await waitFor(
      "the mailer's report run to end",
      async () => {
        const page = await api.request<{ runs: JobRunView[] }>("GET", runs);
        const run = page.runs.find((candidate) => candidate.id.startsWith("mailer-"));
        return run && run.status !== "RUNNING" ? run : undefined;
      },
      120_000,
      250,
    );
    expect(fromWorker.status, logTail(logFile)).toBe("SUCCEEDED");
    const described = await api.request<JobRunView>("GET", `${runs}/${fromWorker.id}`);
    expect(described.attempts[0]?.exitCodes).toEqual([{ container: "report", exitCode: 0 }]);
  }, 180_000);

  it("runs the job as an execution of its run state machine: ecs:runTask.sync of the deployed revision", async () => {
    const { status, history } = await runReport({});
    expect(status).toBe("SUCCEEDED");
    const succeeded = history.find((event) => event.type === "TaskSucceeded");
    const task = JSON.parse(succeeded?.taskSucceededEventDetails?.output ?? "{}");
    expect(task.TaskDefinitionArn).toMatch(/:task-definition\/jobs-report:\d+$/);
    expect(task.Containers).toEqual([expect.objectContaining({ Name: "report", ExitCode: 0 })]);
  }, 180_000);

  it("retries a failed run per retryConfig (attempts: 2) and ends it FAILED with the exit code", async () => {
    const { status, history } = await runReport({
      overrides: {
        ContainerOverrides: [{ Name: "report", Environment: [{ Name: "REPORT_FAIL", Value: "1" }] }],
      },
    });
    expect(status).toBe("FAILED");
    const failures = history.filter((event) => event.type === "TaskFailed");
    expect(failures).toHaveLength(2);
    for (const failure of failures) {
      const task = JSON.parse(failure.taskFailedEventDetails?.cause ?? "{}");
      expect(task.Containers).toEqual([expect.objectContaining({ Name: "report", ExitCode: 1 })]);
    }
  }, 180_000);

  it("starts a run through the API and shows it, newest first, with its attempts and exit codes", async () => {
    const runs = `/v1/stacks/${STACK}/jobs/report/runs`;
    const started = await api.request<JobRunView>("POST", runs, {
      body: JSON.stringify({ environment: { REPORT_FAIL: "1" } }),
    });
    expect(started).toMatchObject({ status: "RUNNING", executionArn: expect.stringContaining(started.id) });
    const ended = await waitFor(
      `run ${started.id} to end`,
      async () => {
        const run = await api.request<JobRunView>("GET", `${runs}/${started.id}`);
        return run.status === "RUNNING" ? undefined : run;
      },
      120_000,
      250,
    );
    expect(ended.status).toBe("FAILED");
    expect(ended.stoppedAt).toBeDefined();
    expect(ended.attempts).toHaveLength(2);
    for (const attempt of ended.attempts) {
      expect(attempt).toMatchObject({ status: "FAILED", taskArn: expect.stringContaining(":task/") });
      expect(attempt.exitCodes).toEqual([{ container: "report", exitCode: 1 }]);
      expect(attempt.stoppedAt).toBeDefined();
    }
    const page = await api.request<{ runs: JobRunView[] }>("GET", runs);
    // The runs started straight through Step Functions above show too, after this newer one.
    expect(page.runs[0]?.id).toBe(started.id);
    expect(page.runs.length).toBeGreaterThanOrEqual(3);
    expect(page.runs.map((run) => run.status)).toContain("SUCCEEDED");
    const unknown = await api.request<{ error: { code: string } }>(
      "POST",
      `/v1/stacks/${STACK}/jobs/mailer/runs`,
      {
        expect: [404],
      },
    );
    expect(unknown.error.code).toBe("NOT_FOUND");
  }, 180_000);

  it("berth run-job --follow prints the run's log lines and attempts, and exits 0 when it SUCCEEDED", async () => {
    const { code, output } = await followRun("REPORT_DAYS=2");
    expect(code, `${output}\n${logTail(logFile)}`).toBe(0);
    expect(output).toContain("report: emails sent over the last 2 days");
    expect(output).toMatch(/attempt 1: task \S+ SUCCEEDED \(report exited 0[;)]/);
    expect(output).toMatch(/run [0-9A-Z]{26}: SUCCEEDED/);
  }, 180_000);

  it("berth run-job --follow exits 1 when the run FAILED, after printing every attempt's exit code", async () => {
    const { code, output } = await followRun("REPORT_FAIL=1");
    expect(code, output).toBe(1);
    expect(output).toContain("report: failing on purpose (REPORT_FAIL=1)");
    expect(output).toMatch(/attempt 1: task \S+ FAILED \(report exited 1/);
    expect(output).toMatch(/attempt 2: task \S+ FAILED \(report exited 1/);
    expect(output).toMatch(/run [0-9A-Z]{26}: FAILED/);
  }, 180_000);
});

interface JobRunView {
  id: string;
  status: string;
  startedAt: string;
  stoppedAt?: string;
  executionArn: string;
  attempts: {
    status: string;
    taskArn?: string;
    stoppedAt?: string;
    exitCodes: { container: string; exitCode: number | null }[];
  }[];
}

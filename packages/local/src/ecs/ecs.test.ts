import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CloudWatchLogsClient, GetLogEventsCommand } from "@aws-sdk/client-cloudwatch-logs";
import {
  CreateClusterCommand,
  CreateServiceCommand,
  DeleteServiceCommand,
  DescribeServicesCommand,
  DescribeTaskDefinitionCommand,
  DescribeTasksCommand,
  ECSClient,
  ListServiceDeploymentsCommand,
  ListTasksCommand,
  RegisterTaskDefinitionCommand,
  RunTaskCommand,
  StopTaskCommand,
  type Task,
  UpdateServiceCommand,
} from "@aws-sdk/client-ecs";
import { CreateSecretCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { APP_HEALTH_CHECK, httpApp, waitFor } from "../../../../test/support/apps.ts";
import { type BerthLocal, startBerthLocal } from "../berth-local.ts";
import type { BusEvent } from "../events.ts";

const credentials = { accessKeyId: "berth", secretAccessKey: "berth" };
const NETWORK = { awsvpcConfiguration: { subnets: ["subnet-0123456789abcdef0"] } };
const app = httpApp();
let local: BerthLocal;
let ecs: ECSClient;
let logs: CloudWatchLogsClient;
const events: BusEvent[] = [];
const dataDir = mkdtempSync(join(tmpdir(), "berth-local-ecs-"));

async function start() {
  local = await startBerthLocal({ dataDir, awsPort: 0, tickMs: 100 });
  local.bus.subscribe((event) => events.push(event));
  ecs = new ECSClient({ endpoint: local.awsEndpoint.url, region: "us-east-1", credentials });
  logs = new CloudWatchLogsClient({ endpoint: local.awsEndpoint.url, region: "us-east-1", credentials });
}

beforeAll(async () => {
  await start();
  await ecs.send(new CreateClusterCommand({ clusterName: "berth" }));
});
afterAll(async () => {
  await local?.close();
});

async function register(
  family: string,
  environment: Record<string, string> = {},
  extra: { healthCheck?: boolean; stopTimeout?: number } = {},
) {
  const { taskDefinition } = await ecs.send(
    new RegisterTaskDefinitionCommand({
      family,
      networkMode: "awsvpc",
      requiresCompatibilities: ["FARGATE"],
      cpu: "256",
      memory: "512",
      executionRoleArn: "arn:aws:iam::000000000000:role/ecsTaskExecutionRole",
      containerDefinitions: [
        {
          name: "web",
          image: app.image,
          essential: true,
          command: ["node", "server.mjs"],
          portMappings: [{ containerPort: 3000, name: "web-3000" }],
          environment: Object.entries(environment).map(([name, value]) => ({ name, value })),
          stopTimeout: extra.stopTimeout ?? 2,
          ...(extra.healthCheck === false ? {} : { healthCheck: { ...APP_HEALTH_CHECK, startPeriod: 0 } }),
          logConfiguration: {
            logDriver: "awslogs",
            options: {
              "awslogs-group": `/berth/test/${family}`,
              "awslogs-region": "us-east-1",
              "awslogs-stream-prefix": family,
              "awslogs-create-group": "true",
            },
          },
        },
      ],
    }),
  );
  return taskDefinition?.taskDefinitionArn ?? "";
}

async function tasksOf(service: string, desiredStatus: "RUNNING" | "STOPPED" = "RUNNING"): Promise<Task[]> {
  const { taskArns = [] } = await ecs.send(
    new ListTasksCommand({ cluster: "berth", serviceName: service, desiredStatus }),
  );
  if (taskArns.length === 0) return [];
  const { tasks = [] } = await ecs.send(new DescribeTasksCommand({ cluster: "berth", tasks: taskArns }));
  return tasks;
}

async function describe1(service: string) {
  const { services = [] } = await ecs.send(
    new DescribeServicesCommand({ cluster: "berth", services: [service] }),
  );
  const found = services[0];
  if (!found) throw new Error(`no service ${service}`);
  return found;
}

async function steady(service: string, timeoutMs = 40_000) {
  return waitFor(
    `${service} to complete its deployment`,
    async () => {
      const found = await describe1(service);
      const primary = found.deployments?.find((d) => d.status === "PRIMARY");
      return found.deployments?.length === 1 && primary?.rolloutState === "COMPLETED" ? found : undefined;
    },
    timeoutMs,
  );
}

async function answer(task: Task): Promise<string> {
  const port = task.containers?.[0]?.networkBindings?.[0]?.hostPort;
  const response = await fetch(`http://127.0.0.1:${port}/`);
  return response.text();
}

describe("Berth Local ECS", { shuffle: false }, () => {
  it("rejects bad requests with ECS's error classes", async () => {
    await expect(
      ecs.send(new DescribeServicesCommand({ cluster: "nope", services: ["x"] })),
    ).rejects.toMatchObject({ name: "ClusterNotFoundException" });
    await expect(
      ecs.send(new UpdateServiceCommand({ cluster: "berth", service: "missing" })),
    ).rejects.toMatchObject({ name: "ServiceNotFoundException" });
    await expect(
      ecs.send(new DescribeTaskDefinitionCommand({ taskDefinition: "missing:1" })),
    ).rejects.toMatchObject({ name: "ClientException" });
    await expect(
      ecs.send(
        new RegisterTaskDefinitionCommand({
          family: "bad family",
          containerDefinitions: [{ name: "a", image: "x" }],
        }),
      ),
    ).rejects.toMatchObject({ name: "InvalidParameterException" });
    await expect(
      ecs.send(
        new RegisterTaskDefinitionCommand({
          family: "f",
          requiresCompatibilities: ["FARGATE"],
          containerDefinitions: [{ name: "a", image: "x" }],
        }),
      ),
    ).rejects.toMatchObject({
      name: "ClientException",
      message: "Fargate requires that 'cpu' be defined at the task level.",
    });
  });

  it("keeps revisions per family", async () => {
    const first = await register("revisions");
    const second = await register("revisions");
    expect(first).toMatch(/:task-definition\/revisions:1$/);
    expect(second).toMatch(/:task-definition\/revisions:2$/);
  });

  it("runs a service at its desired count, each task on its own port, with logs in CloudWatch Logs", async () => {
    const taskDefinition = await register("api", { VERSION: "v1" });
    await ecs.send(
      new CreateServiceCommand({
        cluster: "berth",
        serviceName: "api",
        taskDefinition,
        desiredCount: 3,
        networkConfiguration: NETWORK,
        deploymentConfiguration: {
          minimumHealthyPercent: 100,
          maximumPercent: 200,
          deploymentCircuitBreaker: { enable: true, rollback: true },
        },
      }),
    );
    const service = await steady("api");
    expect(service).toMatchObject({ desiredCount: 3, runningCount: 3, status: "ACTIVE" });
    const tasks = await tasksOf("api");
    expect(tasks).toHaveLength(3);
    expect(tasks.every((task) => task.lastStatus === "RUNNING" && task.healthStatus === "HEALTHY")).toBe(
      true,
    );
    const ports = new Set(tasks.map((task) => task.containers?.[0]?.networkBindings?.[0]?.hostPort));
    expect(ports.size).toBe(3);
    expect(await Promise.all(tasks.map(answer))).toEqual(["v1", "v1", "v1"]);

    const task = tasks[0] as Task;
    const stream = `api/web/${task.taskArn?.split("/").pop()}`;
    const logged = await waitFor("the task's log line", async () => {
      const { events = [] } = await logs.send(
        new GetLogEventsCommand({
          logGroupName: "/berth/test/api",
          logStreamName: stream,
          startFromHead: true,
        }),
      );
      return events.some((event) => event.message?.includes("listening on")) ? events : undefined;
    });
    expect(logged[0]?.message).toMatch(/^listening on \d+ as v1$/);
    expect(
      events.some(
        (event) =>
          event["detail-type"] === "ECS Deployment State Change" &&
          (event.detail as { eventName: string }).eventName === "SERVICE_DEPLOYMENT_COMPLETED",
      ),
    ).toBe(true);
  });

  it("rolls to a new revision within minimumHealthyPercent and maximumPercent", async () => {
    const taskDefinition = await register("api", { VERSION: "v2" });
    let maxLive = 0;
    let minHealthy = Number.POSITIVE_INFINITY;
    const sampler = setInterval(async () => {
      const live = local.ecs.liveTasks(
        (task) => task.serviceName === "api" && task.desiredStatus === "RUNNING",
      );
      maxLive = Math.max(maxLive, live.length);
      minHealthy = Math.min(
        minHealthy,
        live.filter((task) => task.lastStatus === "RUNNING" && task.healthStatus === "HEALTHY").length,
      );
    }, 20);
    await ecs.send(
      new UpdateServiceCommand({
        cluster: "berth",
        service: "api",
        taskDefinition,
        deploymentConfiguration: { minimumHealthyPercent: 100, maximumPercent: 150 },
      }),
    );
    await steady("api");
    clearInterval(sampler);
    // 3 desired: never more than 4 tasks (150%), never fewer than 3 healthy ones (100%).
    expect(maxLive).toBeLessThanOrEqual(4);
    expect(minHealthy).toBeGreaterThanOrEqual(3);
    const tasks = await tasksOf("api");
    expect(await Promise.all(tasks.map(answer))).toEqual(["v2", "v2", "v2"]);
  });

  it("replaces a task killed with SIGKILL, after recording its exit", async () => {
    const [victim] = await tasksOf("api");
    const pid = Number(victim?.containers?.[0]?.runtimeId);
    expect(pid).toBeGreaterThan(0);
    process.kill(pid, "SIGKILL");
    const stopped = await waitFor("the killed task to stop", async () => {
      const { tasks = [] } = await ecs.send(
        new DescribeTasksCommand({ cluster: "berth", tasks: [victim?.taskArn ?? ""] }),
      );
      return tasks[0]?.lastStatus === "STOPPED" ? tasks[0] : undefined;
    });
    expect(stopped.stopCode).toBe("EssentialContainerExited");
    expect(stopped.containers?.[0]?.exitCode).toBe(137);
    await waitFor("a replacement", async () =>
      (await tasksOf("api")).filter((t) => t.healthStatus === "HEALTHY").length === 3 ? true : undefined,
    );
  });

  it("rolls back a revision that crashes on start, with the reason visible", async () => {
    const taskDefinition = await register("api", { VERSION: "v3", CRASH: "1" });
    await ecs.send(new UpdateServiceCommand({ cluster: "berth", service: "api", taskDefinition }));
    const service = await waitFor(
      "the rollback to complete",
      async () => {
        const found = await describe1("api");
        const primary = found.deployments?.[0];
        return found.deployments?.length === 1 &&
          primary?.rolloutState === "COMPLETED" &&
          primary.taskDefinition?.endsWith(":2")
          ? found
          : undefined;
      },
      60_000,
    );
    const messages = service.events?.map((event) => event.message).join("\n") ?? "";
    expect(messages).toContain("deployment failed: ECS deployment circuit breaker: tasks failed to start.");
    expect(messages).toMatch(/exit code 3/);
    expect(messages).toContain("rolling back to");
    const { serviceDeployments = [] } = await ecs.send(
      new ListServiceDeploymentsCommand({ cluster: "berth", service: "api" }),
    );
    expect(serviceDeployments.slice(0, 2).map((d) => d.status)).toEqual([
      "ROLLBACK_SUCCESSFUL",
      "SUCCESSFUL",
    ]);
    expect(await Promise.all((await tasksOf("api")).map(answer))).toEqual(["v2", "v2", "v2"]);
  });

  it("rolls back a revision that fails its health check, keeping the old tasks serving", async () => {
    const taskDefinition = await register("api", { VERSION: "v4", UNHEALTHY: "1" });
    await ecs.send(new UpdateServiceCommand({ cluster: "berth", service: "api", taskDefinition }));
    const failed = await waitFor(
      "a task replaced for failing its health check",
      async () =>
        (await tasksOf("api", "STOPPED")).find(
          (task) =>
            task.stoppedReason?.startsWith("Task failed container health checks") &&
            task.taskDefinitionArn?.endsWith(":4"),
        ),
      60_000,
    );
    expect(failed.stoppedReason).toContain("health: database unreachable");
    // Meanwhile the old revision kept serving.
    const serving = (await tasksOf("api")).filter(
      (task) => task.taskDefinitionArn?.endsWith(":2") && task.healthStatus === "HEALTHY",
    );
    expect(serving.length).toBeGreaterThanOrEqual(3);
    await waitFor(
      "the rollback",
      async () => {
        const found = await describe1("api");
        return found.deployments?.length === 1 &&
          found.deployments[0]?.taskDefinition?.endsWith(":2") &&
          found.deployments[0].rolloutState === "COMPLETED"
          ? true
          : undefined;
      },
      90_000,
    );
    // The service's events tell of the rollback.
    const service = await describe1("api");
    const text = JSON.stringify(service.events);
    expect(text).toContain("deployment failed: ECS deployment circuit breaker: tasks failed to start.");
    expect(service.deployments?.[0]?.rolloutState).toBe("COMPLETED");
    expect(service.deployments?.[0]?.rolloutStateReason).toMatch(
      /completed: rolled back from deployment ecs-svc\/\d+, which failed: ECS deployment circuit breaker: tasks failed to start\.$/,
    );
  });

  it("escalates StopTask to SIGKILL after the stop timeout", async () => {
    const taskDefinition = await register(
      "stubborn",
      { IGNORE_SIGTERM: "1" },
      { healthCheck: false, stopTimeout: 2 },
    );
    await ecs.send(
      new CreateServiceCommand({
        cluster: "berth",
        serviceName: "stubborn",
        taskDefinition,
        desiredCount: 1,
        networkConfiguration: NETWORK,
      }),
    );
    await steady("stubborn");
    const [task] = await tasksOf("stubborn");
    // RUNNING means its process started, not that its script has run yet: on a busy machine a
    // SIGTERM could still find Node's default handler. Once it answers, it ignores SIGTERM.
    await waitFor("the stubborn task to answer", () =>
      task ? answer(task).catch(() => undefined) : undefined,
    );
    const started = Date.now();
    await ecs.send(new StopTaskCommand({ cluster: "berth", task: task?.taskArn ?? "", reason: "test" }));
    const stopped = await waitFor("the stubborn task to stop", async () => {
      const { tasks = [] } = await ecs.send(
        new DescribeTasksCommand({ cluster: "berth", tasks: [task?.taskArn ?? ""] }),
      );
      return tasks[0]?.lastStatus === "STOPPED" ? tasks[0] : undefined;
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(2000);
    expect(stopped).toMatchObject({ stopCode: "UserInitiated", stoppedReason: "test" });
    expect(stopped.containers?.[0]?.exitCode).toBe(137);
    await ecs.send(new UpdateServiceCommand({ cluster: "berth", service: "stubborn", desiredCount: 0 }));
    await ecs.send(new DeleteServiceCommand({ cluster: "berth", service: "stubborn" }));
  });

  it("runs batch jobs to completion with their exit code, stop reason and events", async () => {
    const { taskDefinition } = await ecs.send(
      new RegisterTaskDefinitionCommand({
        family: "report",
        containerDefinitions: [
          {
            name: "job",
            image: app.image,
            command: ["node", "-e", "console.log('report ready'); process.exit(Number(process.env.CODE))"],
            environment: [{ name: "CODE", value: "0" }],
          },
        ],
      }),
    );
    const run = async (code: string) => {
      const { tasks = [] } = await ecs.send(
        new RunTaskCommand({
          cluster: "berth",
          taskDefinition: taskDefinition?.taskDefinitionArn ?? "",
          startedBy: "nightly",
          overrides: { containerOverrides: [{ name: "job", environment: [{ name: "CODE", value: code }] }] },
        }),
      );
      const arn = tasks[0]?.taskArn ?? "";
      return waitFor(`job ${code}`, async () => {
        const { tasks: described = [] } = await ecs.send(
          new DescribeTasksCommand({ cluster: "berth", tasks: [arn] }),
        );
        return described[0]?.lastStatus === "STOPPED" ? described[0] : undefined;
      });
    };
    const success = await run("0");
    expect(success).toMatchObject({
      stopCode: "EssentialContainerExited",
      group: "family:report",
      startedBy: "nightly",
    });
    expect(success.containers?.[0]?.exitCode).toBe(0);
    const failure = await run("1");
    expect(failure.containers?.[0]?.exitCode).toBe(1);
    expect(failure.stoppedReason).toBe("Essential container in task exited");
    const stopped = events.filter(
      (event) =>
        event["detail-type"] === "ECS Task State Change" &&
        (event.detail as { taskArn: string; lastStatus: string }).taskArn === failure.taskArn &&
        (event.detail as { lastStatus: string }).lastStatus === "STOPPED",
    );
    expect(stopped).toHaveLength(1);
    const detail = stopped[0]?.detail as { containers: { exitCode: number }[] } | undefined;
    expect(detail?.containers[0]?.exitCode).toBe(1);
  });

  it("resolves task definition secrets when a task starts, and fails a task whose secret is missing", async () => {
    const secretsClient = new SecretsManagerClient({
      endpoint: local.awsEndpoint.url,
      region: "us-east-1",
      credentials,
    });
    const { ARN: arn } = await secretsClient.send(
      new CreateSecretCommand({ Name: "db", SecretString: JSON.stringify({ password: "s3cret" }) }),
    );
    await secretsClient.send(new CreateSecretCommand({ Name: "apiKey", SecretString: "k-123" }));
    const register = async (secrets: { name: string; valueFrom: string }[]) =>
      (
        await ecs.send(
          new RegisterTaskDefinitionCommand({
            family: "with-secrets",
            containerDefinitions: [
              {
                name: "job",
                image: app.image,
                command: [
                  "node",
                  "-e",
                  "process.exit(process.env.DB_PASSWORD === 's3cret' && process.env.API_KEY === 'k-123' ? 0 : 1)",
                ],
                secrets,
              },
            ],
          }),
        )
      ).taskDefinition?.taskDefinitionArn ?? "";
    const runToEnd = async (taskDefinition: string) => {
      const { tasks = [] } = await ecs.send(new RunTaskCommand({ cluster: "berth", taskDefinition }));
      return waitFor("the task to stop", async () => {
        const { tasks: described = [] } = await ecs.send(
          new DescribeTasksCommand({ cluster: "berth", tasks: [tasks[0]?.taskArn ?? ""] }),
        );
        return described[0]?.lastStatus === "STOPPED" ? described[0] : undefined;
      });
    };
    const ok = await runToEnd(
      await register([
        { name: "DB_PASSWORD", valueFrom: `${arn}:password::` },
        { name: "API_KEY", valueFrom: "apiKey" },
      ]),
    );
    expect(ok.containers?.[0]?.exitCode).toBe(0);
    const missing = await runToEnd(
      await register([
        {
          name: "DB_PASSWORD",
          valueFrom: "arn:aws:secretsmanager:us-east-1:000000000000:secret:nope:password::",
        },
      ]),
    );
    expect(missing.stopCode).toBe("TaskFailedToStart");
    expect(missing.stoppedReason).toMatch(
      /^ResourceInitializationError: unable to retrieve secret .*nope.* for container job/,
    );
  });

  it("survives a restart: services come back to their desired count and no process is left behind", async () => {
    const before = await tasksOf("api");
    const pids = before.map((task) => Number(task.containers?.[0]?.runtimeId));
    await local.close();
    for (const pid of pids) expect(() => process.kill(pid, 0)).toThrow();
    await start();
    const service = await waitFor("api back at 3 healthy tasks", async () => {
      const found = await describe1("api");
      const tasks = await tasksOf("api");
      return tasks.filter((task) => task.healthStatus === "HEALTHY").length === 3 ? found : undefined;
    });
    expect(service.taskDefinition).toMatch(/api:2$/);
    expect(await Promise.all((await tasksOf("api")).map(answer))).toEqual(["v2", "v2", "v2"]);
  });
});

import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, statSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import {
  CreateClusterCommand,
  CreateServiceCommand,
  DescribeTasksCommand,
  ECSClient,
  ListTasksCommand,
  RegisterTaskDefinitionCommand,
} from "@aws-sdk/client-ecs";
import { InvokeCommand, LambdaClient } from "@aws-sdk/client-lambda";
import { describe, expect, it } from "vitest";
import { startBerthLocal } from "../packages/local/src/berth-local.ts";
import { httpApp, waitFor } from "./support/apps.ts";
import { executable } from "./support/executables.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const execFileAsync = promisify(execFile);
const stackFile = readFileSync(join(root, "examples/private-api/berth.yml"), "utf8");

async function call(url: string, token: string | undefined, init: RequestInit = {}) {
  const response = await fetch(url, {
    ...init,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(init.headers as Record<string, string>),
    },
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** One request written to the socket as is (request target included), and the raw answer. */
function rawRequest(url: string, head: string, body = ""): Promise<{ status: number; text: string }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => {
      // Written, not ended: a half-closed socket lets Node's server drop the connection before it answers.
      socket.write(
        `${head}\r\nHost: ${hostname}\r\nConnection: close\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
    });
    let text = "";
    socket.on("data", (chunk) => {
      text += chunk;
    });
    socket.on("error", reject);
    socket.on("close", () => resolve({ status: Number(/^HTTP\/1\.1 (\d+)/.exec(text)?.[1]), text }));
  });
}

/** Berth Local in this process, on a fresh data dir and ports of the OS's choosing. */
function startWithAdminToken(adminToken: string) {
  return startBerthLocal({
    dataDir: mkdtempSync(join(tmpdir(), "berth-api-host-")),
    awsPort: 0,
    apiPort: 0,
    adminToken,
  });
}

describe("Berth Local's API host", () => {
  it("answers malformed request targets and cyclic YAML with a 4xx, through a real socket", async () => {
    const token = `berth_${"b".repeat(43)}`;
    const local = await startWithAdminToken(token);
    try {
      const api = local.api?.url ?? "";
      // `//[` and `/[` are not paths (`[` is no path character); `//` and `/v1//health` are, with
      // no route.
      for (const [target, status] of [
        ["//[", 400],
        ["/[", 400],
        ["//", 404],
        ["/v1//health", 404],
      ] as const) {
        const reply = await rawRequest(api, `GET ${target} HTTP/1.1`);
        expect({ target, status: reply.status }).toEqual({ target, status });
        expect(reply.text).toMatch(/^x-request-id: \S+/im);
      }
      expect((await rawRequest(api, "GET /v1/health HTTP/1.1")).status).toBe(200);
      // The query string reaches the handler too: health takes no parameters.
      const query = await rawRequest(api, "GET /v1/health?x=%zz HTTP/1.1");
      expect(query.status).toBe(400);
      expect(query.text).toContain("query");

      const cyclic = await rawRequest(
        api,
        `PUT /v1/stacks/demo?dryRun=true HTTP/1.1\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/yaml`,
        "resources: &r\n  api: *r\n",
      );
      expect(cyclic.status).toBe(422);
      // The body may come chunked: look for the detail in the raw text.
      expect(cyclic.text).toContain('"code":"INVALID_STACK_FILE"');
      expect(cyclic.text).toContain('{"path":"resources.api","line":2,"column":8,"message":"alias *r refers');
    } finally {
      await local.close();
    }
  });

  it("serves the API with a generated admin token that survives restarts, and keeps deployments truthful", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "berth-api-host-"));
    // Without the weekly refresh's timer: at Sunday 03:00 UTC it would redeploy the demo service mid-test.
    let local = await startBerthLocal({ dataDir, awsPort: 0, apiPort: 0, timedSchedules: false });
    try {
      const admin = local.api?.admin;
      expect(admin?.generated).toBe(true);
      const token = admin?.token ?? "";
      expect(token).toMatch(/^berth_[A-Za-z0-9_-]{43}$/);
      expect(readFileSync(join(dataDir, "admin-token"), "utf8").trim()).toBe(token);
      expect(statSync(join(dataDir, "admin-token")).mode & 0o777).toBe(0o600);

      const api = local.api?.url ?? "";
      expect(await call(`${api}/v1/health`, undefined)).toMatchObject({ status: 200 });
      expect(await call(`${api}/v1/stacks`, undefined)).toMatchObject({ status: 401 });
      expect(await call(`${api}/v1/stacks`, token)).toEqual({ status: 200, body: { stacks: [] } });

      const applied = await call(`${api}/v1/stacks/demo`, token, {
        method: "PUT",
        body: stackFile,
        headers: { "content-type": "application/yaml" },
      });
      expect(applied.status).toBe(202);
      // The deploy workflow starts on Berth Local's Step Functions, named after the deployment.
      const plan = applied.body.plan as {
        service: string;
        deployment?: { workflow: Record<string, unknown> };
      }[];
      for (const entry of plan) {
        expect(entry.deployment?.workflow.started, entry.service).toBe(true);
        expect(entry.deployment?.workflow.executionArn).toMatch(
          /^arn:aws:states:us-east-1:000000000000:execution:berth-deploy:[0-9A-Z]{26}$/,
        );
      }

      // Task counts come from ECS, for the ECS service the renderer names `<stack>-<service>`.
      const noCounts = await call(`${api}/v1/stacks/demo/services/privateApi`, token);
      expect(noCounts.body.tasks).toEqual({ desired: null, running: null });
      const ecs = new ECSClient({
        endpoint: local.awsEndpoint.url,
        region: "us-east-1",
        credentials: { accessKeyId: "b", secretAccessKey: "b" },
      });
      await ecs.send(new CreateClusterCommand({ clusterName: "berth" }));
      const { taskDefinition } = await ecs.send(
        new RegisterTaskDefinitionCommand({
          family: "demo-privateApi",
          containerDefinitions: [
            {
              name: "privateApi",
              image: httpApp().image,
              command: ["node", "server.mjs"],
              portMappings: [{ containerPort: 3000 }],
            },
          ],
        }),
      );
      await ecs.send(
        new CreateServiceCommand({
          cluster: "berth",
          serviceName: "demo-privateApi",
          taskDefinition: taskDefinition?.taskDefinitionArn,
          desiredCount: 1,
        }),
      );
      const counted = await waitFor("the running task in the service view", async () => {
        const view = await call(`${api}/v1/stacks/demo/services/privateApi`, token);
        const tasks = view.body.tasks as { running: number | null };
        return tasks.running === 1 ? view.body.tasks : undefined;
      });
      expect(counted).toEqual({ desired: 1, running: 1 });
      // The newest ECS deployment's tasks (no health check: running, never HEALTHY) and ECS's latest event.
      const view = await call(`${api}/v1/stacks/demo/services/privateApi`, token);
      expect(view.body.rollout).toMatchObject({
        ecsDeploymentId: expect.stringMatching(/^ecs-svc\//),
        taskDefinitionArn: taskDefinition?.taskDefinitionArn,
        desired: 1,
        running: 1,
        healthy: 0,
        stopped: 0,
      });
      expect(view.body.latestEvent).toMatchObject({
        message: expect.stringMatching(/^\(service demo-privateApi\) /),
      });

      await local.close();
      local = await startBerthLocal({ dataDir, awsPort: 0, apiPort: 0, timedSchedules: false });
      expect(local.api?.admin).toEqual({ token, generated: false });
      const stacks = await call(`${local.api?.url}/v1/stacks`, token);
      expect((stacks.body.stacks as { name: string }[]).map((stack) => stack.name)).toEqual(["demo"]);
    } finally {
      await local.close();
    }
  });

  it("accepts instanceTypes (its cluster has an EC2 capacity provider) in a dry run and berth validate", async () => {
    const token = `berth_${"c".repeat(43)}`;
    const local = await startWithAdminToken(token);
    try {
      const api = local.api?.url ?? "";
      const onEc2 = [
        "resources:",
        "  api:",
        "    type: worker-service",
        "    properties:",
        "      packaging: {type: prebuilt-image, properties: {image: nginx}}",
        "      resources:",
        "        instanceTypes: [c5.large]",
        "",
      ].join("\n");
      const reply = await call(`${api}/v1/stacks/ec2?dryRun=true`, token, {
        method: "PUT",
        body: onEc2,
        headers: { "content-type": "application/yaml" },
      });
      expect(reply.status, JSON.stringify(reply.body)).toBe(200);
      // A dry run writes nothing.
      expect(await call(`${api}/v1/stacks`, token)).toEqual({ status: 200, body: { stacks: [] } });
    } finally {
      await local.close();
    }
  });

  it("registers BERTH_ADMIN_TOKEN, and refuses one that is not a Berth token", async () => {
    const token = `berth_${"a".repeat(43)}`;
    const local = await startWithAdminToken(token);
    try {
      expect(local.api?.admin).toEqual({ token, generated: false });
      expect((await call(`${local.api?.url}/v1/tokens`, token)).status).toBe(200);
    } finally {
      await local.close();
    }
    await expect(
      startBerthLocal({
        dataDir: mkdtempSync(join(tmpdir(), "berth-api-host-")),
        awsPort: 0,
        apiPort: 0,
        adminToken: "dev",
      }),
    ).rejects.toMatchObject({ code: "INVALID_INPUT" });
  });
});

describe("Berth Local's Lambda endpoint", () => {
  it("invokes the control plane's functions from the manifest in-process, the way Lambda does", async () => {
    const local = await startBerthLocal({
      dataDir: mkdtempSync(join(tmpdir(), "berth-lambda-")),
      awsPort: 0,
    });
    try {
      const lambda = new LambdaClient({
        endpoint: local.awsEndpoint.url,
        region: "us-east-1",
        credentials: { accessKeyId: "b", secretAccessKey: "b" },
      });
      const event = {
        version: "2.0",
        routeKey: "$default",
        rawPath: "/v1/health",
        rawQueryString: "",
        headers: {},
        requestContext: {
          http: {
            method: "GET",
            path: "/v1/health",
            protocol: "HTTP/1.1",
            sourceIp: "127.0.0.1",
            userAgent: "test",
          },
          requestId: "r-1",
          routeKey: "$default",
          stage: "$default",
          accountId: "000000000000",
          apiId: "local",
          domainName: "localhost",
          domainPrefix: "localhost",
          time: "",
          timeEpoch: 0,
        },
        isBase64Encoded: false,
      };
      const result = await lambda.send(
        new InvokeCommand({ FunctionName: "api", Payload: new TextEncoder().encode(JSON.stringify(event)) }),
      );
      expect(result.FunctionError).toBeUndefined();
      const response = JSON.parse(new TextDecoder().decode(result.Payload)) as {
        statusCode: number;
        body: string;
      };
      expect(response.statusCode).toBe(200);
      expect(JSON.parse(response.body)).toMatchObject({ status: "ok" });
      // A step refuses a payload that is not its input, naming it as Lambda reports function errors.
      const refused = await lambda.send(
        new InvokeCommand({ FunctionName: "finalize", Payload: new TextEncoder().encode("{}") }),
      );
      expect(refused.FunctionError).toBe("Unhandled");
      expect(JSON.parse(new TextDecoder().decode(refused.Payload))).toMatchObject({
        errorType: "Berth.InvalidStepInput",
      });
      await expect(
        lambda.send(new InvokeCommand({ FunctionName: "no-such-function" })),
      ).rejects.toMatchObject({
        name: "ResourceNotFoundException",
      });
    } finally {
      await local.close();
    }
  });
});

describe("Berth Local's EventBridge", () => {
  it("installs the manifest's rules at start and accepts PutEvents onto the bus", async () => {
    const local = await startBerthLocal({
      dataDir: mkdtempSync(join(tmpdir(), "berth-events-")),
      awsPort: 0,
    });
    try {
      const call = async (operation: string, input: unknown) => {
        const response = await fetch(local.awsEndpoint.url, {
          method: "POST",
          headers: { "x-amz-target": `AWSEvents.${operation}`, "content-type": "application/x-amz-json-1.1" },
          body: JSON.stringify(input),
        });
        return (await response.json()) as Record<string, unknown>;
      };
      const { Rules = [] } = (await call("ListRules", {})) as {
        Rules?: { Name: string; EventPattern?: string; ScheduleExpression?: string }[];
      };
      const byName = new Map(Rules.map((rule) => [rule.Name, rule]));
      expect(JSON.parse(byName.get("berth-ecs-events-0")?.EventPattern ?? "{}")).toMatchObject({
        source: ["aws.ecs"],
      });
      expect(byName.get("berth-weekly-refresh-0")?.ScheduleExpression).toBe("cron(0 3 ? * SUN *)");
      const seen: string[] = [];
      local.bus.subscribe((event) => seen.push(`${event.source}/${event["detail-type"]}`));
      const put = await call("PutEvents", {
        Entries: [{ Source: "berth.test", DetailType: "Hello", Detail: '{"a":1}' }],
      });
      expect(put.FailedEntryCount).toBe(0);
      expect(seen).toEqual(["berth.test/Hello"]);
    } finally {
      await local.close();
    }
  });
});

describe("npm start", () => {
  it("prints a shell setup that the aws CLI and berth (from any directory) work with, runs until SIGTERM and leaves no task process behind", async () => {
    const app = httpApp();
    // As `npm start` runs it: node with tsx's loader, so the signal reaches Berth Local itself.
    const child: ChildProcess = spawn(
      process.execPath,
      ["--import", "tsx", join(root, "packages/local/src/main.ts")],
      {
        env: {
          // Not an in-process Berth Local's endpoint from earlier in this file: its own.
          ...Object.fromEntries(
            Object.entries(process.env).filter(([name]) => !name.startsWith("AWS_ENDPOINT_URL")),
          ),
          BERTH_DATA_DIR: mkdtempSync(join(tmpdir(), "berth-npm-start-")),
          BERTH_PORT: "0",
          BERTH_AWS_PORT: "0",
        },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let output = "";
    child.stdout?.on("data", (chunk) => {
      output += chunk;
    });
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    try {
      const awsUrl = await waitFor(
        "Berth Local to start",
        () => /AWS-compatible endpoint\s+(http:\/\/\S+)/.exec(output)?.[1],
        // Starting installs the control plane and checks the console's build: at load 20 that took
        // over 30 s.
        120_000,
      );
      expect(output).toMatch(/admin token\s+berth_[A-Za-z0-9_-]{43}/);

      // The printed shell setup is all a newcomer needs: the aws CLI with no credentials of its
      // own, and the berth binary from a directory outside the repository, token found.
      const exported = /^\s*export (.+)$/m.exec(output)?.[1] ?? "";
      const setup = Object.fromEntries(exported.split(" ").map((pair) => pair.split(/=(.*)/s).slice(0, 2)));
      expect(Object.keys(setup)).toEqual(
        expect.arrayContaining([
          "AWS_ACCESS_KEY_ID",
          "AWS_SECRET_ACCESS_KEY",
          "AWS_REGION",
          "AWS_ENDPOINT_URL",
          "BERTH_URL",
          "BERTH_DATA_DIR",
        ]),
      );
      const bare = Object.fromEntries(
        Object.entries(process.env).filter(
          ([name]) => !name.startsWith("AWS_") && !name.startsWith("BERTH_"),
        ),
      );
      const home = mkdtempSync(join(tmpdir(), "berth-newcomer-"));
      const env = { ...bare, ...setup, HOME: home, AWS_PAGER: "" };
      const clusters = await execFileAsync(executable("aws"), ["ecs", "list-clusters", "--output", "json"], {
        env,
        cwd: home,
      });
      expect(JSON.parse(clusters.stdout)).toHaveProperty("clusterArns");
      const status = await execFileAsync(
        process.execPath,
        [join(root, "packages/cli/bin/berth.js"), "status"],
        {
          env,
          cwd: home,
        },
      );
      expect(status.stdout).toContain("No stacks yet");
      const ecs = new ECSClient({
        endpoint: awsUrl,
        region: "us-east-1",
        credentials: { accessKeyId: "b", secretAccessKey: "b" },
      });
      await ecs.send(new CreateClusterCommand({ clusterName: "berth" }));
      const { taskDefinition } = await ecs.send(
        new RegisterTaskDefinitionCommand({
          family: "web",
          containerDefinitions: [
            {
              name: "web",
              image: app.image,
              command: ["node", "server.mjs"],
              portMappings: [{ containerPort: 3000 }],
            },
          ],
        }),
      );
      await ecs.send(
        new CreateServiceCommand({
          cluster: "berth",
          serviceName: "web",
          taskDefinition: taskDefinition?.taskDefinitionArn,
          desiredCount: 2,
        }),
      );
      const pids = await waitFor("two running tasks", async () => {
        const { taskArns = [] } = await ecs.send(
          new ListTasksCommand({ cluster: "berth", serviceName: "web" }),
        );
        if (taskArns.length !== 2) return undefined;
        const { tasks = [] } = await ecs.send(
          new DescribeTasksCommand({ cluster: "berth", tasks: taskArns }),
        );
        const running = tasks.filter((task) => task.lastStatus === "RUNNING");
        return running.length === 2
          ? running.map((task) => Number(task.containers?.[0]?.runtimeId))
          : undefined;
      });
      child.kill("SIGTERM");
      expect(await exited).toBe(0);
      for (const pid of pids) expect(() => process.kill(pid, 0)).toThrow();
    } finally {
      // A failure above must not leave Berth Local running (its tasks end with it).
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    }
  });
});

import { connect } from "node:net";
import { setTimeout as delay } from "node:timers/promises";
import {
  CreateClusterCommand,
  CreateServiceCommand,
  DeleteServiceCommand,
  DescribeServicesCommand,
  DescribeTasksCommand,
  ECSClient,
  ListTasksCommand,
  RegisterTaskDefinitionCommand,
  type ServiceConnectConfiguration,
  StopTaskCommand,
  type Task,
  UpdateServiceCommand,
} from "@aws-sdk/client-ecs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { appTaskDefinition, httpApp, waitFor } from "../../../../test/support/apps.ts";
import { LOAD_PAUSE_MS } from "../../../../test/support/load.ts";
import type { BerthLocal } from "../berth-local.ts";
import { localClientConfig, startTestLocal } from "../test-support.ts";

const app = httpApp();
let local: BerthLocal;
let ecs: ECSClient;

type Alias = {
  namespace: string;
  alias: string;
  address: string;
  service: string;
  protocol: string;
  healthyTasks: { taskId: string; address: string }[];
};

async function aliases(): Promise<Alias[]> {
  const response = await fetch(`${local.awsEndpoint.url}/_local/service-connect`);
  return ((await response.json()) as { aliases: Alias[] }).aliases;
}

async function aliasOf(name: string): Promise<Alias> {
  const found = (await aliases()).find((alias) => alias.alias === name);
  if (!found) throw new Error(`no alias ${name}`);
  return found;
}

async function register(
  family: string,
  environment: Record<string, string>,
  options: { command?: string[]; appProtocol?: "http"; stopTimeout?: number } = {},
) {
  const { taskDefinition } = await ecs.send(
    new RegisterTaskDefinitionCommand(appTaskDefinition(app.image, family, environment, options)),
  );
  return taskDefinition?.taskDefinitionArn ?? "";
}

function publishes(alias: string, namespace = "berth.local") {
  return {
    enabled: true,
    namespace,
    services: [
      { portName: "app-3000", discoveryName: alias, clientAliases: [{ port: 3000, dnsName: alias }] },
    ],
  };
}

async function tasksOf(service: string): Promise<Task[]> {
  const { taskArns = [] } = await ecs.send(new ListTasksCommand({ cluster: "sc", serviceName: service }));
  if (taskArns.length === 0) return [];
  return (await ecs.send(new DescribeTasksCommand({ cluster: "sc", tasks: taskArns }))).tasks ?? [];
}

async function healthyCount(service: string, count: number) {
  return waitFor(
    `${count} healthy tasks of ${service}`,
    async () => {
      const alias = (await aliases()).find((a) => a.service === service);
      return alias && alias.healthyTasks.length === count ? alias : undefined;
    },
    30_000,
  );
}

beforeAll(async () => {
  local = await startTestLocal("sc");
  ecs = new ECSClient(localClientConfig(local.awsEndpoint.url));
  await ecs.send(new CreateClusterCommand({ clusterName: "sc" }));
  await ecs.send(
    new CreateServiceCommand({
      cluster: "sc",
      serviceName: "api",
      taskDefinition: await register(
        "api",
        { VERSION: "v1", IGNORE_SIGTERM: "1" },
        { appProtocol: "http", stopTimeout: 4 },
      ),
      desiredCount: 3,
      serviceConnectConfiguration: publishes("api"),
    }),
  );
  await healthyCount("api", 3);
});
afterAll(async () => {
  await local?.close();
});

describe("Berth Local Service Connect", { shuffle: false }, () => {
  it("rewrites the injected alias:port to the proxy, so another service reaches the API", async () => {
    await ecs.send(
      new CreateServiceCommand({
        cluster: "sc",
        serviceName: "client",
        taskDefinition: await register("client", { API: "api:3000" }),
        desiredCount: 1,
        serviceConnectConfiguration: { enabled: true, namespace: "berth.local" },
      }),
    );
    const [client] = await waitFor("the client task to be healthy", async () => {
      const tasks = await tasksOf("client");
      return tasks.length === 1 && tasks[0]?.healthStatus === "HEALTHY" ? tasks : undefined;
    });
    const port = client?.containers?.[0]?.networkBindings?.[0]?.hostPort;
    const answer = await (await fetch(`http://127.0.0.1:${port}/upstream`)).text();
    expect(answer).toMatch(/^via v1:\d+$/);
    const api = await aliasOf("api:3000");
    expect(api).toMatchObject({ service: "api", protocol: "http" });
    expect(api.address).toMatch(/^127\.0\.0\.1:\d+$/);
  });

  it("round-robins across the healthy tasks", async () => {
    const api = await aliasOf("api:3000");
    const answers: string[] = [];
    for (let i = 0; i < 30; i++) answers.push(await (await fetch(`http://${api.address}/whoami`)).text());
    const counts = new Map<string, number>();
    for (const answer of answers) counts.set(answer, (counts.get(answer) ?? 0) + 1);
    expect([...counts.values()]).toEqual([10, 10, 10]);
  });

  it("takes a stopping task out of rotation before its SIGTERM, while it is still running", async () => {
    const api = await aliasOf("api:3000");
    const [victim] = await tasksOf("api");
    const pid = victim?.containers?.[0]?.runtimeId;
    await ecs.send(new StopTaskCommand({ cluster: "sc", task: victim?.taskArn ?? "", reason: "drain test" }));
    // The app ignores SIGTERM, so its process lives for the whole stop timeout.
    // Its 4 s can end within the 20 requests on a busy machine: count the answers that came while
    // it was still running, and require 3 (the pool takes its 3 healthy tasks in turn, so a
    // stopping task left in it would answer one of any 3).
    const running = () => {
      try {
        process.kill(Number(pid), 0);
        return true;
      } catch {
        return false;
      }
    };
    const answers: string[] = [];
    let answeredWhileRunning = 0;
    for (let i = 0; i < 20; i++) {
      answers.push(await (await fetch(`http://${api.address}/whoami`)).text());
      if (running()) answeredWhileRunning += 1;
    }
    expect(answeredWhileRunning).toBeGreaterThanOrEqual(3);
    expect(answers.some((answer) => answer.endsWith(`:${pid}`))).toBe(false);
    expect((await aliasOf("api:3000")).healthyTasks.map((task) => task.taskId)).not.toContain(
      victim?.taskArn?.split("/").pop(),
    );
    await healthyCount("api", 3);
  });

  it("sends no request to a task before it is healthy, and fails none during a rolling update", async () => {
    const api = await aliasOf("api:3000");
    let sent = 0;
    const failures: string[] = [];
    const seen = new Set<string>();
    let running = true;
    const worker = async () => {
      while (running) {
        sent += 1;
        try {
          const response = await fetch(`http://${api.address}/whoami`);
          const text = await response.text();
          if (response.status !== 200) failures.push(`${response.status} ${text}`);
          else seen.add(text.split(":")[0] ?? "");
        } catch (error) {
          failures.push(String(error));
        }
        await delay(LOAD_PAUSE_MS); // a pace, not a wait: the test waits on the update
      }
    };
    const workers = Array.from({ length: 8 }, worker);
    // Meanwhile, every task in the proxy's pool must be a healthy one that is not stopping.
    const unhealthyInPool: string[] = [];
    const sampler = setInterval(() => {
      for (const alias of local.ecs.serviceConnect.list()) {
        for (const member of alias.healthyTasks) {
          const task = local.ecs.state.tasks.find((t) => t.taskId === member.taskId);
          if (task?.healthStatus !== "HEALTHY" || task.desiredStatus !== "RUNNING")
            unhealthyInPool.push(member.taskId);
        }
      }
    }, 10);
    await ecs.send(
      new UpdateServiceCommand({
        cluster: "sc",
        service: "api",
        taskDefinition: await register(
          "api",
          { VERSION: "v2", IGNORE_SIGTERM: "1" },
          { appProtocol: "http", stopTimeout: 4 },
        ),
      }),
    );
    await waitFor(
      "v2 everywhere",
      async () => {
        const tasks = await tasksOf("api");
        return tasks.length === 3 &&
          tasks.every((task) => task.taskDefinitionArn?.endsWith(":2") && task.healthStatus === "HEALTHY")
          ? true
          : undefined;
      },
      60_000,
    );
    // Let the stopped v1 tasks reach their stop timeout while traffic continues.
    await new Promise((resolve) => setTimeout(resolve, 4500));
    running = false;
    clearInterval(sampler);
    await Promise.all(workers);
    expect(unhealthyInPool).toEqual([]);
    expect(failures).toEqual([]);
    // Traffic flowed through the whole update (how much depends on the machine's load).
    expect(sent).toBeGreaterThan(20);
    expect([...seen].sort()).toEqual(["v1", "v2"]);
  }, 180_000);

  it("proxies plain TCP", async () => {
    await ecs.send(
      new CreateServiceCommand({
        cluster: "sc",
        serviceName: "echo",
        taskDefinition: await register("echo", {}, { command: ["node", "echo.mjs"] }),
        desiredCount: 2,
        serviceConnectConfiguration: publishes("echo"),
      }),
    );
    const echo = await waitFor("the echo alias with 2 tasks", async () => {
      const alias = (await aliases()).find((a) => a.alias === "echo:3000");
      return alias && alias.healthyTasks.length === 2 ? alias : undefined;
    });
    expect(echo.protocol).toBe("tcp");
    const [host, port] = echo.address.split(":");
    const reply = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(port), host, () => socket.end("ping over tcp"));
      let data = "";
      socket.on("data", (chunk) => {
        data += chunk.toString();
      });
      socket.on("end", () => resolve(data));
      socket.on("error", reject);
    });
    expect(reply).toBe("ping over tcp");
  });
});

describe("Berth Local Service Connect namespaces", { shuffle: false }, () => {
  const inNamespace = (list: Alias[], namespace: string, alias: string) =>
    list.find((entry) => entry.namespace === namespace && entry.alias === alias);

  it("keeps one alias per namespace: the same alias:port in two namespaces leads to each namespace's service", async () => {
    for (const [team, version] of [
      ["team-a", "a"],
      ["team-b", "b"],
    ] as const) {
      await ecs.send(
        new CreateServiceCommand({
          cluster: "sc",
          serviceName: `shared-${version}`,
          taskDefinition: await register(`shared-${version}`, { VERSION: version }, { appProtocol: "http" }),
          desiredCount: 1,
          serviceConnectConfiguration: publishes("shared", team),
        }),
      );
      await ecs.send(
        new CreateServiceCommand({
          cluster: "sc",
          serviceName: `caller-${version}`,
          taskDefinition: await register(`caller-${version}`, { API: "shared:3000" }),
          desiredCount: 1,
          serviceConnectConfiguration: { enabled: true, namespace: team },
        }),
      );
    }
    const listed = await waitFor("shared:3000 in both namespaces, each with a healthy task", async () => {
      const list = await aliases();
      const a = inNamespace(list, "team-a", "shared:3000");
      const b = inNamespace(list, "team-b", "shared:3000");
      return a?.healthyTasks.length === 1 && b?.healthyTasks.length === 1 ? { a, b } : undefined;
    });
    expect(listed.a.service).toBe("shared-a");
    expect(listed.b.service).toBe("shared-b");
    expect(listed.a.address).not.toBe(listed.b.address);
    for (const version of ["a", "b"]) {
      const [caller] = await waitFor(`caller-${version} healthy`, async () => {
        const tasks = await tasksOf(`caller-${version}`);
        return tasks[0]?.healthStatus === "HEALTHY" ? tasks : undefined;
      });
      const port = caller?.containers?.[0]?.networkBindings?.[0]?.hostPort;
      expect(await (await fetch(`http://127.0.0.1:${port}/upstream`)).text()).toMatch(
        new RegExp(`^via ${version}:\\d+$`),
      );
    }
  }, 120_000);

  it("refuses a second service that publishes a discovery name or client alias the namespace has", async () => {
    const taskDefinition = await register("intruder", {}, { appProtocol: "http" });
    const create = (serviceConnectConfiguration: ServiceConnectConfiguration) =>
      ecs.send(
        new CreateServiceCommand({
          cluster: "sc",
          serviceName: "intruder",
          taskDefinition,
          desiredCount: 0,
          serviceConnectConfiguration,
        }),
      );
    await expect(create(publishes("shared", "team-a"))).rejects.toMatchObject({
      name: "InvalidParameterException",
      message: expect.stringMatching(/already used by .*service\/sc\/shared-a in namespace team-a/),
    });
    await expect(
      create({
        enabled: true,
        namespace: "team-a",
        services: [
          {
            portName: "app-3000",
            discoveryName: "other",
            clientAliases: [{ port: 3000, dnsName: "shared" }],
          },
        ],
      }),
    ).rejects.toMatchObject({ message: expect.stringMatching(/client alias shared:3000/) });
    await expect(create({ enabled: true } as ServiceConnectConfiguration)).rejects.toMatchObject({
      name: "InvalidParameterException",
      message: expect.stringMatching(/namespace must be specified/),
    });
    // An update that would take the alias is refused too, and leaves the service as it was.
    await expect(
      ecs.send(
        new UpdateServiceCommand({
          cluster: "sc",
          service: "caller-b",
          serviceConnectConfiguration: publishes("shared", "team-a"),
        }),
      ),
    ).rejects.toMatchObject({ name: "InvalidParameterException" });
    expect((await aliases()).filter((entry) => entry.service === "caller-b")).toEqual([]);
    expect(inNamespace(await aliases(), "team-a", "shared:3000")?.service).toBe("shared-a");
  });

  it("removes a deleted service's aliases once it is INACTIVE, and the alias may then be published again", async () => {
    await ecs.send(new DeleteServiceCommand({ cluster: "sc", service: "shared-b", force: true }));
    await waitFor("shared-b to be INACTIVE", async () => {
      const { services = [] } = await ecs.send(
        new DescribeServicesCommand({ cluster: "sc", services: ["shared-b"] }),
      );
      return services[0]?.status === "INACTIVE" || undefined;
    });
    await waitFor("team-b's shared:3000 to be gone", async () =>
      inNamespace(await aliases(), "team-b", "shared:3000") === undefined ? true : undefined,
    );
    // team-a's alias of the same name is untouched.
    expect(inNamespace(await aliases(), "team-a", "shared:3000")?.healthyTasks).toHaveLength(1);
    await ecs.send(
      new CreateServiceCommand({
        cluster: "sc",
        serviceName: "shared-b2",
        taskDefinition: await register("shared-b2", { VERSION: "b2" }, { appProtocol: "http" }),
        desiredCount: 0,
        serviceConnectConfiguration: publishes("shared", "team-b"),
      }),
    );
    expect(inNamespace(await aliases(), "team-b", "shared:3000")?.service).toBe("shared-b2");
  }, 60_000);
});

import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import {
  DescribeCapacityProvidersCommand,
  DescribeClustersCommand,
  DescribeServicesCommand,
  ECSClient,
  ListContainerInstancesCommand,
  RunTaskCommand,
  StopTaskCommand,
} from "@aws-sdk/client-ecs";
import { CreateRoleCommand, IAMClient, PutRolePolicyCommand } from "@aws-sdk/client-iam";
import { Ecs, Iam } from "@berth/core/aws";
import { Render } from "@berth/core/render";
import { Spec } from "@berth/core/spec";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { httpApp, waitFor } from "../../../../test/support/apps.ts";
import { responseProblems } from "../../../../test/support/botocore.ts";
import { type BerthLocal, startBerthLocal } from "../berth-local.ts";
import type { BusEvent } from "../events.ts";
import { awsCli, rawCall } from "../test-support.ts";
import { ecsService } from "./api.ts";
import type { EcsEngine } from "./engine.ts";

const execFileAsync = promisify(execFile);
const credentials = { accessKeyId: "berth", secretAccessKey: "berth" };
const NETWORK = { awsvpcConfiguration: { subnets: ["subnet-0123456789abcdef0"] } };
const EXECUTION_ROLE = "arn:aws:iam::000000000000:role/ecsTaskExecutionRole";
const app = httpApp();
const dataDir = mkdtempSync(join(tmpdir(), "berth-local-ecs-api-"));
const cliDir = mkdtempSync(join(tmpdir(), "berth-local-ecs-cli-"));
let local: BerthLocal;
const events: BusEvent[] = [];
/** Every raw answer, by operation, for the contract check against botocore's output shapes. */
const answers: { operation: string; output: unknown }[] = [];

/** One ECS call as the wire carries it: the raw JSON answer (unknown members included). */
async function call(operation: string, input: Record<string, unknown>): Promise<Record<string, unknown>> {
  const { status, body } = await rawCall(
    local.awsEndpoint.url,
    `AmazonEC2ContainerServiceV20141113.${operation}`,
    input,
  );
  if (status !== 200) throw Object.assign(new Error(String(body.message)), { name: String(body.__type) });
  answers.push({ operation, output: body });
  return body;
}

/** The task as DescribeTasks answers it, once `lastStatus` is `status`. */
function taskOnceIn(arn: string, status: string): Promise<Record<string, unknown>> {
  return waitFor(`task ${arn} to be ${status}`, async () => {
    const { tasks } = await call("DescribeTasks", { cluster: "berth", tasks: [arn] });
    const task = (tasks as Record<string, unknown>[])[0];
    return task?.lastStatus === status ? task : undefined;
  });
}

async function refusal(operation: string, input: Record<string, unknown>) {
  try {
    await call(operation, input);
  } catch (error) {
    return { name: (error as Error).name, message: (error as Error).message };
  }
  throw new Error(`${operation} was accepted`);
}

/** boto3 against Berth Local: `script` gets `ecs`, a client on the endpoint, and prints JSON. */
async function boto3(script: string): Promise<unknown> {
  const program = `import boto3, json\necs = boto3.client("ecs", endpoint_url=${JSON.stringify(local.awsEndpoint.url)}, region_name="us-east-1", aws_access_key_id="berth", aws_secret_access_key="berth")\n${script}`;
  const { stdout } = await execFileAsync("python3", ["-c", program], { encoding: "utf8" });
  return JSON.parse(stdout);
}

const cli = async (args: string[]) =>
  JSON.parse((await awsCli(local.awsEndpoint.url, cliDir, ["ecs", ...args])).stdout) as Record<
    string,
    unknown
  >;

function container(overrides: Record<string, unknown> = {}) {
  return { name: "web", image: app.image, command: ["node", "server.mjs"], ...overrides };
}

function fargate(family: string, extra: Record<string, unknown> = {}) {
  return {
    family,
    networkMode: "awsvpc",
    requiresCompatibilities: ["FARGATE"],
    cpu: "256",
    memory: "512",
    executionRoleArn: EXECUTION_ROLE,
    containerDefinitions: [container({ portMappings: [{ containerPort: 3000, name: "web-3000" }] })],
    ...extra,
  };
}

beforeAll(async () => {
  local = await startBerthLocal({ dataDir, awsPort: 0, tickMs: 100 });
  local.bus.subscribe((event) => events.push(event));
  await call("CreateCluster", { clusterName: "berth" });
  await call("RegisterTaskDefinition", {
    family: "idle",
    containerDefinitions: [{ name: "app", image: "registry.example/idle:1" }],
  });
});
afterAll(async () => {
  await local?.close();
});

// The contract test at the end checks every answer the tests before it collected: the blocks run
// in this order even under vitest --sequence.shuffle.
describe("Berth Local's ECS API", { shuffle: false }, () => {
  describe("pagination", () => {
    beforeAll(async () => {
      for (let index = 0; index < 12; index++) {
        await call("CreateService", {
          cluster: "berth",
          serviceName: `svc-${String(index).padStart(2, "0")}`,
          taskDefinition: "idle",
          desiredCount: 0,
        });
      }
      // Registry images cannot run here: each task stops at once, which is all a listing needs.
      for (let index = 0; index < 12; index++) {
        await call("RunTask", { cluster: "berth", taskDefinition: "idle", startedBy: "paging" });
      }
    });

    it("ListServices answers 10 by default and pages through all of them with an opaque token", async () => {
      const first = await call("ListServices", { cluster: "berth" });
      expect(first.serviceArns).toHaveLength(10);
      expect(typeof first.nextToken).toBe("string");
      expect(first.nextToken).not.toContain("svc-");
      const second = await call("ListServices", { cluster: "berth", nextToken: first.nextToken });
      expect(second.serviceArns).toHaveLength(2);
      expect(second.nextToken).toBeUndefined();
      const all = [...(first.serviceArns as string[]), ...(second.serviceArns as string[])];
      expect(new Set(all).size).toBe(12);
    });

    it("boto3's paginators and the aws CLI's --page-size/--max-items see every item once", async () => {
      const listed = (await boto3(`
out = {}
for op, key, kwargs in [("list_services", "serviceArns", {"cluster": "berth"}),
                        ("list_tasks", "taskArns", {"cluster": "berth", "desiredStatus": "STOPPED", "startedBy": "paging"})]:
    items = []
    pages = 0
    for page in ecs.get_paginator(op).paginate(PaginationConfig={"PageSize": 5}, **kwargs):
        items += page[key]
        pages += 1
    out[op] = {"items": items, "pages": pages}
print(json.dumps(out))
`)) as Record<string, { items: string[]; pages: number }>;
      expect(new Set(listed.list_services?.items).size).toBe(12);
      expect(listed.list_services?.pages).toBe(3);
      expect(new Set(listed.list_tasks?.items).size).toBe(12);
      expect(listed.list_tasks?.pages).toBe(3);

      const everything = await cli(["list-services", "--cluster", "berth", "--page-size", "4"]);
      expect(new Set(everything.serviceArns as string[]).size).toBe(12);
      const three = await cli(["list-services", "--cluster", "berth", "--max-items", "3"]);
      expect(three.serviceArns).toHaveLength(3);
      const rest = await cli([
        "list-services",
        "--cluster",
        "berth",
        "--starting-token",
        String(three.NextToken),
      ]);
      expect(new Set([...(three.serviceArns as string[]), ...(rest.serviceArns as string[])]).size).toBe(12);
    });

    it("refuses a token it did not hand out, a token of another listing and maxResults outside 1–100", async () => {
      const { nextToken } = await call("ListServices", { cluster: "berth", maxResults: 1 });
      for (const input of [
        { cluster: "berth", nextToken: "garbage" },
        { cluster: "berth", nextToken: Buffer.from('{"after":"x"}').toString("base64url") },
      ]) {
        expect(await refusal("ListServices", input)).toMatchObject({ name: "InvalidParameterException" });
      }
      expect(await refusal("ListTasks", { cluster: "berth", nextToken })).toMatchObject({
        name: "InvalidParameterException",
        message: "The specified nextToken is not valid.",
      });
      for (const maxResults of [0, 101]) {
        expect(await refusal("ListClusters", { maxResults })).toMatchObject({
          name: "InvalidParameterException",
        });
      }
    });

    it("lists task definitions, families, clusters and service deployments page by page", async () => {
      for (const family of ["pg-a", "pg-b", "pg-c"]) {
        for (let revision = 0; revision < 2; revision++) {
          await call("RegisterTaskDefinition", {
            family,
            containerDefinitions: [{ name: "app", image: "registry.example/x:1" }],
          });
        }
      }
      await call("DeregisterTaskDefinition", { taskDefinition: "pg-c:1" });
      await call("DeregisterTaskDefinition", { taskDefinition: "pg-c:2" });
      const pages = (await boto3(`
def collect(op, key, **kwargs):
    return [item for page in ecs.get_paginator(op).paginate(PaginationConfig={"PageSize": 2}, **kwargs) for item in page[key]]
print(json.dumps({
  "desc": collect("list_task_definitions", "taskDefinitionArns", familyPrefix="pg-", sort="DESC"),
  "families": collect("list_task_definition_families", "families", familyPrefix="pg-"),
  "active": collect("list_task_definition_families", "families", familyPrefix="pg-", status="ACTIVE"),
  "inactive": collect("list_task_definition_families", "families", familyPrefix="pg-", status="INACTIVE"),
  "clusters": collect("list_clusters", "clusterArns"),
}))
`)) as Record<string, string[]>;
      expect(pages.desc?.map((arn) => arn.split("/").pop())).toEqual([
        "pg-b:2",
        "pg-b:1",
        "pg-a:2",
        "pg-a:1",
      ]);
      expect(pages.families).toEqual(["pg-a", "pg-b", "pg-c"]);
      expect(pages.active).toEqual(["pg-a", "pg-b"]);
      expect(pages.inactive).toEqual(["pg-c"]);
      expect(pages.clusters).toEqual(["arn:aws:ecs:us-east-1:000000000000:cluster/berth"]);

      for (let index = 0; index < 3; index++) {
        await call("UpdateService", { cluster: "berth", service: "svc-00", forceNewDeployment: true });
      }
      const first = await call("ListServiceDeployments", {
        cluster: "berth",
        service: "svc-00",
        maxResults: 3,
      });
      const second = await call("ListServiceDeployments", {
        cluster: "berth",
        service: "svc-00",
        nextToken: first.nextToken,
      });
      const listed = [...(first.serviceDeployments as object[]), ...(second.serviceDeployments as object[])];
      expect(listed).toHaveLength(4);
      const arns = listed.map(
        (entry) => (entry as { targetServiceRevisionArn: string }).targetServiceRevisionArn,
      );
      expect(arns.every((arn) => arn.includes(":service-revision/berth/svc-00/"))).toBe(true);
    });

    it("the control plane's listings follow nextToken to the 11th item and beyond", async () => {
      const ecs = new ECSClient({ endpoint: local.awsEndpoint.url, region: "us-east-1", credentials });
      const tasks = await Ecs.listAllTasks(ecs, {
        cluster: "berth",
        startedBy: "paging",
        desiredStatus: "STOPPED",
        maxResults: 5,
      });
      expect(new Set(tasks).size).toBe(12);

      const iam = new IAMClient({ endpoint: local.awsEndpoint.url, region: "us-east-1", credentials });
      await iam.send(new CreateRoleCommand({ RoleName: "many-policies", AssumeRolePolicyDocument: TRUST }));
      for (let index = 0; index < 103; index++) {
        await iam.send(
          new PutRolePolicyCommand({
            RoleName: "many-policies",
            PolicyName: `p-${index}`,
            PolicyDocument: JSON.stringify({
              Version: "2012-10-17",
              Statement: [{ Effect: "Allow", Action: "s3:GetObject", Resource: "*" }],
            }),
          }),
        );
      }
      expect(new Set(await Iam.listAllRolePolicies(iam, "many-policies")).size).toBe(103);
    });
  });

  const TRUST = JSON.stringify({
    Version: "2012-10-17",
    Statement: [
      { Effect: "Allow", Principal: { Service: "ecs-tasks.amazonaws.com" }, Action: "sts:AssumeRole" },
    ],
  });

  describe("refusals", () => {
    it.each([
      [
        "an invalid Fargate cpu/memory pair",
        fargate("bad-size", { memory: "4096" }),
        /^No Fargate configuration exists for given values: 256 CPU, 4096 memory\. With 256 CPU, Fargate accepts 512, 1024, 2048 MiB\.$/,
      ],
      [
        "awslogs on Fargate without an execution role",
        fargate("no-role", {
          executionRoleArn: undefined,
          containerDefinitions: [
            container({
              logConfiguration: {
                logDriver: "awslogs",
                options: { "awslogs-group": "/x", "awslogs-region": "us-east-1" },
              },
            }),
          ],
        }),
        /^Fargate requires task definition to have execution role ARN to support log driver awslogs\.$/,
      ],
      [
        "hostPort other than containerPort in awsvpc",
        fargate("ports", {
          containerDefinitions: [container({ portMappings: [{ containerPort: 3000, hostPort: 8080 }] })],
        }),
        /host ports and container ports in port mappings must match/,
      ],
      [
        "no essential container",
        fargate("inessential", { containerDefinitions: [container({ essential: false })] }),
        /does not have any essential container/,
      ],
      ["Fargate without awsvpc", fargate("bridge", { networkMode: "bridge" }), /network mode 'awsvpc'/],
    ])("RegisterTaskDefinition refuses %s with ClientException", async (_what, input, message) => {
      const refused = await refusal("RegisterTaskDefinition", input);
      expect(refused.name).toBe("ClientException");
      expect(refused.message).toMatch(message);
    });

    it("RunTask, CreateService and UpdateService refuse awsvpc without a network and a load balancer's missing container", async () => {
      await call("RegisterTaskDefinition", fargate("placed"));
      const network = /^Network Configuration must be provided when networkMode 'awsvpc' is specified\.$/;
      const run = await refusal("RunTask", {
        cluster: "berth",
        taskDefinition: "placed",
        launchType: "FARGATE",
      });
      expect(run).toMatchObject({
        name: "InvalidParameterException",
        message: expect.stringMatching(network),
      });
      const create = await refusal("CreateService", {
        cluster: "berth",
        serviceName: "placed",
        taskDefinition: "placed",
        launchType: "FARGATE",
      });
      expect(create).toMatchObject({
        name: "InvalidParameterException",
        message: expect.stringMatching(network),
      });
      const balanced = await refusal("CreateService", {
        cluster: "berth",
        serviceName: "placed",
        taskDefinition: "placed",
        networkConfiguration: NETWORK,
        loadBalancers: [
          { targetGroupArn: "arn:aws:elasticloadbalancing:::tg", containerName: "api", containerPort: 3000 },
        ],
      });
      expect(balanced).toEqual({
        name: "InvalidParameterException",
        message: "The container api does not exist in the task definition.",
      });
      await call("CreateService", {
        cluster: "berth",
        serviceName: "placed",
        taskDefinition: "placed",
        desiredCount: 0,
        networkConfiguration: NETWORK,
      });
      const port = await refusal("UpdateService", {
        cluster: "berth",
        service: "placed",
        loadBalancers: [
          { targetGroupArn: "arn:aws:elasticloadbalancing:::tg", containerName: "web", containerPort: 9999 },
        ],
      });
      expect(port).toMatchObject({
        name: "InvalidParameterException",
        message: expect.stringContaining("9999"),
      });
      // Nothing of a refused request was kept.
      const { services } = await call("DescribeServices", { cluster: "berth", services: ["placed"] });
      expect((services as { loadBalancers: unknown[] }[])[0]?.loadBalancers).toEqual([]);
    });

    it("Berth's own rendered task definitions and services are accepted", async () => {
      const root = fileURLToPath(new URL("../../../..", import.meta.url));
      let registered = 0;
      for (const example of ["private-api", "multi-container", "worker-and-job"]) {
        const parsed = Spec.parse(readFileSync(join(root, "examples", example, "berth.yml"), "utf8"));
        if (!parsed.ok) throw new Error(`${example} does not parse`);
        const env = Render.localEnvironment(parsed.stack);
        for (const request of Render.renderStack(parsed.stack, env, { mode: "create" })) {
          if (request.operation !== "RegisterTaskDefinition") continue;
          await call("RegisterTaskDefinition", request.input as unknown as Record<string, unknown>);
          registered += 1;
        }
      }
      expect(registered).toBeGreaterThanOrEqual(3);
    });

    it("a task whose awslogs group does not exist fails as on Fargate; awslogs-create-group creates it", async () => {
      const logged = (group: string, create: boolean) =>
        fargate(`logged-${create}`, {
          containerDefinitions: [
            container({
              logConfiguration: {
                logDriver: "awslogs",
                options: {
                  "awslogs-group": group,
                  "awslogs-region": "us-east-1",
                  "awslogs-stream-prefix": "web",
                  ...(create ? { "awslogs-create-group": "true" } : {}),
                },
              },
            }),
          ],
        });
      await call("RegisterTaskDefinition", logged("/berth/missing", false));
      const { tasks } = await call("RunTask", {
        cluster: "berth",
        taskDefinition: "logged-false",
        networkConfiguration: NETWORK,
      });
      const arn = (tasks as { taskArn: string }[])[0]?.taskArn ?? "";
      const stopped = await taskOnceIn(arn, "STOPPED");
      expect(stopped.stopCode).toBe("TaskFailedToStart");
      expect(stopped.stoppedReason).toMatch(
        /^ResourceInitializationError: failed to validate logger args: .*The specified log group does not exist/,
      );
      expect(local.logs.hasGroup("/berth/missing")).toBe(false);

      await call("RegisterTaskDefinition", logged("/berth/created", true));
      const started = await call("RunTask", {
        cluster: "berth",
        taskDefinition: "logged-true",
        networkConfiguration: NETWORK,
      });
      expect(local.logs.hasGroup("/berth/created")).toBe(true);
      const createdArn = (started.tasks as { taskArn: string }[])[0]?.taskArn ?? "";
      await call("StopTask", { cluster: "berth", task: createdArn });
    });
  });

  describe("records", () => {
    it("a task passes through ECS's awsvpc statuses, with its ENI, overrides and executionStoppedAt", async () => {
      await call("RegisterTaskDefinition", fargate("lifecycle"));
      const { tasks } = await call("RunTask", {
        cluster: "berth",
        taskDefinition: "lifecycle",
        networkConfiguration: NETWORK,
        overrides: { containerOverrides: [{ name: "web", environment: [{ name: "VERSION", value: "v9" }] }] },
      });
      const task = (tasks as { taskArn: string }[])[0];
      const arn = task?.taskArn ?? "";
      const running = await taskOnceIn(arn, "RUNNING");
      expect(running.overrides).toEqual({
        containerOverrides: [{ name: "web", environment: [{ name: "VERSION", value: "v9" }] }],
        inferenceAcceleratorOverrides: [],
      });
      const attachment = (
        running.attachments as { type: string; status: string; details: { name: string; value: string }[] }[]
      )[0];
      expect(attachment?.type).toBe("ElasticNetworkInterface");
      expect(attachment?.status).toBe("ATTACHED");
      expect(attachment?.details).toContainEqual({ name: "subnetId", value: "subnet-0123456789abcdef0" });
      expect(attachment?.details.map((detail) => detail.name)).toEqual(
        expect.arrayContaining(["networkInterfaceId", "macAddress", "privateIPv4Address"]),
      );
      await call("StopTask", { cluster: "berth", task: arn });
      const stopped = await taskOnceIn(arn, "STOPPED");
      expect(stopped.executionStoppedAt).toBeTypeOf("number");
      expect(stopped.stoppedAt as number).toBeGreaterThanOrEqual(stopped.executionStoppedAt as number);
      const statuses = events
        .filter((event) => event["detail-type"] === "ECS Task State Change")
        .map((event) => event.detail as { taskArn: string; lastStatus: string })
        .filter((detail) => detail.taskArn === arn)
        .map((detail) => detail.lastStatus)
        .filter((status, index, all) => status !== all[index - 1]);
      const order = [
        "PROVISIONING",
        "PENDING",
        "ACTIVATING",
        "RUNNING",
        "DEACTIVATING",
        "STOPPING",
        "DEPROVISIONING",
        "STOPPED",
      ];
      // Each status at most once, in ECS's order, and all but PENDING (which a fast start may skip) seen.
      expect(statuses).toEqual(order.filter((status) => statuses.includes(status)));
      expect(statuses).toEqual(expect.arrayContaining(order.filter((status) => status !== "PENDING")));
    });

    it("service events count the tasks started and stopped", async () => {
      await call("RegisterTaskDefinition", fargate("counted"));
      await call("CreateService", {
        cluster: "berth",
        serviceName: "counted",
        taskDefinition: "counted",
        desiredCount: 3,
        networkConfiguration: NETWORK,
      });
      const messages = async () =>
        (
          (
            (await call("DescribeServices", { cluster: "berth", services: ["counted"] })).services as {
              events: { message: string }[];
            }[]
          )[0]?.events ?? []
        ).map((event) => event.message);
      await waitFor(
        "the service to be steady",
        async () =>
          (await messages()).some((message) => message.endsWith("has reached a steady state.")) || undefined,
      );
      expect(await messages()).toContainEqual(
        expect.stringMatching(
          /^\(service counted\) has started 3 tasks: \(task [0-9a-f]{32}\) \(task [0-9a-f]{32}\) \(task [0-9a-f]{32}\)\.$/,
        ),
      );
      await call("UpdateService", { cluster: "berth", service: "counted", desiredCount: 0 });
      await waitFor("the tasks to stop", async () =>
        (await messages()).find((message) =>
          /has stopped 3 running tasks: (\(task [0-9a-f]{32}\) ?){3}\.$/.test(message),
        ),
      );
      const { services } = await call("DescribeServices", { cluster: "berth", services: ["counted"] });
      const deployment = (services as { deployments: Record<string, unknown>[] }[])[0]?.deployments[0] ?? {};
      expect(Object.keys(deployment)).not.toContain("loadBalancers");
    });
  });

  describe("EC2 capacity", () => {
    const ecs = () =>
      new ECSClient({ endpoint: local.awsEndpoint.url, region: "us-east-1", credentials, maxAttempts: 1 });
    const strategy = [{ capacityProvider: "berth-local-ec2", weight: 1 }];
    const onC5 = [{ type: "memberOf" as const, expression: "attribute:ecs.instance-type in [c5.large]" }];
    const started: string[] = [];

    /** An EC2 task definition of the test app reserving `cpu` units and `memory` MiB. */
    async function ec2Definition(family: string, cpu: string, memory: string) {
      await call("RegisterTaskDefinition", {
        family,
        networkMode: "awsvpc",
        requiresCompatibilities: ["EC2"],
        cpu,
        memory,
        containerDefinitions: [container({ portMappings: [{ containerPort: 3000 }] })],
      });
    }

    /** The container instances as DescribeContainerInstances answers them (raw, for the contract check). */
    async function instances() {
      const { containerInstanceArns } = await call("ListContainerInstances", { cluster: "berth" });
      const arns = containerInstanceArns as string[];
      if (arns.length === 0) return [];
      const { containerInstances } = await call("DescribeContainerInstances", {
        cluster: "berth",
        containerInstances: arns,
      });
      return (containerInstances as Record<string, unknown>[]).map((instance) => {
        const amount = (list: unknown, name: string) =>
          (list as { name: string; integerValue: number }[]).find((resource) => resource.name === name)
            ?.integerValue;
        return {
          arn: instance.containerInstanceArn as string,
          type: (instance.attributes as { name: string; value?: string }[]).find(
            (attribute) => attribute.name === "ecs.instance-type",
          )?.value,
          cpu: amount(instance.registeredResources, "CPU"),
          memory: amount(instance.registeredResources, "MEMORY"),
          remainingCpu: amount(instance.remainingResources, "CPU"),
          remainingMemory: amount(instance.remainingResources, "MEMORY"),
          running: instance.runningTasksCount,
        };
      });
    }

    beforeAll(async () => {
      await ec2Definition("ec2-small", "512", "1024");
      await ec2Definition("ec2-large", "1024", "3000");
      await ec2Definition("ec2-too-many-cpus", "4096", "1024");
      await ec2Definition("ec2-too-much-memory", "1024", "8192");
    });
    afterAll(async () => {
      for (const task of started) await call("StopTask", { cluster: "berth", task });
    });

    it("the cluster has an EC2 capacity provider with managed scaling beside Fargate's", async () => {
      const client = ecs();
      const { capacityProviders = [] } = await client.send(new DescribeCapacityProvidersCommand({}));
      expect(capacityProviders.map((provider) => provider.name)).toEqual([
        "FARGATE",
        "FARGATE_SPOT",
        "berth-local-ec2",
      ]);
      expect(capacityProviders[2]?.autoScalingGroupProvider?.managedScaling).toMatchObject({
        status: "ENABLED",
        targetCapacity: 100,
      });
      const { clusters = [] } = await client.send(new DescribeClustersCommand({ clusters: ["berth"] }));
      expect(clusters[0]?.capacityProviders).toContain("berth-local-ec2");
      const { failures } = await call("DescribeCapacityProviders", { capacityProviders: ["nope"] });
      expect(failures).toEqual([
        { arn: "arn:aws:ecs:us-east-1:000000000000:capacity-provider/nope", reason: "MISSING" },
      ]);
      client.destroy();
    });

    it("binpacks tasks on memory onto instances sized from the instance type, scales out when none fits and releases what a stopped task held", async () => {
      const client = ecs();
      expect(await instances()).toEqual([]);
      const pair = await client.send(
        new RunTaskCommand({
          cluster: "berth",
          taskDefinition: "ec2-small",
          count: 2,
          capacityProviderStrategy: strategy,
          placementConstraints: onC5,
          placementStrategy: [{ type: "binpack", field: "memory" }],
          networkConfiguration: NETWORK,
        }),
      );
      expect(pair.failures).toEqual([]);
      const [first, second] = pair.tasks ?? [];
      started.push(first?.taskArn ?? "", second?.taskArn ?? "");
      expect(first).toMatchObject({ launchType: "EC2", capacityProviderName: "berth-local-ec2" });
      expect(first?.platformVersion).toBeUndefined();
      // Both on one c5.large: 2 vCPUs and 91 % of its 4 GiB registered.
      expect(second?.containerInstanceArn).toBe(first?.containerInstanceArn);
      await taskOnceIn(first?.taskArn ?? "", "RUNNING");
      await taskOnceIn(second?.taskArn ?? "", "RUNNING");
      expect(await instances()).toEqual([
        {
          arn: first?.containerInstanceArn,
          type: "c5.large",
          cpu: 2048,
          memory: 3727,
          remainingCpu: 1024,
          remainingMemory: 3727 - 2048,
          running: 2,
        },
      ]);

      // 3000 MiB fits no running instance: managed scaling starts a second c5.large.
      const large = await client.send(
        new RunTaskCommand({
          cluster: "berth",
          taskDefinition: "ec2-large",
          capacityProviderStrategy: strategy,
          placementConstraints: onC5,
          networkConfiguration: NETWORK,
        }),
      );
      const bigTask = large.tasks?.[0];
      started.push(bigTask?.taskArn ?? "");
      expect(bigTask?.containerInstanceArn).toBeDefined();
      expect(bigTask?.containerInstanceArn).not.toBe(first?.containerInstanceArn);
      expect((await instances()).map((instance) => instance.remainingMemory).sort()).toEqual([1679, 727]);

      // A stopped task gives its share back; the instance keeps running its other task.
      await client.send(new StopTaskCommand({ cluster: "berth", task: first?.taskArn ?? "" }));
      await taskOnceIn(first?.taskArn ?? "", "STOPPED");
      const afterStop = await instances();
      expect(afterStop.find((instance) => instance.arn === first?.containerInstanceArn)).toMatchObject({
        remainingCpu: 1536,
        remainingMemory: 3727 - 1024,
        running: 1,
      });
      // The next small task binpacks onto the fuller instance (least memory left that still fits).
      const packed = await client.send(
        new RunTaskCommand({
          cluster: "berth",
          taskDefinition: "ec2-small",
          capacityProviderStrategy: strategy,
          placementConstraints: onC5,
          networkConfiguration: NETWORK,
        }),
      );
      started.push(packed.tasks?.[0]?.taskArn ?? "");
      expect(packed.tasks?.[0]?.containerInstanceArn).toBe(first?.containerInstanceArn);
      const listed = await client.send(new ListContainerInstancesCommand({ cluster: "berth" }));
      expect(listed.containerInstanceArns).toHaveLength(2);
      client.destroy();
    });

    it("refuses a task no instance type can hold with ECS's RESOURCE reason, and a service's with its event", async () => {
      const client = ecs();
      for (const [taskDefinition, reason] of [
        ["ec2-too-many-cpus", "RESOURCE:CPU"],
        ["ec2-too-much-memory", "RESOURCE:MEMORY"],
      ] as const) {
        const answer = await client.send(
          new RunTaskCommand({
            cluster: "berth",
            taskDefinition,
            capacityProviderStrategy: strategy,
            placementConstraints: onC5,
            networkConfiguration: NETWORK,
          }),
        );
        expect(answer.tasks).toEqual([]);
        expect(answer.failures?.map((failure) => failure.reason)).toEqual([reason]);
      }
      const before = events.length;
      await call("CreateService", {
        cluster: "berth",
        serviceName: "ec2-unplaceable",
        taskDefinition: "ec2-too-many-cpus",
        desiredCount: 1,
        capacityProviderStrategy: strategy,
        placementConstraints: onC5,
        networkConfiguration: NETWORK,
      });
      const placementEvent = await waitFor("a placement failure event", async () =>
        events
          .slice(before)
          .find(
            (event) =>
              event["detail-type"] === "ECS Service Action" &&
              (event.detail as { eventName?: string }).eventName === "SERVICE_TASK_PLACEMENT_FAILURE",
          ),
      );
      expect(placementEvent.detail).toMatchObject({ eventType: "ERROR", reason: "RESOURCE:CPU" });
      const { services = [] } = await client.send(
        new DescribeServicesCommand({ cluster: "berth", services: ["ec2-unplaceable"] }),
      );
      expect(services[0]?.events?.map((event) => event.message)).toContainEqual(
        expect.stringMatching(
          /^\(service ec2-unplaceable\) was unable to place a task because no container instance met all of its requirements\. .*4096 CPU units/,
        ),
      );
      expect(services[0]?.runningCount).toBe(0);
      await call("DeleteService", { cluster: "berth", service: "ec2-unplaceable", force: true });
      client.destroy();
    });

    it("refuses a capacity provider the cluster lacks, a launch type beside a strategy and a public IP on EC2", async () => {
      const base = { cluster: "berth", taskDefinition: "ec2-small", networkConfiguration: NETWORK };
      expect(
        await refusal("RunTask", { ...base, capacityProviderStrategy: [{ capacityProvider: "elsewhere" }] }),
      ).toEqual({
        name: "InvalidParameterException",
        message: expect.stringContaining("not associated with the cluster"),
      });
      expect(
        await refusal("RunTask", { ...base, launchType: "EC2", capacityProviderStrategy: strategy }),
      ).toEqual({
        name: "InvalidParameterException",
        message: expect.stringContaining("Specifying both a launch type and capacity provider strategy"),
      });
      expect(
        await refusal("RunTask", {
          ...base,
          launchType: "EC2",
          networkConfiguration: {
            awsvpcConfiguration: { subnets: ["subnet-0123456789abcdef0"], assignPublicIp: "ENABLED" },
          },
        }),
      ).toEqual({
        name: "InvalidParameterException",
        message: "Assign public IP is not supported for this launch type.",
      });
      expect(
        await refusal("CreateCluster", { clusterName: "other", capacityProviders: ["nope"] }),
      ).toMatchObject({
        name: "InvalidParameterException",
      });
    });
  });

  describe("contract: every operation's answer against botocore's output shape", () => {
    it("covers every operation Berth Local serves, and botocore finds nothing wrong", async () => {
      // The rest of the answers were collected by the tests above; these fill in what they did not call.
      await call("DescribeClusters", { clusters: ["berth", "missing"] });
      await call("ListClusters", {});
      await call("ListTasks", { cluster: "berth", desiredStatus: "STOPPED", maxResults: 2 });
      await call("ListTaskDefinitions", { familyPrefix: "pg-", maxResults: 2 });
      await call("ListTaskDefinitionFamilies", { status: "ALL", maxResults: 2 });
      await call("DescribeTaskDefinition", { taskDefinition: "counted", include: ["TAGS"] });
      await call("TagResource", {
        resourceArn: "arn:aws:ecs:us-east-1:000000000000:cluster/berth",
        tags: [{ key: "team", value: "a" }],
      });
      await call("ListTagsForResource", { resourceArn: "arn:aws:ecs:us-east-1:000000000000:cluster/berth" });
      await call("CreateService", {
        cluster: "berth",
        serviceName: "rolled",
        taskDefinition: "counted",
        desiredCount: 0,
        networkConfiguration: NETWORK,
      });
      const { serviceDeployments } = await call("ListServiceDeployments", {
        cluster: "berth",
        service: "rolled",
      });
      const rolled = (serviceDeployments as { serviceDeploymentArn: string }[])[0]?.serviceDeploymentArn;
      // A service of no tasks completes its deployment on the engine's next pass, not in CreateService.
      const { serviceDeployments: described, failures } = await waitFor(
        "the service deployment of no tasks to complete",
        async () => {
          const answer = await call("DescribeServiceDeployments", {
            serviceDeploymentArns: [rolled, `${rolled}0`],
          });
          const status = (answer.serviceDeployments as { status?: string }[] | undefined)?.[0]?.status;
          return status === "IN_PROGRESS" || status === "PENDING" ? undefined : answer;
        },
      );
      expect(described).toMatchObject([{ serviceDeploymentArn: rolled, status: "SUCCESSFUL" }]);
      expect(failures).toEqual([{ arn: `${rolled}0`, reason: "MISSING" }]);
      // A service deployment that completed cannot be stopped.
      expect(
        await refusal("StopServiceDeployment", { serviceDeploymentArn: rolled, stopType: "ROLLBACK" }),
      ).toMatchObject({ name: "ConflictException" });
      await call("UpdateService", { cluster: "berth", service: "rolled", desiredCount: 0 });
      await call("DeleteService", { cluster: "berth", service: "rolled" });
      await call("CreateCluster", { clusterName: "spare" });
      await call("DeleteCluster", { cluster: "spare" });
      await call("RegisterTaskDefinition", {
        family: "gone",
        containerDefinitions: [{ name: "a", image: "x" }],
      });
      await call("DeregisterTaskDefinition", { taskDefinition: "gone:1" });

      const served = Object.keys(ecsService({} as EcsEngine).operations).sort();
      const answered = [...new Set(answers.map((answer) => answer.operation))].sort();
      // StopServiceDeployment's success needs a rollout in progress: alb-shift.test.ts drives it.
      expect(answered).toEqual(served.filter((operation) => operation !== "StopServiceDeployment"));
      const problems = responseProblems("ecs", answers)
        .map((found, index) => ({ operation: answers[index]?.operation, found }))
        .filter((entry) => entry.found.length > 0);
      expect(problems).toEqual([]);
    });

    it("the check finds unknown members, wrong types, bad enums and missing required members", () => {
      const [unknown, wrongType, badEnum] = responseProblems("ecs", [
        { operation: "ListServices", output: { serviceArns: [], loadBalancers: [] } },
        { operation: "DescribeTasks", output: { tasks: [{ version: "1" }] } },
        { operation: "DescribeTasks", output: { tasks: [{ lastStatus: "ACTIVE", launchType: "LAMBDA" }] } },
      ]);
      expect(unknown?.join("\n")).toContain("loadBalancers");
      expect(wrongType?.join("\n")).toContain("version");
      expect(badEnum?.join("\n")).toContain("LAMBDA");
    });
  });
});

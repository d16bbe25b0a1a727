import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ApiGatewayV2Client, GetApisCommand, GetRoutesCommand } from "@aws-sdk/client-apigatewayv2";
import { ApplicationAutoScalingClient } from "@aws-sdk/client-application-auto-scaling";
import { CloudWatchLogsClient } from "@aws-sdk/client-cloudwatch-logs";
import { ECRClient } from "@aws-sdk/client-ecr";
import { DescribeServicesCommand, ECSClient } from "@aws-sdk/client-ecs";
import {
  DescribeListenersCommand,
  DescribeLoadBalancersCommand,
  DescribeRulesCommand,
  DescribeTargetGroupsCommand,
  ElasticLoadBalancingV2Client,
  ModifyListenerCommand,
} from "@aws-sdk/client-elastic-load-balancing-v2";
import { IAMClient } from "@aws-sdk/client-iam";
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { ListServicesCommand, ServiceDiscoveryClient } from "@aws-sdk/client-servicediscovery";
import { SFNClient } from "@aws-sdk/client-sfn";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readSettings } from "../packages/core/src/config.ts";
import {
  deploymentCompleted,
  taskStopped,
} from "../packages/core/src/deployments/__fixtures__/ecs-events.ts";
import { Deployment, JobRun } from "../packages/core/src/deployments/index.ts";
import { Rollout } from "../packages/core/src/deployments/rollout/index.ts";
import { updateSpec } from "../packages/core/src/deployments/service.ts";
import { Spec } from "../packages/core/src/spec/index.ts";
import {
  DeploymentEventRecord,
  DeploymentRecord,
  ServiceRecord,
  StackRecord,
  WaitRecord,
} from "../packages/core/src/store/index.ts";
import { type LocalTable, startLocalTable } from "../packages/core/src/store/test-support.ts";
import { type BerthLocal, startBerthLocal } from "../packages/local/src/berth-local.ts";
import { localInstallation } from "../packages/local/src/installation.ts";
import { appPackaging, httpApp, waitFor } from "./support/apps.ts";
import { type ContractRequest, invalidRequests, recordingInto } from "./support/botocore.ts";

/**
 * Every request the workflow steps send, checked against AWS's own service models: the steps
 * run against Berth Local's endpoints through real SDK clients, each wrapped to record what it
 * sends (the request still goes through), then botocore's ParamValidator judges the records.
 */
let table: LocalTable;
let local: BerthLocal;
const recorded: ContractRequest[] = [];

function recording<T extends object>(service: string, client: T): T {
  return recordingInto(recorded, service, client);
}

/** What each request recorded since `start` asked for, as `service:Operation`. */
function operationsSince(start: number): string[] {
  return recorded.slice(start).map((request) => `${request.service}:${request.operation}`);
}

/** The requests recorded since `start` include each of `expected`, and AWS's models find every one valid. */
function expectValidSince(start: number, expected: readonly string[] = []): void {
  const operations = new Set(operationsSince(start));
  for (const operation of expected) expect([...operations]).toContain(operation);
  expect(invalidRequests(recorded.slice(start))).toEqual([]);
}

beforeAll(async () => {
  table = await startLocalTable();
  local = await startBerthLocal({
    dataDir: mkdtempSync(join(tmpdir(), "berth-step-requests-")),
    awsPort: 0,
    timedSchedules: false,
  });
});
afterAll(async () => {
  await local?.close();
  await table?.stop();
});

/** Stores a stack file and its compute resources as services, as an apply does. */
async function storeStack(stack: string, stackFile: string): Promise<void> {
  await StackRecord.put(table.store, { name: stack, stage: "local", stackFile });
  const parsed = Spec.parse(stackFile);
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
  for (const [name, resource] of Object.entries(parsed.stack.resources)) {
    if (!Spec.isCompute(resource)) continue;
    await ServiceRecord.create(table.store, { stack, name, spec: resource as Record<string, unknown> });
  }
}

/** A requested deployment of a service, as a step's input. */
async function requestInput(stack: string, service: string, hashDigit: string) {
  const requested = await Deployment.requestDeployment(table.store, {
    stack,
    service,
    trigger: "api",
    specHash: hashDigit.repeat(64),
  });
  return { deploymentId: requested.deployment.id, stack, service };
}

/** apply-service's answer for a service: the ECS deployment to wait for. */
function ecsDeployment(applied: Rollout.AppliedService | Rollout.RegisteredJob): Rollout.AppliedService {
  if ("outcome" in applied) throw new Error(`expected an ECS deployment, got ${JSON.stringify(applied)}`);
  return applied;
}

/** Deletes a service's ECS service, waiting while ECS drains it (`Berth.ServiceDraining`). */
async function deleteDrained(
  ctx: Rollout.StepContext,
  deletion: Rollout.StepInput,
  what: string,
  timeoutMs?: number,
) {
  return waitFor(
    what,
    async () =>
      Rollout.deleteService(ctx, deletion).catch((error: Error) => {
        if (error.name !== "Berth.ServiceDraining") throw error;
        return undefined;
      }),
    timeoutMs,
  );
}

/** What load-deployment answered when it applied the deployment itself: the ECS deployment to wait for. */
function appliedBy(loaded: Rollout.LoadedDeployment): Rollout.AppliedService {
  if (!loaded.applied) throw new Error(`load-deployment applied nothing: ${JSON.stringify(loaded)}`);
  return ecsDeployment(loaded.applied);
}

/** Loads, prepares and applies a service's deployment, then ends it so the next one may start. */
async function deployThrough(ctx: Rollout.StepContext, stack: string, service: string, hashDigit: string) {
  const input = await requestInput(stack, service, hashDigit);
  await Rollout.loadDeployment(ctx, input);
  const prepared = await Rollout.prepareResources(ctx, { ...input, builds: [] });
  ecsDeployment(await Rollout.applyService(ctx, { ...input, resources: prepared }));
  await Rollout.finalize(ctx, { ...input, outcome: { status: "SUCCEEDED", reason: "applied" } });
  await Deployment.releaseService(table.store, stack, service, input.deploymentId);
  return input;
}

/** What `run` asked for, as `service:Operation`. */
async function operationsDuring(run: () => Promise<unknown>): Promise<string[]> {
  const before = recorded.length;
  await run();
  return operationsSince(before);
}

/** A web-service behind its own application load balancer, deploying with `strategy` if given. */
function balancedWebService(image: string, strategy?: string): string {
  return `
resources:
  web:
    type: web-service
    properties:
      packaging: ${JSON.stringify(appPackaging(image))}
      resources: { cpu: 0.25, memory: 512 }
      loadBalancing: { type: application-load-balancer }
${strategy ? `      deployment: { strategy: ${strategy} }\n` : ""}`;
}

/** The ECS service as DescribeServices answers it. */
async function ecsServiceOf(ctx: Rollout.StepContext, ecsService: string) {
  const { services } = await ctx.clients.ecs.send(
    new DescribeServicesCommand({ cluster: ctx.settings.cluster, services: [ecsService] }),
  );
  return services?.[0];
}

/** Deploys a service's spec as it is, waits until ECS completed it, and ends it as the last good one. */
async function deployToCompletion(ctx: Rollout.StepContext, stack: string, service: string, digit: string) {
  const input = await requestInput(stack, service, digit);
  await Rollout.loadDeployment(ctx, input);
  const prepared = await Rollout.prepareResources(ctx, { ...input, builds: [] });
  const applied = ecsDeployment(await Rollout.applyService(ctx, { ...input, resources: prepared }));
  await waitFor(`deployment ${digit} of ${stack}/${service} to complete`, async () => {
    const found = (await ecsServiceOf(ctx, applied.ecsService))?.deployments?.find(
      (deployment) => deployment.id === applied.ecsDeploymentId,
    );
    return found?.rolloutState === "COMPLETED" ? true : undefined;
  });
  const outcome = {
    status: "SUCCEEDED" as const,
    reason: "applied",
    taskDefinitionArn: applied.taskDefinitionArn,
  };
  await Rollout.finalize(ctx, { ...input, outcome });
  await Deployment.releaseService(table.store, stack, service, input.deploymentId);
  return applied;
}

function context(): Rollout.StepContext {
  const aws = {
    endpoint: local.awsEndpoint.url,
    region: "us-east-1",
    credentials: { accessKeyId: "berth-local", secretAccessKey: "berth-local" },
  };
  const installation = localInstallation({ account: "000000000000", region: "us-east-1" });
  return {
    store: table.store,
    settings: readSettings({ ...installation.functionEnvironment, AWS_REGION: "us-east-1" }),
    clients: {
      ecs: recording("ecs", new ECSClient(aws)),
      logs: recording("logs", new CloudWatchLogsClient(aws)),
      iam: recording("iam", new IAMClient(aws)),
      autoscaling: recording("application-autoscaling", new ApplicationAutoScalingClient(aws)),
      secrets: recording("secretsmanager", new SecretsManagerClient(aws)),
      ecr: recording("ecr", new ECRClient(aws)),
      sfn: recording("stepfunctions", new SFNClient(aws)),
      apiGateway: recording("apigatewayv2", new ApiGatewayV2Client(aws)),
      serviceDiscovery: recording("servicediscovery", new ServiceDiscoveryClient(aws)),
      elb: recording("elbv2", new ElasticLoadBalancingV2Client(aws)),
    },
  };
}

describe("the requests of the workflow steps", () => {
  it("are valid for AWS's service models, from preflight to a fail-fast rollback and a deletion", async () => {
    const app = httpApp();
    const stackFile = `
resources:
  api:
    type: private-service
    properties:
      packaging: ${JSON.stringify(appPackaging(app.image))}
      resources: { cpu: 0.25, memory: 512 }
      environment:
        - name: VERSION
          value: v1
      scaling: { minInstances: 1, maxInstances: 2 }
      iamRoleStatements:
        - Action: ["s3:GetObject"]
          Resource: ["arn:aws:s3:::shop-assets/*"]
      internalHealthCheck:
        healthCheckCommand: ["CMD", "node", "-e", "process.exit(0)"]
        intervalSeconds: 5
        timeoutSeconds: 2
        retries: 1
  web:
    type: worker-service
    properties:
      packaging:
        type: prebuilt-image
        properties:
          image: berth.local/berth/shop/web@sha256:${"0".repeat(64)}
      resources: { cpu: 0.25, memory: 512 }
      connectTo: [api]
  report:
    type: batch-job
    properties:
      container:
        packaging:
          type: prebuilt-image
          properties:
            image: berth.local/berth/shop/report@sha256:${"1".repeat(64)}
      resources: { cpu: 0.25, memory: 512 }
      timeout: 300
      retryConfig: { attempts: 3, retryIntervalSeconds: 5, retryIntervalMultiplier: 2 }
`;
    const ctx = context();
    await storeStack("shop", stackFile);
    const input = (service: string) => requestInput("shop", service, "a");

    // An image that does not exist, and a dependency nothing deploys: refused, by ECR's answer.
    const web = await input("web");
    const refused = await Rollout.preflight(ctx, web).then(
      () => undefined,
      (error: Error) => error,
    );
    expect(refused?.name).toBe("Berth.PreflightFailed");
    expect(refused?.message).toContain("(container web) does not exist");
    expect(refused?.message).toContain("web connects to api, which is neither deployed nor being deployed");
    const api = await input("api");
    const loaded = await Rollout.loadDeployment(ctx, api);
    expect(loaded.build.needed).toBe(false);
    await Rollout.preflight(ctx, api);
    const prepared = await Rollout.prepareResources(ctx, { ...api, builds: [] });
    const applied = ecsDeployment(await Rollout.applyService(ctx, { ...api, resources: prepared }));
    const ecs = new ECSClient({
      endpoint: local.awsEndpoint.url,
      region: "us-east-1",
      credentials: { accessKeyId: "b", secretAccessKey: "b" },
    });
    await waitFor("the first revision's ECS deployment to complete", async () => {
      const { services = [] } = await ecs.send(
        new DescribeServicesCommand({ cluster: "berth", services: [applied.ecsService] }),
      );
      const deployment = services[0]?.deployments?.find(
        (candidate) => candidate.id === applied.ecsDeploymentId,
      );
      return deployment?.rolloutState === "COMPLETED" ? true : undefined;
    });
    ecs.destroy();
    // ECS completed the rollout: the stability window starts, and advance-wait's check decides.
    const stabilizing = await Rollout.reconcile(ctx, { ...api, applied });
    expect(stabilizing.status).toBe("STABILIZING");
    const outcome = await Rollout.advanceWait(ctx, { ...api, applied });
    expect(outcome.status).toBe("SUCCEEDED");
    await Rollout.finalize(ctx, { ...api, outcome });
    await Deployment.releaseService(table.store, "shop", "api", api.deploymentId);

    // A second revision whose tasks fail: the handler's rollback is an UpdateService too.
    const second = await input("api");
    await Rollout.loadDeployment(ctx, second);
    const secondPrepared = await Rollout.prepareResources(ctx, { ...second, builds: [] });
    const secondApplied = ecsDeployment(
      await Rollout.applyService(ctx, { ...second, resources: secondPrepared }),
    );
    const wait = await WaitRecord.get(table.store, "berth", secondApplied.ecsService);
    if (!wait) throw new Error("no wait for the second revision");
    for (const task of ["a", "b"]) {
      await Rollout.handleEcsEvent(
        ctx,
        taskStopped(wait, task, { containers: [{ name: "api", exitCode: 1 }] }),
      );
    }
    expect((await WaitRecord.get(table.store, "berth", secondApplied.ecsService))?.phase).toBe(
      "rolling-back",
    );

    await expect(Rollout.preflight(ctx, web)).rejects.toMatchObject({ name: "Berth.PreflightFailed" });
    const deletion = await input("api");
    await deleteDrained(ctx, deletion, "the deletion to drain the service");

    // A batch job: its run state machine is created, then updated by the next deployment.
    for (let round = 0; round < 2; round += 1) {
      const job = await input("report");
      await Rollout.loadDeployment(ctx, job);
      const prepared = await Rollout.prepareResources(ctx, { ...job, builds: [] });
      const registered = await Rollout.applyService(ctx, { ...job, resources: prepared });
      if (!("outcome" in registered)) throw new Error("a batch job answered an ECS deployment");
      expect(registered.outcome.status).toBe("SUCCEEDED");
      await Rollout.finalize(ctx, { ...job, outcome: registered.outcome });
      await Deployment.releaseService(table.store, "shop", "report", job.deploymentId);
    }
    // The API's job runs: started with overrides, listed, read with their history.
    const runs = { store: table.store, sfn: ctx.clients.sfn };
    const run = await JobRun.start(runs, {
      stack: "shop",
      job: "report",
      command: ["node", "report.js"],
      environment: { DAYS: "1" },
    });
    expect((await JobRun.list(runs, { stack: "shop", job: "report", limit: 5 })).runs[0]?.id).toBe(run.id);
    expect((await JobRun.describe(runs, { stack: "shop", job: "report", id: run.id })).id).toBe(run.id);
    await Rollout.deleteService(ctx, await input("report"));

    expectValidSince(0, [
      "ecr:DescribeImages",
      "logs:CreateLogGroup",
      "logs:PutRetentionPolicy",
      "iam:GetRole",
      "iam:CreateRole",
      "iam:PutRolePolicy",
      "ecs:RegisterTaskDefinition",
      "ecs:DescribeServices",
      "ecs:ListTasks",
      "ecs:DescribeTasks",
      "ecs:CreateService",
      "ecs:UpdateService",
      "application-autoscaling:RegisterScalableTarget",
      "application-autoscaling:PutScalingPolicy",
      "logs:GetLogEvents",
      "application-autoscaling:DeregisterScalableTarget",
      "ecs:DeleteService",
      "iam:ListRolePolicies",
      "iam:DeleteRolePolicy",
      "iam:DeleteRole",
      "stepfunctions:CreateStateMachine",
      "stepfunctions:UpdateStateMachine",
      "stepfunctions:DeleteStateMachine",
      "stepfunctions:StartExecution",
      "stepfunctions:ListExecutions",
      "stepfunctions:DescribeExecution",
      "stepfunctions:GetExecutionHistory",
    ]);
  });

  it("are valid when load-deployment applies a deploy that builds nothing in its own step; a refused one changes nothing", async () => {
    const from = recorded.length;
    const app = httpApp();
    const stackFile = `
resources:
  solo:
    type: private-service
    properties:
      packaging: ${JSON.stringify(appPackaging(app.image))}
      resources: { cpu: 0.25, memory: 512 }
  locked:
    type: worker-service
    properties:
      packaging: ${JSON.stringify(appPackaging(app.image))}
      resources: { cpu: 0.25, memory: 512 }
      environment:
        - name: TOKEN
          value: $Secret('solo-missing-token')
`;
    const ctx = context();
    await storeStack("solo", stackFile);

    // A deploy that builds nothing: registered and applied by load-deployment, as apply-service would.
    const first = await requestInput("solo", "solo", "e");
    const loaded = await Rollout.loadDeployment(ctx, { ...first, preflight: true, apply: true });
    expect(loaded.build.needed).toBe(false);
    const applied = appliedBy(loaded);
    expect(applied.created).toBe(true);
    expect(operationsSince(from)).toEqual(
      expect.arrayContaining([
        "ecs:DescribeServices",
        "iam:GetRole",
        "iam:CreateRole",
        "logs:CreateLogGroup",
        "ecs:RegisterTaskDefinition",
        "ecs:CreateService",
      ]),
    );
    const events = (await DeploymentEventRecord.all(table.store, first.deploymentId)).map(
      (event) => event.type,
    );
    // Started, then registered and applied, the registration recorded before the service update.
    expect(events.indexOf("task-definition")).toBeGreaterThan(events.indexOf("status"));
    expect(events.indexOf("service-updated")).toBeGreaterThan(events.indexOf("task-definition"));
    expect((await DeploymentRecord.get(table.store, first.deploymentId))?.status).toBe("DEPLOYING");
    expect((await ServiceRecord.get(table.store, "solo", "solo"))?.liveTaskDefinitionArn).toBe(
      applied.taskDefinitionArn,
    );
    const wait = await WaitRecord.get(table.store, "berth", applied.ecsService);
    expect(wait).toMatchObject({
      deploymentId: first.deploymentId,
      ecsDeploymentId: applied.ecsDeploymentId,
    });
    // A retried step finds the deployment started and applies it again: a new ECS deployment to wait for.
    const retried = appliedBy(await Rollout.loadDeployment(ctx, { ...first, preflight: true, apply: true }));
    expect(retried.created).toBe(false);
    expect(retried.ecsDeploymentId).not.toBe(applied.ecsDeploymentId);
    await Rollout.finalize(ctx, { ...first, outcome: { status: "SUCCEEDED", reason: "applied" } });
    await Deployment.releaseService(table.store, "solo", "solo", first.deploymentId);

    // A secret that does not exist: refused by the preflight checks before anything is created.
    const beforeRefused = recorded.length;
    const refused = await requestInput("solo", "locked", "f");
    await expect(
      Rollout.loadDeployment(ctx, { ...refused, preflight: true, apply: true }),
    ).rejects.toMatchObject({
      name: "Berth.PreflightFailed",
      message: expect.stringContaining("solo-missing-token"),
    });
    const changes = operationsSince(beforeRefused).filter((operation) =>
      /:(Create|Put|Update|Register|Tag)/.test(operation),
    );
    expect(changes).toEqual([]);
    const refusedEvents = await DeploymentEventRecord.all(table.store, refused.deploymentId);
    expect(refusedEvents.map((event) => event.type)).not.toContain("task-definition");
    expect((await ServiceRecord.get(table.store, "solo", "locked"))?.liveTaskDefinitionArn).toBeUndefined();
    await Rollout.finalize(ctx, { ...refused, error: { Error: "Berth.PreflightFailed", Cause: "refused" } });
    await Deployment.releaseService(table.store, "solo", "locked", refused.deploymentId);

    const deletion = await requestInput("solo", "solo", "0");
    await deleteDrained(ctx, deletion, "the deletion to drain the service");
    expectValidSince(from);
  });

  it("are valid for AWS's service models for HTTP API gateways: created with a web service and a workload's routes, then removed", async () => {
    const from = recorded.length;
    const app = httpApp();
    const stackFile = `
resources:
  site:
    type: web-service
    properties:
      packaging: ${JSON.stringify(appPackaging(app.image))}
      resources: { cpu: 0.25, memory: 512 }
      cors: { enabled: true, allowedOrigins: ["https://shop.example"] }
  edge:
    type: http-api-gateway
  shop:
    type: multi-container-workload
    properties:
      resources: { cpu: 0.25, memory: 512 }
      containers:
        - name: app
          packaging: ${JSON.stringify(appPackaging(app.image))}
          events:
            - type: http-api-gateway
              properties: { httpApiGatewayName: edge, containerPort: 3000, method: GET, path: "/items/{id}" }
            - type: http-api-gateway
              properties: { httpApiGatewayName: edge, containerPort: 3000, method: "*", path: "/api/{proxy+}" }
`;
    const ctx = context();
    await storeStack("pub", stackFile);
    const deploy = (service: string) => deployThrough(ctx, "pub", service, "b");
    const site = await deploy("site");
    const shop = await deploy("shop");
    // Deployed again: everything is found, nothing created twice.
    const again = await operationsDuring(() => deploy("site"));
    expect(
      again.filter((operation) =>
        /^(apigatewayv2|servicediscovery|ecs):(Create|Update|Delete)/.test(operation),
      ),
    ).toEqual(["ecs:UpdateService"]);
    const { Items: apis = [] } = await ctx.clients.apiGateway.send(new GetApisCommand({}));
    expect(apis.map((api) => api.Name).sort()).toEqual(["berth-pub-edge", "berth-pub-site"]);
    const edge = apis.find((api) => api.Name === "berth-pub-edge");
    const { Items: routes = [] } = await ctx.clients.apiGateway.send(
      new GetRoutesCommand({ ApiId: edge?.ApiId }),
    );
    expect(routes.map((route) => route.RouteKey).sort()).toEqual(["ANY /api/{proxy+}", "GET /items/{id}"]);

    for (const input of [site, shop]) {
      const deletion = await requestInput("pub", input.service, "c");
      await deleteDrained(ctx, deletion, `the deletion of ${input.service}`);
    }
    const { Items: left = [] } = await ctx.clients.apiGateway.send(new GetApisCommand({}));
    expect(left.filter((api) => api.Name?.startsWith("berth-pub-"))).toEqual([]);
    const { Services: registries = [] } = await ctx.clients.serviceDiscovery.send(
      new ListServicesCommand({}),
    );
    expect(registries.filter((service) => service.Name?.startsWith("pub-"))).toEqual([]);

    expectValidSince(from, [
      "apigatewayv2:CreateApi",
      "apigatewayv2:GetApis",
      "apigatewayv2:CreateStage",
      "apigatewayv2:CreateIntegration",
      "apigatewayv2:CreateRoute",
      "apigatewayv2:DeleteRoute",
      "apigatewayv2:DeleteIntegration",
      "apigatewayv2:DeleteApi",
      "servicediscovery:ListServices",
      "servicediscovery:CreateService",
      "servicediscovery:DeleteService",
      "ecs:CreateService",
    ]);
  }, 180_000);
});

describe("the requests of application load balancers", () => {
  it("are valid for AWS's service models: a balancer shared by two services by path, deployed twice, then removed", async () => {
    const from = recorded.length;
    const app = httpApp();
    const workload = (path: string, priority: number) => `
    type: multi-container-workload
    properties:
      resources: { cpu: 0.25, memory: 512 }
      containers:
        - name: app
          packaging: ${JSON.stringify(appPackaging(app.image))}
          stopTimeout: 7
          loadBalancerHealthCheck: { healthcheckPath: /health, healthcheckInterval: 10 }
          events:
            - type: application-load-balancer
              properties:
                loadBalancerName: front
                containerPort: 3000
                priority: ${priority}
                paths: ["${path}"]
                methods: [GET, POST]
                headers: [{ headerName: x-tenant, values: ["a*"] }]
                queryParams: [{ paramName: v, values: ["1"] }]
                sourceIps: ["10.0.0.0/8"]`;
    const stackFile = `
resources:
  front:
    type: application-load-balancer
  orders:${workload("/orders/*", 10)}
  users:${workload("/users/*", 20)}
`;
    const ctx = context();
    await storeStack("lbs", stackFile);
    const deploy = (service: string) => deployThrough(ctx, "lbs", service, "d");
    const orders = await deploy("orders");
    const users = await deploy("users");
    const again = await operationsDuring(() => deploy("orders"));
    expect(
      again.filter((operation) =>
        /^(elbv2|ecs):(Create|Delete|ModifyRule|ModifyTargetGroup$)/.test(operation),
      ),
    ).toEqual([]);

    const { LoadBalancers: balancers = [] } = await ctx.clients.elb.send(
      new DescribeLoadBalancersCommand({ Names: ["berth-lbs-front"] }),
    );
    expect(balancers).toHaveLength(1);
    const { TargetGroups: groups = [] } = await ctx.clients.elb.send(new DescribeTargetGroupsCommand({}));
    const mine = groups.filter((group) => group.TargetGroupName?.startsWith("b-lbs-front-"));
    expect(mine.map((group) => [group.TargetGroupName, group.TargetType, group.HealthCheckPath])).toEqual([
      ["b-lbs-front-orders-app-3000", "ip", "/health"],
      ["b-lbs-front-users-app-3000", "ip", "/health"],
    ]);
    const { services: [service] = [] } = await ctx.clients.ecs.send(
      new DescribeServicesCommand({ cluster: ctx.settings.cluster, services: ["lbs-orders"] }),
    );
    expect(service?.loadBalancers?.[0]?.targetGroupArn).toBe(mine[0]?.TargetGroupArn);

    for (const input of [orders, users]) {
      const deletion = await requestInput("lbs", input.service, "e");
      await deleteDrained(ctx, deletion, `the deletion of ${input.service}`);
    }
    await expect(
      ctx.clients.elb.send(new DescribeLoadBalancersCommand({ Names: ["berth-lbs-front"] })),
    ).rejects.toMatchObject({ name: "LoadBalancerNotFoundException" });
    const { TargetGroups: left = [] } = await ctx.clients.elb.send(new DescribeTargetGroupsCommand({}));
    expect(left.filter((group) => group.TargetGroupName?.startsWith("b-lbs-"))).toEqual([]);

    expectValidSince(from, [
      "elbv2:CreateLoadBalancer",
      "elbv2:CreateTargetGroup",
      "elbv2:ModifyTargetGroupAttributes",
      "elbv2:CreateListener",
      "elbv2:DescribeRules",
      "elbv2:CreateRule",
      "elbv2:DeleteRule",
      "elbv2:DeleteLoadBalancer",
      "elbv2:DeleteTargetGroup",
    ]);
  }, 180_000);
});

describe("the requests of network load balancers", () => {
  it("are valid for AWS's service models: a balancer with TCP and TLS listeners shared by two services, deployed twice, then removed", async () => {
    const from = recorded.length;
    const app = httpApp();
    const container = (events: string, health = "") => `
    type: multi-container-workload
    properties:
      resources: { cpu: 0.25, memory: 512 }
      containers:
        - name: app
          packaging: ${JSON.stringify(appPackaging(app.image))}
          stopTimeout: 6
          ${health}
          events:${events}`;
    const event = (listenerPort: number) => `
            - type: network-load-balancer
              properties: { loadBalancerName: edge, listenerPort: ${listenerPort}, containerPort: 3000 }`;
    const stackFile = `
resources:
  edge:
    type: network-load-balancer
    properties:
      interface: internal
      listeners:
        - { port: 7000, protocol: TCP }
        - { port: 7443, protocol: TLS, customCertificateArns: ["arn:aws:acm:us-east-1:000000000000:certificate/abc"] }
        - { port: 7100, protocol: TCP }
  lines:${container(`${event(7000)}${event(7443)}`)}
  admin:${container(event(7100), "loadBalancerHealthCheck: { healthcheckPath: /health }")}
`;
    const ctx = context();
    await storeStack("nlbs", stackFile);
    const deploy = (service: string) => deployThrough(ctx, "nlbs", service, "d");
    const lines = await deploy("lines");
    const admin = await deploy("admin");
    const again = await operationsDuring(() => deploy("lines"));
    expect(
      again.filter((operation) => /^elbv2:(Create|Delete|Modify(Listener|TargetGroup)$)/.test(operation)),
    ).toEqual([]);

    const { LoadBalancers: [balancer] = [] } = await ctx.clients.elb.send(
      new DescribeLoadBalancersCommand({ Names: ["berth-nlbs-edge"] }),
    );
    expect([balancer?.Type, balancer?.Scheme]).toEqual(["network", "internal"]);
    const { TargetGroups: groups = [] } = await ctx.clients.elb.send(new DescribeTargetGroupsCommand({}));
    const mine = groups.filter((group) => group.TargetGroupName?.startsWith("n-nlbs-edge-"));
    expect(
      mine.map((group) => [
        group.TargetGroupName,
        group.Protocol,
        group.TargetType,
        group.HealthCheckProtocol,
      ]),
    ).toEqual([
      ["n-nlbs-edge-7000-lines-app-3000", "TCP", "ip", "TCP"],
      ["n-nlbs-edge-7443-lines-app-3000", "TCP", "ip", "TCP"],
      ["n-nlbs-edge-7100-admin-app-3000", "TCP", "ip", "HTTP"],
    ]);
    // The ECS service registers its tasks in both of its groups, one per listener.
    const { services: [service] = [] } = await ctx.clients.ecs.send(
      new DescribeServicesCommand({ cluster: ctx.settings.cluster, services: ["nlbs-lines"] }),
    );
    expect(service?.loadBalancers?.map((entry) => entry.targetGroupArn)).toEqual(
      mine.slice(0, 2).map((group) => group.TargetGroupArn),
    );

    // A listener changed behind Berth's back (TLS instead of TCP) is put back by the next deploy.
    const listenerOn = async (port: number) => {
      const { Listeners = [] } = await ctx.clients.elb.send(
        new DescribeListenersCommand({ LoadBalancerArn: balancer?.LoadBalancerArn }),
      );
      return Listeners.find((listener) => listener.Port === port);
    };
    await ctx.clients.elb.send(
      new ModifyListenerCommand({
        ListenerArn: (await listenerOn(7000))?.ListenerArn,
        Protocol: "TLS",
        Certificates: [{ CertificateArn: "arn:aws:acm:us-east-1:000000000000:certificate/other" }],
      }),
    );
    await deploy("lines");
    expect((await listenerOn(7000))?.Protocol).toBe("TCP");

    for (const input of [lines, admin]) {
      const deletion = await requestInput("nlbs", input.service, "e");
      await deleteDrained(ctx, deletion, `the deletion of ${input.service}`);
      if (input === lines) {
        // The shared balancer stays for admin, with admin's listener only.
        const { Listeners = [] } = await ctx.clients.elb.send(
          new DescribeListenersCommand({ LoadBalancerArn: balancer?.LoadBalancerArn }),
        );
        expect(Listeners.map((listener) => listener.Port)).toEqual([7100]);
      }
    }
    await expect(
      ctx.clients.elb.send(new DescribeLoadBalancersCommand({ Names: ["berth-nlbs-edge"] })),
    ).rejects.toMatchObject({ name: "LoadBalancerNotFoundException" });
    const { TargetGroups: left = [] } = await ctx.clients.elb.send(new DescribeTargetGroupsCommand({}));
    expect(left.filter((group) => group.TargetGroupName?.startsWith("n-nlbs-"))).toEqual([]);

    expectValidSince(from, [
      "elbv2:CreateLoadBalancer",
      "elbv2:CreateTargetGroup",
      "elbv2:ModifyTargetGroupAttributes",
      "elbv2:CreateListener",
      "elbv2:ModifyListener",
      "elbv2:DeleteListener",
      "elbv2:DeleteLoadBalancer",
      "elbv2:DeleteTargetGroup",
    ]);
  }, 180_000);
});

describe("the requests of a gradual deployment behind an application load balancer", () => {
  it("are valid for AWS's service models: alternate target group, production rule and advancedConfiguration, deployed twice, then removed", async () => {
    const from = recorded.length;
    const app = httpApp();
    const stackFile = `
resources:
  web:
    type: web-service
    properties:
      packaging: ${JSON.stringify(appPackaging(app.image))}
      resources: { cpu: 0.25, memory: 512 }
      loadBalancing: { type: application-load-balancer }
      deployment: { strategy: Linear10PercentEvery3Minutes }
`;
    const ctx = context();
    await storeStack("grad", stackFile);
    const web = await deployThrough(ctx, "grad", "web", "d");
    const again = await operationsDuring(() => deployThrough(ctx, "grad", "web", "e"));
    expect(
      again.filter((operation) => /^elbv2:(Create|Delete|ModifyRule|ModifyTargetGroup$)/.test(operation)),
    ).toEqual([]);

    const { TargetGroups: groups = [] } = await ctx.clients.elb.send(new DescribeTargetGroupsCommand({}));
    const mine = groups.filter((group) => group.TargetGroupName?.startsWith("b-grad-web-"));
    expect(mine.map((group) => [group.TargetGroupName, group.TargetType, group.Port])).toEqual([
      ["b-grad-web-web-3000", "ip", 3000],
      ["b-grad-web-web-3000-alt", "ip", 3000],
    ]);
    const [primary, alternate] = mine.map((group) => group.TargetGroupArn ?? "");
    const { services: [service] = [] } = await ctx.clients.ecs.send(
      new DescribeServicesCommand({ cluster: ctx.settings.cluster, services: ["grad-web"] }),
    );
    const [entry] = service?.loadBalancers ?? [];
    expect(entry?.targetGroupArn).toBe(primary);
    expect(entry?.advancedConfiguration).toMatchObject({
      alternateTargetGroupArn: alternate,
      roleArn: ctx.settings.deploymentRoleArn,
    });
    expect(service?.deploymentConfiguration).toMatchObject({
      strategy: "LINEAR",
      linearConfiguration: { stepPercent: 10, stepBakeTimeInMinutes: 3 },
    });
    // The production rule forwards to both groups; the listener's default answers 404.
    const { Rules: rules = [] } = await ctx.clients.elb.send(
      new DescribeRulesCommand({ RuleArns: [entry?.advancedConfiguration?.productionListenerRule ?? ""] }),
    );
    expect(rules[0]?.Priority).toBe("1");
    expect(rules[0]?.Actions?.[0]?.ForwardConfig?.TargetGroups?.map((group) => group.TargetGroupArn)).toEqual(
      [primary, alternate],
    );

    const deletion = await requestInput("grad", web.service, "f");
    await deleteDrained(ctx, deletion, "the deletion of web", 120_000);
    const { TargetGroups: left = [] } = await ctx.clients.elb.send(new DescribeTargetGroupsCommand({}));
    expect(left.filter((group) => group.TargetGroupName?.startsWith("b-grad-"))).toEqual([]);

    expect(recorded.slice(from).some((request) => request.operation === "CreateService")).toBe(true);
    expectValidSince(from);
  }, 180_000);

  it("stop a canary mid-shift with StopServiceDeployment (ROLLBACK) when fail-fast trips, then follow ECS's rollback through its service deployment", async () => {
    const from = recorded.length;
    const ctx = context();
    await storeStack("halt", balancedWebService(httpApp().image, "Canary10Percent5Minutes"));
    const describe = () => ecsServiceOf(ctx, "halt-web");
    // The first revision completes and becomes the last good one, which a rollback returns to.
    const firstApplied = await deployToCompletion(ctx, "halt", "web", "a");
    const second = await requestInput("halt", "web", "b");
    await Rollout.loadDeployment(ctx, second);
    const prepared = await Rollout.prepareResources(ctx, { ...second, builds: [] });
    const applied = ecsDeployment(await Rollout.applyService(ctx, { ...second, resources: prepared }));
    await waitFor("the canary's 10% of production traffic", async () =>
      (await describe())?.events?.some((event) =>
        event.message?.includes("shifted 10% of production traffic"),
      )
        ? true
        : undefined,
    );
    const wait = await WaitRecord.get(table.store, "berth", applied.ecsService);
    if (!wait) throw new Error("no wait for the canary");
    expect(wait.rollbackTaskDefinitionArn).toBe(firstApplied.taskDefinitionArn);
    expect(wait.taskDefinitionArn).not.toBe(firstApplied.taskDefinitionArn);
    const beforeStop = recorded.length;
    let handled = "task-failure-recorded";
    for (const task of ["a", "b", "c", "d"]) {
      if (handled !== "task-failure-recorded") break;
      handled = await Rollout.handleEcsEvent(
        ctx,
        taskStopped(wait, task, { containers: [{ name: "web", exitCode: 1 }] }),
      );
    }
    expect(["rolling-back", "rolled-back"]).toContain(handled);
    const stopping = recorded.slice(beforeStop).map((request) => request.operation);
    expect(stopping).toContain("StopServiceDeployment");
    expect(stopping).not.toContain("UpdateService");
    const following = await WaitRecord.get(table.store, "berth", applied.ecsService);
    expect(following?.rollbackServiceDeploymentArn).toBe((await describe())?.currentServiceDeployment);
    // ECS's deployment events say nothing of service deployments: each makes Berth read its status.
    await waitFor("ECS's rollback to succeed", async () => {
      const now = await WaitRecord.get(table.store, "berth", applied.ecsService);
      if (now?.pendingOutcome) return true;
      await Rollout.handleEcsEvent(ctx, deploymentCompleted(wait, "ecs-svc/0"));
      return undefined;
    });
    const ended = await WaitRecord.get(table.store, "berth", applied.ecsService);
    expect(ended?.pendingOutcome).toMatchObject({
      status: "ROLLED_BACK",
      taskDefinitionArn: wait.rollbackTaskDefinitionArn,
    });
    const [entry] = (await describe())?.loadBalancers ?? [];
    const { Rules: rules = [] } = await ctx.clients.elb.send(
      new DescribeRulesCommand({ RuleArns: [entry?.advancedConfiguration?.productionListenerRule ?? ""] }),
    );
    // All production traffic is back on the first revision's target group.
    expect(rules[0]?.Actions?.[0]?.ForwardConfig?.TargetGroups?.map((group) => group.Weight)).toEqual([
      100, 0,
    ]);

    await Rollout.finalize(ctx, { ...second, outcome: ended?.pendingOutcome });
    await Deployment.releaseService(table.store, "halt", "web", second.deploymentId);
    await deleteDrained(ctx, await requestInput("halt", "web", "c"), "the deletion of web");
    expectValidSince(from, ["ecs:StopServiceDeployment", "ecs:DescribeServiceDeployments"]);
  }, 300_000);

  it("switch a blue/green service back to rolling and back again: its tasks stay in the group traffic is on, the other group goes", async () => {
    const from = recorded.length;
    const ctx = context();
    await storeStack("flip", balancedWebService(httpApp().image, "AllAtOnce"));
    const describe = () => ecsServiceOf(ctx, "flip-web");
    const groups = async () => {
      const { TargetGroups: all = [] } = await ctx.clients.elb.send(new DescribeTargetGroupsCommand({}));
      return all.filter((group) => group.TargetGroupName?.startsWith("b-flip-web-"));
    };
    const deployed = (digit: string) => deployToCompletion(ctx, "flip", "web", digit);
    let ruleArn = "";
    const productionRule = async () => {
      const { Rules: rules = [] } = await ctx.clients.elb.send(
        new DescribeRulesCommand({ RuleArns: [ruleArn] }),
      );
      return rules[0];
    };
    // Two blue/green deployments: the second moved production traffic to the `-alt` group.
    await deployed("a");
    await deployed("b");
    ruleArn = (await describe())?.loadBalancers?.[0]?.advancedConfiguration?.productionListenerRule ?? "";
    const alternate = (await groups()).find((group) => group.TargetGroupName?.endsWith("-alt"));
    const live = (await productionRule())?.Actions?.[0]?.ForwardConfig?.TargetGroups?.find(
      (group) => group.Weight === 100,
    );
    expect(live?.TargetGroupArn).toBe(alternate?.TargetGroupArn);

    // Back to rolling: the tasks stay where production traffic is, the rule forwards there alone.
    await updateSpec(table.store, "flip", "web", (current) => {
      const { deployment: _gone, ...properties } = (current.spec as { properties: Record<string, unknown> })
        .properties;
      return { ...current.spec, properties } as typeof current.spec;
    });
    await deployed("c");
    const service = await describe();
    expect(service?.deploymentConfiguration?.strategy).toBe("ROLLING");
    expect(service?.loadBalancers).toHaveLength(1);
    expect(service?.loadBalancers?.[0]?.targetGroupArn).toBe(alternate?.TargetGroupArn);
    expect(service?.loadBalancers?.[0]?.advancedConfiguration).toBeUndefined();
    // The service's own balancer forwards by its listener's default action, the rule is gone.
    const { Listeners: listeners = [] } = await ctx.clients.elb.send(
      new DescribeListenersCommand({
        ListenerArns: [ruleArn.replace(":listener-rule/", ":listener/").split("/").slice(0, -1).join("/")],
      }),
    );
    expect(listeners[0]?.DefaultActions).toMatchObject([
      { Type: "forward", TargetGroupArn: alternate?.TargetGroupArn },
    ]);
    await expect(productionRule()).rejects.toMatchObject({ name: "RuleNotFoundException" });
    expect((await groups()).map((group) => group.TargetGroupName)).toEqual([alternate?.TargetGroupName]);
    // The same rolling deployment again changes nothing on the balancer.
    await deployed("d");
    expect((await groups()).map((group) => group.TargetGroupName)).toEqual([alternate?.TargetGroupName]);

    // Gradual again: the group the tasks are in is the service's, the other one is created anew.
    await updateSpec(table.store, "flip", "web", (current) => {
      const properties = (current.spec as { properties: Record<string, unknown> }).properties;
      return {
        ...current.spec,
        properties: { ...properties, deployment: { strategy: "AllAtOnce" } },
      } as typeof current.spec;
    });
    await deployed("e");
    const again = await describe();
    expect(again?.deploymentConfiguration?.strategy).toBe("BLUE_GREEN");
    expect(again?.loadBalancers?.[0]?.targetGroupArn).toBe(alternate?.TargetGroupArn);
    const base = (await groups()).find((group) => !group.TargetGroupName?.endsWith("-alt"));
    expect(again?.loadBalancers?.[0]?.advancedConfiguration?.alternateTargetGroupArn).toBe(
      base?.TargetGroupArn,
    );

    await deleteDrained(ctx, await requestInput("flip", "web", "f"), "the deletion of web");
    expect(await groups()).toEqual([]);
    expectValidSince(from);
  }, 300_000);
});

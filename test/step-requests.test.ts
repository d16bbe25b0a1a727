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
import { describe, expect, it } from "vitest";
import { taskStopped } from "../packages/core/src/deployments/__fixtures__/ecs-events.ts";
import { Deployment, JobRun } from "../packages/core/src/deployments/index.ts";
import { Rollout } from "../packages/core/src/deployments/rollout/index.ts";
import { Spec } from "../packages/core/src/spec/index.ts";
import { ServiceRecord, StackRecord, WaitRecord } from "../packages/core/src/store/index.ts";
import { httpApp, waitFor } from "./support/apps.ts";
import { type ContractRequest, invalidRequests } from "./support/botocore.ts";
import { expectOperations, parseStack, recordingBerthLocal } from "./support/local-requests.ts";

/**
 * Every request the workflow steps send, checked against AWS's own service models: the steps
 * run against Berth Local's endpoints through real SDK clients, each wrapped to record what it
 * sends (the request still goes through), then botocore's ParamValidator judges the records.
 */
const berth = recordingBerthLocal("berth-step-requests-");
const { recorded, recording } = berth;

/** Stores a stack file and its compute resources as services, as an apply does. */
async function storeStack(stack: string, stackFile: string): Promise<void> {
  await StackRecord.put(berth.table.store, { name: stack, stage: "local", stackFile });
  for (const [name, resource] of Object.entries(parseStack(stackFile).resources)) {
    if (!Spec.isCompute(resource)) continue;
    await ServiceRecord.create(berth.table.store, { stack, name, spec: resource as Record<string, unknown> });
  }
}

/** A requested deployment of a service, as a step's input. */
async function requestInput(stack: string, service: string, hashDigit: string) {
  const requested = await Deployment.requestDeployment(berth.table.store, {
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

/** Loads, prepares and applies a requested deployment: apply-service's answer. */
async function loadAndApply(ctx: Rollout.StepContext, input: Awaited<ReturnType<typeof requestInput>>) {
  await Rollout.loadDeployment(ctx, input);
  const prepared = await Rollout.prepareResources(ctx, { ...input, builds: [] });
  return Rollout.applyService(ctx, { ...input, resources: prepared });
}

/** Loads, prepares and applies a service's deployment, then ends it so the next one may start. */
async function deployThrough(ctx: Rollout.StepContext, stack: string, service: string, hashDigit: string) {
  const input = await requestInput(stack, service, hashDigit);
  ecsDeployment(await loadAndApply(ctx, input));
  await Rollout.finalize(ctx, { ...input, outcome: { status: "SUCCEEDED", reason: "applied" } });
  await Deployment.releaseService(berth.table.store, stack, service, input.deploymentId);
  return input;
}

/** Requests a service's deletion and runs delete-service until the service has drained. */
async function deleteThrough(
  ctx: Rollout.StepContext,
  stack: string,
  service: string,
  hashDigit: string,
  timeoutMs?: number,
): Promise<void> {
  const deletion = await requestInput(stack, service, hashDigit);
  await waitFor(
    `the deletion of ${service}`,
    async () =>
      Rollout.deleteService(ctx, deletion).catch((error: Error) => {
        if (error.name !== "Berth.ServiceDraining") throw error;
        return undefined;
      }),
    timeoutMs,
  );
}

/** The `service:Operation` of each request sent while `action` ran. */
async function operationsSentBy(action: () => Promise<unknown>): Promise<string[]> {
  const before = recorded.length;
  await action();
  return recorded.slice(before).map((request) => `${request.service}:${request.operation}`);
}

/** The requests recorded since `from`, after expecting each operation among them and all of them valid. */
function expectValidRequestsSince(from: number, operations: readonly string[]): ContractRequest[] {
  const sent = recorded.slice(from);
  expectOperations(sent, operations);
  expect(invalidRequests(sent)).toEqual([]);
  return sent;
}

/** Berth Local's target groups whose names start with `prefix`. */
async function targetGroupsNamed(ctx: Rollout.StepContext, prefix: string) {
  const { TargetGroups: groups = [] } = await ctx.clients.elb.send(new DescribeTargetGroupsCommand({}));
  return groups.filter((group) => group.TargetGroupName?.startsWith(prefix));
}

/** The ECS service as DescribeServices answers for it. */
async function describedService(ctx: Rollout.StepContext, name: string) {
  const { services: [service] = [] } = await ctx.clients.ecs.send(
    new DescribeServicesCommand({ cluster: ctx.settings.cluster, services: [name] }),
  );
  return service;
}

/** The test app (an HTTP server on $PORT) as prebuilt-image packaging, a YAML flow mapping. */
const APP_PACKAGING = `{ type: prebuilt-image, properties: { image: "${httpApp().image}", command: ["node", "server.mjs"] } }`;

/**
 * A multi-container-workload resource whose one container `app` runs the test app; `container`
 * goes on after the container's packaging, each of its lines indented by ten spaces.
 */
function appWorkload(container: string): string {
  return `
    type: multi-container-workload
    properties:
      resources: { cpu: 0.25, memory: 512 }
      containers:
        - name: app
          packaging: ${APP_PACKAGING}${container}`;
}

function context(): Rollout.StepContext {
  const aws = berth.aws();
  return {
    store: berth.table.store,
    settings: berth.settings(),
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
    const stackFile = `
resources:
  api:
    type: private-service
    properties:
      packaging: ${APP_PACKAGING}
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
      packaging: { type: prebuilt-image, properties: { image: "berth.local/berth/shop/web@sha256:${"0".repeat(64)}" } }
      resources: { cpu: 0.25, memory: 512 }
      connectTo: [api]
  report:
    type: batch-job
    properties:
      container:
        packaging: { type: prebuilt-image, properties: { image: "berth.local/berth/shop/report@sha256:${"1".repeat(64)}" } }
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
      ...berth.aws(),
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
    await Deployment.releaseService(berth.table.store, "shop", "api", api.deploymentId);

    // A second revision whose tasks fail: the handler's rollback is an UpdateService too.
    const secondApplied = ecsDeployment(await loadAndApply(ctx, await input("api")));
    const wait = await WaitRecord.get(berth.table.store, "berth", secondApplied.ecsService);
    if (!wait) throw new Error("no wait for the second revision");
    for (const task of ["a", "b"]) {
      await Rollout.handleEcsEvent(
        ctx,
        taskStopped(wait, task, { containers: [{ name: "api", exitCode: 1 }] }),
      );
    }
    expect((await WaitRecord.get(berth.table.store, "berth", secondApplied.ecsService))?.phase).toBe(
      "rolling-back",
    );

    await expect(Rollout.preflight(ctx, web)).rejects.toMatchObject({ name: "Berth.PreflightFailed" });
    await deleteThrough(ctx, "shop", "api", "a");

    // A batch job: its run state machine is created, then updated by the next deployment.
    for (let round = 0; round < 2; round += 1) {
      const job = await input("report");
      const registered = await loadAndApply(ctx, job);
      if (!("outcome" in registered)) throw new Error("a batch job answered an ECS deployment");
      expect(registered.outcome.status).toBe("SUCCEEDED");
      await Rollout.finalize(ctx, { ...job, outcome: registered.outcome });
      await Deployment.releaseService(berth.table.store, "shop", "report", job.deploymentId);
    }
    // The API's job runs: started with overrides, listed, read with their history.
    const runs = { store: berth.table.store, sfn: ctx.clients.sfn };
    const run = await JobRun.start(runs, {
      stack: "shop",
      job: "report",
      command: ["node", "report.js"],
      environment: { DAYS: "1" },
    });
    expect((await JobRun.list(runs, { stack: "shop", job: "report", limit: 5 })).runs[0]?.id).toBe(run.id);
    expect((await JobRun.describe(runs, { stack: "shop", job: "report", id: run.id })).id).toBe(run.id);
    await Rollout.deleteService(ctx, await input("report"));

    expectValidRequestsSince(0, [
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

  it("are valid for AWS's service models for HTTP API gateways: created with a web service and a workload's routes, then removed", async () => {
    const from = recorded.length;
    const stackFile = `
resources:
  site:
    type: web-service
    properties:
      packaging: ${APP_PACKAGING}
      resources: { cpu: 0.25, memory: 512 }
      cors: { enabled: true, allowedOrigins: ["https://shop.example"] }
  edge:
    type: http-api-gateway
  shop:${appWorkload(`
          events:
            - type: http-api-gateway
              properties: { httpApiGatewayName: edge, containerPort: 3000, method: GET, path: "/items/{id}" }
            - type: http-api-gateway
              properties: { httpApiGatewayName: edge, containerPort: 3000, method: "*", path: "/api/{proxy+}" }`)}
`;
    const ctx = context();
    await storeStack("pub", stackFile);
    const deploy = (service: string) => deployThrough(ctx, "pub", service, "b");
    const site = await deploy("site");
    const shop = await deploy("shop");
    // Deployed again: everything is found, nothing created twice.
    const again = await operationsSentBy(() => deploy("site"));
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
      await deleteThrough(ctx, "pub", input.service, "c");
    }
    const { Items: left = [] } = await ctx.clients.apiGateway.send(new GetApisCommand({}));
    expect(left.filter((api) => api.Name?.startsWith("berth-pub-"))).toEqual([]);
    const { Services: registries = [] } = await ctx.clients.serviceDiscovery.send(
      new ListServicesCommand({}),
    );
    expect(registries.filter((service) => service.Name?.startsWith("pub-"))).toEqual([]);

    expectValidRequestsSince(from, [
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
    const workload = (path: string, priority: number) =>
      appWorkload(`
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
                sourceIps: ["10.0.0.0/8"]`);
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
    const again = await operationsSentBy(() => deploy("orders"));
    expect(
      again.filter((operation) =>
        /^(elbv2|ecs):(Create|Delete|ModifyRule|ModifyTargetGroup$)/.test(operation),
      ),
    ).toEqual([]);

    const { LoadBalancers: balancers = [] } = await ctx.clients.elb.send(
      new DescribeLoadBalancersCommand({ Names: ["berth-lbs-front"] }),
    );
    expect(balancers).toHaveLength(1);
    const mine = await targetGroupsNamed(ctx, "b-lbs-front-");
    expect(mine.map((group) => [group.TargetGroupName, group.TargetType, group.HealthCheckPath])).toEqual([
      ["b-lbs-front-orders-app-3000", "ip", "/health"],
      ["b-lbs-front-users-app-3000", "ip", "/health"],
    ]);
    const service = await describedService(ctx, "lbs-orders");
    expect(service?.loadBalancers?.[0]?.targetGroupArn).toBe(mine[0]?.TargetGroupArn);

    for (const input of [orders, users]) {
      await deleteThrough(ctx, "lbs", input.service, "e");
    }
    await expect(
      ctx.clients.elb.send(new DescribeLoadBalancersCommand({ Names: ["berth-lbs-front"] })),
    ).rejects.toMatchObject({ name: "LoadBalancerNotFoundException" });
    expect(await targetGroupsNamed(ctx, "b-lbs-")).toEqual([]);

    expectValidRequestsSince(from, [
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
    const container = (events: string, health = "") =>
      appWorkload(`
          stopTimeout: 6
          ${health}
          events:${events}`);
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
    const again = await operationsSentBy(() => deploy("lines"));
    expect(
      again.filter((operation) => /^elbv2:(Create|Delete|Modify(Listener|TargetGroup)$)/.test(operation)),
    ).toEqual([]);

    const { LoadBalancers: [balancer] = [] } = await ctx.clients.elb.send(
      new DescribeLoadBalancersCommand({ Names: ["berth-nlbs-edge"] }),
    );
    expect([balancer?.Type, balancer?.Scheme]).toEqual(["network", "internal"]);
    const mine = await targetGroupsNamed(ctx, "n-nlbs-edge-");
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
    const service = await describedService(ctx, "nlbs-lines");
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
      await deleteThrough(ctx, "nlbs", input.service, "e");
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
    expect(await targetGroupsNamed(ctx, "n-nlbs-")).toEqual([]);

    expectValidRequestsSince(from, [
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
    const stackFile = `
resources:
  web:
    type: web-service
    properties:
      packaging: ${APP_PACKAGING}
      resources: { cpu: 0.25, memory: 512 }
      loadBalancing: { type: application-load-balancer }
      deployment: { strategy: Linear10PercentEvery3Minutes }
`;
    const ctx = context();
    await storeStack("grad", stackFile);
    const web = await deployThrough(ctx, "grad", "web", "d");
    const again = await operationsSentBy(() => deployThrough(ctx, "grad", "web", "e"));
    expect(
      again.filter((operation) => /^elbv2:(Create|Delete|ModifyRule|ModifyTargetGroup$)/.test(operation)),
    ).toEqual([]);

    const mine = await targetGroupsNamed(ctx, "b-grad-web-");
    expect(mine.map((group) => [group.TargetGroupName, group.TargetType, group.Port])).toEqual([
      ["b-grad-web-web-3000", "ip", 3000],
      ["b-grad-web-web-3000-alt", "ip", 3000],
    ]);
    const [primary, alternate] = mine.map((group) => group.TargetGroupArn ?? "");
    const service = await describedService(ctx, "grad-web");
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

    await deleteThrough(ctx, "grad", web.service, "f", 120_000);
    expect(await targetGroupsNamed(ctx, "b-grad-")).toEqual([]);

    const sent = recorded.slice(from);
    expect(sent.some((request) => request.operation === "CreateService")).toBe(true);
    expect(invalidRequests(sent)).toEqual([]);
  }, 180_000);
});

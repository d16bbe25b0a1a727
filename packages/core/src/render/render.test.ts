import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { Spec } from "../spec/index.ts";
import { Render } from "./index.ts";

const kitchenSink = readFileSync(new URL("./__fixtures__/kitchen-sink.yml", import.meta.url), "utf8");

function parse(text: string): Spec.Stack {
  const result = Spec.parse(text);
  if (!result.ok) throw new Error(result.issues.map((issue) => Spec.formatIssue("stack", issue)).join("\n"));
  return result.stack;
}

const stack = parse(kitchenSink);
const env = Render.localEnvironment(stack, { stack: "shop" });
const plan = (name: string) => Render.renderResource(stack, name, env);
const container = (name: string, containerName = name) => {
  const definition = plan(name).taskDefinition.containerDefinitions?.find((c) => c.name === containerName);
  if (!definition) throw new Error(`no container ${containerName}`);
  return definition;
};
const variables = (name: string, containerName = name) =>
  Object.fromEntries((container(name, containerName).environment ?? []).map((v) => [v.name, v.value]));

describe("golden requests", () => {
  it("pins every request of the kitchen-sink stack (create and update)", async () => {
    const requests = {
      create: Render.renderStack(stack, env),
      update: Render.renderStack(stack, env, { mode: "update" }),
    };
    await expect(JSON.stringify(requests, null, 2)).toMatchFileSnapshot("./__golden__/kitchen-sink.json");
  });
});

describe("task definitions", () => {
  it("sizes Fargate tasks in CPU units and MiB, with the runtime platform", () => {
    const definition = plan("publicService").taskDefinition;
    expect(definition).toMatchObject({
      family: "shop-publicService",
      cpu: "1024",
      memory: "2048",
      networkMode: "awsvpc",
      requiresCompatibilities: ["FARGATE"],
      runtimePlatform: { cpuArchitecture: "ARM64", operatingSystemFamily: "LINUX" },
    });
  });

  it("sizes EC2 tasks to the instance type less what the agent keeps", () => {
    const definition = plan("albService").taskDefinition;
    expect(definition.requiresCompatibilities).toEqual(["EC2"]);
    expect(definition.memory).toBe(String(Math.floor(4096 * 0.9)));
    expect(definition.cpu).toBeUndefined();
  });

  it("resolves $ResourceParam addresses to the Service Connect alias:port, inside text too", () => {
    expect(variables("publicService").PRIVATE_URL).toBe("http://privateapi.shop:3000/v1");
  });

  it("resolves $ResourceParam urls to the gateway's URL once it exists, and says why not before", () => {
    const withUrl = parse(`
resources:
  site:
    type: web-service
    properties:
      packaging: { type: prebuilt-image, properties: { image: "nginx:1" } }
      resources: { cpu: 0.25, memory: 512 }
  worker:
    type: worker-service
    properties:
      packaging: { type: prebuilt-image, properties: { image: "busybox:1" } }
      resources: { cpu: 0.25, memory: 512 }
      environment:
        - name: CALLBACK
          value: $ResourceParam('site', 'url')/hooks
`);
    const render = (urls: Record<string, string>) =>
      Render.renderResource(
        withUrl,
        "worker",
        Render.Environment.parse({ ...env, stack: "pub", ingressUrls: urls }),
      ).taskDefinition.containerDefinitions?.[0]?.environment?.find(
        (variable) => variable.name === "CALLBACK",
      )?.value;
    expect(render({ site: "https://abc123.execute-api.us-east-1.amazonaws.com" })).toBe(
      "https://abc123.execute-api.us-east-1.amazonaws.com/hooks",
    );
    expect(() => render({})).toThrow(/has no value yet: .*deploy that service first/);
  });

  it("injects connectTo variables in upper snake case, PORT, and stringified values", () => {
    expect(variables("publicService")).toEqual({
      PORT: "8080",
      PRIVATE_URL: "http://privateapi.shop:3000/v1",
      RETRIES: "3",
      STP_PRIVATE_API_ADDRESS: "privateapi.shop:3000",
      STP_REPORT_JOB_DEFINITION_ARN: "arn:aws:ecs:us-east-1:000000000000:task-definition/shop-report",
      STP_REPORT_STATE_MACHINE_ARN:
        "arn:aws:states:us-east-1:000000000000:stateMachine:berth-job-shop-report",
    });
  });

  it("keeps a PORT the workload sets itself", () => {
    expect(variables("shop", "frontend").PORT).toBe("8080");
    expect(variables("shop", "backend").PORT).toBe("3000");
    expect(variables("shop", "migrate").PORT).toBeUndefined();
  });

  it("turns $Secret into ECS secrets by ARN, with the JSON key form", () => {
    expect(container("privateApi").secrets).toEqual([
      { name: "API_KEY", valueFrom: "arn:aws:secretsmanager:us-east-1:000000000000:secret:apiKey" },
      {
        name: "DB_PASSWORD",
        valueFrom: "arn:aws:secretsmanager:us-east-1:000000000000:secret:dbSecret:password::",
      },
    ]);
    const withArns = Render.localEnvironment(stack, {
      secretArns: { dbSecret: "arn:aws:secretsmanager:us-east-1:000000000000:secret:dbSecret-AbCdEf" },
    });
    const secret = Render.renderResource(stack, "privateApi", withArns).taskDefinition
      .containerDefinitions?.[0]?.secrets?.[1];
    expect(secret?.valueFrom).toBe(
      "arn:aws:secretsmanager:us-east-1:000000000000:secret:dbSecret-AbCdEf:password::",
    );
  });

  it("renders health checks, dependsOn, stop timeouts, named ports and awslogs", () => {
    expect(container("privateApi")).toMatchObject({
      healthCheck: {
        command: ["CMD-SHELL", "curl -f http://localhost:3000/health || exit 1"],
        interval: 10,
        timeout: 5,
        retries: 3,
        startPeriod: 15,
      },
      stopTimeout: 20,
      portMappings: [{ name: "privateapi-3000", containerPort: 3000, protocol: "tcp", appProtocol: "http" }],
      logConfiguration: {
        logDriver: "awslogs",
        options: {
          "awslogs-group": "/berth/shop/privateApi",
          "awslogs-region": "us-east-1",
          "awslogs-stream-prefix": "privateApi",
        },
      },
    });
    expect(container("shop", "frontend").dependsOn).toEqual([
      { containerName: "backend", condition: "HEALTHY" },
      { containerName: "migrate", condition: "SUCCESS" },
    ]);
    expect(container("shop", "migrate")).toMatchObject({
      essential: false,
      stopTimeout: 60,
      entryPoint: ["/bin/sh", "-c"],
    });
  });

  it("uses built images from the environment, and a tag the build replaces otherwise", () => {
    expect(container("privateApi").image).toBe("berth.local/berth/shop/privateapi:latest");
    expect(container("shop", "frontend").image).toBe("berth.local/berth/shop/shop-frontend:latest");
    const built = Render.localEnvironment(stack, { images: { "shop/frontend": "berth.local/x@sha256:abc" } });
    expect(Render.renderResource(stack, "shop", built).taskDefinition.containerDefinitions?.[0]?.image).toBe(
      "berth.local/x@sha256:abc",
    );
    expect(container("publicService")).toMatchObject({
      image: "public.ecr.aws/nginx/nginx:1.27",
      command: ["nginx", "-g", "daemon off;"],
      repositoryCredentials: {
        credentialsParameter: "arn:aws:secretsmanager:us-east-1:000000000000:secret:registry-AbCdEf",
      },
    });
  });

  it("leaves logging out when it is disabled", () => {
    expect(container("mailer").logConfiguration).toBeUndefined();
    expect(plan("mailer").logGroup).toBeUndefined();
    expect(plan("mailer").service?.create.serviceConnectConfiguration?.logConfiguration).toBeUndefined();
  });
});

describe("services", () => {
  it("publishes private services at lowercased-name.stack:port and workload events at their alias.stack", () => {
    expect(plan("privateApi").service?.create.serviceConnectConfiguration?.services).toEqual([
      {
        portName: "privateapi-3000",
        discoveryName: "shop_privateapi",
        clientAliases: [{ port: 3000, dnsName: "privateapi.shop" }],
      },
    ]);
    expect(
      plan("shop").service?.create.serviceConnectConfiguration?.services?.map((s) => s.clientAliases),
    ).toEqual([[{ port: 8080, dnsName: "shop.shop" }], [{ port: 3000, dnsName: "shop-backend.shop" }]]);
    expect(plan("albService").service?.create.serviceConnectConfiguration?.services?.[0]?.discoveryName).toBe(
      "shop_albservice",
    );
    expect(plan("mailer").service?.create.serviceConnectConfiguration).toMatchObject({ enabled: true });
    expect(plan("mailer").service?.create.serviceConnectConfiguration?.services).toBeUndefined();
  });

  it("rolls out with the circuit breaker and rollback, new tasks first", () => {
    expect(plan("privateApi").service?.create.deploymentConfiguration).toEqual({
      strategy: "ROLLING",
      minimumHealthyPercent: 100,
      maximumPercent: 200,
      deploymentCircuitBreaker: { enable: true, rollback: true },
    });
  });

  it("maps gradual strategies to ECS's native ones, with hooks at their lifecycle stage", () => {
    const deployment = plan("shop").service?.create.deploymentConfiguration;
    expect(deployment).toMatchObject({
      strategy: "LINEAR",
      linearConfiguration: { stepPercent: 10, stepBakeTimeInMinutes: 3 },
      lifecycleHooks: [
        {
          hookTargetArn: "arn:aws:lambda:us-east-1:000000000000:function:shopSmokeTest",
          roleArn: env.deploymentRoleArn,
          lifecycleStages: ["POST_TEST_TRAFFIC_SHIFT"],
        },
      ],
    });
    expect(
      plan("shop").service?.create.loadBalancers?.[0]?.advancedConfiguration?.alternateTargetGroupArn,
    ).toMatch(/-alt\//);
  });

  it("chooses Fargate Spot, public subnets with public IPs by default, private ones on request and on EC2", () => {
    const publicEnv = Render.localEnvironment(stack, {
      network: { publicSubnets: ["subnet-pub"], privateSubnets: ["subnet-priv"], securityGroups: ["sg-1"] },
    });
    const spot = Render.renderResource(stack, "publicService", publicEnv).service?.create;
    expect(spot?.capacityProviderStrategy).toEqual([{ capacityProvider: "FARGATE_SPOT", weight: 1 }]);
    expect(spot?.networkConfiguration?.awsvpcConfiguration).toEqual({
      subnets: ["subnet-pub"],
      securityGroups: ["sg-1"],
      assignPublicIp: "ENABLED",
    });
    const ec2 = Render.renderResource(stack, "albService", publicEnv).service?.create;
    expect(ec2?.networkConfiguration?.awsvpcConfiguration?.assignPublicIp).toBe("DISABLED");
    expect(ec2?.capacityProviderStrategy).toEqual([{ capacityProvider: "berth-ec2", weight: 1 }]);
    expect(ec2?.placementConstraints).toEqual([
      { type: "memberOf", expression: "attribute:ecs.instance-type in [c6g.large]" },
    ]);
  });

  it("wires load balancer events to target groups and HTTP API events to service registries", () => {
    const create = plan("shop").service?.create;
    expect(create?.loadBalancers?.map((lb) => [lb.containerName, lb.containerPort])).toEqual([
      ["frontend", 8080],
      ["backend", 3000],
    ]);
    expect(create?.serviceRegistries?.map((r) => [r.containerName, r.containerPort])).toEqual([
      ["frontend", 8080],
    ]);
    expect(create?.healthCheckGracePeriodSeconds).toBe(30);
  });

  it("fails clearly when the environment lacks the ingress a resource needs", () => {
    const bare = Render.Environment.parse({ ...env, ingress: {} });
    expect(() => Render.renderResource(stack, "albService", bare)).toThrow(
      /no target group for albService\/albService\/3000/,
    );
  });

  it("leaves the desired count to the scaler on update when autoscaling is on", () => {
    expect(plan("publicService").service?.update.desiredCount).toBeUndefined();
    expect(plan("publicService").service?.create.desiredCount).toBe(2);
    expect(plan("privateApi").service?.update.desiredCount).toBe(1);
  });

  it("renders no service for a batch job", () => {
    expect(plan("report").service).toBeUndefined();
    expect(Render.toRequests(plan("report")).map((r) => r.operation)).toEqual([
      "CreateLogGroup",
      "PutRetentionPolicy",
      "CreateRole",
      "RegisterTaskDefinition",
    ]);
  });
});

describe("autoscaling", () => {
  it("registers min/max and one target-tracking policy per metric, scaling in slower than out", () => {
    const scaling = plan("publicService").scaling;
    expect(scaling?.target).toMatchObject({
      ServiceNamespace: "ecs",
      ResourceId: "service/berth/shop-publicService",
      ScalableDimension: "ecs:service:DesiredCount",
      MinCapacity: 2,
      MaxCapacity: 6,
    });
    expect(scaling?.policies.map((p) => p.TargetTrackingScalingPolicyConfiguration)).toEqual([
      {
        TargetValue: 70,
        PredefinedMetricSpecification: { PredefinedMetricType: "ECSServiceAverageCPUUtilization" },
        ScaleOutCooldown: 60,
        ScaleInCooldown: 300,
        DisableScaleIn: false,
      },
      {
        TargetValue: 80,
        PredefinedMetricSpecification: { PredefinedMetricType: "ECSServiceAverageMemoryUtilization" },
        ScaleOutCooldown: 60,
        ScaleInCooldown: 300,
        DisableScaleIn: false,
      },
    ]);
    expect(plan("shop").scaling?.policies[0]?.TargetTrackingScalingPolicyConfiguration?.ScaleInCooldown).toBe(
      600,
    );
  });

  it("renders no autoscaling when min equals max", () => {
    expect(plan("privateApi").scaling).toBeUndefined();
  });
});

describe("task roles", () => {
  const policy = (name: string) => JSON.parse(plan(name).role.policy?.PolicyDocument ?? "null");

  it("creates every role under the Berth path with the permissions boundary and a scoped trust policy", () => {
    const role = plan("privateApi").role.create;
    expect(role).toMatchObject({
      RoleName: "berth-shop-privateApi",
      Path: "/berth/",
      PermissionsBoundary: env.permissionsBoundaryArn,
    });
    const trust = JSON.parse(role.AssumeRolePolicyDocument ?? "{}");
    expect(trust.Statement[0].Principal).toEqual({ Service: "ecs-tasks.amazonaws.com" });
    expect(trust.Statement[0].Condition.StringEquals).toEqual({ "aws:SourceAccount": "000000000000" });
    expect(plan("privateApi").role.policy).toBeUndefined();
  });

  it("grants connectTo, remote sessions and iamRoleStatements", () => {
    const statements = policy("publicService").Statement as {
      Sid: string;
      Action: string[];
      Resource: string[];
    }[];
    expect(statements.map((s) => s.Sid)).toEqual([
      "ConnectToReportRun",
      "ConnectToReportTasks",
      "ConnectToReportStartRuns",
      "ConnectToReportDescribeRuns",
      "ConnectToReportPassRole",
      "ConnectToSes",
      "RemoteSessions",
      "PublishNotifications",
    ]);
    expect(statements[0]?.Resource).toEqual([
      "arn:aws:ecs:us-east-1:000000000000:task-definition/shop-report:*",
    ]);
    // A run is an execution of the job's own state machine, and only of that one.
    expect(statements[2]).toMatchObject({
      Action: ["states:StartExecution"],
      Resource: ["arn:aws:states:us-east-1:000000000000:stateMachine:berth-job-shop-report"],
    });
    expect(statements[3]?.Resource).toEqual([
      "arn:aws:states:us-east-1:000000000000:execution:berth-job-shop-report:*",
    ]);
    expect(statements[4]?.Resource).toEqual([
      "arn:aws:iam::000000000000:role/berth/berth-shop-report",
      "arn:aws:iam::000000000000:role/berth/berth-task-execution",
    ]);
  });

  it("keeps long role names within IAM's 64 characters, uniquely", () => {
    const long = parse(
      stringify({
        resources: {
          [`a${"b".repeat(60)}`]: {
            type: "worker-service",
            properties: {
              packaging: { type: "prebuilt-image", properties: { image: "x" } },
              resources: { cpu: 0.25, memory: 512 },
            },
          },
        },
      }),
    );
    const longEnv = Render.localEnvironment(long, { stack: "a-very-long-stack-name-for-tests" });
    const name = Render.taskRoleName(longEnv, `a${"b".repeat(60)}`);
    expect(name.length).toBeLessThanOrEqual(64);
    expect(name).not.toBe(Render.taskRoleName(longEnv, `a${"b".repeat(59)}c`));
  });

  it("qualifies Service Connect names by the stack, so two stacks' aliases differ in the shared namespace", () => {
    const [a, b] = [
      Render.localEnvironment(stack, { stack: "one" }),
      Render.localEnvironment(stack, { stack: "two" }),
    ];
    const published = (e: typeof a) =>
      Render.renderResource(stack, "privateApi", e).service?.create.serviceConnectConfiguration
        ?.services?.[0];
    expect(published(a)).toMatchObject({
      discoveryName: "one_privateapi",
      clientAliases: [{ dnsName: "privateapi.one" }],
    });
    expect(published(b)).toMatchObject({
      discoveryName: "two_privateapi",
      clientAliases: [{ dnsName: "privateapi.two" }],
    });
    // A discovery name has at most 64 characters; shortened ones stay distinct and valid.
    const longStack = "a-very-long-stack-name-for-tests";
    const alias = "x".repeat(63);
    const long = Render.serviceConnectDiscoveryName({ stack: longStack }, alias);
    expect(long.length).toBeLessThanOrEqual(64);
    expect(long).toMatch(/^[a-z0-9_][a-z0-9_-]*$/);
    expect(long).not.toBe(Render.serviceConnectDiscoveryName({ stack: longStack }, `${"x".repeat(62)}y`));
    expect(Render.serviceConnectDnsName({ stack: longStack }, alias).length).toBeLessThanOrEqual(127);
  });
});

describe("names", () => {
  it.each([
    ["privateApi", "PRIVATE_API"],
    ["myDatabase", "MY_DATABASE"],
    ["api2Server", "API2_SERVER"],
    ["HTTPServer", "HTTP_SERVER"],
  ])("%s → %s", (name, expected) => {
    expect(Render.upperSnake(name)).toBe(expected);
  });
});

describe("a batch job's run state machine", () => {
  const jobStack = parse(
    stringify({
      resources: {
        report: {
          type: "batch-job",
          properties: {
            container: { packaging: { type: "prebuilt-image", properties: { image: "busybox" } } },
            resources: { cpu: 0.25, memory: 512 },
            timeout: 600,
            retryConfig: { attempts: 3, retryIntervalSeconds: 10, retryIntervalMultiplier: 2 },
          },
        },
        once: {
          type: "batch-job",
          properties: {
            container: { packaging: { type: "prebuilt-image", properties: { image: "busybox" } } },
            resources: { cpu: 0.25, memory: 512 },
          },
        },
      },
    }),
  );
  const jobEnv = Render.localEnvironment(jobStack, {
    stack: "shop",
    jobRunRoleArn: "arn:aws:iam::000000000000:role/berth-job-run",
  });
  const revision = "arn:aws:ecs:us-east-1:000000000000:task-definition/shop-report:4";

  it("runs the registered revision with ecs:runTask.sync, bounded by timeout and retried per retryConfig", () => {
    const machine = Render.renderJobRun(jobStack, "report", jobEnv, revision);
    expect(machine.name).toBe("berth-job-shop-report");
    expect(machine.roleArn).toBe("arn:aws:iam::000000000000:role/berth-job-run");
    const run = machine.definition.States[Render.JOB_RUN_STATE];
    expect(run).toMatchObject({
      Type: "Task",
      Resource: "arn:aws:states:::ecs:runTask.sync",
      TimeoutSeconds: 600,
      Retry: [{ ErrorEquals: ["States.TaskFailed"], MaxAttempts: 2, IntervalSeconds: 10, BackoffRate: 2 }],
      End: true,
    });
    expect(run?.Parameters).toMatchObject({
      Cluster: "berth",
      TaskDefinition: revision,
      NetworkConfiguration: { AwsvpcConfiguration: { Subnets: ["subnet-berthlocal"] } },
      "Overrides.$": "$.overrides",
    });
    // Three attempts of up to 600 s, ten minutes each to place and stop, 10 + 20 s between them.
    expect(machine.definition.TimeoutSeconds).toBe(3 * 1200 + 30);
    expect(Render.jobStateMachineArn(jobEnv, "report")).toBe(
      "arn:aws:states:us-east-1:000000000000:stateMachine:berth-job-shop-report",
    );
  });

  it("runs without overrides as declared, and once without retryConfig", () => {
    const machine = Render.renderJobRun(jobStack, "once", jobEnv, revision);
    expect(machine.definition.States[Render.JOB_RUN_STATE]?.Retry).toBeUndefined();
    expect(machine.definition.States["No overrides"]).toMatchObject({
      Result: { ContainerOverrides: [] },
      ResultPath: "$.overrides",
    });
  });

  it("is refused without the installation's job run role", () => {
    const bare = Render.localEnvironment(jobStack, { stack: "shop" });
    expect(() => Render.renderJobRun(jobStack, "report", bare, revision)).toThrow(/job run role/);
  });
});

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  ApplicationAutoScalingClient,
  DeleteScalingPolicyCommand,
  DeregisterScalableTargetCommand,
  DescribeScalableTargetsCommand,
  DescribeScalingActivitiesCommand,
  DescribeScalingPoliciesCommand,
  InvalidNextTokenException,
  ListTagsForResourceCommand,
  ObjectNotFoundException,
  PutScalingPolicyCommand,
  type PutScalingPolicyCommandInput,
  RegisterScalableTargetCommand,
  type RegisterScalableTargetCommandInput,
  ResourceNotFoundException,
  TagResourceCommand,
  UntagResourceCommand,
  ValidationException,
} from "@aws-sdk/client-application-auto-scaling";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { failure, serve } from "../test-support.ts";
import { autoscalingService } from "./service.ts";
import { AutoscalingStore } from "./store.ts";
import type { ScalableServices } from "./types.ts";

/** ECS services by resource id with their desired counts; every change is kept. */
class FakeServices implements ScalableServices {
  readonly desired = new Map<string, number>();
  readonly changes: { resourceId: string; count: number; cause: string }[] = [];

  exists(resourceId: string): boolean {
    return this.desired.has(resourceId);
  }
  desiredCount(resourceId: string): number | undefined {
    return this.desired.get(resourceId);
  }
  setDesiredCount(resourceId: string, count: number, cause: string): void {
    this.desired.set(resourceId, count);
    this.changes.push({ resourceId, count, cause });
  }
  tasks() {
    return [];
  }
}

const ACCOUNT = "000000000000";
const REGION = "us-east-1";
const START = Date.UTC(2025, 0, 15, 12, 0, 0);
const WEB = "service/prod/web";
const API = "service/prod/api";
const WORKER = "service/staging/worker";

let dir: string;
let clock: number;
let services: FakeServices;
let store: AutoscalingStore;
let endpoint: { url: string; close: () => Promise<void> };
let autoscaling: ApplicationAutoScalingClient;

async function open(): Promise<void> {
  store = new AutoscalingStore(join(dir, "autoscaling.json"), {
    account: ACCOUNT,
    region: REGION,
    services,
    now: () => clock,
  });
  endpoint = await serve(autoscalingService(store));
  autoscaling = new ApplicationAutoScalingClient({
    endpoint: endpoint.url,
    region: REGION,
    credentials: { accessKeyId: "berth", secretAccessKey: "berth" },
    maxAttempts: 1,
  });
}

async function close(): Promise<void> {
  autoscaling.destroy();
  await endpoint.close();
}

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "berth-autoscaling-"));
  clock = START;
  services = new FakeServices();
  services.desired.set(WEB, 2);
  services.desired.set(API, 3);
  services.desired.set(WORKER, 1);
  await open();
});

afterEach(async () => {
  await close();
  rmSync(dir, { recursive: true, force: true });
});

const ecs = { ServiceNamespace: "ecs", ScalableDimension: "ecs:service:DesiredCount" } as const;

function register(input: Partial<RegisterScalableTargetCommandInput> = {}) {
  return autoscaling.send(
    new RegisterScalableTargetCommand({ ...ecs, ResourceId: WEB, MinCapacity: 1, MaxCapacity: 5, ...input }),
  );
}

/** What `cpuPolicy` asks for by default: 60 % CPU, out after 30 s, in after 10 minutes. */
const CPU_TARGET = {
  TargetValue: 60,
  PredefinedMetricSpecification: { PredefinedMetricType: "ECSServiceAverageCPUUtilization" as const },
  ScaleOutCooldown: 30,
  ScaleInCooldown: 600,
};

function cpuPolicy(input: Partial<PutScalingPolicyCommandInput> = {}) {
  return autoscaling.send(
    new PutScalingPolicyCommand({
      ...ecs,
      ResourceId: WEB,
      PolicyName: "web-cpu",
      PolicyType: "TargetTrackingScaling",
      TargetTrackingScalingPolicyConfiguration: CPU_TARGET,
      ...input,
    }),
  );
}

async function targets(input: { ResourceIds?: string[]; MaxResults?: number; NextToken?: string } = {}) {
  return autoscaling.send(new DescribeScalableTargetsCommand({ ServiceNamespace: "ecs", ...input }));
}

describe("scalable targets", () => {
  it("registers an ECS service and describes it as AWS does", async () => {
    const { ScalableTargetARN } = await register({ Tags: { team: "shop" } });
    expect(ScalableTargetARN).toMatch(
      /^arn:aws:application-autoscaling:us-east-1:000000000000:scalable-target\/[0-9a-f]{36}$/,
    );
    const { ScalableTargets, NextToken } = await targets();
    expect(NextToken).toBeUndefined();
    expect(ScalableTargets).toEqual([
      {
        ServiceNamespace: "ecs",
        ResourceId: WEB,
        ScalableDimension: "ecs:service:DesiredCount",
        MinCapacity: 1,
        MaxCapacity: 5,
        RoleARN:
          "arn:aws:iam::000000000000:role/aws-service-role/ecs.application-autoscaling.amazonaws.com/AWSServiceRoleForApplicationAutoScaling_ECSService",
        CreationTime: new Date(START),
        SuspendedState: {
          DynamicScalingInSuspended: false,
          DynamicScalingOutSuspended: false,
          ScheduledScalingSuspended: false,
        },
        ScalableTargetARN,
      },
    ]);
    // Inside [1, 5] already: the service's count is left alone.
    expect(services.changes).toEqual([]);
    const { Tags } = await autoscaling.send(
      new ListTagsForResourceCommand({ ResourceARN: ScalableTargetARN }),
    );
    expect(Tags).toEqual({ team: "shop" });
  });

  it("updates an existing target, keeping what the request leaves out", async () => {
    const { ScalableTargetARN } = await register();
    clock += 60_000;
    const again = await register({
      MinCapacity: undefined,
      MaxCapacity: 8,
      SuspendedState: { DynamicScalingInSuspended: true },
    });
    expect(again.ScalableTargetARN).toBe(ScalableTargetARN);
    const [target] = (await targets()).ScalableTargets ?? [];
    expect(target).toMatchObject({
      MinCapacity: 1,
      MaxCapacity: 8,
      CreationTime: new Date(START),
      SuspendedState: { DynamicScalingInSuspended: true, DynamicScalingOutSuspended: false },
    });
  });

  it("clamps the service's desired count into [min, max] when a target is registered or updated", async () => {
    await register({ MinCapacity: 3, MaxCapacity: 6 });
    expect(services.desired.get(WEB)).toBe(3);
    clock += 1000;
    services.desired.set(WEB, 6);
    await register({ MaxCapacity: 4 });
    expect(services.desired.get(WEB)).toBe(4);
    expect(services.changes.map(({ count }) => count)).toEqual([3, 4]);

    const { ScalingActivities } = await autoscaling.send(
      new DescribeScalingActivitiesCommand({ ServiceNamespace: "ecs", ResourceId: WEB }),
    );
    expect(ScalingActivities?.map((activity) => activity.Description)).toEqual([
      "Setting desired count to 4.",
      "Setting desired count to 3.",
    ]);
    expect(ScalingActivities?.[1]).toMatchObject({
      ServiceNamespace: "ecs",
      ResourceId: WEB,
      ScalableDimension: "ecs:service:DesiredCount",
      StartTime: new Date(START),
      EndTime: new Date(START),
      StatusCode: "Successful",
      StatusMessage: "Successfully set desired count to 3. Change successfully fulfilled by ecs.",
    });
    expect(ScalingActivities?.[1]?.Cause).toContain("minimum capacity 3");
    expect(ScalingActivities?.[0]?.Cause).toContain("maximum capacity 4");
    expect(ScalingActivities?.[0]?.ActivityId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("refuses what Berth Local cannot scale with ValidationException, changing nothing", async () => {
    const cases: [Partial<RegisterScalableTargetCommandInput>, string][] = [
      [{ ResourceId: "service/prod/missing" }, "ECS service doesn't exist: service/prod/missing"],
      [{ ServiceNamespace: "dynamodb", ResourceId: "table/orders" }, "ECS services only"],
      [{ ScalableDimension: "ecs:service:RunningCount" as never }, "scalable dimension"],
      [{ ResourceId: "prod/web" }, "service/<cluster-name>/<service-name>"],
      [{ MinCapacity: 4, MaxCapacity: 2 }, "cannot be greater than maximum capacity"],
      [{ MaxCapacity: undefined }, "MinCapacity and MaxCapacity are required"],
      [{ MinCapacity: -1 }, "MinCapacity"],
    ];
    for (const [input, message] of cases) {
      const error = await failure(register(input));
      expect(error, message).toBeInstanceOf(ValidationException);
      expect(error.message).toContain(message);
    }
    expect((await targets()).ScalableTargets).toEqual([]);
    expect(services.changes).toEqual([]);
  });

  it("filters by resource id and dimension, and pages with NextToken", async () => {
    await register({ ResourceId: WORKER });
    await register({ ResourceId: WEB });
    await register({ ResourceId: API });
    const ids = (response: Awaited<ReturnType<typeof targets>>) =>
      response.ScalableTargets?.map((target) => target.ResourceId);

    expect(ids(await targets({ ResourceIds: [WEB, WORKER] }))).toEqual([WEB, WORKER]);
    expect(ids(await targets({ ResourceIds: [] }))).toEqual([API, WEB, WORKER]);
    const first = await targets({ MaxResults: 2 });
    expect(ids(first)).toEqual([API, WEB]);
    expect(first.NextToken).toBeDefined();
    const second = await targets({ MaxResults: 2, NextToken: first.NextToken });
    expect(ids(second)).toEqual([WORKER]);
    expect(second.NextToken).toBeUndefined();
    const otherDimension = await autoscaling.send(
      new DescribeScalableTargetsCommand({
        ServiceNamespace: "ecs",
        ScalableDimension: "elasticmapreduce:instancegroup:InstanceCount",
      }),
    );
    expect(otherDimension.ScalableTargets).toEqual([]);
    const otherNamespace = await autoscaling.send(
      new DescribeScalableTargetsCommand({ ServiceNamespace: "dynamodb" }),
    );
    expect(otherNamespace.ScalableTargets).toEqual([]);

    expect(await failure(targets({ NextToken: "not-a-token" }))).toBeInstanceOf(InvalidNextTokenException);
    expect(await failure(targets({ MaxResults: 51 }))).toBeInstanceOf(ValidationException);
  });

  it("deregisters a target with its policies; a second deregistration is ObjectNotFoundException", async () => {
    await register();
    await register({ ResourceId: API });
    await cpuPolicy();
    await cpuPolicy({ ResourceId: API, PolicyName: "api-cpu" });
    await autoscaling.send(new DeregisterScalableTargetCommand({ ...ecs, ResourceId: WEB }));

    expect((await targets()).ScalableTargets?.map((target) => target.ResourceId)).toEqual([API]);
    const { ScalingPolicies } = await autoscaling.send(
      new DescribeScalingPoliciesCommand({ ServiceNamespace: "ecs" }),
    );
    expect(ScalingPolicies?.map((policy) => policy.PolicyName)).toEqual(["api-cpu"]);

    const again = await failure(
      autoscaling.send(new DeregisterScalableTargetCommand({ ...ecs, ResourceId: WEB })),
    );
    expect(again).toBeInstanceOf(ObjectNotFoundException);
    expect(again.message).toBe(
      `No scalable target registered for service namespace: ecs, resource ID: ${WEB}, scalable dimension: ecs:service:DesiredCount`,
    );
  });

  it("tags and untags a target by its ARN", async () => {
    const { ScalableTargetARN } = await register({ Tags: { team: "shop", stage: "prod" } });
    await autoscaling.send(new TagResourceCommand({ ResourceARN: ScalableTargetARN, Tags: { tier: "web" } }));
    await autoscaling.send(new UntagResourceCommand({ ResourceARN: ScalableTargetARN, TagKeys: ["stage"] }));
    const { Tags } = await autoscaling.send(
      new ListTagsForResourceCommand({ ResourceARN: ScalableTargetARN }),
    );
    expect(Tags).toEqual({ team: "shop", tier: "web" });
    const missing = await failure(
      autoscaling.send(
        new ListTagsForResourceCommand({
          ResourceARN: "arn:aws:application-autoscaling:us-east-1:000000000000:scalable-target/nope",
        }),
      ),
    );
    expect(missing).toBeInstanceOf(ResourceNotFoundException);
  });
});

describe("scaling policies", () => {
  beforeEach(async () => {
    await register();
  });

  it("puts a target-tracking policy and describes it", async () => {
    clock += 5000;
    const { PolicyARN, Alarms } = await cpuPolicy();
    expect(PolicyARN).toMatch(
      /^arn:aws:autoscaling:us-east-1:000000000000:scalingPolicy:[0-9a-f-]{36}:resource\/ecs\/service\/prod\/web:policyName\/web-cpu$/,
    );
    expect(Alarms).toEqual([]);
    await cpuPolicy({
      PolicyName: "web-memory",
      TargetTrackingScalingPolicyConfiguration: {
        TargetValue: 75.5,
        PredefinedMetricSpecification: { PredefinedMetricType: "ECSServiceAverageMemoryUtilization" },
        DisableScaleIn: true,
      },
    });

    const { ScalingPolicies, NextToken } = await autoscaling.send(
      new DescribeScalingPoliciesCommand({ ServiceNamespace: "ecs", ResourceId: WEB }),
    );
    expect(NextToken).toBeUndefined();
    expect(ScalingPolicies).toEqual([
      {
        PolicyARN,
        PolicyName: "web-cpu",
        ServiceNamespace: "ecs",
        ResourceId: WEB,
        ScalableDimension: "ecs:service:DesiredCount",
        PolicyType: "TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration: CPU_TARGET,
        Alarms: [],
        CreationTime: new Date(START + 5000),
      },
      expect.objectContaining({
        PolicyName: "web-memory",
        TargetTrackingScalingPolicyConfiguration: {
          TargetValue: 75.5,
          PredefinedMetricSpecification: { PredefinedMetricType: "ECSServiceAverageMemoryUtilization" },
          DisableScaleIn: true,
        },
      }),
    ]);

    const byName = await autoscaling.send(
      new DescribeScalingPoliciesCommand({ ServiceNamespace: "ecs", PolicyNames: ["web-memory"] }),
    );
    expect(byName.ScalingPolicies?.map((policy) => policy.PolicyName)).toEqual(["web-memory"]);
    const paged = await autoscaling.send(
      new DescribeScalingPoliciesCommand({ ServiceNamespace: "ecs", MaxResults: 1 }),
    );
    expect(paged.ScalingPolicies?.map((policy) => policy.PolicyName)).toEqual(["web-cpu"]);
    const rest = await autoscaling.send(
      new DescribeScalingPoliciesCommand({
        ServiceNamespace: "ecs",
        MaxResults: 1,
        NextToken: paged.NextToken,
      }),
    );
    expect(rest.ScalingPolicies?.map((policy) => policy.PolicyName)).toEqual(["web-memory"]);
    expect(rest.NextToken).toBeUndefined();
  });

  it("updates a policy of the same name in place, keeping its ARN", async () => {
    const { PolicyARN } = await cpuPolicy();
    const updated = await cpuPolicy({
      PolicyType: undefined,
      TargetTrackingScalingPolicyConfiguration: {
        TargetValue: 40,
        PredefinedMetricSpecification: { PredefinedMetricType: "ECSServiceAverageCPUUtilization" },
      },
    });
    expect(updated.PolicyARN).toBe(PolicyARN);
    const { ScalingPolicies } = await autoscaling.send(
      new DescribeScalingPoliciesCommand({ ServiceNamespace: "ecs" }),
    );
    expect(ScalingPolicies).toHaveLength(1);
    expect(ScalingPolicies?.[0]?.TargetTrackingScalingPolicyConfiguration).toEqual({
      TargetValue: 40,
      PredefinedMetricSpecification: { PredefinedMetricType: "ECSServiceAverageCPUUtilization" },
    });
  });

  it("refuses step scaling, other metrics and bad targets with ValidationException", async () => {
    const step = await failure(
      cpuPolicy({
        PolicyType: "StepScaling",
        TargetTrackingScalingPolicyConfiguration: undefined,
        StepScalingPolicyConfiguration: { AdjustmentType: "ChangeInCapacity", Cooldown: 60 },
      }),
    );
    expect(step).toBeInstanceOf(ValidationException);
    expect(step.message).toContain("Berth Local supports target tracking");
    // A new policy without a type is a step scaling policy on AWS.
    const untyped = await failure(cpuPolicy({ PolicyType: undefined }));
    expect(untyped).toBeInstanceOf(ValidationException);
    expect(untyped.message).toContain("StepScaling");

    const configurations: [
      PutScalingPolicyCommandInput["TargetTrackingScalingPolicyConfiguration"],
      string,
    ][] = [
      [undefined, "TargetTrackingScalingPolicyConfiguration is required"],
      [
        {
          TargetValue: 100,
          PredefinedMetricSpecification: {
            PredefinedMetricType: "ALBRequestCountPerTarget",
            ResourceLabel: "app/web/1/targetgroup/web/2",
          },
        },
        "Unsupported PredefinedMetricType ALBRequestCountPerTarget",
      ],
      [
        {
          TargetValue: 100,
          CustomizedMetricSpecification: { MetricName: "Queue", Namespace: "App", Statistic: "Average" },
        },
        "customized metrics are not supported",
      ],
      [
        {
          TargetValue: 0,
          PredefinedMetricSpecification: { PredefinedMetricType: "ECSServiceAverageCPUUtilization" },
        },
        "TargetValue must be greater than 0",
      ],
      [
        {
          TargetValue: 50,
          PredefinedMetricSpecification: { PredefinedMetricType: "ECSServiceAverageCPUUtilization" },
          ScaleInCooldown: -5,
        },
        "ScaleInCooldown",
      ],
    ];
    for (const [configuration, message] of configurations) {
      const error = await failure(cpuPolicy({ TargetTrackingScalingPolicyConfiguration: configuration }));
      expect(error, message).toBeInstanceOf(ValidationException);
      expect(error.message).toContain(message);
    }
    const { ScalingPolicies } = await autoscaling.send(
      new DescribeScalingPoliciesCommand({ ServiceNamespace: "ecs" }),
    );
    expect(ScalingPolicies).toEqual([]);
  });

  it("needs a registered target: ObjectNotFoundException otherwise", async () => {
    const error = await failure(cpuPolicy({ ResourceId: API }));
    expect(error).toBeInstanceOf(ObjectNotFoundException);
    expect(error.message).toContain(`resource ID: ${API}`);
  });

  it("deletes a policy; deleting it again is ObjectNotFoundException", async () => {
    await cpuPolicy();
    const remove = () =>
      autoscaling.send(new DeleteScalingPolicyCommand({ ...ecs, ResourceId: WEB, PolicyName: "web-cpu" }));
    await remove();
    const { ScalingPolicies } = await autoscaling.send(
      new DescribeScalingPoliciesCommand({ ServiceNamespace: "ecs" }),
    );
    expect(ScalingPolicies).toEqual([]);
    const error = await failure(remove());
    expect(error).toBeInstanceOf(ObjectNotFoundException);
    expect(error.message).toContain("policy name: web-cpu");
  });
});

describe("persistence", () => {
  it("keeps targets, policies and activities across a restart", async () => {
    services.desired.set(WEB, 9);
    await register();
    const { PolicyARN } = await cpuPolicy();
    const before = {
      targets: await targets(),
      activities: await autoscaling.send(new DescribeScalingActivitiesCommand({ ServiceNamespace: "ecs" })),
    };
    expect(before.activities.ScalingActivities).toHaveLength(1);

    await close();
    await open();

    expect((await targets()).ScalableTargets).toEqual(before.targets.ScalableTargets);
    const { ScalingPolicies } = await autoscaling.send(
      new DescribeScalingPoliciesCommand({ ServiceNamespace: "ecs" }),
    );
    expect(ScalingPolicies?.map((policy) => policy.PolicyARN)).toEqual([PolicyARN]);
    const activities = await autoscaling.send(
      new DescribeScalingActivitiesCommand({ ServiceNamespace: "ecs" }),
    );
    expect(activities.ScalingActivities).toEqual(before.activities.ScalingActivities);
  });
});

import { z } from "zod";
import { AwsError, type AwsJsonService, operation } from "../protocol.ts";
import {
  type AutoscalingStore,
  ECS_DESIRED_COUNT,
  ECS_NAMESPACE,
  PREDEFINED_METRICS,
  type ScalableTargetRecord,
  type ScalingActivityRecord,
  type ScalingPolicyRecord,
} from "./store.ts";

// --- input members, with the constraints of the Application Auto Scaling model ---

const SERVICE_NAMESPACES = [
  "ecs",
  "elasticmapreduce",
  "ec2",
  "appstream",
  "dynamodb",
  "rds",
  "sagemaker",
  "custom-resource",
  "comprehend",
  "lambda",
  "cassandra",
  "kafka",
  "elasticache",
  "neptune",
  "workspaces",
] as const;
const ServiceNamespace = z.enum(SERVICE_NAMESPACES);
/** Any dimension of the model's enum is well formed; only `ecs:service:DesiredCount` is served. */
const ScalableDimension = z.string().regex(/^[a-z-]+:[A-Za-z-]+:[A-Za-z]+$/, "is not a scalable dimension");
const ResourceId = z.string().min(1).max(1600);
const PolicyName = z
  .string()
  .min(1)
  .max(256)
  .regex(/^\P{Cc}+$/u, "must be printable characters");
const Capacity = z.number().int().nonnegative();
const Cooldown = z.number().int().nonnegative();
const NextToken = z.string().max(2048);
const maxResults = (max: number) => z.number().int().min(1).max(max).optional();
const ResourceArn = z.string().min(1).max(1011);
const TagKey = z.string().min(1).max(128);
const Tags = z.record(TagKey, z.string().max(256));

const TargetMembers = { ServiceNamespace, ResourceId, ScalableDimension };

const RegisterScalableTargetInput = z.object({
  ...TargetMembers,
  MinCapacity: Capacity.optional(),
  MaxCapacity: Capacity.optional(),
  RoleARN: z.string().min(1).max(1600).optional(),
  SuspendedState: z
    .object({
      DynamicScalingInSuspended: z.boolean().optional(),
      DynamicScalingOutSuspended: z.boolean().optional(),
      ScheduledScalingSuspended: z.boolean().optional(),
    })
    .optional(),
  Tags: Tags.optional(),
});
const DeregisterScalableTargetInput = z.object(TargetMembers);
const DescribeScalableTargetsInput = z.object({
  ServiceNamespace,
  ResourceIds: z.array(ResourceId).optional(),
  ScalableDimension: ScalableDimension.optional(),
  MaxResults: maxResults(50),
  NextToken: NextToken.optional(),
});
const TargetTrackingConfiguration = z.object({
  TargetValue: z.number().refine(Number.isFinite, { message: "must be a number" }),
  PredefinedMetricSpecification: z
    .object({
      PredefinedMetricType: z.string().min(1),
      ResourceLabel: z.string().min(1).max(1023).optional(),
    })
    .optional(),
  CustomizedMetricSpecification: z.unknown().optional(),
  ScaleOutCooldown: Cooldown.optional(),
  ScaleInCooldown: Cooldown.optional(),
  DisableScaleIn: z.boolean().optional(),
});
const PutScalingPolicyInput = z.object({
  PolicyName,
  ...TargetMembers,
  PolicyType: z.enum(["StepScaling", "TargetTrackingScaling", "PredictiveScaling"]).optional(),
  StepScalingPolicyConfiguration: z.unknown().optional(),
  TargetTrackingScalingPolicyConfiguration: TargetTrackingConfiguration.optional(),
  PredictiveScalingPolicyConfiguration: z.unknown().optional(),
});
const DeleteScalingPolicyInput = z.object({ PolicyName, ...TargetMembers });
const DescribeScalingPoliciesInput = z.object({
  PolicyNames: z.array(PolicyName).optional(),
  ServiceNamespace,
  ResourceId: ResourceId.optional(),
  ScalableDimension: ScalableDimension.optional(),
  MaxResults: maxResults(50),
  NextToken: NextToken.optional(),
});
const DescribeScalingActivitiesInput = z.object({
  ServiceNamespace,
  ResourceId: ResourceId.optional(),
  ScalableDimension: ScalableDimension.optional(),
  MaxResults: maxResults(50),
  NextToken: NextToken.optional(),
  IncludeNotScaledActivities: z.boolean().optional(),
});
const ResourceArnInput = z.object({ ResourceARN: ResourceArn });
const TagResourceInput = z.object({ ResourceARN: ResourceArn, Tags });
const UntagResourceInput = z.object({ ResourceARN: ResourceArn, TagKeys: z.array(TagKey).min(1).max(200) });

const ECS_RESOURCE_ID = /^service\/[A-Za-z0-9_-]{1,255}\/[A-Za-z0-9_-]{1,255}$/;

/** Berth Local scales ECS services' desired count and nothing else. */
function requireEcsService(input: {
  ServiceNamespace: string;
  ResourceId: string;
  ScalableDimension: string;
}) {
  if (input.ServiceNamespace !== ECS_NAMESPACE) {
    throw new AwsError(
      "ValidationException",
      `Berth Local scales ECS services only: ServiceNamespace must be ${ECS_NAMESPACE}, not ${input.ServiceNamespace}.`,
    );
  }
  if (input.ScalableDimension !== ECS_DESIRED_COUNT) {
    throw new AwsError(
      "ValidationException",
      `Unsupported service namespace, resource type or scalable dimension: ${ECS_NAMESPACE} scales ${ECS_DESIRED_COUNT}.`,
    );
  }
  if (!ECS_RESOURCE_ID.test(input.ResourceId)) {
    throw new AwsError(
      "ValidationException",
      `Unsupported resource ID ${input.ResourceId}: an ECS service is service/<cluster-name>/<service-name>.`,
    );
  }
}

// --- pagination: a token names the sort key of the last item returned ---

function encodeToken(key: readonly (string | number)[]): string {
  return Buffer.from(JSON.stringify(key), "utf8").toString("base64url");
}

function decodeToken(token: string): (string | number)[] {
  try {
    return z
      .array(z.union([z.string(), z.number()]))
      .parse(JSON.parse(Buffer.from(token, "base64url").toString("utf8")));
  } catch {
    throw new AwsError("InvalidNextTokenException", "The NextToken value is invalid.");
  }
}

function compareKeys(a: readonly (string | number)[], b: readonly (string | number)[]): number {
  for (let index = 0; index < Math.max(a.length, b.length); index++) {
    const left = a[index];
    const right = b[index];
    if (left === right) continue;
    if (left === undefined) return -1;
    if (right === undefined) return 1;
    return left < right ? -1 : 1;
  }
  return 0;
}

/** Sorts by `keyOf` and returns the page after the token's key. */
function page<Item>(
  items: readonly Item[],
  keyOf: (item: Item) => (string | number)[],
  limit: number,
  token: string | undefined,
): { page: Item[]; nextToken?: string } {
  const sorted = [...items].sort((a, b) => compareKeys(keyOf(a), keyOf(b)));
  const after = token === undefined ? undefined : decodeToken(token);
  const start = after === undefined ? 0 : sorted.findIndex((item) => compareKeys(keyOf(item), after) > 0);
  const rest = start < 0 ? [] : sorted.slice(start);
  const result = rest.slice(0, limit);
  const last = result.at(-1);
  return rest.length > limit && last !== undefined
    ? { page: result, nextToken: encodeToken(keyOf(last)) }
    : { page: result };
}

// --- response shapes: dates are epoch seconds ---

const seconds = (milliseconds: number) => milliseconds / 1000;

function targetShape(target: ScalableTargetRecord) {
  return {
    ServiceNamespace: ECS_NAMESPACE,
    ResourceId: target.resourceId,
    ScalableDimension: target.scalableDimension,
    MinCapacity: target.minCapacity,
    MaxCapacity: target.maxCapacity,
    RoleARN: target.roleArn,
    CreationTime: seconds(target.creationTime),
    SuspendedState: {
      DynamicScalingInSuspended: target.suspended.scaleIn,
      DynamicScalingOutSuspended: target.suspended.scaleOut,
      ScheduledScalingSuspended: target.suspended.scheduled,
    },
    ScalableTargetARN: target.arn,
  };
}

function policyShape(policy: ScalingPolicyRecord) {
  return {
    PolicyARN: policy.arn,
    PolicyName: policy.name,
    ServiceNamespace: ECS_NAMESPACE,
    ResourceId: policy.resourceId,
    ScalableDimension: policy.scalableDimension,
    PolicyType: "TargetTrackingScaling",
    TargetTrackingScalingPolicyConfiguration: {
      TargetValue: policy.targetValue,
      PredefinedMetricSpecification: {
        PredefinedMetricType: policy.metric,
        ...(policy.resourceLabel === undefined ? {} : { ResourceLabel: policy.resourceLabel }),
      },
      ...(policy.scaleOutCooldown === undefined ? {} : { ScaleOutCooldown: policy.scaleOutCooldown }),
      ...(policy.scaleInCooldown === undefined ? {} : { ScaleInCooldown: policy.scaleInCooldown }),
      ...(policy.disableScaleIn === undefined ? {} : { DisableScaleIn: policy.disableScaleIn }),
    },
    // Berth Local evaluates the policy itself: there are no CloudWatch alarms behind it.
    Alarms: [],
    CreationTime: seconds(policy.creationTime),
  };
}

function activityShape(activity: ScalingActivityRecord) {
  return {
    ActivityId: activity.id,
    ServiceNamespace: ECS_NAMESPACE,
    ResourceId: activity.resourceId,
    ScalableDimension: activity.scalableDimension,
    Description: activity.description,
    Cause: activity.cause,
    StartTime: seconds(activity.startTime),
    EndTime: seconds(activity.endTime),
    StatusCode: activity.statusCode,
    StatusMessage: activity.statusMessage,
    ...(activity.details === undefined ? {} : { Details: activity.details }),
  };
}

/** The one target-tracking configuration Berth Local runs: a predefined ECS metric against a positive target. */
function targetTracking(
  input: z.infer<typeof PutScalingPolicyInput>,
  existing: ScalingPolicyRecord | undefined,
) {
  const type = input.PolicyType ?? (existing ? "TargetTrackingScaling" : "StepScaling");
  if (type !== "TargetTrackingScaling") {
    throw new AwsError(
      "ValidationException",
      `Berth Local supports target tracking scaling policies only (PolicyType TargetTrackingScaling), not ${type}.`,
    );
  }
  const configuration = input.TargetTrackingScalingPolicyConfiguration;
  if (!configuration) {
    throw new AwsError(
      "ValidationException",
      "TargetTrackingScalingPolicyConfiguration is required for a TargetTrackingScaling policy.",
    );
  }
  const metric = configuration.PredefinedMetricSpecification?.PredefinedMetricType;
  if (configuration.CustomizedMetricSpecification !== undefined || metric === undefined) {
    throw new AwsError(
      "ValidationException",
      `Berth Local supports the predefined metrics ${PREDEFINED_METRICS.join(" and ")}; customized metrics are not supported.`,
    );
  }
  const predefined = PREDEFINED_METRICS.find((candidate) => candidate === metric);
  if (!predefined) {
    throw new AwsError(
      "ValidationException",
      `Unsupported PredefinedMetricType ${metric}: Berth Local supports ${PREDEFINED_METRICS.join(" and ")}.`,
    );
  }
  if (!(configuration.TargetValue > 0)) {
    throw new AwsError("ValidationException", "TargetValue must be greater than 0 for a utilization metric.");
  }
  return { configuration, metric: predefined };
}

/**
 * Berth Local's Application Auto Scaling API over an AutoscalingStore: scalable targets for ECS
 * services' desired count, target-tracking policies on their average CPU and memory utilization
 * (the Scaler applies them), and the scaling activities. Dates are epoch seconds.
 */
export function autoscalingService(store: AutoscalingStore): AwsJsonService {
  return {
    name: "application-autoscaling",
    targetPrefix: "AnyScaleFrontendService",
    validationError: "ValidationException",
    operations: {
      RegisterScalableTarget: operation(RegisterScalableTargetInput, (input) => {
        requireEcsService(input);
        const target = store.registerTarget({
          resourceId: input.ResourceId,
          scalableDimension: input.ScalableDimension,
          minCapacity: input.MinCapacity,
          maxCapacity: input.MaxCapacity,
          roleArn: input.RoleARN,
          suspendedState: input.SuspendedState,
          tags: input.Tags,
        });
        return { ScalableTargetARN: target.arn };
      }),

      DeregisterScalableTarget: operation(DeregisterScalableTargetInput, (input) => {
        const target = store.target(input.ResourceId, input.ScalableDimension);
        if (input.ServiceNamespace !== ECS_NAMESPACE || !target) {
          throw new AwsError(
            "ObjectNotFoundException",
            `No scalable target registered for service namespace: ${input.ServiceNamespace}, resource ID: ${input.ResourceId}, scalable dimension: ${input.ScalableDimension}`,
          );
        }
        store.deregisterTarget(input.ResourceId, input.ScalableDimension);
        return {};
      }),

      DescribeScalableTargets: operation(DescribeScalableTargetsInput, (input) => {
        // An empty list filters nothing out, as an absent one.
        const ids = input.ResourceIds?.length ? new Set(input.ResourceIds) : undefined;
        const targets = store
          .targets()
          .filter(
            (target) =>
              input.ServiceNamespace === ECS_NAMESPACE &&
              (ids === undefined || ids.has(target.resourceId)) &&
              (input.ScalableDimension === undefined || target.scalableDimension === input.ScalableDimension),
          );
        const result = page(
          targets,
          (target) => [target.resourceId, target.scalableDimension],
          input.MaxResults ?? 50,
          input.NextToken,
        );
        return {
          ScalableTargets: result.page.map(targetShape),
          ...(result.nextToken ? { NextToken: result.nextToken } : {}),
        };
      }),

      PutScalingPolicy: operation(PutScalingPolicyInput, (input) => {
        requireEcsService(input);
        const existing = store
          .policiesOf({ resourceId: input.ResourceId, scalableDimension: input.ScalableDimension })
          .find((policy) => policy.name === input.PolicyName);
        const { configuration, metric } = targetTracking(input, existing);
        const policy = store.putPolicy({
          name: input.PolicyName,
          resourceId: input.ResourceId,
          scalableDimension: input.ScalableDimension,
          metric,
          resourceLabel: configuration.PredefinedMetricSpecification?.ResourceLabel,
          targetValue: configuration.TargetValue,
          scaleOutCooldown: configuration.ScaleOutCooldown,
          scaleInCooldown: configuration.ScaleInCooldown,
          disableScaleIn: configuration.DisableScaleIn,
        });
        return { PolicyARN: policy.arn, Alarms: [] };
      }),

      DescribeScalingPolicies: operation(DescribeScalingPoliciesInput, (input) => {
        const names = input.PolicyNames?.length ? new Set(input.PolicyNames) : undefined;
        const policies = store
          .policies()
          .filter(
            (policy) =>
              input.ServiceNamespace === ECS_NAMESPACE &&
              (names === undefined || names.has(policy.name)) &&
              (input.ResourceId === undefined || policy.resourceId === input.ResourceId) &&
              (input.ScalableDimension === undefined || policy.scalableDimension === input.ScalableDimension),
          );
        const result = page(
          policies,
          (policy) => [policy.resourceId, policy.scalableDimension, policy.name],
          input.MaxResults ?? 10,
          input.NextToken,
        );
        return {
          ScalingPolicies: result.page.map(policyShape),
          ...(result.nextToken ? { NextToken: result.nextToken } : {}),
        };
      }),

      DeleteScalingPolicy: operation(DeleteScalingPolicyInput, (input) => {
        if (input.ServiceNamespace !== ECS_NAMESPACE) {
          throw new AwsError(
            "ObjectNotFoundException",
            `No scaling policy found for service namespace: ${input.ServiceNamespace}, resource ID: ${input.ResourceId}, scalable dimension: ${input.ScalableDimension}, policy name: ${input.PolicyName}`,
          );
        }
        store.deletePolicy(input.ResourceId, input.ScalableDimension, input.PolicyName);
        return {};
      }),

      DescribeScalingActivities: operation(DescribeScalingActivitiesInput, (input) => {
        const activities = store
          .activities()
          .filter(
            (activity) =>
              input.ServiceNamespace === ECS_NAMESPACE &&
              (input.ResourceId === undefined || activity.resourceId === input.ResourceId) &&
              (input.ScalableDimension === undefined ||
                activity.scalableDimension === input.ScalableDimension),
          );
        // Newest first, as AWS lists them.
        const result = page(
          activities,
          (activity) => [-activity.startTime, activity.id],
          input.MaxResults ?? 50,
          input.NextToken,
        );
        return {
          ScalingActivities: result.page.map(activityShape),
          ...(result.nextToken ? { NextToken: result.nextToken } : {}),
        };
      }),

      ListTagsForResource: operation(ResourceArnInput, (input) => ({
        Tags: Object.fromEntries(store.targetByArn(input.ResourceARN).tags),
      })),

      TagResource: operation(TagResourceInput, (input) => {
        store.tagTarget(input.ResourceARN, input.Tags);
        return {};
      }),

      UntagResource: operation(UntagResourceInput, (input) => {
        store.untagTarget(input.ResourceARN, input.TagKeys);
        return {};
      }),
    },
  };
}

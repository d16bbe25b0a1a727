import type {
  PutScalingPolicyCommandInput,
  RegisterScalableTargetCommandInput,
} from "@aws-sdk/client-application-auto-scaling";
import type { Spec } from "../spec/index.ts";
import type { Environment } from "./environment.ts";
import { scalingResourceId, serviceName, standardTags } from "./names.ts";

export interface ScalingRequests {
  target: RegisterScalableTargetCommandInput;
  policies: PutScalingPolicyCommandInput[];
}

/**
 * A scalable target and one target-tracking policy per metric. Target tracking scales out when
 * any policy is above its target and in only when all are below; the scale-in cooldown is longer
 * than the scale-out one, so capacity comes fast and goes slowly.
 */
export function renderScaling(
  resourceName: string,
  scaling: Spec.Scaling,
  env: Environment,
): ScalingRequests | undefined {
  if (scaling.maxInstances <= scaling.minInstances) return undefined;
  const policy = scaling.scalingPolicy ?? {
    keepAvgCpuUtilizationUnder: 80,
    keepAvgMemoryUtilizationUnder: 80,
  };
  const common = {
    ServiceNamespace: "ecs" as const,
    ResourceId: scalingResourceId(env, resourceName),
    ScalableDimension: "ecs:service:DesiredCount" as const,
  };
  const metrics = [
    {
      suffix: "cpu",
      metric: "ECSServiceAverageCPUUtilization" as const,
      target: policy.keepAvgCpuUtilizationUnder,
    },
    {
      suffix: "memory",
      metric: "ECSServiceAverageMemoryUtilization" as const,
      target: policy.keepAvgMemoryUtilizationUnder,
    },
  ];
  return {
    target: {
      ...common,
      MinCapacity: scaling.minInstances,
      MaxCapacity: scaling.maxInstances,
      Tags: standardTags(env, resourceName),
    },
    policies: metrics.map(({ suffix, metric, target }) => ({
      ...common,
      PolicyName: `${serviceName(env, resourceName)}-${suffix}`,
      PolicyType: "TargetTrackingScaling",
      TargetTrackingScalingPolicyConfiguration: {
        TargetValue: target,
        PredefinedMetricSpecification: { PredefinedMetricType: metric },
        ScaleOutCooldown: scaling.scaleOutCooldownSeconds,
        ScaleInCooldown: scaling.scaleInCooldownSeconds,
        DisableScaleIn: false,
      },
    })),
  };
}

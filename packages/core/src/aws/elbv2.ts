import { ElasticLoadBalancingV2Client } from "@aws-sdk/client-elastic-load-balancing-v2";
import { type ClientConfig, isAwsError } from "./errors.ts";

export function elbClient(config: ClientConfig = {}): ElasticLoadBalancingV2Client {
  return new ElasticLoadBalancingV2Client(config);
}

/** The load balancer, listener, rule or target group does not exist (deleted meanwhile). */
export function isNotFound(error: unknown): boolean {
  return isAwsError(
    error,
    "LoadBalancerNotFoundException",
    "ListenerNotFoundException",
    "RuleNotFoundException",
    "TargetGroupNotFoundException",
  );
}

/** A target group still used by a listener or rule, or a load balancer being changed. */
export function isInUse(error: unknown): boolean {
  return isAwsError(error, "ResourceInUseException");
}

/** A listener on that port exists already (another service's deployment created it meanwhile). */
export function isDuplicateListener(error: unknown): boolean {
  return isAwsError(error, "DuplicateListenerException");
}

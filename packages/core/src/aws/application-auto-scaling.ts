import { ApplicationAutoScalingClient } from "@aws-sdk/client-application-auto-scaling";
import { type ClientConfig, isAwsError } from "./errors.ts";

export function autoScalingClient(config: ClientConfig = {}): ApplicationAutoScalingClient {
  return new ApplicationAutoScalingClient(config);
}

/** The scalable target (or policy) does not exist. */
export function isNotFound(error: unknown): boolean {
  return isAwsError(error, "ObjectNotFoundException");
}

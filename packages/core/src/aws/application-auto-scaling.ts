import { ApplicationAutoScalingClient } from "@aws-sdk/client-application-auto-scaling";
import { isAwsError } from "./errors.ts";

export function autoScalingClient(): ApplicationAutoScalingClient {
  return new ApplicationAutoScalingClient({});
}

/** The scalable target (or policy) does not exist. */
export function isNotFound(error: unknown): boolean {
  return isAwsError(error, "ObjectNotFoundException");
}

import { ECSClient } from "@aws-sdk/client-ecs";
import { isAwsError } from "./errors.ts";

export function ecsClient(): ECSClient {
  return new ECSClient({});
}

/** The ECS service does not exist. */
export function isServiceNotFound(error: unknown): boolean {
  return isAwsError(error, "ServiceNotFoundException");
}

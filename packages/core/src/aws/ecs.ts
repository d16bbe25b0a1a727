import { ECSClient } from "@aws-sdk/client-ecs";
import { type ClientConfig, isAwsError } from "./errors.ts";

export function ecsClient(config: ClientConfig = {}): ECSClient {
  return new ECSClient(config);
}

/** The ECS service does not exist. */
export function isServiceNotFound(error: unknown): boolean {
  return isAwsError(error, "ServiceNotFoundException");
}

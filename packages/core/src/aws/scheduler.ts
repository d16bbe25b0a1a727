import { SchedulerClient } from "@aws-sdk/client-scheduler";
import { type ClientConfig, isAwsError } from "./errors.ts";

export function schedulerClient(config: ClientConfig = {}): SchedulerClient {
  return new SchedulerClient(config);
}

/** The schedule (or its group) does not exist. */
export function isNotFound(error: unknown): boolean {
  return isAwsError(error, "ResourceNotFoundException");
}

/** A schedule of that name exists already (a second writer created it first). */
export function isConflict(error: unknown): boolean {
  return isAwsError(error, "ConflictException");
}

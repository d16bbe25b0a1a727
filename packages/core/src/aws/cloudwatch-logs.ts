import { CloudWatchLogsClient } from "@aws-sdk/client-cloudwatch-logs";
import { type ClientConfig, isAwsError } from "./errors.ts";

export function logsClient(config: ClientConfig = {}): CloudWatchLogsClient {
  return new CloudWatchLogsClient(config);
}

/** The log group (or stream) does not exist. */
export function isNotFound(error: unknown): boolean {
  return isAwsError(error, "ResourceNotFoundException");
}

/** The log group being created exists already. */
export function isAlreadyExists(error: unknown): boolean {
  return isAwsError(error, "ResourceAlreadyExistsException");
}

/** CloudWatch Logs refused a parameter, such as a `nextToken` it did not hand out. */
export function isInvalidParameter(error: unknown): boolean {
  return isAwsError(error, "InvalidParameterException");
}

import { Route53Client } from "@aws-sdk/client-route-53";
import { type ClientConfig, isAwsError } from "./errors.ts";

export function route53Client(config: ClientConfig = {}): Route53Client {
  // Route 53 is a global service: its endpoint answers in us-east-1 whatever the stack's region.
  return new Route53Client({ ...config, region: "us-east-1" });
}

/**
 * A record to delete is not there any more (deleted by hand, or a retried deletion), or the
 * hosted zone is gone: nothing is left to delete.
 */
export function isRecordGone(error: unknown): boolean {
  if (isAwsError(error, "NoSuchHostedZone")) return true;
  return (
    isAwsError(error, "InvalidChangeBatch") && error instanceof Error && /not found/i.test(error.message)
  );
}

import { AutoScalingClient } from "@aws-sdk/client-auto-scaling";
import { EC2Client } from "@aws-sdk/client-ec2";
import { SSMClient } from "@aws-sdk/client-ssm";
import { type ClientConfig, isAwsError } from "./errors.ts";

/** EC2 hosts: their Auto Scaling group, its launch template (EC2), and the AMI parameter (SSM). */
export function autoScalingGroupsClient(config: ClientConfig = {}): AutoScalingClient {
  return new AutoScalingClient(config);
}

export function ec2Client(config: ClientConfig = {}): EC2Client {
  return new EC2Client(config);
}

export function ssmClient(config: ClientConfig = {}): SSMClient {
  return new SSMClient(config);
}

/** The group already runs an instance refresh: a second one is refused until it ends. */
export function isRefreshInProgress(error: unknown): boolean {
  return isAwsError(error, "InstanceRefreshInProgressFault");
}

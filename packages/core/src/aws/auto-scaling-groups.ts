import type { AutoScalingClient } from "@aws-sdk/client-auto-scaling";
import type { EC2Client } from "@aws-sdk/client-ec2";
import type { SSMClient } from "@aws-sdk/client-ssm";
import { type ClientConfig, isAwsError } from "./errors.ts";

// EC2 hosts: their Auto Scaling group, its launch template (EC2), and the AMI parameter (SSM).
// Only a host refresh uses these clients, and only with EC2 capacity, so their SDK packages are
// loaded on a client's first request rather than with this module: EC2's and SSM's take over a
// second of CPU to import, which every process that loads the AWS modules (each step function,
// each Berth Local, each test worker) would otherwise pay for nothing.

type Sender = { send(command: never): Promise<unknown> };

/** A client with only `send`, created (and its package imported) on the first request. */
function onFirstSend<Client extends Sender>(create: () => Promise<Client>): Pick<Client, "send"> {
  let client: Promise<Client> | undefined;
  const send = async (command: never) => {
    client ??= create();
    return (await client).send(command);
  };
  return { send } as Pick<Client, "send">;
}

export function autoScalingGroupsClient(config: ClientConfig = {}): Pick<AutoScalingClient, "send"> {
  return onFirstSend(
    async () => new (await import("@aws-sdk/client-auto-scaling")).AutoScalingClient(config),
  );
}

export function ec2Client(config: ClientConfig = {}): Pick<EC2Client, "send"> {
  return onFirstSend(async () => new (await import("@aws-sdk/client-ec2")).EC2Client(config));
}

export function ssmClient(config: ClientConfig = {}): Pick<SSMClient, "send"> {
  return onFirstSend(async () => new (await import("@aws-sdk/client-ssm")).SSMClient(config));
}

/** The group already runs an instance refresh: a second one is refused until it ends. */
export function isRefreshInProgress(error: unknown): boolean {
  return isAwsError(error, "InstanceRefreshInProgressFault");
}

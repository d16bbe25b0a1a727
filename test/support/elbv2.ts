import {
  DescribeTargetGroupsCommand,
  DescribeTargetHealthCommand,
  ElasticLoadBalancingV2Client,
} from "@aws-sdk/client-elastic-load-balancing-v2";
import { waitFor } from "./apps.ts";
import { awsCli } from "./berth-local-process.ts";
import { localAwsConfig } from "./e2e.ts";

/** Berth Local's load balancers and target groups, as the aws CLI shows them. */

export interface Balancer {
  LoadBalancerArn: string;
  LoadBalancerName: string;
  DNSName: string;
  Type: string;
  Scheme: string;
}

export async function balancers(awsUrl: string): Promise<Balancer[]> {
  const { LoadBalancers } = (await awsCli(awsUrl, ["elbv2", "describe-load-balancers"])) as {
    LoadBalancers: Balancer[];
  };
  return LoadBalancers;
}

/** The names of the target groups that start with `prefix`. */
export async function targetGroupNames(awsUrl: string, prefix: string): Promise<string[]> {
  const { TargetGroups } = (await awsCli(awsUrl, ["elbv2", "describe-target-groups"])) as {
    TargetGroups: { TargetGroupName: string }[];
  };
  return TargetGroups.map((group) => group.TargetGroupName).filter((name) => name.startsWith(prefix));
}

/** The health state of each target in the target group named `group`, in the CLI's order. */
export async function targetStates(awsUrl: string, group: string): Promise<string[]> {
  const { TargetGroups } = (await awsCli(awsUrl, ["elbv2", "describe-target-groups", "--names", group])) as {
    TargetGroups: { TargetGroupArn: string }[];
  };
  const arn = TargetGroups[0]?.TargetGroupArn;
  if (!arn) throw new Error(`no target group ${group}`);
  const { TargetHealthDescriptions } = (await awsCli(awsUrl, [
    "elbv2",
    "describe-target-health",
    "--target-group-arn",
    arn,
  ])) as { TargetHealthDescriptions: { TargetHealth: { State: string } }[] };
  return TargetHealthDescriptions.map((description) => description.TargetHealth.State);
}

/**
 * Waits until the target group's targets' health states, sorted, are `expected`; then answers
 * them as the aws CLI shows them. The wait polls through the SDK: a CLI call starts a Python
 * process (a second and a half of CPU), and a poll every second for as long as health checks
 * take would spend more CPU than the rest of the test.
 */
export async function waitForTargetStates(
  awsUrl: string,
  group: string,
  expected: string[],
  timeoutMs: number,
): Promise<string[]> {
  const elb = new ElasticLoadBalancingV2Client(localAwsConfig(awsUrl));
  try {
    await waitFor(
      `the targets of ${group} to be ${expected.join(", ")}`,
      async () => {
        const { TargetGroups = [] } = await elb.send(new DescribeTargetGroupsCommand({ Names: [group] }));
        const arn = TargetGroups[0]?.TargetGroupArn;
        if (!arn) return undefined;
        const { TargetHealthDescriptions = [] } = await elb.send(
          new DescribeTargetHealthCommand({ TargetGroupArn: arn }),
        );
        const states = TargetHealthDescriptions.map((description) => description.TargetHealth?.State ?? "");
        return states.sort().join() === [...expected].sort().join() || undefined;
      },
      timeoutMs,
      1_000,
    );
  } finally {
    elb.destroy();
  }
  return (await targetStates(awsUrl, group)).sort();
}

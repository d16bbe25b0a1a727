import { awsCli } from "./berth-local-process.ts";

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

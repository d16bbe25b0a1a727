import {
  DescribeTargetGroupsCommand,
  DescribeTargetHealthCommand,
  ElasticLoadBalancingV2Client,
  paginateDescribeLoadBalancers,
  paginateDescribeTargetGroups,
} from "@aws-sdk/client-elastic-load-balancing-v2";
import { waitFor } from "./apps.ts";
import { localAwsConfig, withClient } from "./e2e.ts";

/**
 * Berth Local's load balancers and target groups, read through the SDK: these reads check what
 * Berth created, and an aws CLI call would start a Python process (most of a second of CPU) for
 * each. alb.e2e.test.ts reads the listener and its rules with the aws CLI itself.
 */

export interface Balancer {
  LoadBalancerArn: string;
  LoadBalancerName: string;
  DNSName: string;
  Type: string;
  Scheme: string;
}

/** Runs `read` with an ELBv2 client on Berth Local's endpoint, destroyed afterwards. */
export function withElb<T>(awsUrl: string, read: (elb: ElasticLoadBalancingV2Client) => Promise<T>) {
  return withClient(new ElasticLoadBalancingV2Client(localAwsConfig(awsUrl)), read);
}

/** Every load balancer, all pages (as the aws CLI would list them). */
export function balancers(awsUrl: string): Promise<Balancer[]> {
  return withElb(awsUrl, async (elb) => {
    const found: Balancer[] = [];
    for await (const page of paginateDescribeLoadBalancers({ client: elb }, {})) {
      if (!page.LoadBalancers) throw new Error("DescribeLoadBalancers answered no LoadBalancers");
      found.push(...(page.LoadBalancers as Balancer[]));
    }
    return found;
  });
}

/** Every target group's name and ARN, all pages. */
export function targetGroups(awsUrl: string): Promise<{ TargetGroupArn: string; TargetGroupName: string }[]> {
  return withElb(awsUrl, async (elb) => {
    const found: { TargetGroupArn: string; TargetGroupName: string }[] = [];
    for await (const page of paginateDescribeTargetGroups({ client: elb }, {})) {
      if (!page.TargetGroups) throw new Error("DescribeTargetGroups answered no TargetGroups");
      for (const group of page.TargetGroups)
        found.push({
          TargetGroupArn: group.TargetGroupArn ?? "",
          TargetGroupName: group.TargetGroupName ?? "",
        });
    }
    return found;
  });
}

/** The names of the target groups that start with `prefix`. */
export async function targetGroupNames(awsUrl: string, prefix: string): Promise<string[]> {
  return (await targetGroups(awsUrl))
    .map((group) => group.TargetGroupName)
    .filter((name) => name.startsWith(prefix));
}

/** The health state of each target in the target group named `group`, in the endpoint's order. */
export function targetStates(awsUrl: string, group: string): Promise<string[]> {
  return withElb(awsUrl, (elb) => statesOf(elb, group));
}

async function statesOf(elb: ElasticLoadBalancingV2Client, group: string): Promise<string[]> {
  const { TargetGroups = [] } = await elb.send(new DescribeTargetGroupsCommand({ Names: [group] }));
  const arn = TargetGroups[0]?.TargetGroupArn;
  if (!arn) throw new Error(`no target group ${group}`);
  const { TargetHealthDescriptions = [] } = await elb.send(
    new DescribeTargetHealthCommand({ TargetGroupArn: arn }),
  );
  return TargetHealthDescriptions.map((description) => description.TargetHealth?.State ?? "");
}

/**
 * Waits until the target group's targets' health states, sorted, are `expected`; then reads
 * them once more and answers them, sorted.
 */
export function waitForTargetStates(
  awsUrl: string,
  group: string,
  expected: string[],
  timeoutMs: number,
): Promise<string[]> {
  return withElb(awsUrl, async (elb) => {
    await waitFor(
      `the targets of ${group} to be ${expected.join(", ")}`,
      async () => (await statesOf(elb, group)).sort().join() === [...expected].sort().join() || undefined,
      timeoutMs,
      1_000,
    );
    return (await statesOf(elb, group)).sort();
  });
}

import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ElasticLoadBalancingV2Client } from "@aws-sdk/client-elastic-load-balancing-v2";
import type { RegisteredTask } from "../proxy/weighted.ts";
import { startAwsEndpoint } from "../server.ts";
import { LoadBalancers } from "./service.ts";

/**
 * For tests: the ELBv2 endpoint over a fresh state file, whose target groups hold `targets()`,
 * and an SDK client for it. `closers` gets what ends them.
 */
export async function loadBalancersEndpoint(
  targets: () => RegisteredTask[],
  closers: (() => Promise<void>)[],
): Promise<ElasticLoadBalancingV2Client> {
  return (await loadBalancersService(() => targets(), closers)).client;
}

/** The same, with each target group's targets its own (`targetsOf`), and the service itself. */
export async function loadBalancersService(
  targetsOf: (targetGroupArn: string) => RegisteredTask[],
  closers: (() => Promise<void>)[],
): Promise<{ client: ElasticLoadBalancingV2Client; balancers: LoadBalancers }> {
  const dir = mkdtempSync(join(tmpdir(), "berth-elb-"));
  const balancers = new LoadBalancers(join(dir, "elbv2.json"), {
    account: "000000000000",
    region: "us-east-1",
    targetsOf,
  });
  await balancers.start();
  const endpoint = await startAwsEndpoint({ port: 0, services: [], routes: [balancers.route()] });
  const client = new ElasticLoadBalancingV2Client({
    endpoint: endpoint.url,
    region: "us-east-1",
    credentials: { accessKeyId: "a", secretAccessKey: "b" },
  });
  closers.push(async () => {
    client.destroy();
    await endpoint.close();
    await balancers.close();
  });
  return { client, balancers };
}

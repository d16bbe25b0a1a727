import {
  CreateClusterCommand,
  CreateServiceCommand,
  DescribeServiceDeploymentsCommand,
  DescribeServicesCommand,
  ECSClient,
  ListServiceDeploymentsCommand,
  RegisterTaskDefinitionCommand,
  StopServiceDeploymentCommand,
  UpdateServiceCommand,
} from "@aws-sdk/client-ecs";
import {
  CreateListenerCommand,
  CreateLoadBalancerCommand,
  CreateRuleCommand,
  CreateTargetGroupCommand,
  DescribeRulesCommand,
  ElasticLoadBalancingV2Client,
} from "@aws-sdk/client-elastic-load-balancing-v2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { appTaskDefinition, httpApp, waitFor } from "../../../../test/support/apps.ts";
import { ask, type LoadResult, okBody, underLoad } from "../../../../test/support/load.ts";
import type { BerthLocal } from "../berth-local.ts";
import { CANARY_10_PERCENT_5_MINUTES, localClientConfig, startTestLocal } from "../test-support.ts";

/**
 * ECS's traffic shifting through a load balancer on Berth Local: a service whose loadBalancers
 * carry advancedConfiguration moves a canary's share by changing the weights of the production
 * listener rule's forward between its two target groups (as `DescribeRules` shows them), the
 * balancer's listener routes by those weights, and a new task that fails under its canary share
 * returns every weight to the old target group. A strategy minute lasts 2 s here.
 */

const app = httpApp();
let local: BerthLocal;
let ecs: ECSClient;
let elb: ElasticLoadBalancingV2Client;
let primary = "";
let alternate = "";
let rule = "";
let url = "";

async function register(environment: Record<string, string>): Promise<string> {
  const { taskDefinition } = await ecs.send(
    new RegisterTaskDefinitionCommand(appTaskDefinition(app.image, "alb-shift", environment)),
  );
  return taskDefinition?.taskDefinitionArn ?? "";
}

/** The production rule's weights as `primary/alternate`. */
async function weights(): Promise<string> {
  const { Rules = [] } = await elb.send(new DescribeRulesCommand({ RuleArns: [rule] }));
  const groups = Rules[0]?.Actions?.[0]?.ForwardConfig?.TargetGroups ?? [];
  const of = (arn: string) => groups.find((group) => group.TargetGroupArn === arn)?.Weight ?? "?";
  return `${of(primary)}/${of(alternate)}`;
}

async function newest() {
  const { services } = await ecs.send(new DescribeServicesCommand({ cluster: "shift", services: ["web"] }));
  return services?.[0]?.deployments ?? [];
}

/**
 * Clients asking the balancer (test/support/load.ts's, three of them) and a watcher of the
 * weights, until the newest deployment ends. `before` is the weights read before the update was
 * sent: on a busy machine the canary's shift can come before the watcher's first read.
 */
async function underLoadWatchingWeights(before: string, done: () => Promise<boolean>) {
  const seen: string[] = [before];
  let watching = true;
  const watcher = (async () => {
    while (watching) {
      const current = await weights();
      if (current !== seen.at(-1)) seen.push(current);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  })();
  let load: LoadResult;
  try {
    load = await underLoad(
      async () => okBody(await ask(`${url}/`, 15_000)),
      () => waitFor("the deployment to end", done, 300_000, 250),
      3,
    );
  } finally {
    watching = false;
    await watcher;
  }
  const last = await weights();
  if (last !== seen.at(-1)) seen.push(last);
  return { seen, versions: load.greetings, failures: load.failures };
}

beforeAll(async () => {
  local = await startTestLocal("alb-shift", { strategyMinuteMs: 2_000 });
  const aws = localClientConfig(local.awsEndpoint.url);
  ecs = new ECSClient(aws);
  elb = new ElasticLoadBalancingV2Client(aws);
  await ecs.send(new CreateClusterCommand({ clusterName: "shift" }));
  const group = async (Name: string) => {
    const { TargetGroups = [] } = await elb.send(
      new CreateTargetGroupCommand({ Name, Protocol: "HTTP", Port: 3000, TargetType: "ip", VpcId: "vpc-1" }),
    );
    return TargetGroups[0]?.TargetGroupArn ?? "";
  };
  primary = await group("web-blue");
  alternate = await group("web-green");
  const { LoadBalancers = [] } = await elb.send(
    new CreateLoadBalancerCommand({ Name: "web", Type: "application", Subnets: ["subnet-1"] }),
  );
  url = `http://${LoadBalancers[0]?.DNSName}`;
  const { Listeners = [] } = await elb.send(
    new CreateListenerCommand({
      LoadBalancerArn: LoadBalancers[0]?.LoadBalancerArn,
      Port: 80,
      Protocol: "HTTP",
      DefaultActions: [{ Type: "fixed-response", FixedResponseConfig: { StatusCode: "404" } }],
    }),
  );
  const { Rules = [] } = await elb.send(
    new CreateRuleCommand({
      ListenerArn: Listeners[0]?.ListenerArn,
      Priority: 1,
      Conditions: [{ Field: "path-pattern", PathPatternConfig: { Values: ["/*"] } }],
      Actions: [
        {
          Type: "forward",
          ForwardConfig: {
            TargetGroups: [
              { TargetGroupArn: primary, Weight: 100 },
              { TargetGroupArn: alternate, Weight: 0 },
            ],
          },
        },
      ],
    }),
  );
  rule = Rules[0]?.RuleArn ?? "";
});

afterAll(async () => {
  await local?.close();
});

describe("ECS shifting a production listener rule on Berth Local", { shuffle: false }, () => {
  it("registers a first deployment's tasks in the primary target group, all traffic on it", async () => {
    await ecs.send(
      new CreateServiceCommand({
        cluster: "shift",
        serviceName: "web",
        taskDefinition: await register({ VERSION: "v1" }),
        desiredCount: 1,
        deploymentConfiguration: CANARY_10_PERCENT_5_MINUTES,
        loadBalancers: [
          {
            targetGroupArn: primary,
            containerName: "app",
            containerPort: 3000,
            advancedConfiguration: {
              alternateTargetGroupArn: alternate,
              productionListenerRule: rule,
              roleArn: "arn:aws:iam::000000000000:role/ecs-lb",
            },
          },
        ],
      }),
    );
    await waitFor(
      "v1 to complete",
      async () => (await newest())[0]?.rolloutState === "COMPLETED",
      120_000,
      250,
    );
    expect(local.ecs.targetGroupTasks(primary)).toHaveLength(1);
    expect(local.ecs.targetGroupTasks(alternate)).toEqual([]);
    expect(await (await fetch(`${url}/`)).text()).toBe("v1");
    expect(await weights()).toBe("100/0");
  }, 200_000);

  it("moves the canary's 10% to the alternate group by the rule's weights, then all of it", async () => {
    const before = await weights();
    await ecs.send(
      new UpdateServiceCommand({
        cluster: "shift",
        service: "web",
        taskDefinition: await register({ VERSION: "v2" }),
      }),
    );
    const run = await underLoadWatchingWeights(
      before,
      async () => (await newest())[0]?.rolloutState !== "IN_PROGRESS",
    );
    expect((await newest())[0]?.rolloutState).toBe("COMPLETED");
    expect(run.failures).toEqual([]);
    expect(run.seen).toEqual(["100/0", "90/10", "0/100"]);
    expect([...run.versions.keys()].sort()).toEqual(["v1", "v2"]);
    expect(local.ecs.targetGroupTasks(alternate)).toHaveLength(1);
    expect(local.ecs.targetGroupTasks(primary)).toEqual([]);
    expect(await (await fetch(`${url}/`)).text()).toBe("v2");
  }, 300_000);

  it("returns every weight to the old group when a new task crashes under its canary share", async () => {
    const before = await weights();
    await ecs.send(
      new UpdateServiceCommand({
        cluster: "shift",
        service: "web",
        taskDefinition: await register({ VERSION: "v3", CRASH_ONCE_SERVING: "1" }),
      }),
    );
    const failed = (await newest())[0]?.id;
    const run = await underLoadWatchingWeights(before, async () => {
      const [latest] = await newest();
      return latest?.id !== failed && latest?.rolloutState === "COMPLETED";
    });
    // This time the new tasks went to the primary group, the one that took no traffic. Their 10/90
    // lasts only until the first crash, which a watcher on a busy machine can miss between two
    // reads: the weights seen are 0/100, maybe 10/90, then 0/100 again, and ECS's events say the
    // shift and the move back happened, in that order.
    expect(run.seen.at(0)).toBe("0/100");
    expect(run.seen.at(-1)).toBe("0/100");
    expect(run.seen.filter((weights) => weights !== "0/100" && weights !== "10/90")).toEqual([]);
    const { services } = await ecs.send(new DescribeServicesCommand({ cluster: "shift", services: ["web"] }));
    const events = (services?.[0]?.events ?? []).map((event) => event.message ?? "").reverse();
    const shifted = events.findLastIndex((message) => message.includes("shifted 10% of production traffic"));
    expect(shifted, events.join("\n")).toBeGreaterThan(-1);
    expect(
      events.findIndex(
        (message, index) => index > shifted && message.includes("moved all production traffic back"),
      ),
      events.join("\n"),
    ).toBeGreaterThan(shifted);
    expect(run.versions.get("v3") ?? 0).toBeGreaterThan(0);
    for (let index = 0; index < 5; index += 1) expect(await (await fetch(`${url}/`)).text()).toBe("v2");
  }, 300_000);

  it("StopServiceDeployment (ROLLBACK) mid-shift returns the weights to the old group, as its service deployment tells", async () => {
    await ecs.send(
      new UpdateServiceCommand({
        cluster: "shift",
        service: "web",
        taskDefinition: await register({ VERSION: "v4" }),
      }),
    );
    const { services = [] } = await ecs.send(
      new DescribeServicesCommand({ cluster: "shift", services: ["web"] }),
    );
    const arn = services[0]?.currentServiceDeployment ?? "";
    const { serviceDeployments: listed = [] } = await ecs.send(
      new ListServiceDeploymentsCommand({ cluster: "shift", service: "web", maxResults: 1 }),
    );
    expect(listed[0]?.serviceDeploymentArn).toBe(arn);
    const describe = async () =>
      (await ecs.send(new DescribeServiceDeploymentsCommand({ serviceDeploymentArns: [arn] })))
        .serviceDeployments?.[0];
    // Only ROLLBACK is a stop type ECS documents.
    const refused = (input: { serviceDeploymentArn: string; stopType?: "ABORT" | "ROLLBACK" }) =>
      ecs.send(new StopServiceDeploymentCommand(input)).then(
        () => "accepted",
        (error: Error) => error.name,
      );
    expect(await refused({ serviceDeploymentArn: arn, stopType: "ABORT" })).toBe("InvalidParameterException");
    expect(await refused({ serviceDeploymentArn: "not-an-arn", stopType: "ROLLBACK" })).toBe(
      "InvalidParameterException",
    );
    expect(await refused({ serviceDeploymentArn: `${arn.slice(0, -3)}000`, stopType: "ROLLBACK" })).toBe(
      "ServiceDeploymentNotFoundException",
    );
    await waitFor("the canary's share", async () => (await weights()) === "10/90", 120_000, 100);
    const shifting = await describe();
    expect(shifting?.status).toBe("IN_PROGRESS");
    expect(shifting?.targetServiceRevision?.requestedProductionTrafficWeight).toBe(10);
    await ecs.send(new StopServiceDeploymentCommand({ serviceDeploymentArn: arn, stopType: "ROLLBACK" }));
    // The rollback moved all production traffic back at once; a second stop lets it go on.
    expect(await weights()).toBe("0/100");
    const rolling = await describe();
    expect(["ROLLBACK_IN_PROGRESS", "ROLLBACK_SUCCESSFUL"]).toContain(rolling?.status);
    expect(rolling?.rollback?.reason).toBe("Service deployment rolled back by StopServiceDeployment.");
    if (rolling?.status === "ROLLBACK_IN_PROGRESS") {
      expect(await refused({ serviceDeploymentArn: arn, stopType: "ROLLBACK" })).toBe("accepted");
    }
    const ended = await waitFor(
      "the rollback to succeed",
      async () => {
        const found = await describe();
        return found?.status === "ROLLBACK_SUCCESSFUL" ? found : undefined;
      },
      120_000,
      250,
    );
    expect(ended.finishedAt).toBeInstanceOf(Date);
    // A service deployment that ended cannot be stopped.
    expect(await refused({ serviceDeploymentArn: arn, stopType: "ROLLBACK" })).toBe("ConflictException");
    for (let index = 0; index < 5; index += 1) expect(await (await fetch(`${url}/`)).text()).toBe("v2");
    expect(await weights()).toBe("0/100");
  }, 300_000);
});

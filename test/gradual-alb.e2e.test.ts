import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { DescribeServicesCommand } from "@aws-sdk/client-ecs";
import {
  DescribeListenersCommand,
  DescribeLoadBalancersCommand,
  DescribeRulesCommand,
  ElasticLoadBalancingV2Client,
} from "@aws-sdk/client-elastic-load-balancing-v2";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { appPackaging, HEALTH_CHECK_TIMING, HTTP_HEALTH_CHECK, httpApp, waitFor } from "./support/apps.ts";
import { logTail } from "./support/berth-local-process.ts";
import { localAwsConfig, localSuite, newestDeployment } from "./support/e2e.ts";
import { targetGroups, withElb } from "./support/elbv2.ts";
import { okBody, underLoad } from "./support/load.ts";

/**
 * A canary deployment of a web-service behind its own application load balancer, end to end on
 * Berth Local with `berth deploy`: the deploy workflow creates the alternate target group and the
 * production listener rule, ECS (Berth Local's) shifts the rule's weights on the strategy's
 * schedule while clients load the balancer without one failed request, the ELBv2 API (DescribeRules)
 * shows the weights, and a release that crashes once it takes canary traffic is rolled back with
 * all the traffic back on the old tasks. A strategy minute lasts 3 s here (BERTH_LOCAL_MINUTE_MS).
 */

const suite = localSuite("berth-gradual-alb-", { env: { BERTH_LOCAL_MINUTE_MS: "3000" } });
const { work, logFile, berth } = suite;
const app = httpApp();
const stackFile = join(work, "berth.yml");
const STACK = "canary";
const PRIMARY = "b-canary-web-web-3000";
const ALTERNATE = "b-canary-web-web-3000-alt";

function writeStack(version: string, environment: Record<string, string> = {}): void {
  writeFileSync(
    stackFile,
    stringify({
      resources: {
        web: {
          type: "web-service",
          properties: {
            packaging: appPackaging(app.image),
            resources: { cpu: 0.25, memory: 512 },
            port: 3000,
            stopTimeout: 5,
            // The app closes its server on SIGTERM: requests in flight finish.
            environment: Object.entries({ VERSION: version, ON_SIGTERM: "close", ...environment }).map(
              ([name, value]) => ({ name, value }),
            ),
            internalHealthCheck: {
              healthCheckCommand: HTTP_HEALTH_CHECK,
              ...HEALTH_CHECK_TIMING,
              retries: 1,
            },
            loadBalancing: { type: "application-load-balancer" },
            deployment: { strategy: "Canary10Percent5Minutes" },
          },
        },
      },
    }),
  );
}

async function listenerArn(): Promise<{ url: string; listener: string }> {
  return withElb(suite.local.awsUrl, async (elb) => {
    const { LoadBalancers = [] } = await elb.send(
      new DescribeLoadBalancersCommand({ Names: ["berth-canary-web"] }),
    );
    const balancer = LoadBalancers[0];
    if (!balancer) throw new Error("no load balancer berth-canary-web");
    const { Listeners = [] } = await elb.send(
      new DescribeListenersCommand({ LoadBalancerArn: balancer.LoadBalancerArn }),
    );
    return { url: `http://${balancer.DNSName}`, listener: Listeners[0]?.ListenerArn ?? "" };
  });
}

async function groupNames(): Promise<Map<string, string>> {
  return new Map(
    (await targetGroups(suite.local.awsUrl)).map((group) => [group.TargetGroupArn, group.TargetGroupName]),
  );
}

interface Rule {
  RuleArn: string;
  Priority: string;
  Actions: {
    Type: string;
    TargetGroupArn?: string;
    ForwardConfig?: { TargetGroups: { TargetGroupArn: string; Weight: number }[] };
  }[];
}

/** The production rule's weights as `primary/alternate`. */
function weights(listener: string, names: Map<string, string>): Promise<string> {
  return withElb(suite.local.awsUrl, (elb) => weightsBySdk(elb, listener, names));
}

/**
 * The same read with a client of the caller's: the weights watcher polls every 100 ms (the
 * canary's 15 s step must not be missed), with one client.
 */
async function weightsBySdk(elb: ElasticLoadBalancingV2Client, listener: string, names: Map<string, string>) {
  const { Rules = [] } = await elb.send(new DescribeRulesCommand({ ListenerArn: listener }));
  return productionWeights(Rules as Rule[], names);
}

function productionWeights(rules: Rule[], names: Map<string, string>): string {
  const production = rules.find((rule) => rule.Priority === "1");
  const groups = production?.Actions[0]?.ForwardConfig?.TargetGroups ?? [];
  const weightOf = (name: string) =>
    groups.find((group) => names.get(group.TargetGroupArn) === name)?.Weight ?? "?";
  return `${weightOf(PRIMARY)}/${weightOf(ALTERNATE)}`;
}

/** The ECS service's events, oldest first (for the messages of failed assertions). */
async function serviceEvents(): Promise<string> {
  const { services = [] } = await suite.ecs.send(
    new DescribeServicesCommand({ cluster: "berth", services: ["canary-web"] }),
  );
  return (services[0]?.events ?? [])
    .map((event) => event.message)
    .reverse()
    .join("\n");
}

async function ask(url: string): Promise<{ status: number; body: string }> {
  const response = await fetch(url, { signal: AbortSignal.timeout(15_000) });
  return { status: response.status, body: await response.text() };
}

/**
 * Four clients ask the balancer back to back, and the production rule's weights are read over
 * and over, until `until` resolves; answers the versions that answered, the failures and the
 * distinct weights seen, in order.
 */
async function underLoadWatchingWeights(url: string, listener: string, until: () => Promise<unknown>) {
  const names = await groupNames();
  const seen: string[] = [];
  let watching = true;
  const elb = new ElasticLoadBalancingV2Client(localAwsConfig(suite.local.awsUrl));
  const watcher = (async () => {
    while (watching) {
      const current = await weightsBySdk(elb, listener, names).catch(() => undefined);
      if (current && current !== seen.at(-1)) seen.push(current);
      await delay(100); // a poll, not a wait: the 10% step lasts seconds
    }
  })().finally(() => elb.destroy());
  let load: Awaited<ReturnType<typeof underLoad>>;
  try {
    load = await underLoad(async () => okBody(await ask(`${url}/`)), until);
  } finally {
    watching = false;
    await watcher;
  }
  seen.push(await weights(listener, names));
  return { failures: load.failures, versions: load.greetings, seen, total: load.total };
}

describe("a canary deployment behind an application load balancer on Berth Local", { shuffle: false }, () => {
  let url = "";
  let listener = "";

  it("deploys a web-service with a canary strategy: two target groups, a production rule forwarding to both", async () => {
    writeStack("v1");
    const { code, output } = await berth(["deploy", "-f", stackFile, "--stack", STACK, "--timeout", "5m"]);
    expect(code, `${output}\n${logTail(logFile)}`).toBe(0);
    ({ url, listener } = await listenerArn());
    expect(output).toContain(url);
    expect((await ask(`${url}/`)).body).toBe("v1");
    const names = await groupNames();
    expect([...names.values()].filter((name) => name.startsWith("b-canary-")).sort()).toEqual([
      PRIMARY,
      ALTERNATE,
    ]);
    // The service's traffic goes through a rule ECS can shift, ahead of the listener's default.
    expect(await weights(listener, names)).toBe("100/0");
  }, 400_000);

  it("shifts 10% to the new tasks for the bake, then all of it, with no failed request", async () => {
    expect(url).not.toBe("");
    writeStack("v2");
    let deploy: Awaited<ReturnType<typeof berth>> | undefined;
    const load = await underLoadWatchingWeights(url, listener, async () => {
      deploy = await berth(["deploy", "-f", stackFile, "--stack", STACK, "--timeout", "5m"]);
    });
    expect(deploy?.code, `${deploy?.output}\n${logTail(logFile)}`).toBe(0);
    expect((await newestDeployment(suite.api, STACK, "web")).status).toBe("SUCCEEDED");
    expect(load.failures, `${load.failures.length} of ${load.total} requests failed`).toEqual([]);
    expect(load.total).toBeGreaterThan(50);
    // The canary's 10% went to the alternate group, then all of it: ECS's schedule, as the watcher saw it.
    const events = await serviceEvents();
    expect(load.seen, events).toContain("90/10");
    expect(load.seen.indexOf("90/10")).toBeLessThan(load.seen.indexOf("0/100"));
    expect(load.seen.at(-1), events).toBe("0/100");
    expect([...load.versions.keys()].sort()).toEqual(["v1", "v2"]);
    for (let index = 0; index < 5; index += 1) expect((await ask(`${url}/`)).body).toBe("v2");
  }, 500_000);

  it("rolls a release that crashes under its canary traffic back, all traffic on the old tasks", async () => {
    writeStack("v3", { CRASH_ONCE_SERVING: "1" });
    let deploy: Awaited<ReturnType<typeof berth>> | undefined;
    const load = await underLoadWatchingWeights(url, listener, async () => {
      deploy = await berth(["deploy", "-f", stackFile, "--stack", STACK, "--timeout", "5m"]);
    });
    expect(deploy?.code, deploy?.output).not.toBe(0);
    // ECS's reason; Berth followed ECS's own rollback and started none of its own.
    expect(deploy?.output).toContain(
      "A task of the new deployment failed while 10% of production traffic was shifted to it",
    );
    const deployment = await newestDeployment(suite.api, STACK, "web");
    expect(deployment.status, deployment.reason).toBe("ROLLED_BACK");
    expect(deployment.reason).toContain("10% of production traffic");
    // The new tasks (in the primary group this time) got their 10%, then the weights went back.
    // (The 10/90 state can be too short for the weights poller: ECS's service events tell it.)
    const events = await serviceEvents();
    const shifted = events.lastIndexOf("shifted 10% of production traffic to the new tasks");
    expect(shifted, events).toBeGreaterThan(-1);
    expect(events.indexOf("moved all production traffic back to the previous tasks"), events).toBeGreaterThan(
      shifted,
    );
    // One rollback, ECS's: no second deployment shifts traffic between the groups again.
    expect(events.match(/rolling back to/g), events).toHaveLength(1);
    const afterRollback = events.slice(events.indexOf("moved all production traffic back"));
    expect(afterRollback, events).not.toMatch(/shifted \d+% of production traffic/);
    expect(load.seen, events).not.toContain("100/0");
    // All traffic stays on the old tasks, in the alternate group.
    const names = await groupNames();
    // Polled, then read once more.
    const elb = new ElasticLoadBalancingV2Client(localAwsConfig(suite.local.awsUrl));
    await waitFor("all production traffic on the old tasks", async () =>
      (await weightsBySdk(elb, listener, names)) === "0/100" ? true : undefined,
    ).finally(() => elb.destroy());
    expect(await weights(listener, names), events).toBe("0/100");
    expect(load.versions.get("v3") ?? 0, JSON.stringify([...load.versions])).toBeGreaterThan(0);
    for (let index = 0; index < 5; index += 1) expect((await ask(`${url}/`)).body).toBe("v2");
  }, 500_000);

  it("deleting the stack removes the balancer and both target groups", async () => {
    const deleted = await suite.api.request<{
      services: { service: string; deployment?: { deployment: { id: string } } }[];
    }>("DELETE", `/v1/stacks/${STACK}`);
    for (const entry of deleted.services) {
      const ended = await suite.api.waitForStatus(entry.deployment?.deployment.id ?? "", undefined, 120_000);
      expect(ended.deployment.status, `${entry.service}: ${ended.deployment.reason}`).toBe("SUCCEEDED");
    }
    expect([...(await groupNames()).values()].filter((name) => name.startsWith("b-canary-"))).toEqual([]);
    await expect(ask(`${url}/`)).rejects.toThrow();
  }, 300_000);
});

import { readFileSync, writeFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { waitFor } from "./support/apps.ts";
import { awsCli, logTail } from "./support/berth-local-process.ts";
import { copyExample, deleteStackAndWait, localSuite, newestDeployment } from "./support/e2e.ts";
import {
  balancers as balancersOn,
  targetGroupNames,
  targetStates as targetStatesOn,
} from "./support/elbv2.ts";
import { ask, underLoad } from "./support/load.ts";

/**
 * An application load balancer end to end on Berth Local: the alb-paths example (two services
 * behind one balancer, by path) deploys from `npm start`'s process with the CLI, the balancer's
 * listener on 127.0.0.1 routes by its rules, `aws elbv2` shows what Berth created, a rolling
 * update under load loses no request through it, and deleting the stack removes it.
 */

const suite = localSuite("berth-alb-");
const { work, logFile, berth } = suite;
/** A copy of the example (the test changes it for the redeploys), with the tests' stability window. */
const stackFile = copyExample("alb-paths", work);
const BALANCER = "berth-shop-front";

const balancers = () => balancersOn(suite.local.awsUrl);
const targetStates = (group: string) => targetStatesOn(suite.local.awsUrl, group);

const json = (answer: { body: string }) =>
  JSON.parse(answer.body) as { service: string; greeting: string; path: string };

/** Changes a service's GREETING in the stack file (the example's `value: hello from <service>`). */
function setGreeting(from: string, to: string): void {
  const text = readFileSync(stackFile, "utf8");
  if (!text.includes(`value: ${from}\n`)) throw new Error(`no GREETING "${from}" in the stack file`);
  writeFileSync(stackFile, text.replace(`value: ${from}\n`, `value: ${to}\n`));
}

describe("two services behind one application load balancer on Berth Local", { shuffle: false }, () => {
  let url = "";

  it("deploys the example with the CLI and routes by path to the right service", async () => {
    const { code, output } = await berth(["deploy", "-f", stackFile, "--stack", "shop", "--timeout", "5m"]);
    expect(code, `${output}\n${logTail(logFile)}`).toBe(0);
    const balancer = (await balancers()).find((candidate) => candidate.LoadBalancerName === BALANCER);
    expect(balancer).toMatchObject({ Type: "application", Scheme: "internet-facing" });
    url = `http://${balancer?.DNSName}`;
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(output).toContain(url);

    for (const [path, service] of [
      ["/orders", "orders"],
      ["/orders/42?x=1", "orders"],
      ["/users/7", "users"],
      ["/users", "users"],
    ] as const) {
      const answer = await ask(`${url}${path}`);
      expect(answer.status, `${path}: ${answer.body}`).toBe(200);
      expect(json(answer), path).toMatchObject({ service, path: path.split("?")[0] });
    }
    // No rule matches: the shared balancer's default action answers 404, reaching no service.
    for (const path of ["/", "/ordersx", "/carts/1"]) {
      const answer = await ask(`${url}${path}`);
      expect(answer.status, `${path}: ${answer.body}`).toBe(404);
    }

    // What Berth created, as the aws CLI shows it.
    const { Listeners } = (await awsCli(suite.local.awsUrl, [
      "elbv2",
      "describe-listeners",
      "--load-balancer-arn",
      balancer?.LoadBalancerArn ?? "",
    ])) as { Listeners: { ListenerArn: string; Port: number; Protocol: string }[] };
    expect(Listeners.map((listener) => [listener.Protocol, listener.Port])).toEqual([["HTTP", 80]]);
    const { Rules } = (await awsCli(suite.local.awsUrl, [
      "elbv2",
      "describe-rules",
      "--listener-arn",
      Listeners[0]?.ListenerArn ?? "",
    ])) as { Rules: { Priority: string; Conditions: { PathPatternConfig?: { Values: string[] } }[] }[] };
    expect(Rules.map((rule) => [rule.Priority, rule.Conditions[0]?.PathPatternConfig?.Values ?? []])).toEqual(
      [
        ["10", ["/orders", "/orders/*"]],
        ["20", ["/users", "/users/*"]],
        ["default", []],
      ],
    );
    expect(await targetStates("b-shop-front-orders-app-3000")).toEqual(["healthy", "healthy"]);
    expect(await targetStates("b-shop-front-users-app-3000")).toEqual(["healthy"]);

    // The stack view lists the balancer; each service's view and `berth status` give its URL.
    const stack = await suite.api.request<{ ingress: { name: string; type: string; url: string }[] }>(
      "GET",
      "/v1/stacks/shop",
    );
    expect(stack.ingress).toEqual([
      { name: "front", type: "application-load-balancer", url, endpoint: url, domains: [] },
    ]);
    for (const service of ["orders", "users"]) {
      const view = await suite.api.request<{ url?: string }>("GET", `/v1/stacks/shop/services/${service}`);
      expect(view.url, service).toBe(url);
    }
    const status = await berth(["status", "--stack", "shop"]);
    expect(status.code, status.output).toBe(0);
    expect(status.output).toMatch(new RegExp(`front\\s+application-load-balancer\\s+${url}`));
  }, 400_000);

  it("deploys the same file again without touching the balancer", async () => {
    const before = (await balancers()).find((candidate) => candidate.LoadBalancerName === BALANCER);
    const { code, output } = await berth(["deploy", "-f", stackFile, "--stack", "shop", "--timeout", "3m"]);
    expect(code, `${output}\n${logTail(logFile)}`).toBe(0);
    const after = (await balancers()).filter((candidate) => candidate.LoadBalancerName === BALANCER);
    expect(after).toEqual([before]);
    expect(json(await ask(`${url}/users`)).service).toBe("users");
  }, 300_000);

  it("loses no request through the balancer while one service rolls", async () => {
    expect(url).not.toBe("");
    setGreeting("hello from orders", "hello again from orders");
    const users = ask(`${url}/users`);
    let deploy: Awaited<ReturnType<typeof berth>> | undefined;
    const ordersGreeting = async () => {
      const answer = await ask(`${url}/orders/1`);
      const body = answer.status === 200 ? json(answer) : undefined;
      return body?.service === "orders"
        ? { greeting: body.greeting }
        : { failure: `${answer.status} ${answer.body}` };
    };
    const load = await underLoad(ordersGreeting, async () => {
      deploy = await berth(["deploy", "-f", stackFile, "--stack", "shop", "--timeout", "4m"]);
      // Until the old tasks are gone: every answer comes from the new revision.
      await waitFor(
        "only the new revision of orders to answer",
        async () => json(await ask(`${url}/orders/1`)).greeting === "hello again from orders",
        60_000,
        250,
      );
    });
    expect(deploy?.code, `${deploy?.output}\n${logTail(logFile)}`).toBe(0);
    expect((await newestDeployment(suite.api, "shop", "orders")).status).toBe("SUCCEEDED");
    expect(load.failures, `${load.failures.length} of ${load.total} requests failed`).toEqual([]);
    expect(load.total).toBeGreaterThan(50);
    expect([...load.greetings.keys()].sort()).toEqual(["hello again from orders", "hello from orders"]);
    // The other service behind the balancer was left alone.
    expect(json(await users).service).toBe("users");
  }, 400_000);

  it("deleting the stack removes the balancer, its listener and target groups", async () => {
    await deleteStackAndWait(suite.api, "shop");
    expect((await balancers()).map((balancer) => balancer.LoadBalancerName)).not.toContain(BALANCER);
    expect(await targetGroupNames(suite.local.awsUrl, "b-shop-")).toEqual([]);
    // Nothing listens on its address any more.
    await expect(ask(`${url}/orders`)).rejects.toThrow();
    await suite.api.request("GET", "/v1/stacks/shop", { expect: [404] });
  }, 300_000);
});

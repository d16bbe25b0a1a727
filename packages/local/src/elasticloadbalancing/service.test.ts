import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import {
  CreateListenerCommand,
  type CreateListenerCommandOutput,
  CreateLoadBalancerCommand,
  CreateRuleCommand,
  CreateTargetGroupCommand,
  DeleteRuleCommand,
  DuplicateListenerException,
  ModifyListenerCommand,
} from "@aws-sdk/client-elastic-load-balancing-v2";
import { afterEach, describe, expect, it } from "vitest";
import type { RegisteredTask } from "../proxy/weighted.ts";
import { loadBalancersEndpoint, loadBalancersService } from "./test-support.ts";

describe("Berth Local's application load balancer listener", () => {
  const closers: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close();
  });

  /** A backend that answers its name. */
  async function backend(name: string): Promise<number> {
    const server = createServer((_request, response) => response.end(name));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    closers.push(() => new Promise((resolve) => server.close(() => resolve())));
    return (server.address() as AddressInfo).port;
  }

  async function balancerTo(targets: () => RegisteredTask[]) {
    const client = await loadBalancersEndpoint(targets, closers);
    const { LoadBalancers: [balancer] = [] } = await client.send(
      new CreateLoadBalancerCommand({ Name: "berth-t-front", Subnets: ["s"], SecurityGroups: ["g"] }),
    );
    const { TargetGroups: [group] = [] } = await client.send(
      new CreateTargetGroupCommand({ Name: "b-t-front-web-3000", TargetType: "ip", Port: 3000 }),
    );
    const listener = () =>
      client.send(
        new CreateListenerCommand({
          LoadBalancerArn: balancer?.LoadBalancerArn,
          Port: 80,
          Protocol: "HTTP",
          DefaultActions: [{ Type: "forward", TargetGroupArn: group?.TargetGroupArn }],
        }),
      );
    const created: CreateListenerCommandOutput = await listener();
    return { url: `http://${balancer?.DNSName}`, listener, created };
  }

  async function shares(url: string, requests: number): Promise<Map<string, number>> {
    const seen = new Map<string, number>();
    for (let index = 0; index < requests; index += 1) {
      const body = await (await fetch(url)).text();
      seen.set(body, (seen.get(body) ?? 0) + 1);
    }
    return seen;
  }

  it("splits requests between deployments by their traffic weights while a deployment shifts", async () => {
    const [old1, old2, fresh] = await Promise.all([backend("old"), backend("old"), backend("new")]);
    let weights = { old: 90, fresh: 10 };
    const { url } = await balancerTo(() => [
      { taskId: "o1", port: old1, healthy: true, group: "d-old", weight: weights.old },
      { taskId: "o2", port: old2, healthy: true, group: "d-old", weight: weights.old },
      { taskId: "n1", port: fresh, healthy: true, group: "d-new", weight: weights.fresh },
    ]);
    // Smooth weighted round robin: exact proportions over any 10 requests.
    expect(Object.fromEntries(await shares(url, 40))).toEqual({ old: 36, new: 4 });
    weights = { old: 0, fresh: 100 };
    expect(Object.fromEntries(await shares(url, 10))).toEqual({ new: 10 });
  });

  it("takes turns between targets without weights, skipping unhealthy ones", async () => {
    const [a, b, c] = await Promise.all([backend("a"), backend("b"), backend("c")]);
    const { url } = await balancerTo(() => [
      { taskId: "a", port: a, healthy: true },
      { taskId: "b", port: b, healthy: true },
      { taskId: "c", port: c, healthy: false },
    ]);
    expect(Object.fromEntries(await shares(url, 10))).toEqual({ a: 5, b: 5 });
  });

  it("refuses a second listener on the same port with ELB's DuplicateListener", async () => {
    const port = await backend("x");
    const { listener, created } = await balancerTo(() => [{ taskId: "x", port, healthy: true }]);
    expect(created.Listeners?.[0]?.Port).toBe(80);
    await expect(listener()).rejects.toBeInstanceOf(DuplicateListenerException);
  });

  it("takes a change to its listener, rules or forward weights on the next request", async () => {
    const [a, b] = await Promise.all([backend("a"), backend("b")]);
    const ports = new Map<string, number>();
    const { client, balancers } = await loadBalancersService((arn) => {
      const port = ports.get(arn);
      return port === undefined ? [] : [{ taskId: arn, port, healthy: true }];
    }, closers);
    const { LoadBalancers: [balancer] = [] } = await client.send(
      new CreateLoadBalancerCommand({ Name: "berth-t-changes", Subnets: ["s"], SecurityGroups: ["g"] }),
    );
    const group = async (name: string, port: number) => {
      const { TargetGroups: [created] = [] } = await client.send(
        new CreateTargetGroupCommand({ Name: name, TargetType: "ip", Port: 3000 }),
      );
      const arn = created?.TargetGroupArn ?? "";
      ports.set(arn, port);
      return arn;
    };
    const groupA = await group("b-t-changes-a", a);
    const groupB = await group("b-t-changes-b", b);
    const { Listeners: [listener] = [] } = await client.send(
      new CreateListenerCommand({
        LoadBalancerArn: balancer?.LoadBalancerArn,
        Port: 80,
        Protocol: "HTTP",
        DefaultActions: [{ Type: "forward", TargetGroupArn: groupA }],
      }),
    );
    const url = `http://${balancer?.DNSName}`;
    const get = async (path: string) => (await fetch(`${url}${path}`)).text();
    expect([await get("/x"), await get("/x")]).toEqual(["a", "a"]);

    // Another default action: the next request follows it.
    await client.send(
      new ModifyListenerCommand({
        ListenerArn: listener?.ListenerArn,
        DefaultActions: [{ Type: "forward", TargetGroupArn: groupB }],
      }),
    );
    expect(await get("/x")).toBe("b");

    // A new rule takes its paths; deleted, they go to the default again.
    const { Rules: [rule] = [] } = await client.send(
      new CreateRuleCommand({
        ListenerArn: listener?.ListenerArn,
        Priority: 1,
        Conditions: [{ Field: "path-pattern", PathPatternConfig: { Values: ["/special/*"] } }],
        Actions: [{ Type: "forward", TargetGroupArn: groupA }],
      }),
    );
    expect([await get("/special/x"), await get("/x")]).toEqual(["a", "b"]);
    await client.send(new DeleteRuleCommand({ RuleArn: rule?.RuleArn }));
    expect(await get("/special/x")).toBe("b");

    // Forward weights as ECS sets them while it shifts traffic: all of it to A, then all to B.
    const defaultRule = `${listener?.ListenerArn}/default`;
    const weigh = (toA: number) =>
      balancers.setForwardWeights(defaultRule, [
        { targetGroupArn: groupA, weight: toA },
        { targetGroupArn: groupB, weight: 100 - toA },
      ]);
    expect(weigh(100)).toBe(true);
    expect([await get("/x"), await get("/x")]).toEqual(["a", "a"]);
    weigh(0);
    expect([await get("/x"), await get("/x")]).toEqual(["b", "b"]);
  });
});

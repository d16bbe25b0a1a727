import { type AddressInfo, connect, createServer, type Socket } from "node:net";
import {
  CreateListenerCommand,
  CreateLoadBalancerCommand,
  CreateTargetGroupCommand,
  DescribeTargetHealthCommand,
  ModifyTargetGroupAttributesCommand,
} from "@aws-sdk/client-elastic-load-balancing-v2";
import { afterEach, describe, expect, it } from "vitest";
import type { RegisteredTask } from "../proxy/weighted.ts";
import { loadBalancersEndpoint } from "./test-support.ts";

/** Waits until `check` holds, polling; fails with `what` after `ms`. */
async function until(what: string, check: () => Promise<boolean> | boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe("Berth Local's network load balancer", () => {
  const closers: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close();
  });

  /** A TCP backend that answers each line with its name and the line; its sockets stay open. */
  async function backend(name: string) {
    const sockets = new Set<Socket>();
    const server = createServer((socket) => {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
      socket.on("data", (data) => socket.write(`${name}:${data.toString().trim()}\n`));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const stop = () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      });
    closers.push(stop);
    return { port: (server.address() as AddressInfo).port, stop };
  }

  async function balancerTo(targets: () => RegisteredTask[]) {
    const client = await loadBalancersEndpoint(targets, closers);
    const { LoadBalancers: [balancer] = [] } = await client.send(
      new CreateLoadBalancerCommand({ Name: "berth-t-tcp", Type: "network", Subnets: ["s"] }),
    );
    const { TargetGroups: [group] = [] } = await client.send(
      new CreateTargetGroupCommand({
        Name: "n-t-tcp-7000-db-5432",
        TargetType: "ip",
        Protocol: "TCP",
        Port: 5432,
        HealthCheckProtocol: "TCP",
        HealthCheckIntervalSeconds: 5,
        HealthCheckTimeoutSeconds: 2,
        HealthyThresholdCount: 2,
        UnhealthyThresholdCount: 2,
      }),
    );
    await client.send(
      new CreateListenerCommand({
        LoadBalancerArn: balancer?.LoadBalancerArn,
        Port: 7000,
        Protocol: "TCP",
        DefaultActions: [{ Type: "forward", TargetGroupArn: group?.TargetGroupArn }],
      }),
    );
    const [host, port] = (balancer?.DNSName ?? "").split(":");
    const states = async () => {
      const { TargetHealthDescriptions = [] } = await client.send(
        new DescribeTargetHealthCommand({ TargetGroupArn: group?.TargetGroupArn }),
      );
      return TargetHealthDescriptions.map((description) => description.TargetHealth?.State).sort();
    };
    return { host: host ?? "", port: Number(port), client, group, balancer, states };
  }

  /** One connection: sends a line, answers the reply line; the socket stays open when `keep`. */
  function exchange(port: number, line: string): Promise<{ reply: string; socket: Socket }> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: "127.0.0.1", port });
      let buffered = "";
      socket.on("error", reject);
      socket.on("close", () => reject(new Error(`closed before a reply (${buffered})`)));
      socket.on("data", (data) => {
        buffered += data.toString();
        if (buffered.endsWith("\n")) resolve({ reply: buffered.trim(), socket });
      });
      socket.write(`${line}\n`);
    });
  }

  async function replies(port: number, count: number): Promise<string[]> {
    const seen: string[] = [];
    for (let index = 0; index < count; index += 1) {
      const { reply, socket } = await exchange(port, String(index));
      seen.push(reply.split(":")[0] ?? "");
      socket.destroy();
    }
    return seen;
  }

  it("is created as type network, checks its targets over TCP and passes connections in turn", async () => {
    const [a, b] = await Promise.all([backend("a"), backend("b")]);
    const nlb = await balancerTo(() => [
      { taskId: "a", port: a.port, healthy: true },
      { taskId: "b", port: b.port, healthy: true },
    ]);
    expect(nlb.balancer?.Type).toBe("network");
    expect(nlb.host).toBe("127.0.0.1");
    expect(nlb.balancer?.LoadBalancerArn).toContain(":loadbalancer/net/berth-t-tcp/");
    await until("both targets healthy", async () => (await nlb.states()).join() === "healthy,healthy");
    const seen = await replies(nlb.port, 6);
    expect(seen.filter((name) => name === "a")).toHaveLength(3);
    expect(seen.filter((name) => name === "b")).toHaveLength(3);
  });

  it("stops sending to a target that fails its checks", async () => {
    const [a, b] = await Promise.all([backend("a"), backend("b")]);
    const nlb = await balancerTo(() => [
      { taskId: "a", port: a.port, healthy: true },
      { taskId: "b", port: b.port, healthy: true },
    ]);
    await until("both targets healthy", async () => (await nlb.states()).join() === "healthy,healthy");
    await b.stop();
    await until("b unhealthy", async () => (await nlb.states()).join() === "healthy,unhealthy");
    expect(await replies(nlb.port, 4)).toEqual(["a", "a", "a", "a"]);
  });

  it("keeps a deregistered target's open connection until the deregistration delay, then closes it", async () => {
    const a = await backend("a");
    let registered = true;
    const nlb = await balancerTo(() => (registered ? [{ taskId: "a", port: a.port, healthy: true }] : []));
    await nlb.client.send(
      new ModifyTargetGroupAttributesCommand({
        TargetGroupArn: nlb.group?.TargetGroupArn,
        Attributes: [{ Key: "deregistration_delay.timeout_seconds", Value: "2" }],
      }),
    );
    const { socket } = await exchange(nlb.port, "first");
    let closed = false;
    socket.on("close", () => {
      closed = true;
    });
    registered = false;
    await until("the target to drain", async () => (await nlb.states()).join() === "draining");
    // Still passed through while draining.
    const again = new Promise<string>((resolve) =>
      socket.once("data", (data) => resolve(data.toString().trim())),
    );
    socket.write("second\n");
    expect(await again).toBe("a:second");
    await until("the connection to be closed after the delay", () => closed);
    expect(await nlb.states()).toEqual([]);
  });

  it("refuses an HTTP listener on a network balancer", async () => {
    const a = await backend("a");
    const nlb = await balancerTo(() => [{ taskId: "a", port: a.port, healthy: true }]);
    await expect(
      nlb.client.send(
        new CreateListenerCommand({
          LoadBalancerArn: nlb.balancer?.LoadBalancerArn,
          Port: 80,
          Protocol: "HTTP",
          DefaultActions: [{ Type: "forward", TargetGroupArn: nlb.group?.TargetGroupArn }],
        }),
      ),
    ).rejects.toThrow(/must be one of 'TCP, TLS'/);
  });
});

import { cpSync, readFileSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { waitFor } from "./support/apps.ts";
import { awsCli, logTail } from "./support/berth-local-process.ts";
import { localSuite, newestDeployment } from "./support/e2e.ts";

/**
 * A network load balancer end to end on Berth Local: the nlb-tcp example (a line service over
 * plain TCP) deploys with the CLI, a raw TCP client reaches it through the balancer's address,
 * `aws elbv2` shows the balancer, its TCP listener and target group with its health checks, a
 * rolling update under a TCP client load loses no connection, and deleting the stack removes it.
 */

const root = fileURLToPath(new URL("..", import.meta.url));
const suite = localSuite("berth-nlb-");
const { work, logFile, berth } = suite;
const exampleDir = join(work, "nlb-tcp");
cpSync(join(root, "examples/nlb-tcp"), exampleDir, { recursive: true });
const stackFile = join(exampleDir, "berth.yml");
const BALANCER = "berth-lines-edge";
const GROUP = "n-lines-edge-7000-lines-app-7000";

interface Balancer {
  LoadBalancerArn: string;
  LoadBalancerName: string;
  DNSName: string;
  Type: string;
  Scheme: string;
}

async function balancers(): Promise<Balancer[]> {
  const { LoadBalancers } = (await awsCli(suite.local.awsUrl, ["elbv2", "describe-load-balancers"])) as {
    LoadBalancers: Balancer[];
  };
  return LoadBalancers;
}

async function targetStates(): Promise<string[]> {
  const { TargetGroups } = (await awsCli(suite.local.awsUrl, [
    "elbv2",
    "describe-target-groups",
    "--names",
    GROUP,
  ])) as { TargetGroups: { TargetGroupArn: string }[] };
  const { TargetHealthDescriptions } = (await awsCli(suite.local.awsUrl, [
    "elbv2",
    "describe-target-health",
    "--target-group-arn",
    TargetGroups[0]?.TargetGroupArn ?? "",
  ])) as { TargetHealthDescriptions: { TargetHealth: { State: string } }[] };
  return TargetHealthDescriptions.map((description) => description.TargetHealth.State).sort();
}

/** One TCP exchange: sends a line, reads until the app closes the connection. */
function exchange(address: string, line: string): Promise<string> {
  const [host, port] = address.split(":");
  return new Promise((resolve, reject) => {
    const socket = connect({ host: host ?? "127.0.0.1", port: Number(port) });
    let received = "";
    socket.setTimeout(10_000, () => socket.destroy(new Error("no answer in 10 s")));
    socket.on("data", (data) => {
      received += data.toString("utf8");
    });
    socket.on("error", reject);
    socket.on("end", () => resolve(received.trim()));
    socket.write(`${line}\n`);
  });
}

/** Four clients exchange lines back to back until `until` resolves; failures are anything but an answer. */
async function underLoad(address: string, until: () => Promise<unknown>) {
  const failures: string[] = [];
  const greetings = new Map<string, number>();
  let total = 0;
  let running = true;
  const clients = Array.from({ length: 4 }, async (_, client) => {
    let index = 0;
    while (running) {
      const line = `c${client}-${index++}`;
      try {
        const answer = await exchange(address, line);
        total += 1;
        const [greeting, , echoed] = answer.split(" ");
        if (echoed !== line) failures.push(`"${answer}" for ${line}`);
        else greetings.set(greeting ?? "", (greetings.get(greeting ?? "") ?? 0) + 1);
      } catch (error) {
        failures.push(`${line}: ${String(error)}`);
      }
    }
  });
  try {
    await until();
  } finally {
    running = false;
    await Promise.all(clients);
  }
  return { failures, greetings, total };
}

describe("a TCP service behind a network load balancer on Berth Local", { shuffle: false }, () => {
  let address = "";

  it("deploys the example with the CLI, and a raw TCP client reaches it through the balancer", async () => {
    const { code, output } = await berth(["deploy", "-f", stackFile, "--stack", "lines", "--timeout", "5m"]);
    expect(code, `${output}\n${logTail(logFile)}`).toBe(0);
    const balancer = (await balancers()).find((candidate) => candidate.LoadBalancerName === BALANCER);
    expect(balancer).toMatchObject({ Type: "network", Scheme: "internet-facing" });
    address = balancer?.DNSName ?? "";
    expect(address).toMatch(/^127\.0\.0\.1:\d+$/);
    const url = `tcp://${address}`;
    expect(output).toContain(url);

    const answer = await exchange(address, "ping");
    expect(answer).toMatch(/^hello \d+ ping$/);

    // What Berth created, as the aws CLI shows it: a TCP listener forwarding to a TCP ip group.
    const { Listeners } = (await awsCli(suite.local.awsUrl, [
      "elbv2",
      "describe-listeners",
      "--load-balancer-arn",
      balancer?.LoadBalancerArn ?? "",
    ])) as { Listeners: { Port: number; Protocol: string; DefaultActions: { Type: string }[] }[] };
    expect(
      Listeners.map((listener) => [listener.Protocol, listener.Port, listener.DefaultActions[0]?.Type]),
    ).toEqual([["TCP", 7000, "forward"]]);
    const { TargetGroups } = (await awsCli(suite.local.awsUrl, [
      "elbv2",
      "describe-target-groups",
      "--names",
      GROUP,
    ])) as { TargetGroups: { Protocol: string; TargetType: string; HealthCheckProtocol: string }[] };
    expect(TargetGroups[0]).toMatchObject({ Protocol: "TCP", TargetType: "ip", HealthCheckProtocol: "TCP" });
    // The balancer's own TCP checks mark both tasks healthy.
    await waitFor(
      "both targets healthy",
      async () => (await targetStates()).join() === "healthy,healthy",
      90_000,
      1_000,
    );

    // Both tasks take connections in turn.
    const pids = new Set<string>();
    for (let index = 0; index < 6; index += 1)
      pids.add((await exchange(address, `p${index}`)).split(" ")[1] ?? "");
    expect(pids.size).toBe(2);

    // The stack view lists the balancer; the service's view and `berth status` give its address.
    const stack = await suite.api.request<{ ingress: { name: string; type: string; url: string }[] }>(
      "GET",
      "/v1/stacks/lines",
    );
    expect(stack.ingress).toEqual([
      { name: "edge", type: "network-load-balancer", url, endpoint: url, domains: [] },
    ]);
    const view = await suite.api.request<{ url?: string }>("GET", "/v1/stacks/lines/services/lines");
    expect(view.url).toBe(url);
    const status = await berth(["status", "--stack", "lines"]);
    expect(status.code, status.output).toBe(0);
    expect(status.output).toMatch(new RegExp(`edge\\s+network-load-balancer\\s+${url}`));
  }, 400_000);

  it("loses no connection through the balancer while the service rolls", async () => {
    expect(address).not.toBe("");
    const text = readFileSync(stackFile, "utf8");
    writeFileSync(stackFile, text.replace("value: hello\n", "value: hi\n"));
    let deploy: Awaited<ReturnType<typeof berth>> | undefined;
    const load = await underLoad(address, async () => {
      deploy = await berth(["deploy", "-f", stackFile, "--stack", "lines", "--timeout", "4m"]);
      await waitFor(
        "only the new revision to answer",
        async () => (await exchange(address, "x")).startsWith("hi "),
        60_000,
        250,
      );
    });
    expect(deploy?.code, `${deploy?.output}\n${logTail(logFile)}`).toBe(0);
    expect((await newestDeployment(suite.api, "lines", "lines")).status).toBe("SUCCEEDED");
    expect(load.failures, `${load.failures.length} of ${load.total} connections failed`).toEqual([]);
    expect(load.total).toBeGreaterThan(50);
    expect([...load.greetings.keys()].sort()).toEqual(["hello", "hi"]);
  }, 400_000);

  it("deleting the stack removes the balancer, its listener and target group", async () => {
    const deleted = await suite.api.request<{
      services: { service: string; deployment?: { deployment: { id: string } } }[];
    }>("DELETE", "/v1/stacks/lines");
    for (const entry of deleted.services) {
      const ended = await suite.api.waitForStatus(entry.deployment?.deployment.id ?? "", undefined, 120_000);
      expect(ended.deployment.status, `${entry.service}: ${ended.deployment.reason}`).toBe("SUCCEEDED");
    }
    expect((await balancers()).map((balancer) => balancer.LoadBalancerName)).not.toContain(BALANCER);
    const { TargetGroups } = (await awsCli(suite.local.awsUrl, ["elbv2", "describe-target-groups"])) as {
      TargetGroups: { TargetGroupName: string }[];
    };
    expect(
      TargetGroups.map((group) => group.TargetGroupName).filter((name) => name.startsWith("n-lines-")),
    ).toEqual([]);
    // Nothing listens on its address any more.
    await expect(exchange(address, "gone")).rejects.toThrow();
    await suite.api.request("GET", "/v1/stacks/lines", { expect: [404] });
  }, 300_000);
});

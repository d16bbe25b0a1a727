import { readFileSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import {
  DescribeListenersCommand,
  DescribeTargetGroupsCommand,
} from "@aws-sdk/client-elastic-load-balancing-v2";
import { describe, expect, it } from "vitest";
import { waitFor } from "./support/apps.ts";
import { logTail } from "./support/berth-local-process.ts";
import { copyExample, deleteStackAndWait, localSuite, newestDeployment } from "./support/e2e.ts";
import { balancers as balancersOn, targetGroupNames, waitForTargetStates, withElb } from "./support/elbv2.ts";
import { underLoad } from "./support/load.ts";

/**
 * A network load balancer end to end on Berth Local: the nlb-tcp example (a line service over
 * plain TCP) deploys with the CLI, a raw TCP client reaches it through the balancer's address,
 * the ELBv2 API shows the balancer, its TCP listener and target group with its health checks, a
 * rolling update under a TCP client load loses no connection, and deleting the stack removes it.
 */

const suite = localSuite("berth-nlb-");
const { work, logFile, berth } = suite;
/** A copy of the example (the test changes it for the redeploys), with the tests' stability window. */
const stackFile = copyExample("nlb-tcp", work);
const BALANCER = "berth-lines-edge";
const GROUP = "n-lines-edge-7000-lines-app-7000";

const balancers = () => balancersOn(suite.local.awsUrl);

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

/**
 * A request for `underLoad`: each client sends its own numbered lines, and an answer is right
 * when it echoes the line (`<greeting> <pid> <line>`); it is counted under its greeting.
 */
function exchangeLines(address: string) {
  const sent: number[] = [];
  return async (client: number) => {
    sent[client] = (sent[client] ?? 0) + 1;
    const line = `c${client}-${sent[client] - 1}`;
    const answer = await exchange(address, line).catch((error: unknown) => {
      throw new Error(`${line}: ${String(error)}`);
    });
    const [greeting, , echoed] = answer.split(" ");
    return echoed === line ? { greeting: greeting ?? "" } : { failure: `"${answer}" for ${line}` };
  };
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

    // What Berth created, as the ELBv2 API shows it: a TCP listener forwarding to a TCP ip group.
    const { Listeners = [], TargetGroups = [] } = await withElb(suite.local.awsUrl, async (elb) => ({
      ...(await elb.send(new DescribeListenersCommand({ LoadBalancerArn: balancer?.LoadBalancerArn ?? "" }))),
      ...(await elb.send(new DescribeTargetGroupsCommand({ Names: [GROUP] }))),
    }));
    expect(
      Listeners.map((listener) => [listener.Protocol, listener.Port, listener.DefaultActions?.[0]?.Type]),
    ).toEqual([["TCP", 7000, "forward"]]);
    expect(TargetGroups[0]).toMatchObject({ Protocol: "TCP", TargetType: "ip", HealthCheckProtocol: "TCP" });
    // The balancer's own TCP checks mark both tasks healthy.
    expect(await waitForTargetStates(suite.local.awsUrl, GROUP, ["healthy", "healthy"], 90_000)).toEqual([
      "healthy",
      "healthy",
    ]);

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
    const load = await underLoad(exchangeLines(address), async () => {
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
    await deleteStackAndWait(suite.api, "lines");
    expect((await balancers()).map((balancer) => balancer.LoadBalancerName)).not.toContain(BALANCER);
    expect(await targetGroupNames(suite.local.awsUrl, "n-lines-")).toEqual([]);
    // Nothing listens on its address any more.
    await expect(exchange(address, "gone")).rejects.toThrow();
    await suite.api.request("GET", "/v1/stacks/lines", { expect: [404] });
  }, 300_000);
});

import { writeFileSync } from "node:fs";
import { request } from "node:http";
import { join } from "node:path";
import { ApiGatewayV2Client, GetDomainNamesCommand } from "@aws-sdk/client-apigatewayv2";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { appPackaging, HEALTH_CHECK_TIMING, HTTP_HEALTH_CHECK, httpApp } from "./support/apps.ts";
import { awsCli, logTail } from "./support/berth-local-process.ts";
import { deleteStackAndWait, gatewayApis, localAwsConfig, localSuite } from "./support/e2e.ts";
import { balancers } from "./support/elbv2.ts";

/**
 * Custom domains and a private service's internal load balancer, end to end on Berth Local: a
 * web service's gateway with a custom domain (the aws CLI lists the domain name and its
 * mapping; a request with the domain as its Host is served, an undeclared host is not), and a
 * consumer that reaches a private service through its internal balancer's address.
 */

const suite = localSuite("berth-domains-");
const { work, logFile, berth } = suite;
const app = httpApp();
const stackFile = join(work, "berth.yml");

const service = (properties: Record<string, unknown>) => ({
  packaging: appPackaging(app.image),
  resources: { cpu: 0.25, memory: 512 },
  internalHealthCheck: { healthCheckCommand: HTTP_HEALTH_CHECK, ...HEALTH_CHECK_TIMING, retries: 1 },
  ...properties,
});

const internal = {
  type: "private-service",
  properties: service({
    port: 3300,
    loadBalancing: { type: "application-load-balancer" },
    environment: [{ name: "VERSION", value: "internal" }],
  }),
};
const web = {
  type: "web-service",
  properties: service({
    customDomains: ["api.example.com"],
    connectTo: ["internal"],
    environment: [
      { name: "VERSION", value: "web" },
      { name: "API", value: "$ResourceParam('internal', 'address')" },
      { name: "DOMAIN", value: "$ResourceParam('web', 'domain')" },
    ],
  }),
};

/** A GET with a Host header of our choosing (fetch does not let a caller set it). */
function get(url: string, host: string): Promise<{ status: number; body: string }> {
  const target = new URL(url);
  return new Promise((resolve, reject) => {
    const sent = request(
      { host: target.hostname, port: target.port, path: target.pathname, headers: { host }, timeout: 10_000 },
      (response) => {
        let body = "";
        response.setEncoding("utf8");
        response.on("data", (chunk) => {
          body += chunk;
        });
        response.on("end", () => resolve({ status: response.statusCode ?? 0, body }));
      },
    );
    sent.on("error", reject);
    sent.on("timeout", () => sent.destroy(new Error(`GET ${url} timed out`)));
    sent.end();
  });
}

interface StackView {
  ingress: {
    name: string;
    type: string;
    url: string;
    endpoint: string;
    domains: { name: string; url: string; target: string; dns: string }[];
  }[];
  services: { name: string; address: string | null; url: string | null }[];
}

describe("custom domains and an internal load balancer on Berth Local", { shuffle: false }, () => {
  let balancer = "";

  it("gives a private service behind an internal balancer the balancer's address", async () => {
    writeFileSync(stackFile, stringify({ resources: { internal } }));
    const { code, output } = await berth(["deploy", "-f", stackFile, "--stack", "dom", "--timeout", "5m"]);
    expect(code, `${output}\n${logTail(logFile)}`).toBe(0);
    const found = (await balancers(suite.local.awsUrl)).find(
      (candidate) => candidate.LoadBalancerName === "berth-dom-internal",
    );
    expect(found?.Scheme).toBe("internal");
    balancer = found?.DNSName ?? "";
    expect(balancer).toMatch(/^127\.0\.0\.1:\d+$/);
    const view = await suite.api.request<{ address: string }>("GET", "/v1/stacks/dom/services/internal");
    expect(view.address).toBe(balancer);
  }, 300_000);

  it("serves the web service through its custom domain, and its consumer reaches the private service through the balancer", async () => {
    writeFileSync(stackFile, stringify({ resources: { internal, web } }));
    const { code, output } = await berth(["deploy", "-f", stackFile, "--stack", "dom", "--timeout", "5m"]);
    expect(code, `${output}\n${logTail(logFile)}`).toBe(0);

    // The aws CLI lists the domain name and its mapping to the gateway's API.
    const { Items: domains } = (await awsCli(suite.local.awsUrl, ["apigatewayv2", "get-domain-names"])) as {
      Items: {
        DomainName: string;
        DomainNameConfigurations: { EndpointType: string; SecurityPolicy: string }[];
      }[];
    };
    expect(domains.map((domain) => domain.DomainName)).toEqual(["api.example.com"]);
    expect(domains[0]?.DomainNameConfigurations[0]).toMatchObject({
      EndpointType: "REGIONAL",
      SecurityPolicy: "TLS_1_2",
    });
    const api = (await gatewayApis(suite.local.awsUrl)).find(
      (candidate) => candidate.Name === "berth-dom-web",
    );
    const { Items: mappings } = (await awsCli(suite.local.awsUrl, [
      "apigatewayv2",
      "get-api-mappings",
      "--domain-name",
      "api.example.com",
    ])) as { Items: { ApiId: string; Stage: string }[] };
    expect(mappings).toEqual([expect.objectContaining({ ApiId: api?.ApiId, Stage: "$default" })]);
    const endpoint = api?.ApiEndpoint ?? "";
    const port = new URL(endpoint).port;

    // The views and the deploy summary show the domain's URL, and where its DNS must point.
    const stack = await suite.api.request<StackView>("GET", "/v1/stacks/dom");
    const gateway = stack.ingress.find((resource) => resource.name === "web");
    expect(gateway).toMatchObject({
      url: `http://api.example.com:${port}`,
      endpoint,
      domains: [{ name: "api.example.com", target: "127.0.0.1", dns: "manual" }],
    });
    expect(stack.services.find((item) => item.name === "web")?.url).toBe(`http://api.example.com:${port}`);
    expect(output).toContain(`http://api.example.com:${port}`);
    expect(output).toContain("point api.example.com (CNAME) at 127.0.0.1");

    // A request whose Host is the domain is served; one for an undeclared host is not.
    const served = await get(`${endpoint}/whoami`, "api.example.com");
    expect(served.status, served.body).toBe(200);
    expect(served.body).toMatch(/^web:\d+$/);
    const foreign = await get(`${endpoint}/whoami`, "other.example.com");
    expect(foreign.status).toBe(403);
    expect(foreign.body).not.toMatch(/^web:/);

    // The consumer calls the private service at the address it was given: the internal balancer.
    const upstream = await get(`${endpoint}/upstream`, "api.example.com");
    expect(upstream.status, upstream.body).toBe(200);
    expect(upstream.body).toMatch(/^via internal:\d+$/);
    const env = (
      await suite.api.request<{ spec: { properties: { environment: { name: string; value: string }[] } } }>(
        "GET",
        "/v1/stacks/dom/services/web",
      )
    ).spec.properties.environment;
    expect(env.find((variable) => variable.name === "API")?.value).toBe(
      "$ResourceParam('internal', 'address')",
    );
    const internalView = stack.services.find((item) => item.name === "internal");
    expect(internalView?.address).toBe(balancer);
  }, 300_000);

  it("removes the domain name with the stack", async () => {
    await deleteStackAndWait(suite.api, "dom");
    const gateway = new ApiGatewayV2Client(localAwsConfig(suite.local.awsUrl));
    const { Items } = await gateway.send(new GetDomainNamesCommand({})).finally(() => gateway.destroy());
    expect(Items).toEqual([]);
  }, 300_000);
});

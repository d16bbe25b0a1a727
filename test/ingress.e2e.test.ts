import { readFileSync, writeFileSync } from "node:fs";
import { type Api, ApiGatewayV2Client, GetRoutesCommand } from "@aws-sdk/client-apigatewayv2";
import { describe, expect, it } from "vitest";
import { waitFor } from "./support/apps.ts";
import { awsCli, logTail } from "./support/berth-local-process.ts";
import { copyExample, gatewayApis, localAwsConfig, localSuite, newestDeployment } from "./support/e2e.ts";
import { ask, underLoad } from "./support/load.ts";

/**
 * Public ingress end to end on Berth Local: the public-web example deploys from `npm start`'s
 * process with the CLI, its HTTP API gateway serves it on 127.0.0.1, the API Gateway API and
 * `aws servicediscovery` show what Berth created, and a rolling update under load loses no
 * request through the gateway.
 */

const suite = localSuite("berth-ingress-");
const { work, logFile, berth } = suite;
/** A copy of the example (the test changes it for the redeploys), with the tests' stability window. */
const stackFile = copyExample("public-web", work);

async function gateway(): Promise<Api> {
  const Items = await gatewayApis(suite.local.awsUrl);
  const found = Items.find((item) => item.Name === "berth-web-web");
  if (!found) throw new Error(`no API berth-web-web in ${JSON.stringify(Items)}`);
  return found;
}

describe("a public web service behind an HTTP API gateway on Berth Local", { shuffle: false }, () => {
  let url = "";

  it("deploys the example with the CLI and serves it through its gateway's URL", async () => {
    const { code, output } = await berth(["deploy", "-f", stackFile, "--stack", "web", "--timeout", "4m"]);
    expect(code, `${output}\n${logTail(logFile)}`).toBe(0);
    const created = await gateway();
    url = created.ApiEndpoint ?? "";
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(output).toContain(url);

    const answer = await ask(`${url}/some/path?x=1`);
    expect(answer.status, answer.body).toBe(200);
    const body = JSON.parse(answer.body) as { greeting: string; path: string; forwardedFor: string };
    expect(body).toMatchObject({ greeting: "hello from Berth", path: "/some/path" });
    expect(body.forwardedFor).toContain("127.0.0.1");

    // CORS is enabled in the example: the gateway answers preflight requests itself.
    const preflight = await fetch(url, {
      method: "OPTIONS",
      headers: { origin: "https://example.com", "access-control-request-method": "PUT" },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get("access-control-allow-origin")).toBe("*");

    // What Berth created: the gateway's route through the SDK, the service registry with the aws CLI.
    const gatewayClient = new ApiGatewayV2Client(localAwsConfig(suite.local.awsUrl));
    const routes = await gatewayClient
      .send(new GetRoutesCommand({ ApiId: created.ApiId }))
      .finally(() => gatewayClient.destroy());
    expect(routes.Items?.map((route) => route.RouteKey)).toEqual(["$default"]);
    expect(routes.Items?.[0]?.Target).toMatch(/^integrations\//);
    const { Services } = (await awsCli(suite.local.awsUrl, ["servicediscovery", "list-services"])) as {
      Services: { Name: string; Id: string }[];
    };
    const registry = Services.find((service) => service.Name === "web-web-3000");
    expect(registry, JSON.stringify(Services)).toBeDefined();
    const { Instances } = (await awsCli(suite.local.awsUrl, [
      "servicediscovery",
      "list-instances",
      "--service-id",
      registry?.Id ?? "",
    ])) as { Instances: { Attributes: Record<string, string> }[] };
    expect(Instances).toHaveLength(2);

    const view = await suite.api.request<{ url?: string }>("GET", "/v1/stacks/web/services/web");
    expect(view.url).toBe(url);
  }, 600_000);

  it("loses no request through the gateway during a rolling update", async () => {
    expect(url).not.toBe("");
    writeFileSync(stackFile, readFileSync(stackFile, "utf8").replace("hello from Berth", "hello again"));
    const greetingOf = (answer: { body: string }) =>
      (JSON.parse(answer.body) as { greeting: string }).greeting;
    let deploy: Awaited<ReturnType<typeof berth>> | undefined;
    // Four clients asking one after another, for the whole rollout.
    const { failures, greetings, total } = await underLoad(
      async () => {
        const answer = await ask(`${url}/`);
        return answer.status === 200
          ? { greeting: greetingOf(answer) }
          : { failure: `${answer.status} ${answer.body}` };
      },
      async () => {
        deploy = await berth(["deploy", "-f", stackFile, "--stack", "web", "--timeout", "4m"]);
        // Until the old tasks are gone: every answer comes from the new revision.
        await waitFor(
          "only the new revision to answer",
          async () => greetingOf(await ask(`${url}/`)) === "hello again",
          180_000,
          250,
        );
      },
    );
    expect(deploy?.code, `${deploy?.output}\n${logTail(logFile)}`).toBe(0);
    expect((await newestDeployment(suite.api, "web", "web")).status).toBe("SUCCEEDED");
    expect(failures, `${failures.length} of ${total} requests failed`).toEqual([]);
    expect(total).toBeGreaterThan(50);
    expect([...greetings.keys()].sort()).toEqual(["hello again", "hello from Berth"]);
  }, 600_000);
});

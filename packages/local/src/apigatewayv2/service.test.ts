import { mkdtempSync } from "node:fs";
import { createServer, request as httpRequest, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  ApiGatewayV2Client,
  CreateApiCommand,
  CreateApiMappingCommand,
  CreateDomainNameCommand,
  CreateIntegrationCommand,
  CreateRouteCommand,
  CreateStageCommand,
  DeleteRouteCommand,
  GetApiCommand,
  UpdateRouteCommand,
} from "@aws-sdk/client-apigatewayv2";
import { afterEach, describe, expect, it } from "vitest";
import { startAwsEndpoint } from "../server.ts";
import { selectRoute } from "./routes.ts";
import { ApiGateways, LOCAL_VPC_LINK_ID } from "./service.ts";

const REGISTRY = "arn:aws:servicediscovery:us-east-1:000000000000:service/srv-test";
const OTHER_REGISTRY = "arn:aws:servicediscovery:us-east-1:000000000000:service/srv-other";

describe("HTTP API route selection", () => {
  const routes = [
    { routeKey: "GET /items/{id}" },
    { routeKey: "ANY /items/special" },
    { routeKey: "ANY /api/{proxy+}" },
    { routeKey: "GET /api/health" },
    { routeKey: "$default" },
  ];
  const select = (method: string, path: string) => selectRoute(routes, method, path)?.routeKey;

  it("prefers full matches, then literal segments, then a named method, and falls back to $default", () => {
    expect(select("GET", "/items/7")).toBe("GET /items/{id}");
    expect(select("GET", "/items/special")).toBe("ANY /items/special");
    expect(select("POST", "/items/7")).toBe("$default");
    expect(select("GET", "/api/health?x=1")).toBe("GET /api/health");
    expect(select("DELETE", "/api/a/b/c")).toBe("ANY /api/{proxy+}");
    expect(select("GET", "/api")).toBe("$default");
    expect(selectRoute([{ routeKey: "GET /a" }], "GET", "/b")).toBeUndefined();
  });
});

describe("Berth Local's API Gateway", () => {
  const closers: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close();
  });

  type Task = { taskId: string; port: number; healthy: boolean };
  async function start(dir: string, targets: () => Task[], otherTargets: () => Task[] = () => []) {
    const gateways = new ApiGateways(join(dir, "apis.json"), {
      account: "000000000000",
      region: "us-east-1",
      targetsOf: (arn) => (arn === REGISTRY ? targets() : arn === OTHER_REGISTRY ? otherTargets() : []),
    });
    await gateways.start();
    const endpoint = await startAwsEndpoint({ port: 0, services: [], routes: [gateways.route()] });
    const client = new ApiGatewayV2Client({
      endpoint: endpoint.url,
      region: "us-east-1",
      credentials: { accessKeyId: "a", secretAccessKey: "b" },
    });
    const close = async () => {
      client.destroy();
      await endpoint.close();
      await gateways.close();
    };
    closers.push(close);
    return { client, close };
  }

  async function backend(name = "backend"): Promise<{ port: number; server: Server }> {
    const server = createServer((request, response) =>
      response
        .writeHead(200, { "x-seen-trace-id": request.headers["x-amzn-trace-id"] ?? "" })
        .end(`${name} ${request.method} ${request.url}`),
    );
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    closers.push(() => new Promise((resolve) => server.close(() => resolve())));
    return { port: (server.address() as AddressInfo).port, server };
  }

  it("routes by its routes to healthy targets, answers 404 off its routes and 503 without a healthy target, keeps its URL across a restart", async () => {
    const dir = mkdtempSync(join(tmpdir(), "berth-apigw-"));
    const { port } = await backend();
    let healthy = true;
    const first = await start(dir, () => [{ taskId: "t1", port, healthy }]);
    const api = await first.client.send(
      new CreateApiCommand({ Name: "berth-test-gw", ProtocolType: "HTTP" }),
    );
    const integration = await first.client.send(
      new CreateIntegrationCommand({
        ApiId: api.ApiId,
        IntegrationType: "HTTP_PROXY",
        IntegrationMethod: "ANY",
        IntegrationUri: REGISTRY,
        ConnectionType: "VPC_LINK",
        ConnectionId: LOCAL_VPC_LINK_ID,
        PayloadFormatVersion: "1.0",
      }),
    );
    await first.client.send(
      new CreateRouteCommand({
        ApiId: api.ApiId,
        RouteKey: "GET /v1/{proxy+}",
        Target: `integrations/${integration.IntegrationId}`,
      }),
    );
    const url = api.ApiEndpoint ?? "";
    const answer = await fetch(`${url}/v1/things?x=1`);
    expect(await answer.text()).toBe("backend GET /v1/things?x=1");
    expect((await fetch(`${url}/other`)).status).toBe(404);
    expect((await fetch(`${url}/v1/x`, { method: "POST" })).status).toBe(404);
    healthy = false;
    const unavailable = await fetch(`${url}/v1/things`);
    expect(unavailable.status).toBe(503);
    expect(await unavailable.text()).toContain("no healthy target for berth-test-gw GET /v1/{proxy+}");

    // Bad input gets API Gateway's errors.
    await expect(
      first.client.send(new CreateRouteCommand({ ApiId: api.ApiId, RouteKey: "GET /{proxy+}/x" })),
    ).rejects.toMatchObject({ name: "BadRequestException" });
    await expect(
      first.client.send(new CreateRouteCommand({ ApiId: api.ApiId, RouteKey: "GET /v1/{proxy+}" })),
    ).rejects.toMatchObject({ name: "ConflictException" });
    await expect(first.client.send(new GetApiCommand({ ApiId: "nope" }))).rejects.toMatchObject({
      name: "NotFoundException",
    });

    // A restart on the same data dir serves the same API on the same URL.
    healthy = true;
    await first.close();
    closers.splice(closers.indexOf(first.close), 1);
    const second = await start(dir, () => [{ taskId: "t1", port, healthy }]);
    const again = await second.client.send(new GetApiCommand({ ApiId: api.ApiId }));
    expect(again.ApiEndpoint).toBe(url);
    expect(await (await fetch(`${url}/v1/again`)).text()).toBe("backend GET /v1/again");
  });

  it("takes a change to its routes, integrations or domain names on the next request, and gives each request its own trace id", async () => {
    const dir = mkdtempSync(join(tmpdir(), "berth-apigw-"));
    const one = await backend("one");
    const two = await backend("two");
    const { client } = await start(
      dir,
      () => [{ taskId: "t1", port: one.port, healthy: true }],
      () => [{ taskId: "t2", port: two.port, healthy: true }],
    );
    const api = await client.send(new CreateApiCommand({ Name: "berth-test-changes", ProtocolType: "HTTP" }));
    const integration = (uri: string) =>
      client.send(
        new CreateIntegrationCommand({
          ApiId: api.ApiId,
          IntegrationType: "HTTP_PROXY",
          IntegrationMethod: "ANY",
          IntegrationUri: uri,
          ConnectionType: "VPC_LINK",
          ConnectionId: LOCAL_VPC_LINK_ID,
          PayloadFormatVersion: "1.0",
        }),
      );
    const first = await integration(REGISTRY);
    const second = await integration(OTHER_REGISTRY);
    const route = await client.send(
      new CreateRouteCommand({
        ApiId: api.ApiId,
        RouteKey: "GET /v1/{proxy+}",
        Target: `integrations/${first.IntegrationId}`,
      }),
    );
    const url = api.ApiEndpoint ?? "";
    const get = async (path: string, host?: string) => {
      const { port } = new URL(url);
      return new Promise<{ status: number; text: string; trace: string }>((resolve, reject) => {
        const outgoing = httpRequest(
          { host: "127.0.0.1", port, path, headers: host ? { host } : {} },
          (response) => {
            let text = "";
            response.setEncoding("utf8");
            response.on("data", (chunk: string) => {
              text += chunk;
            });
            response.on("end", () =>
              resolve({
                status: response.statusCode ?? 0,
                text,
                trace: String(response.headers["x-seen-trace-id"] ?? ""),
              }),
            );
          },
        );
        outgoing.on("error", reject);
        outgoing.end();
      });
    };

    // The same request twice: the second one's routing is the first one's, its trace id its own.
    const [a, b] = [await get("/v1/a"), await get("/v1/a")];
    expect([a.text, b.text]).toEqual(["one GET /v1/a", "one GET /v1/a"]);
    expect(a.trace).toMatch(/^Root=1-[0-9a-f]{8}-[0-9a-f]{24}$/);
    expect(b.trace).toMatch(/^Root=1-[0-9a-f]{8}-[0-9a-f]{24}$/);
    expect(b.trace).not.toBe(a.trace);

    // Another integration for the route: the next request goes there.
    await client.send(
      new UpdateRouteCommand({
        ApiId: api.ApiId,
        RouteId: route.RouteId,
        Target: `integrations/${second.IntegrationId}`,
      }),
    );
    expect((await get("/v1/a")).text).toBe("two GET /v1/a");

    // Another route key: the old path is off the routes, the new one on them.
    await client.send(
      new UpdateRouteCommand({ ApiId: api.ApiId, RouteId: route.RouteId, RouteKey: "GET /v2/{proxy+}" }),
    );
    expect((await get("/v1/a")).status).toBe(404);
    expect((await get("/v2/a")).text).toBe("two GET /v2/a");

    // A host the API has no domain name for is refused until a domain name is mapped to the API.
    expect((await get("/v2/a", "api.example.com")).status).toBe(403);
    await client.send(new CreateStageCommand({ ApiId: api.ApiId, StageName: "$default", AutoDeploy: true }));
    await client.send(new CreateDomainNameCommand({ DomainName: "api.example.com" }));
    await client.send(
      new CreateApiMappingCommand({ DomainName: "api.example.com", ApiId: api.ApiId, Stage: "$default" }),
    );
    expect((await get("/v2/a", "api.example.com")).text).toBe("two GET /v2/a");

    // A deleted route: the next request is off the routes.
    await client.send(new DeleteRouteCommand({ ApiId: api.ApiId, RouteId: route.RouteId }));
    expect((await get("/v2/a")).status).toBe(404);
  });
});

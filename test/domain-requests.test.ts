import type { ACMClient, ListCertificatesCommand } from "@aws-sdk/client-acm";
import { ApiGatewayV2Client, GetApisCommand, GetDomainNamesCommand } from "@aws-sdk/client-apigatewayv2";
import {
  DescribeListenerCertificatesCommand,
  DescribeListenersCommand,
  ElasticLoadBalancingV2Client,
} from "@aws-sdk/client-elastic-load-balancing-v2";
import { ServiceDiscoveryClient } from "@aws-sdk/client-servicediscovery";
import { describe, expect, it } from "vitest";
import {
  albAttachments,
  aliasChangeInput,
  certificatesFor,
  coversDomain,
  createApiMappingInput,
  createDomainNameInput,
  describeCertificateInput,
  detachHttpApis,
  detachLoadBalancers,
  domainUrl,
  ensureHttpApis,
  ensureLoadBalancers,
  hostedZonesInput,
  httpApiAttachments,
  listCertificatesInput,
  recordSetsInput,
} from "../packages/core/src/ingress/index.ts";
import { Render } from "../packages/core/src/render/index.ts";
import { IngressRecord } from "../packages/core/src/store/index.ts";
import { type ContractRequest, invalidRequests } from "./support/botocore.ts";
import { expectOperations, parseStack, recordingBerthLocal } from "./support/local-requests.ts";

/**
 * Custom domains of gateways and load balancers: what the stack file plans, the requests Berth
 * sends (recorded against Berth Local's API Gateway and ELB endpoints, and built for ACM and
 * Route 53, which Berth Local does not emulate), each checked by botocore's ParamValidator, and
 * the refusal of a domain no certificate covers.
 */
const berth = recordingBerthLocal("berth-domains-");

const env = (stack: string) =>
  Render.Environment.parse({
    stack,
    stage: "test",
    partition: "aws",
    region: "us-east-1",
    account: "123456789012",
    cluster: "berth",
    network: { privateSubnets: ["subnet-1"], securityGroups: ["sg-1"] },
    serviceConnectNamespace: "berth.local",
    executionRoleArn: "arn:aws:iam::123456789012:role/exec",
    taskRolePath: "/berth/",
    registry: "123456789012.dkr.ecr.us-east-1.amazonaws.com",
  });

const IMAGE = `berth.local/x@sha256:${"0".repeat(64)}`;

/**
 * A stack file's lines for a service resource of `type` with a prebuilt image and the smallest
 * size; `properties` are its further properties, one a line.
 */
function imageService(type: string, ...properties: string[]): string {
  return [
    `    type: ${type}`,
    "    properties:",
    `      packaging: { type: prebuilt-image, properties: { image: "${IMAGE}" } }`,
    "      resources: { cpu: 0.25, memory: 512 }",
    ...properties.map((property) => `      ${property}`),
  ].join("\n");
}

const CERTIFICATE = "arn:aws:acm:us-east-1:123456789012:certificate/11111111-2222-3333-4444-555555555555";
const OTHER_CERTIFICATE =
  "arn:aws:acm:us-east-1:123456789012:certificate/66666666-7777-8888-9999-000000000000";

describe("what a stack file's custom domains plan", () => {
  it("gives a web service's gateway its domains, lowercased, and an ALB an HTTPS listener for them", () => {
    const stack = parseStack(`
resources:
  web:
${imageService("web-service", "customDomains: [api.example.com, www.example.com, api.example.com]")}
  front:
${imageService("web-service", "loadBalancing: { type: application-load-balancer }", "customDomains: [shop.example.com]")}
  plain:
${imageService("web-service", "loadBalancing: { type: application-load-balancer }")}
`);
    expect(httpApiAttachments(stack, "web")[0]?.customDomains).toEqual([
      "api.example.com",
      "www.example.com",
    ]);
    const [front] = albAttachments(stack, "front");
    expect(front?.customDomains).toEqual(["shop.example.com"]);
    expect(front?.listeners).toEqual([
      { port: 80, protocol: "HTTP", certificateArns: [] },
      { port: 443, protocol: "HTTPS", certificateArns: [] },
    ]);
    // Without domains the balancer keeps its one HTTP listener.
    expect(albAttachments(stack, "plain")[0]?.listeners).toEqual([
      { port: 80, protocol: "HTTP", certificateArns: [] },
    ]);
  });

  it("matches certificates exactly or by a one-label wildcard, and builds the domain's URL", () => {
    expect(coversDomain("api.example.com", "api.example.com")).toBe(true);
    expect(coversDomain("*.example.com", "api.example.com")).toBe(true);
    expect(coversDomain("*.example.com", "a.b.example.com")).toBe(false);
    expect(coversDomain("*.example.com", "example.com")).toBe(false);
    expect(coversDomain("www.example.com", "api.example.com")).toBe(false);
    expect(domainUrl("api.example.com", "https://abc.execute-api.us-east-1.amazonaws.com", true)).toBe(
      "https://api.example.com",
    );
    expect(domainUrl("api.example.com", "http://lb-1.elb.amazonaws.com", true)).toBe(
      "https://api.example.com",
    );
    // No certificate (Berth Local): the resource's own scheme and port.
    expect(domainUrl("api.example.com", "http://127.0.0.1:41234", false)).toBe(
      "http://api.example.com:41234",
    );
  });

  it("resolves 'domain' to the first custom domain, else the own DNS name, and a private service's address through its balancer", () => {
    const stack = parseStack(`
resources:
  internal:
${imageService("private-service", "port: 8080", "loadBalancing: { type: application-load-balancer }")}
  other:
${imageService("private-service")}
`);
    const urls = {
      internal: "http://internal-berth-shop-internal-1.us-east-1.elb.amazonaws.com:8080",
      web: "https://abc.execute-api.us-east-1.amazonaws.com",
      "web/domain": "api.example.com",
      front: "http://127.0.0.1:40001",
    };
    const rendered = { ...env("shop"), ingressUrls: urls };
    expect(Render.addressOf(stack, rendered, "internal")).toBe(
      "internal-berth-shop-internal-1.us-east-1.elb.amazonaws.com:8080",
    );
    // Before its balancer exists, and for a service without one: the Service Connect alias.
    expect(Render.addressOf(stack, env("shop"), "internal")).toBe("internal.shop:8080");
    expect(Render.addressOf(stack, rendered, "other")).toBe("other.shop:3000");
    const container = Render.renderResource(
      parseStack(`
resources:
  internal:
${imageService("private-service", "port: 8080", "loadBalancing: { type: application-load-balancer }")}
  caller:
${imageService(
  "worker-service",
  "connectTo: [internal]",
  "environment:",
  `  - { name: API_DOMAIN, value: "$ResourceParam('web', 'domain')" }`,
  `  - { name: LB_DOMAIN, value: "$ResourceParam('front', 'domain')" }`,
)}
  web:
    type: http-api-gateway
  front:
    type: application-load-balancer
`),
      "caller",
      rendered,
    ).taskDefinition.containerDefinitions?.[0];
    const variables = Object.fromEntries((container?.environment ?? []).map((v) => [v.name, v.value]));
    expect(variables).toMatchObject({
      STP_INTERNAL_ADDRESS: "internal-berth-shop-internal-1.us-east-1.elb.amazonaws.com:8080",
      API_DOMAIN: "api.example.com",
      LB_DOMAIN: "127.0.0.1",
    });
  });
});

describe("the requests of custom domains", () => {
  it("are valid for AWS's service models: domain names, mappings, certificates, alias records", async () => {
    const apiGateway = berth.recording("apigatewayv2", new ApiGatewayV2Client(berth.aws()));
    const clients = {
      apiGateway,
      serviceDiscovery: berth.recording("servicediscovery", new ServiceDiscoveryClient(berth.aws())),
      elb: berth.recording("elbv2", new ElasticLoadBalancingV2Client(berth.aws())),
    };
    const stack = parseStack(`
resources:
  web:
${imageService("web-service", "customDomains: [api.example.com]")}
  front:
    type: application-load-balancer
    properties:
      listeners:
        - { port: 443, protocol: HTTPS, customCertificateArns: ["${CERTIFICATE}", "${OTHER_CERTIFICATE}"] }
  shop:
    type: multi-container-workload
    properties:
      resources: { cpu: 0.25, memory: 512 }
      containers:
        - name: app
          packaging: { type: prebuilt-image, properties: { image: "${IMAGE}" } }
          events:
            - type: application-load-balancer
              properties: { loadBalancerName: front, containerPort: 3000, priority: 1, paths: ["*"] }
`);
    const settings = berth.settings();
    if (!settings.httpApi || !settings.loadBalancing) throw new Error("Berth Local has no ingress wiring");
    const context = {
      store: berth.table.store,
      clients,
      installation: settings.httpApi,
      env: env("shop"),
      domainLookups: "none" as const,
    };
    await ensureHttpApis(context, "web", httpApiAttachments(stack, "web"));
    const [gateway] = await IngressRecord.list(berth.table.store, "shop");
    expect(gateway?.domains).toEqual([
      {
        name: "api.example.com",
        url: expect.stringMatching(/^http:\/\/api\.example\.com:\d+$/),
        target: "127.0.0.1",
        targetZoneId: expect.any(String),
        dns: "manual",
      },
    ]);
    // Deploying again changes nothing; the domain stays mapped to the API.
    await ensureHttpApis(context, "web", httpApiAttachments(stack, "web"));
    const listed = await apiGateway.send(new GetDomainNamesCommand({}));
    expect(listed.Items?.map((item) => item.DomainName)).toEqual(["api.example.com"]);

    // A second stack declaring the same domain is refused, naming it; the first keeps it.
    await expect(
      ensureHttpApis({ ...context, env: env("rival") }, "web", httpApiAttachments(stack, "web")),
    ).rejects.toMatchObject({ code: "CONFLICT", message: expect.stringContaining("api.example.com") });

    // Two certificates on one HTTPS listener: the first is its default, the second is added.
    await ensureLoadBalancers(
      { ...context, installation: settings.loadBalancing },
      "shop",
      albAttachments(stack, "shop"),
    );
    const balancer = (await IngressRecord.list(berth.table.store, "shop")).find(
      (item) => item.name === "front",
    );
    const { Listeners } = await clients.elb.send(
      new DescribeListenersCommand({ LoadBalancerArn: balancer?.awsId ?? "" }),
    );
    const { Certificates } = await clients.elb.send(
      new DescribeListenerCertificatesCommand({ ListenerArn: Listeners?.[0]?.ListenerArn ?? "" }),
    );
    expect(Certificates?.map((certificate) => certificate.CertificateArn)).toEqual([
      CERTIFICATE,
      OTHER_CERTIFICATE,
    ]);

    await detachHttpApis(context, "web");
    await detachLoadBalancers(context, "shop");
    expect((await apiGateway.send(new GetDomainNamesCommand({}))).Items).toEqual([]);
    expect((await apiGateway.send(new GetApisCommand({}))).Items).toEqual([]);

    expectOperations(berth.recorded, [
      "apigatewayv2:GetDomainName",
      "apigatewayv2:CreateDomainName",
      "apigatewayv2:GetApiMappings",
      "apigatewayv2:CreateApiMapping",
      "apigatewayv2:DeleteApiMapping",
      "apigatewayv2:DeleteDomainName",
      "elbv2:AddListenerCertificates",
    ]);
    // What AWS gets where the installation looks certificates and DNS up.
    const zoneId = "Z0123456789ABCDEFGHIJ";
    const built: ContractRequest[] = [
      { service: "acm", operation: "ListCertificates", input: listCertificatesInput() },
      { service: "acm", operation: "ListCertificates", input: listCertificatesInput("token") },
      {
        service: "acm",
        operation: "DescribeCertificate",
        input: describeCertificateInput({ CertificateArn: CERTIFICATE }),
      },
      {
        service: "apigatewayv2",
        operation: "CreateDomainName",
        input: createDomainNameInput(env("shop"), "web", "api.example.com", CERTIFICATE),
      },
      {
        service: "apigatewayv2",
        operation: "CreateApiMapping",
        input: createApiMappingInput("api.example.com", "a1b2c3"),
      },
      { service: "route53", operation: "ListHostedZonesByName", input: hostedZonesInput("example.com") },
      {
        service: "route53",
        operation: "ListResourceRecordSets",
        input: recordSetsInput(zoneId, "api.example.com"),
      },
      {
        service: "route53",
        operation: "ChangeResourceRecordSets",
        input: aliasChangeInput(
          "UPSERT",
          zoneId,
          "api.example.com",
          "d-abc.execute-api.us-east-1.amazonaws.com",
          "Z1UJRXOUMOOFQ8",
        ),
      },
      {
        service: "route53",
        operation: "ChangeResourceRecordSets",
        input: aliasChangeInput(
          "DELETE",
          zoneId,
          "api.example.com",
          "d-abc.execute-api.us-east-1.amazonaws.com",
          "Z1UJRXOUMOOFQ8",
        ),
      },
    ];
    expect(invalidRequests([...berth.recorded, ...built])).toEqual([]);
  }, 120_000);

  it("refuses a domain no ISSUED certificate covers, naming it, before creating anything", async () => {
    const requests: ContractRequest[] = [];
    // ACM's answer for an account without a covering certificate: an empty list.
    const acm = {
      send: async (command: ListCertificatesCommand) => {
        requests.push({ service: "acm", operation: "ListCertificates", input: command.input });
        return { CertificateSummaryList: [] };
      },
    } as unknown as ACMClient;
    const apiGateway = new ApiGatewayV2Client(berth.aws());
    const before = (await apiGateway.send(new GetApisCommand({}))).Items?.length ?? 0;
    const settings = berth.settings();
    if (!settings.httpApi) throw new Error("Berth Local has no VPC link");
    const stack = parseStack(`
resources:
  web:
${imageService("web-service", "customDomains: [api.nocert.example]")}
`);
    const refused = ensureHttpApis(
      {
        store: berth.table.store,
        clients: { apiGateway, serviceDiscovery: new ServiceDiscoveryClient(berth.aws()), acm },
        installation: settings.httpApi,
        env: env("nocert"),
        domainLookups: "acm-route53",
      },
      "web",
      httpApiAttachments(stack, "web"),
    );
    await expect(refused).rejects.toMatchObject({
      code: "MISSING_INGRESS",
      message: expect.stringContaining("no ISSUED ACM certificate in us-east-1 covers api.nocert.example"),
    });
    expect((await apiGateway.send(new GetApisCommand({}))).Items?.length ?? 0).toBe(before);
    expect(await IngressRecord.list(berth.table.store, "nocert")).toEqual([]);
    expect(requests.map((request) => request.input)).toEqual([listCertificatesInput()]);
    expect(invalidRequests(requests)).toEqual([]);
    // The same lookup, asked directly, names every uncovered domain.
    await expect(
      certificatesFor({ clients: { acm }, lookups: "acm-route53", env: env("nocert") }, "gateway web", [
        "a.nocert.example",
        "b.nocert.example",
      ]),
    ).rejects.toThrow("a.nocert.example, b.nocert.example");
  });
});

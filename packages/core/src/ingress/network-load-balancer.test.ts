import { describe, expect, it } from "vitest";
import { Render } from "../render/index.ts";
import { Spec } from "../spec/index.ts";
import { nlbAttachments } from "./load-balancer-plan.ts";
import { networkLoadBalancerUrl } from "./network-load-balancer.ts";

const image = "{ type: prebuilt-image, properties: { image: 'busybox:1' } }";

const stackFile = (events: string, extra = "") => `
resources:
  edge:
    type: network-load-balancer
    properties:
      interface: internal
      listeners:
        - { port: 5432, protocol: TCP }
        - { port: 6443, protocol: TLS, customCertificateArns: ["arn:aws:acm:us-east-1:1:certificate/a"] }
  db:
    type: multi-container-workload
    properties:
      resources: { cpu: 0.25, memory: 512 }
      containers:
        - name: proxy
          packaging: ${image}
          stopTimeout: 9
          events:${events}
${extra}`;

const event = (listenerPort: number, containerPort = 5432) => `
            - type: network-load-balancer
              properties: { loadBalancerName: edge, listenerPort: ${listenerPort}, containerPort: ${containerPort} }`;

function parse(text: string): Spec.Stack {
  const result = Spec.parse(text);
  if (!result.ok) throw new Error(result.issues.map((issue) => Spec.formatIssue("stack", issue)).join("\n"));
  return result.stack;
}

function issues(text: string): Spec.SpecIssue[] {
  const result = Spec.parse(text);
  if (result.ok) throw new Error("expected the stack to be invalid");
  return result.issues;
}

describe("network load balancer plans", () => {
  it("gives each listener and container port its own attachment, with a TCP check and the stop timeout as delay", () => {
    const stack = parse(stackFile(`${event(5432)}${event(6443)}`));
    const attachments = nlbAttachments(stack, "db");
    expect(
      attachments.map((attachment) => [
        attachment.scheme,
        attachment.listener.protocol,
        attachment.listener.port,
        attachment.listener.certificateArns,
        attachment.port,
        attachment.healthCheck.protocol,
        attachment.deregistrationDelaySeconds,
        attachment.firstListener.port,
      ]),
    ).toEqual([
      ["internal", "TCP", 5432, [], 5432, "TCP", 9, 5432],
      ["internal", "TLS", 6443, ["arn:aws:acm:us-east-1:1:certificate/a"], 5432, "TCP", 9, 5432],
    ]);
  });

  it("checks over HTTP when the container declares a load balancer health check", () => {
    const text = stackFile(event(5432)).replace(
      "stopTimeout: 9",
      "stopTimeout: 9\n          loadBalancerHealthCheck: { healthcheckPath: /ready, healthcheckInterval: 15 }",
    );
    const [attachment] = nlbAttachments(parse(text), "db");
    expect(attachment?.healthCheck).toEqual({
      protocol: "HTTP",
      path: "/ready",
      intervalSeconds: 15,
      timeoutSeconds: 4,
    });
  });

  it("gives a web-service with loadBalancing network-load-balancer a TCP listener on its port", () => {
    const stack = parse(`
resources:
  tcp:
    type: web-service
    properties:
      packaging: ${image}
      resources: { cpu: 0.25, memory: 512 }
      port: 9000
      loadBalancing: { type: network-load-balancer }
`);
    expect(nlbAttachments(stack, "tcp")).toMatchObject([
      {
        loadBalancer: "tcp",
        scheme: "internet-facing",
        listener: { port: 9000, protocol: "TCP" },
        port: 9000,
      },
    ]);
  });

  it("refuses an event naming a listener the balancer does not have, listing the ones it has", () => {
    const found = issues(stackFile(event(7000)));
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({
      code: "UNKNOWN_LISTENER",
      path: "resources.db.properties.containers[0].events[0].properties.listenerPort",
    });
    expect(Spec.formatIssue("berth.yml", found[0] as Spec.SpecIssue)).toContain(
      'load balancer "edge" has no listener on port 7000 (listeners: 5432, 6443)',
    );
  });

  it("refuses a listener that already forwards to another container port", () => {
    const found = issues(`${stackFile(event(5432))}
  cache:
    type: multi-container-workload
    properties:
      resources: { cpu: 0.25, memory: 512 }
      containers:
        - name: app
          packaging: ${image}
          events:${event(5432, 6379)}
`);
    expect(found.map((issue) => [issue.code, issue.message])).toEqual([
      [
        "LISTENER_TAKEN",
        'listener 5432 of load balancer "edge" already forwards to db/proxy:5432; a network load balancer\'s listener forwards to one container port',
      ],
    ]);
  });
});

describe("network load balancers in the ECS service and $ResourceParam", () => {
  const text = stackFile(
    `${event(5432)}${event(6443)}`,
    `  client:
    type: worker-service
    properties:
      packaging: ${image}
      resources: { cpu: 0.25, memory: 512 }
      environment:
        - { name: DB_URL, value: "$ResourceParam('edge', 'url')" }
        - { name: DB_HOST, value: "$ResourceParam('edge', 'domain')" }`,
  );
  const stack = parse(text);

  it("names every target group of a container port in the service's loadBalancers", () => {
    const env = Render.Environment.parse({
      ...Render.localEnvironment(stack),
      stack: "data",
      ingress: { "db/proxy/5432": { networkTargetGroupArns: ["arn:tg/a", "arn:tg/b"] } },
    });
    expect(Render.renderResource(stack, "db", env).service?.create.loadBalancers).toEqual([
      { targetGroupArn: "arn:tg/a", containerName: "proxy", containerPort: 5432 },
      { targetGroupArn: "arn:tg/b", containerName: "proxy", containerPort: 5432 },
    ]);
    const missing = Render.Environment.parse({ ...env, ingress: {} });
    expect(() => Render.renderResource(stack, "db", missing)).toThrow(
      /no network load balancer target group for db\/proxy\/5432/,
    );
  });

  it("resolves the balancer's url (tcp://host:port) and domain", () => {
    const url = networkLoadBalancerUrl("berth-data-edge-0123.elb.us-east-1.amazonaws.com", { port: 5432 });
    expect(url).toBe("tcp://berth-data-edge-0123.elb.us-east-1.amazonaws.com:5432");
    // Berth Local's DNS names carry their port: it is kept, not doubled.
    expect(networkLoadBalancerUrl("127.0.0.1:40123", { port: 5432 })).toBe("tcp://127.0.0.1:40123");
    const env = Render.Environment.parse({
      ...Render.localEnvironment(stack),
      stack: "data",
      ingressUrls: { edge: url },
    });
    const variables = Render.renderResource(stack, "client", env).taskDefinition.containerDefinitions?.[0]
      ?.environment;
    expect(variables).toEqual(
      expect.arrayContaining([
        { name: "DB_URL", value: url },
        { name: "DB_HOST", value: "berth-data-edge-0123.elb.us-east-1.amazonaws.com" },
      ]),
    );
  });
});

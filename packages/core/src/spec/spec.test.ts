import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { Spec } from "./index.ts";
import { PRIVATE_API_HEAD } from "./test-support.ts";

const buildpack = { type: "stacktape-image-buildpack", properties: { entryfilePath: "src/main.ts" } };

function privateService(properties: Record<string, unknown> = {}) {
  return {
    type: "private-service",
    properties: { packaging: buildpack, resources: { cpu: 0.25, memory: 512 }, ...properties },
  };
}

/** A health check with one setting besides its command. */
function healthCheck(setting: Record<string, number>) {
  return { internalHealthCheck: { healthCheckCommand: ["CMD", "x"], ...setting } };
}

function stackOf(resources: Record<string, unknown>): string {
  return stringify({ resources });
}

function parseOk(text: string): Spec.Stack {
  const result = Spec.parse(text);
  if (!result.ok)
    throw new Error(result.issues.map((issue) => Spec.formatIssue("test.yml", issue)).join("\n"));
  return result.stack;
}

function issuesOf(text: string): Spec.SpecIssue[] {
  const result = Spec.parse(text);
  if (result.ok) throw new Error("expected the stack to be invalid");
  return result.issues;
}

function single(text: string): Spec.SpecIssue {
  const issues = issuesOf(text);
  expect(issues, JSON.stringify(issues, null, 2)).toHaveLength(1);
  return issues[0] as Spec.SpecIssue;
}

/** The issues of a stack of `resources`; the stack must be invalid. */
function issuesIn(resources: Record<string, unknown>): Spec.SpecIssue[] {
  return issuesOf(stackOf(resources));
}

/** The one issue of a stack of `resources`. */
function singleIn(resources: Record<string, unknown>): Spec.SpecIssue {
  return single(stackOf(resources));
}

function serviceProps(stack: Spec.Stack, name = "api") {
  const resource = stack.resources[name];
  if (resource?.type !== "private-service") throw new Error("not a private service");
  return resource.properties;
}

describe("defaults", () => {
  const props = serviceProps(parseOk(stackOf({ api: privateService() })));

  it.each([
    ["port", props.port, 3000],
    ["loadBalancing", props.loadBalancing, { type: "service-connect" }],
    ["stopTimeout", props.stopTimeout, 2],
    ["logging", props.logging, { disabled: false, retentionDays: 90 }],
    ["environment", props.environment, []],
    ["connectTo", props.connectTo, []],
    ["iamRoleStatements", props.iamRoleStatements, []],
    ["architecture", props.resources.architecture, "x86_64"],
    ["enableWarmPool", props.resources.enableWarmPool, false],
    ["spot", props.resources.spot, false],
    ["scaling.minInstances", props.scaling.minInstances, 1],
    ["scaling.maxInstances", props.scaling.maxInstances, 1],
    ["scaling.scaleOutCooldownSeconds", props.scaling.scaleOutCooldownSeconds, 60],
    ["scaling.scaleInCooldownSeconds", props.scaling.scaleInCooldownSeconds, 300],
  ])("%s", (_name, actual, expected) => {
    expect(actual).toEqual(expected);
  });

  it("fills the health check's interval 30, timeout 5 and retries 3", () => {
    const stack = parseOk(
      stackOf({ api: privateService({ internalHealthCheck: { healthCheckCommand: ["CMD", "true"] } }) }),
    );
    expect(serviceProps(stack).internalHealthCheck).toEqual({
      healthCheckCommand: ["CMD", "true"],
      intervalSeconds: 30,
      timeoutSeconds: 5,
      retries: 3,
    });
  });

  it("fills a scaling policy's CPU and memory targets with 80", () => {
    const stack = parseOk(
      stackOf({ api: privateService({ scaling: { maxInstances: 3, scalingPolicy: {} } }) }),
    );
    expect(serviceProps(stack).scaling.scalingPolicy).toEqual({
      keepAvgCpuUtilizationUnder: 80,
      keepAvgMemoryUtilizationUnder: 80,
    });
  });

  it("defaults a workload container to essential with a 2 s stop timeout, and a Dockerfile to `Dockerfile`", () => {
    const stack = parseOk(
      stackOf({
        app: {
          type: "multi-container-workload",
          properties: {
            resources: { cpu: 0.5, memory: 1024 },
            containers: [
              {
                name: "web",
                packaging: { type: "custom-dockerfile", properties: { buildContextPath: "." } },
              },
            ],
          },
        },
      }),
    );
    const app = stack.resources.app;
    if (app?.type !== "multi-container-workload") throw new Error("wrong type");
    const container = app.properties.containers[0];
    expect(container?.essential).toBe(true);
    expect(container?.stopTimeout).toBe(2);
    expect(container?.packaging).toEqual({
      type: "custom-dockerfile",
      properties: { buildContextPath: ".", dockerfilePath: "Dockerfile" },
    });
  });

  it("defaults web-service load balancing to http-api-gateway", () => {
    const stack = parseOk(stackOf({ web: { ...privateService(), type: "web-service" } }));
    const web = stack.resources.web;
    expect(web?.type === "web-service" && web.properties.loadBalancing).toEqual({ type: "http-api-gateway" });
  });

  it("stringifies static environment values", () => {
    const stack = parseOk(
      stackOf({
        api: privateService({
          environment: [
            { name: "N", value: 3000 },
            { name: "B", value: true },
            { name: "S", value: "text" },
          ],
        }),
      }),
    );
    expect(serviceProps(stack).environment).toEqual([
      { name: "N", value: "3000" },
      { name: "B", value: "true" },
      { name: "S", value: "text" },
    ]);
  });
});

describe("ranges", () => {
  it.each([
    ["stopTimeout", { stopTimeout: 1 }, "stopTimeout", "must be at least 2"],
    ["stopTimeout", { stopTimeout: 121 }, "stopTimeout", "must be at most 120"],
    ["port", { port: 0 }, "port", "must be at least 1"],
    ["port", { port: 70000 }, "port", "must be at most 65535"],
    ["interval", healthCheck({ intervalSeconds: 4 }), "internalHealthCheck.intervalSeconds", "at least 5"],
    ["interval", healthCheck({ intervalSeconds: 301 }), "internalHealthCheck.intervalSeconds", "at most 300"],
    ["timeout", healthCheck({ timeoutSeconds: 1 }), "internalHealthCheck.timeoutSeconds", "at least 2"],
    ["retries", healthCheck({ retries: 11 }), "internalHealthCheck.retries", "at most 10"],
    [
      "startPeriod",
      healthCheck({ startPeriodSeconds: 301 }),
      "internalHealthCheck.startPeriodSeconds",
      "at most 300",
    ],
    ["minInstances", { scaling: { minInstances: 0 } }, "scaling.minInstances", "at least 1"],
    [
      "cpu target",
      { scaling: { scalingPolicy: { keepAvgCpuUtilizationUnder: 101 } } },
      "scaling.scalingPolicy.keepAvgCpuUtilizationUnder",
      "at most 100",
    ],
    ["retentionDays", { logging: { retentionDays: 2 } }, "logging.retentionDays", "must be one of 1, 3, 5"],
  ])("%s: %j", (_name, properties, path, message) => {
    const issue = singleIn({ api: privateService(properties) });
    expect(issue.path).toBe(`resources.api.properties.${path}`);
    expect(issue.message).toContain(message);
  });

  it("rejects a health check command that is not CMD or CMD-SHELL", () => {
    const issue = singleIn({
      api: privateService({ internalHealthCheck: { healthCheckCommand: ["curl", "x"] } }),
    });
    expect(issue.message).toContain("must start with 'CMD' or 'CMD-SHELL'");
  });

  it("rejects a Fargate size AWS does not run and lists what it accepts", () => {
    const issue = singleIn({ api: privateService({ resources: { cpu: 1, memory: 1024 } }) });
    expect(issue).toMatchObject({
      code: "INVALID_FARGATE_SIZE",
      path: "resources.api.properties.resources.memory",
      message:
        "Fargate does not run 1 vCPU with 1024 MiB; with 1 vCPU it accepts 2048-8192 MiB in steps of 1024",
    });
  });

  it.each([
    [0.25, 512],
    [0.5, 4096],
    [1, 8192],
    [2, 16384],
    [4, 30720],
    [8, 61440],
    [16, 122880],
  ])("accepts Fargate's %s vCPU with %s MiB", (cpu, memory) => {
    parseOk(stackOf({ api: privateService({ resources: { cpu, memory } }) }));
  });

  it("rejects a vCPU size Fargate does not have", () => {
    const issue = singleIn({ api: privateService({ resources: { cpu: 3, memory: 8192 } }) });
    expect(issue.message).toBe("Fargate runs 0.25, 0.5, 1, 2, 4, 8, 16 vCPU, got 3");
  });

  it("requires memory on Fargate and says which sizes fit", () => {
    const issue = singleIn({ api: privateService({ resources: { cpu: 0.5 } }) });
    expect(issue).toMatchObject({
      code: "MISSING_PROPERTY",
      path: "resources.api.properties.resources.memory",
    });
    expect(issue.message).toContain("1024-4096 MiB");
  });

  it("sizes EC2 tasks from known instance types and checks the architecture", () => {
    parseOk(stackOf({ api: privateService({ resources: { instanceTypes: ["c5.large"] } }) }));
    const issue = singleIn({ api: privateService({ resources: { instanceTypes: ["c6g.large"] } }) });
    expect(issue).toMatchObject({
      code: "ARCHITECTURE_MISMATCH",
      message: "c6g.large is arm64, but architecture is x86_64",
    });
  });

  it("needs memory for an instance type Berth does not know, and a warm pool needs one type", () => {
    const issues = issuesIn({
      api: privateService({ resources: { instanceTypes: ["x9.huge", "c5.large"], enableWarmPool: true } }),
    });
    expect(issues.map((issue) => issue.code).sort()).toEqual(["INVALID_RESOURCES", "MISSING_PROPERTY"]);
  });

  it("rejects memory larger than the smallest instance can give", () => {
    const issue = singleIn({
      api: privateService({ resources: { instanceTypes: ["c5.large"], memory: 4096 } }),
    });
    expect(issue.message).toBe("4096 MiB does not fit the smallest instance type (3686 MiB usable of 4096)");
  });

  it("rejects spot with instance types, and maxInstances below minInstances", () => {
    const issues = issuesIn({
      api: privateService({
        resources: { instanceTypes: ["c5.large"], spot: true },
        scaling: { minInstances: 3, maxInstances: 2 },
      }),
    });
    expect(issues.map((issue) => issue.path)).toEqual([
      "resources.api.properties.resources.spot",
      "resources.api.properties.scaling.maxInstances",
    ]);
  });
});

describe("errors carry the path, the line and the column", () => {
  const text = [
    ...PRIVATE_API_HEAD, // 1-8
    "      resources:", // 9
    "        cpu: 0.25", // 10
    "        memory: 512", // 11
    "      stopTimout: 5", // 12
    "      port: high", // 13
  ].join("\n");

  it("names an unknown property at its key, with the closest valid name", () => {
    const issues = issuesOf(text);
    expect(issues[0]).toMatchObject({
      code: "UNKNOWN_PROPERTY",
      path: "resources.api.properties.stopTimout",
      line: 12,
      column: 7,
      suggestion: "stopTimeout",
    });
    expect(issues[1]).toMatchObject({
      code: "INVALID_TYPE",
      path: "resources.api.properties.port",
      line: 13,
      column: 13,
      message: 'must be a number, got "high"',
    });
  });

  it("reports a missing property on the key of the mapping it is missing from", () => {
    const issue = single(
      "resources:\n  api:\n    type: private-service\n    properties:\n      resources: {cpu: 1, memory: 2048}\n",
    );
    expect(issue).toMatchObject({
      code: "MISSING_PROPERTY",
      path: "resources.api.properties.packaging",
      line: 4,
    });
  });

  it("suggests the closest resource type and packaging type", () => {
    const issues = issuesIn({
      a: { ...privateService(), type: "private-servce" },
      b: privateService({ packaging: { type: "prebuild-image", properties: { image: "x" } } }),
    });
    expect(issues.map((issue) => [issue.path, issue.suggestion])).toEqual([
      ["resources.a.type", "private-service"],
      ["resources.b.properties.packaging.type", "prebuilt-image"],
    ]);
  });

  it("reports YAML syntax errors with their line", () => {
    const issue = single("resources:\n  api:\n    type: [unclosed\n");
    expect(issue.code).toBe("SYNTAX_ERROR");
    expect(issue.line).toBeGreaterThanOrEqual(3);
  });

  it("reports duplicate keys", () => {
    const issue = single("resources:\n  api:\n    type: worker-service\n    type: private-service\n");
    expect(issue).toMatchObject({ code: "SYNTAX_ERROR", line: 4 });
  });

  it("reads JSON with the same positions", () => {
    const json = JSON.stringify({ resources: { api: privateService({ stopTimeout: 500 }) } }, null, 2);
    const issue = single(json);
    expect(issue.path).toBe("resources.api.properties.stopTimeout");
    expect(issue.line).toBe(json.split("\n").findIndex((line) => line.includes('"stopTimeout"')) + 1);
  });

  it("formats an issue as FILE:LINE:COL path: message", () => {
    const issue = issuesOf(text)[0] as Spec.SpecIssue;
    expect(Spec.formatIssue("berth.yml", issue)).toMatch(
      /^berth\.yml:12:7 resources\.api\.properties\.stopTimout: unknown property "stopTimout"; valid here: .* \(did you mean "stopTimeout"\?\)$/,
    );
  });
});

describe("unsupported features say why", () => {
  it.each([
    ["cloudformationResources", "UNSUPPORTED_TOP_LEVEL_KEY", "without CloudFormation"],
    ["directives", "UNSUPPORTED_TOP_LEVEL_KEY", "custom directives"],
  ])("top-level %s", (key, code, why) => {
    const issue = single(stringify({ [key]: {}, resources: { api: privateService() } }));
    expect(issue).toMatchObject({ code, path: key, line: 1 });
    expect(issue.message).toContain(why);
  });

  it("an unknown top-level key", () => {
    const issue = single(
      stringify({ resource: { api: privateService() } }).replace(
        "resource:",
        "resources:\n  x: {type: http-api-gateway}\nresourcs:",
      ),
    );
    expect(issue).toMatchObject({ code: "UNKNOWN_PROPERTY", path: "resourcs", suggestion: "resources" });
  });

  it.each([
    ["$CfResourceParam('Topic', 'Arn')", "UNSUPPORTED_DIRECTIVE", "without CloudFormation"],
    ["$MyCustomDirective('x')", "UNSUPPORTED_DIRECTIVE", "only $ResourceParam and $Secret"],
    ["$ResourceParam('api')", "INVALID_DIRECTIVE", "expected $ResourceParam('resourceName', 'parameter')"],
    ["prefix-$Secret('db.password')", "INVALID_DIRECTIVE", "must be the whole value"],
  ])("directive %s", (value, code, why) => {
    const issue = singleIn({ api: privateService({ environment: [{ name: "X", value }] }) });
    expect(issue).toMatchObject({ code, path: "resources.api.properties.environment[0].value" });
    expect(issue.message).toContain(why);
  });

  it("a directive outside environment values", () => {
    const issue = singleIn({
      api: privateService({
        iamRoleStatements: [{ Action: ["sns:Publish"], Resource: ["$CfResourceParam('T', 'Arn')"] }],
      }),
    });
    expect(issue.code).toBe("UNSUPPORTED_DIRECTIVE");
    const placed = singleIn({
      api: privateService({
        iamRoleStatements: [{ Action: ["x:Y"], Resource: ["$ResourceParam('api', 'address')"] }],
      }),
    });
    expect(placed).toMatchObject({
      code: "DIRECTIVE_NOT_ALLOWED",
      path: "resources.api.properties.iamRoleStatements[0].Resource[0]",
    });
  });

  it("resource types other platforms have", () => {
    const issue = singleIn({ api: privateService(), photos: { type: "bucket" } });
    expect(issue).toMatchObject({ code: "UNSUPPORTED_RESOURCE_TYPE", path: "resources.photos.type" });
  });

  it("properties Berth refuses", () => {
    const issue = singleIn({ api: privateService({ overrides: {} }) });
    expect(issue).toMatchObject({ code: "UNSUPPORTED_PROPERTY", path: "resources.api.properties.overrides" });
  });
});

describe("cross-resource rules", () => {
  it("resolves $ResourceParam targets and parameters", () => {
    parseOk(
      stackOf({
        api: privateService(),
        web: privateService({
          environment: [{ name: "A", value: "http://$ResourceParam('api', 'address')/x" }],
        }),
      }),
    );
    const missing = singleIn({
      api: privateService({ environment: [{ name: "A", value: "$ResourceParam('apii', 'address')" }] }),
    });
    expect(missing).toMatchObject({ code: "UNKNOWN_RESOURCE", suggestion: "api" });
    const param = singleIn({
      api: privateService(),
      web: privateService({ environment: [{ name: "A", value: "$ResourceParam('api', 'adress')" }] }),
    });
    expect(param).toMatchObject({ code: "UNKNOWN_PARAMETER", suggestion: "address" });
    parseOk(
      stackOf({
        gw: { type: "http-api-gateway" },
        web: privateService({ environment: [{ name: "A", value: "$ResourceParam('gw', 'url')/x" }] }),
      }),
    );
    const gateway = singleIn({
      gw: { type: "http-api-gateway" },
      web: privateService({ environment: [{ name: "A", value: "$ResourceParam('gw', 'arn')" }] }),
    });
    expect(gateway.message).toBe('http-api-gateway "gw" has no parameter "arn"; referenceable: url, domain');
  });

  it("checks connectTo targets", () => {
    parseOk(stackOf({ api: privateService(), web: privateService({ connectTo: ["api", "aws:ses"] }) }));
    const issues = issuesIn({
      gw: { type: "http-api-gateway" },
      web: privateService({ connectTo: ["ap", "gw", "aws:sqs", "web"] }),
    });
    expect(issues.map((issue) => issue.code)).toEqual([
      "UNKNOWN_RESOURCE",
      "WRONG_RESOURCE_TYPE",
      "UNKNOWN_RESOURCE",
      "INVALID_REFERENCE",
    ]);
  });

  const workload = (containers: unknown[], extra: Record<string, unknown> = {}) => ({
    type: "multi-container-workload",
    properties: { resources: { cpu: 1, memory: 2048 }, containers, ...extra },
  });
  const container = (name: string, extra: Record<string, unknown> = {}) => ({
    name,
    packaging: { type: "prebuilt-image", properties: { image: "x" } },
    ...extra,
  });
  const internal = (containerPort: number) => ({ type: "workload-internal", properties: { containerPort } });

  it("dependsOn names must exist and not form a cycle", () => {
    const unknown = singleIn({
      app: workload([
        container("a", { dependsOn: [{ containerName: "bb", condition: "START" }] }),
        container("b"),
      ]),
    });
    expect(unknown).toMatchObject({
      code: "UNKNOWN_CONTAINER",
      path: "resources.app.properties.containers[0].dependsOn[0].containerName",
      suggestion: "b",
    });
    const cycle = singleIn({
      app: workload([
        container("a", { dependsOn: [{ containerName: "b", condition: "START" }] }),
        container("b", { dependsOn: [{ containerName: "c", condition: "START" }] }),
        container("c", { dependsOn: [{ containerName: "a", condition: "START" }] }),
      ]),
    });
    expect(cycle).toMatchObject({
      code: "DEPENDENCY_CYCLE",
      message: "dependsOn forms a cycle: a -> b -> c -> a",
    });
  });

  it("HEALTHY needs a health check and COMPLETE/SUCCESS a non-essential container", () => {
    const issues = issuesIn({
      app: workload([
        container("a", {
          dependsOn: [
            { containerName: "b", condition: "HEALTHY" },
            { containerName: "c", condition: "SUCCESS" },
          ],
        }),
        container("b"),
        container("c"),
      ]),
    });
    expect(issues.map((issue) => issue.message)).toEqual([
      'HEALTHY needs an internalHealthCheck on container "b"',
      'SUCCESS waits for container "c" to exit, so it must be essential: false',
    ]);
  });

  it("container names are unique and two containers never share a port", () => {
    const issues = issuesIn({
      app: workload([
        container("a", { events: [internal(80)] }),
        container("a"),
        container("b", { events: [internal(80)] }),
      ]),
    });
    expect(issues.map((issue) => issue.code)).toEqual(["DUPLICATE_NAME", "PORT_CONFLICT"]);
    expect(issues[1]?.path).toBe("resources.app.properties.containers[2].events[0].properties.containerPort");
  });

  it("needs an essential container", () => {
    const issue = singleIn({ app: workload([container("a", { essential: false })]) });
    expect(issue.code).toBe("NO_ESSENTIAL_CONTAINER");
  });

  it("event targets exist with the right type, and NLB listener ports exist", () => {
    const issues = issuesIn({
      nlb: { type: "network-load-balancer", properties: { listeners: [{ port: 8080, protocol: "TCP" }] } },
      app: workload([
        container("a", {
          events: [
            {
              type: "http-api-gateway",
              properties: { httpApiGatewayName: "nlb", containerPort: 80, path: "/", method: "GET" },
            },
            {
              type: "network-load-balancer",
              properties: { loadBalancerName: "nlb", listenerPort: 9090, containerPort: 80 },
            },
            {
              type: "application-load-balancer",
              properties: { loadBalancerName: "alb", priority: 1, containerPort: 80 },
            },
          ],
        }),
      ]),
    });
    expect(issues.map((issue) => issue.code)).toEqual([
      "WRONG_RESOURCE_TYPE",
      "UNKNOWN_LISTENER",
      "UNKNOWN_RESOURCE",
    ]);
  });

  it("Service Connect aliases are unique in the stack", () => {
    const issue = singleIn({
      api: privateService(),
      app: workload([
        container("a", {
          events: [{ type: "service-connect", properties: { containerPort: 80, alias: "api" } }],
        }),
      ]),
    });
    expect(issue).toMatchObject({ code: "DUPLICATE_ALIAS" });
  });

  it("gradual deployment strategies need an application load balancer", () => {
    const issue = singleIn({
      app: workload([container("a")], { deployment: { strategy: "Canary10Percent5Minutes" } }),
    });
    expect(issue).toMatchObject({
      code: "INVALID_DEPLOYMENT",
      path: "resources.app.properties.deployment.strategy",
    });
  });

  it("a gradual deployment shifts one rule per container port, and its test listener is another listener of the balancer", () => {
    const alb = (priority: number, extra: Record<string, unknown> = {}) => ({
      type: "application-load-balancer",
      properties: { loadBalancerName: "front", priority, containerPort: 80, ...extra },
    });
    const front = {
      type: "application-load-balancer",
      properties: {
        listeners: [
          { port: 80, protocol: "HTTP" },
          { port: 8080, protocol: "HTTP" },
        ],
      },
    };
    const gradual = (events: unknown[], deployment: Record<string, unknown> = {}) =>
      workload([container("a", { events })], {
        deployment: { strategy: "Linear10PercentEvery1Minute", ...deployment },
      });
    // Accepted: one rule, and a test listener that is not the production one.
    expect(
      parseOk(stackOf({ front, app: gradual([alb(1)], { testListenerPort: 8080 }) })).resources.app,
    ).toBeDefined();
    expect(singleIn({ front, app: gradual([alb(1), alb(2, { paths: ["/b"] })]) })).toMatchObject({
      code: "INVALID_DEPLOYMENT",
      path: "resources.app.properties.deployment.strategy",
    });
    expect(singleIn({ front, app: gradual([alb(1)], { testListenerPort: 9090 }) })).toMatchObject({
      code: "INVALID_DEPLOYMENT",
      path: "resources.app.properties.deployment.testListenerPort",
      message: 'load balancer "front" has no listener on port 9090 (its listeners: 80, 8080)',
    });
    expect(singleIn({ front, app: gradual([alb(1)], { testListenerPort: 80 }) })).toMatchObject({
      code: "INVALID_DEPLOYMENT",
    });
    const web = {
      type: "web-service",
      properties: {
        packaging: { type: "prebuilt-image", properties: { image: "x" } },
        resources: { cpu: 0.25, memory: 512 },
        loadBalancing: { type: "application-load-balancer" },
        deployment: { strategy: "AllAtOnce", testListenerPort: 8080 },
      },
    };
    expect(singleIn({ web })).toMatchObject({
      code: "INVALID_DEPLOYMENT",
      path: "resources.web.properties.deployment.testListenerPort",
    });
  });
});

describe("several mistakes at once", () => {
  it("reports every mistake of a file, each with its own line", () => {
    const text = [
      ...PRIVATE_API_HEAD.slice(0, 6), // 1-6
      "        properties: {entryfilePath: src/main.ts}", // 7
      "      resources: {cpu: 0.25, memory: 700}", // 8
      "      stopTimeout: 500", // 9
      "      environment:", // 10
      "        - name: PEER", // 11
      "          value: $ResourceParam('worker', 'address')", // 12
      "  worker:", // 13
      "    type: worker-servise", // 14
      "  web:", // 15
      "    type: web-service", // 16
      "    properties:", // 17
      "      packaging: {type: prebuilt-image, properties: {image: nginx}}", // 18
      "      resources: {cpu: 1, memory: 2048}", // 19
      "      connectTo: [ghost]", // 20
    ].join("\n");
    const issues = issuesOf(text);
    expect(issues.map((issue) => [issue.line, issue.code])).toEqual([
      [8, "INVALID_FARGATE_SIZE"],
      [9, "OUT_OF_RANGE"],
      [12, "UNKNOWN_PARAMETER"],
      [14, "UNKNOWN_RESOURCE_TYPE"],
      [20, "UNKNOWN_RESOURCE"],
    ]);
  });
});

describe("source paths stay inside the source directory", () => {
  it.each([
    ["../../etc/passwd", "must stay inside the source directory"],
    ["/etc/passwd", "must be relative, not absolute"],
  ])("refuses entryfilePath %s", (entryfilePath, message) => {
    const issue = single(
      stackOf({
        api: privateService({
          packaging: { type: "stacktape-image-buildpack", properties: { entryfilePath } },
        }),
      }),
    );
    expect(issue.path).toBe("resources.api.properties.packaging.properties.entryfilePath");
    expect(issue.message).toBe(message);
  });

  it("refuses a Dockerfile that leaves the source through its build context", () => {
    const issue = single(
      stackOf({
        api: privateService({
          packaging: {
            type: "custom-dockerfile",
            properties: { buildContextPath: "app", dockerfilePath: "../../Dockerfile" },
          },
        }),
      }),
    );
    expect(issue.path).toBe("resources.api.properties.packaging.properties.dockerfilePath");
    expect(issue.message).toBe("must stay inside the source directory");
  });

  it("accepts a Dockerfile outside its build context but inside the source", () => {
    const packaging = {
      type: "custom-dockerfile",
      properties: { buildContextPath: "app", dockerfilePath: "../docker/Dockerfile" },
    };
    expect(parseOk(stackOf({ api: privateService({ packaging }) })).resources.api).toBeDefined();
  });
});

describe("what the installation can run", () => {
  const onEc2 = [
    "resources:",
    "  job:",
    "    type: batch-job",
    "    properties:",
    "      container: {packaging: {type: prebuilt-image, properties: {image: alpine}}}",
    "      resources: {instanceTypes: [c5.large]}",
  ].join("\n");

  it("accepts instanceTypes by default, and refuses them at their key without EC2 capacity", () => {
    expect(Spec.parse(onEc2).ok).toBe(true);
    const refused = Spec.parse(onEc2, { ec2: false });
    expect(
      refused.ok === false && refused.issues.map(({ code, path, line }) => ({ code, path, line })),
    ).toEqual([
      {
        code: "UNSUPPORTED_BY_INSTALLATION",
        path: "resources.job.properties.resources.instanceTypes",
        line: 6,
      },
    ]);
  });
});

import { PutCommand } from "@aws-sdk/lib-dynamodb";
import { Deployment } from "@berth/core/deployments";
import { Render } from "@berth/core/render";
import { DeploymentRecord, ServiceRecord, type Store } from "@berth/core/store";
import { beforeEach, describe, expect, it } from "vitest";
import { serviceLogGroup } from "./logs.ts";
import { harnessForFile, JSON_TYPE, stackFile, YAML } from "./test-support.ts";

const harness = harnessForFile();

beforeEach(() => {
  harness.workflows.failure = undefined;
});

const apply = (stack: string, body: string, headers: Record<string, string> = YAML, query = "") =>
  harness.call({
    method: "PUT",
    path: `/v1/stacks/${stack}${query}`,
    headers,
    body,
    token: harness.tokens.deploy,
  });

const read = (path: string) => harness.call({ method: "GET", path, token: harness.tokens.read });

const post = (path: string, body?: unknown) =>
  harness.call({
    method: "POST",
    path,
    token: harness.tokens.deploy,
    ...(body === undefined ? {} : { headers: JSON_TYPE, body: JSON.stringify(body) }),
  });

/** Plays the workflow's part: the deployment runs and succeeds on the given task definition. */
async function succeed(store: Store, deploymentId: string, taskDefinitionArn: string): Promise<void> {
  const deployment = (await DeploymentRecord.get(store, deploymentId)) as DeploymentRecord.Info;
  await Deployment.transition(store, deploymentId, "PENDING", "DEPLOYING", "rolling out");
  await Deployment.transition(store, deploymentId, "DEPLOYING", "SUCCEEDED", "healthy");
  const service = (await ServiceRecord.get(
    store,
    deployment.stack,
    deployment.service,
  )) as ServiceRecord.Info;
  await ServiceRecord.update(
    store,
    { stack: deployment.stack, name: deployment.service, expectedVersion: service.version },
    { liveTaskDefinitionArn: taskDefinitionArn, lastGoodTaskDefinitionArn: taskDefinitionArn },
  );
  await Deployment.releaseService(store, deployment.stack, deployment.service, deploymentId);
}

describe("PUT /v1/stacks/{stack}", () => {
  it("stores the stack and its services and starts one deployment per new service", async () => {
    const reply = await apply("shop", stackFile());

    expect(reply.status).toBe(202);
    expect(
      reply.json.plan.map((entry: { service: string; change: string }) => [entry.service, entry.change]),
    ).toEqual([
      ["api", "created"],
      ["worker", "created"],
    ]);
    for (const entry of reply.json.plan) {
      expect(entry.deployment.placement).toBe("active");
      expect(entry.deployment.workflow.started).toBe(true);
      expect(entry.deployment.deployment).toMatchObject({ status: "PENDING", trigger: "api" });
    }
    const started = harness.workflows.starts.filter((input) => input.stack === "shop");
    expect(started.map((input) => [input.service, input.action])).toEqual([
      ["api", "deploy"],
      ["worker", "deploy"],
    ]);
    const stored = await read("/v1/stacks/shop");
    expect(stored.json.stack).toMatchObject({ name: "shop", stage: "test", stackFile: stackFile() });
    expect(stored.json.services.map((service: { name: string }) => service.name)).toEqual(["api", "worker"]);
  });

  it("changes nothing when the same file is applied again", async () => {
    await apply("again", stackFile());
    const before = await harness.scanWithoutTokens();

    const reply = await apply("again", stackFile());

    expect(reply.status).toBe(200);
    expect(reply.json.plan.every((entry: { change: string }) => entry.change === "unchanged")).toBe(true);
    expect(reply.json.plan.some((entry: object) => "deployment" in entry)).toBe(false);
    const after = await harness.scanWithoutTokens();
    const changed = after.filter(
      (item) => !before.some((old) => JSON.stringify(old) === JSON.stringify(item)),
    );
    // Only the stack item's update time moves.
    expect(changed.map((item) => item.SK)).toEqual(["STACK"]);
  });

  it("plans field-level updates and deletions and queues behind the running deployment", async () => {
    await apply("diff", stackFile());

    const reply = await apply("diff", stackFile({ apiPort: 8080, greeting: "bonjour", withWorker: false }));

    expect(reply.status).toBe(202);
    const [api, worker] = reply.json.plan;
    expect(api).toMatchObject({ service: "api", change: "updated" });
    expect(api.changes).toEqual([
      { path: "properties.environment[0].value", before: "hello", after: "bonjour" },
      { path: "properties.port", before: 3000, after: 8080 },
    ]);
    expect(api.deployment.placement).toBe("queued");
    expect(api.deployment.workflow).toEqual({ started: false, waiting: true });
    expect(worker).toMatchObject({ service: "worker", change: "deleted" });
    const deletion = await read(`/v1/deployments/${worker.deployment.deployment.id}`);
    expect(deletion.json.deployment.parameters).toEqual({ action: "delete" });
    const service = await read("/v1/stacks/diff/services/api");
    expect(service.json.spec.properties.port).toBe(8080);
    expect(service.json.queuedDeployment.id).toBe(api.deployment.deployment.id);
  });

  it("accepts the stack file as JSON", async () => {
    const json = JSON.stringify({
      resources: {
        jobs: {
          type: "worker-service",
          properties: {
            packaging: { type: "prebuilt-image", properties: { image: "busybox:1.36" } },
            resources: { cpu: 0.25, memory: 512 },
          },
        },
      },
    });
    const reply = await apply("json-stack", json, JSON_TYPE);
    expect(reply.status).toBe(202);
    expect(reply.json.plan[0]).toMatchObject({ service: "jobs", change: "created" });
  });

  it("refuses an invalid stack file with 422 and the path and line of each problem", async () => {
    const file = stackFile().replace("      port: 3000", "      prot: 3000");
    const reply = await apply("broken", file);

    expect(reply.status).toBe(422);
    expect(reply.json.error.code).toBe("INVALID_STACK_FILE");
    expect(reply.json.error.details).toContainEqual(
      expect.objectContaining({
        path: "resources.api.properties.prot",
        line: 5,
        message: expect.stringContaining('did you mean "port"'),
      }),
    );
    expect((await read("/v1/stacks/broken")).status).toBe(404);
  });

  it("reports YAML syntax errors with their line", async () => {
    const reply = await apply("syntax", "resources:\n  api: [unclosed\n");
    expect(reply.status).toBe(422);
    expect(reply.json.error.details[0].line).toBeGreaterThan(0);
  });

  it.each([
    ["a form body", { "content-type": "application/x-www-form-urlencoded" }],
    ["no content type", {}],
    ["a non-UTF-8 charset", { "content-type": "application/yaml; charset=latin1" }],
  ])("refuses %s with 415", async (_, headers) => {
    const reply = await apply("media", stackFile(), headers);
    expect(reply.status).toBe(415);
    expect(reply.json.error.code).toBe("UNSUPPORTED_MEDIA_TYPE");
  });

  it("refuses bodies over 1 MiB with 413, and stack files too large to store", async () => {
    const huge = await apply("huge", `# ${"x".repeat(1024 * 1024)}\n${stackFile()}`);
    expect(huge.status).toBe(413);
    const large = await apply("large", `# ${"x".repeat(300 * 1024)}\n${stackFile()}`);
    expect(large.status).toBe(413);
    expect((await read("/v1/stacks/large")).status).toBe(404);
  });

  it.each([
    ["Shop", "params.stack"],
    ["-shop", "params.stack"],
    [`s${"x".repeat(63)}`, "params.stack"],
    ["sh%23op", "params.stack"],
    ["sh%2Fop", "params.stack"],
  ])("refuses the stack name %s with 400 naming the path", async (name, path) => {
    const reply = await apply(name, stackFile());
    expect(reply.status).toBe(400);
    expect(reply.json.error.details[0].path).toBe(path);
  });

  it("refuses unknown and repeated query parameters", async () => {
    expect((await apply("query", stackFile(), YAML, "?dryrun=true")).status).toBe(400);
    expect((await apply("query", stackFile(), YAML, "?dryRun=true&dryRun=false")).status).toBe(400);
    expect((await apply("query", stackFile(), YAML, "?dryRun=yes")).json.error.details[0].path).toBe(
      "query.dryRun",
    );
  });
});

describe("GET /v1/stacks", () => {
  it("lists stacks without their files", async () => {
    await apply("listed", stackFile());
    const reply = await read("/v1/stacks");
    expect(reply.status).toBe(200);
    const listed = reply.json.stacks.find((stack: { name: string }) => stack.name === "listed");
    expect(listed).toMatchObject({ name: "listed", stage: "test" });
    expect(listed).not.toHaveProperty("stackFile");
  });

  it("answers 404 for a stack that does not exist", async () => {
    const reply = await read("/v1/stacks/nowhere");
    expect(reply.status).toBe(404);
    expect(reply.json.error.code).toBe("NOT_FOUND");
  });
});

describe("DELETE /v1/stacks/{stack}", () => {
  it("requests a deletion per service, and a new apply brings the services back", async () => {
    await apply("doomed", stackFile());

    const reply = await harness.call({
      method: "DELETE",
      path: "/v1/stacks/doomed",
      token: harness.tokens.deploy,
    });

    expect(reply.status).toBe(202);
    expect(reply.json.services.map((entry: { service: string }) => entry.service)).toEqual(["api", "worker"]);
    for (const entry of reply.json.services) {
      expect(entry.deployment.placement).toBe("queued");
      expect(entry.deployment.deployment.reason).toBe("stack doomed deleted");
    }
    expect((await read("/v1/stacks/doomed")).status).toBe(404);
    const service = await read("/v1/stacks/doomed/services/api");
    expect(service.json.queuedDeployment.reason).toBe("stack doomed deleted");

    const again = await apply("doomed", stackFile());
    expect(again.status).toBe(202);
    for (const entry of again.json.plan) {
      expect(entry).toMatchObject({ change: "created", pendingDeletion: true });
      expect(entry.deployment.placement).toBe("queued");
    }
    const deleted = await read(`/v1/deployments/${reply.json.services[0].deployment.deployment.id}`);
    expect(deleted.json.deployment.status).toBe("SUPERSEDED");
  });

  it("answers 404 for a stack that does not exist", async () => {
    const reply = await harness.call({
      method: "DELETE",
      path: "/v1/stacks/nowhere",
      token: harness.tokens.deploy,
    });
    expect(reply.status).toBe(404);
  });
});

describe("GET /v1/stacks/{stack}/services/{service}", () => {
  it("shows spec, status, address, live revision and counts", async () => {
    await apply("svc", stackFile({ apiPort: 4000 }));
    const deployments = await read("/v1/stacks/svc/services/api/deployments");
    const taskDefinition = "arn:aws:ecs:us-east-1:123456789012:task-definition/svc-api:7";
    await succeed(harness.store, deployments.json.deployments[0].id, taskDefinition);

    const reply = await read("/v1/stacks/svc/services/api");

    expect(reply.status).toBe(200);
    expect(reply.json).toMatchObject({
      stack: "svc",
      name: "api",
      type: "private-service",
      status: "LIVE",
      address: "api.svc:4000",
      liveRevision: { taskDefinitionArn: taskDefinition, revision: 7 },
      lastGoodTaskDefinitionArn: taskDefinition,
      scaling: { min: 1, max: 1 },
      tasks: { desired: null, running: null },
      activeDeployment: null,
      queuedDeployment: null,
    });
    expect(reply.json.spec.properties.port).toBe(4000);
    const worker = await read("/v1/stacks/svc/services/worker");
    expect(worker.json).toMatchObject({ address: null, status: "DEPLOYING" });
  });

  it("answers 404 for a missing service and 400 for an invalid name", async () => {
    await apply("svc-missing", stackFile());
    expect((await read("/v1/stacks/svc-missing/services/nope")).status).toBe(404);
    const invalid = await read("/v1/stacks/svc-missing/services/no_pe");
    expect(invalid.status).toBe(400);
    expect(invalid.json.error.details[0].path).toBe("params.service");
  });
});

describe("POST /v1/stacks/{stack}/services/{service}/deployments", () => {
  it("redeploys the current spec", async () => {
    await apply("redeploy", stackFile());
    const reply = await post("/v1/stacks/redeploy/services/api/deployments");
    expect(reply.status).toBe(202);
    expect(reply.json.placement).toBe("queued");
    expect(reply.json.deployment.reason).toBe("redeploy requested");
  });

  it("records who asked (the token's name, never its secret) and whether the berth CLI did", async () => {
    await apply("attributed", stackFile());
    const fromScript = await post("/v1/stacks/attributed/services/api/deployments");
    expect(fromScript.json.deployment).toMatchObject({ trigger: "api", requestedBy: "token deploy token" });
    expect(JSON.stringify(fromScript.json)).not.toContain(harness.tokens.deploy);

    const fromCli = await harness.call({
      method: "POST",
      path: "/v1/stacks/attributed/services/api/deployments",
      headers: { "user-agent": "berth-cli/0.1.0" },
      token: harness.tokens.deploy,
    });
    expect(fromCli.json.deployment).toMatchObject({ trigger: "cli", requestedBy: "token deploy token" });
    const listed = (await read("/v1/stacks/attributed/services/api/deployments")).json.deployments;
    expect(listed[0]).toMatchObject({ id: fromCli.json.deployment.id, trigger: "cli" });
    const view = (await read("/v1/stacks/attributed/services/api")).json;
    expect(view.activeDeployment).toMatchObject({ trigger: "api", requestedBy: "token deploy token" });
  });

  it("reads a deployment stored before deployments recorded who asked", async () => {
    await apply("older", stackFile());
    const [stored] = (await read("/v1/stacks/older/services/api/deployments")).json.deployments;
    const item = (await harness.scan()).find((row) => row.id === stored.id && row.requestedBy !== undefined);
    const { requestedBy: _, ...older } = item as Record<string, unknown>;
    await harness.store.client.send(new PutCommand({ TableName: harness.store.tableName, Item: older }));
    const reply = await read(`/v1/deployments/${stored.id}`);
    expect(reply.status).toBe(200);
    expect(reply.json.deployment.trigger).toBe("api");
    expect(reply.json.deployment).not.toHaveProperty("requestedBy");
  });

  it("sets a container's image, pinning its digest when the reference has one", async () => {
    await apply("image", stackFile());
    const image = `registry.example.com/team/api@sha256:${"a".repeat(64)}`;

    const reply = await post("/v1/stacks/image/services/api/deployments", { image: { api: image } });

    expect(reply.status).toBe(202);
    expect(reply.json.deployment.imageDigests).toEqual({ api: `sha256:${"a".repeat(64)}` });
    // The image travels on the deployment; its workflow writes it into the spec when it starts.
    expect(reply.json.deployment.parameters).toEqual({ action: "deploy", images: { api: image } });
    const service = await read("/v1/stacks/image/services/api");
    expect(service.json.spec.properties.packaging.properties.image).not.toBe(image);
  });

  it("refuses an unknown container, a malformed image and unknown fields", async () => {
    await apply("badimage", stackFile());
    const unknown = await post("/v1/stacks/badimage/services/api/deployments", { image: { web: "nginx:1" } });
    expect(unknown.status).toBe(400);
    expect(unknown.json.error.details[0].path).toBe("body.image.web");
    const malformed = await post("/v1/stacks/badimage/services/api/deployments", {
      image: { api: "Not An Image" },
    });
    expect(malformed.status).toBe(400);
    expect(malformed.json.error.details[0].path).toBe("body.image.api");
    const extra = await post("/v1/stacks/badimage/services/api/deployments", { imag: {} });
    expect(extra.status).toBe(400);
    const notJson = await harness.call({
      method: "POST",
      path: "/v1/stacks/badimage/services/api/deployments",
      token: harness.tokens.deploy,
      headers: JSON_TYPE,
      body: "{not json",
    });
    expect(notJson.status).toBe(400);
    expect(notJson.json.error.code).toBe("INVALID_JSON");
  });

  it("answers 404 for a service that does not exist", async () => {
    expect((await post("/v1/stacks/nowhere/services/api/deployments")).status).toBe(404);
  });
});

describe("GET /v1/stacks/{stack}/services/{service}/deployments", () => {
  it("pages through deployments newest first", async () => {
    await apply("paged", stackFile());
    await post("/v1/stacks/paged/services/api/deployments");
    await post("/v1/stacks/paged/services/api/deployments");

    const first = await read("/v1/stacks/paged/services/api/deployments?limit=2");
    expect(first.json.deployments).toHaveLength(2);
    expect(first.json.nextCursor).toEqual(expect.any(String));
    const second = await read(
      `/v1/stacks/paged/services/api/deployments?limit=2&cursor=${encodeURIComponent(first.json.nextCursor)}`,
    );
    expect(second.json.deployments).toHaveLength(1);
    expect(second.json).not.toHaveProperty("nextCursor");
    const ids = [...first.json.deployments, ...second.json.deployments].map((deployment) => deployment.id);
    expect(ids).toEqual([...ids].sort().reverse());
  });

  it("refuses bad limits and cursors from other listings", async () => {
    await apply("paged-bad", stackFile());
    await post("/v1/stacks/paged-bad/services/api/deployments");
    expect((await read("/v1/stacks/paged-bad/services/api/deployments?limit=0")).status).toBe(400);
    expect((await read("/v1/stacks/paged-bad/services/api/deployments?limit=101")).status).toBe(400);
    const other = await read("/v1/stacks/paged-bad/services/worker/deployments?limit=1");
    await post("/v1/stacks/paged-bad/services/worker/deployments");
    const foreign = await read("/v1/stacks/paged-bad/services/worker/deployments?limit=1");
    const misused = await read(
      `/v1/stacks/paged-bad/services/api/deployments?cursor=${encodeURIComponent(foreign.json.nextCursor)}`,
    );
    expect(other.status).toBe(200);
    expect(misused.status).toBe(400);
    expect(misused.json.error.code).toBe("INVALID_CURSOR");
  });
});

describe("POST /v1/stacks/{stack}/services/{service}/rollback", () => {
  it("refuses with 409 while nothing has succeeded", async () => {
    await apply("norollback", stackFile());
    const reply = await post("/v1/stacks/norollback/services/api/rollback");
    expect(reply.status).toBe(409);
  });

  it("rolls back to the last good deployment, or a named one", async () => {
    await apply("rollback", stackFile());
    const first = (await read("/v1/stacks/rollback/services/api/deployments")).json.deployments[0];
    const goodArn = "arn:aws:ecs:us-east-1:123456789012:task-definition/rollback-api:1";
    await succeed(harness.store, first.id, goodArn);
    await apply("rollback", stackFile({ greeting: "broken" }));

    const toLastGood = await post("/v1/stacks/rollback/services/api/rollback");
    expect(toLastGood.status).toBe(202);
    expect(toLastGood.json.deployment).toMatchObject({
      trigger: "rollback",
      specHash: first.specHash,
      reason: `rollback to ${first.id}`,
    });
    expect(toLastGood.json.deployment.parameters).toEqual({
      action: "rollback",
      rollbackTo: { deploymentId: first.id, taskDefinitionArn: goodArn },
    });

    const named = await post("/v1/stacks/rollback/services/api/rollback", { deploymentId: first.id });
    expect(named.status).toBe(202);
    expect(named.json.deployment.trigger).toBe("rollback");
  });

  it("refuses a named deployment of another service, an unfinished one and a malformed id", async () => {
    await apply("rollback-bad", stackFile());
    const workerDeployment = (await read("/v1/stacks/rollback-bad/services/worker/deployments")).json
      .deployments[0];
    const apiDeployment = (await read("/v1/stacks/rollback-bad/services/api/deployments")).json
      .deployments[0];
    const rollback = (body: unknown) => post("/v1/stacks/rollback-bad/services/api/rollback", body);
    expect((await rollback({ deploymentId: workerDeployment.id })).status).toBe(404);
    expect((await rollback({ deploymentId: apiDeployment.id })).status).toBe(409);
    expect((await rollback({ deploymentId: "nope" })).json.error.details[0].path).toBe("body.deploymentId");
  });
});

describe("PUT /v1/stacks/{stack}/services/{service}/scale", () => {
  const scale = (stack: string, service: string, body: unknown) =>
    harness.call({
      method: "PUT",
      path: `/v1/stacks/${stack}/services/${service}/scale`,
      token: harness.tokens.deploy,
      headers: JSON_TYPE,
      body: JSON.stringify(body),
    });

  it("writes min and max into the spec and requests a scale deployment with the desired count", async () => {
    await apply("scale", stackFile());
    const reply = await scale("scale", "api", { min: 2, max: 4, desired: 3 });

    expect(reply.status).toBe(202);
    expect(reply.json.deployment.reason).toBe("scale to min 2, max 4, desired 3");
    const service = await read("/v1/stacks/scale/services/api");
    expect(service.json.scaling).toEqual({ min: 2, max: 4 });
    expect(reply.json.deployment.parameters).toEqual({
      action: "scale",
      scale: { min: 2, max: 4, desired: 3 },
    });
    const plan = await apply("scale", stackFile(), YAML, "?dryRun=true");
    expect(plan.json.plan[0].changes).toEqual([
      { path: "properties.scaling.maxInstances", before: 4, after: 1 },
      { path: "properties.scaling.minInstances", before: 2, after: 1 },
    ]);
  });

  it.each([
    [{}, "body"],
    [{ min: 5, max: 2 }, "body.min"],
    [{ min: 3 }, "body.min"],
    [{ desired: 7 }, "body.desired"],
    [{ min: 0 }, "body.min"],
    [{ max: 1.5 }, "body.max"],
    [{ desired: "3" }, "body.desired"],
  ])("refuses %j with 400", async (body, path) => {
    await apply("scale-bad", stackFile());
    const reply = await scale("scale-bad", "api", body);
    expect(reply.status).toBe(400);
    expect(reply.json.error.details[0].path).toBe(path);
  });

  it("refuses to scale a batch job", async () => {
    const job = `resources:
  nightly:
    type: batch-job
    properties:
      container:
        packaging:
          type: prebuilt-image
          properties:
            image: busybox:1.36
      resources:
        cpu: 0.25
        memory: 512
`;
    await apply("batch", job);
    const reply = await scale("batch", "nightly", { max: 2 });
    expect(reply.status).toBe(400);
  });
});

describe("GET /v1/stacks/{stack}/services/{service}/logs", () => {
  it("reads the service's log group with FilterLogEvents and passes the continuation token", async () => {
    await apply("logs", stackFile());
    harness.logsAnswer = {
      status: 200,
      body: {
        events: [
          {
            logStreamName: "api/api/1",
            timestamp: Date.UTC(2026, 0, 1),
            message: "listening on 3000",
            eventId: "1",
          },
        ],
        nextToken: "next-page",
      },
    };
    const reply = await read(
      "/v1/stacks/logs/services/api/logs?since=2026-01-01T00:00:00Z&limit=10&nextToken=abc",
    );

    expect(reply.status).toBe(200);
    expect(reply.json).toEqual({
      logGroupName: "/berth/logs/api",
      events: [
        { timestamp: "2026-01-01T00:00:00.000Z", logStream: "api/api/1", message: "listening on 3000" },
      ],
      nextToken: "next-page",
    });
    expect(harness.logsEndpoint.calls.at(-1)).toEqual({
      target: "Logs_20140328.FilterLogEvents",
      body: { logGroupName: "/berth/logs/api", startTime: Date.UTC(2026, 0, 1), limit: 10, nextToken: "abc" },
    });
  });

  it("names the same log group as the task definitions", () => {
    const environment = Render.Environment.parse({
      stack: "logs",
      stage: "test",
      region: "us-east-1",
      account: "123456789012",
      cluster: "berth",
      network: { privateSubnets: ["subnet-1"], securityGroups: ["sg-1"] },
      serviceConnectNamespace: "berth",
      executionRoleArn: "arn:aws:iam::123456789012:role/exec",
      registry: "123456789012.dkr.ecr.us-east-1.amazonaws.com",
    });
    expect(serviceLogGroup("logs", "api")).toBe(Render.logGroupName(environment, "api"));
  });

  it("answers an empty log for a service that has not logged yet, and 400 for a bad token or time", async () => {
    await apply("nologs", stackFile());
    harness.logsAnswer = { status: 400, body: { __type: "ResourceNotFoundException", message: "no group" } };
    const empty = await read("/v1/stacks/nologs/services/api/logs?since=15m");
    expect(empty.json).toEqual({ logGroupName: "/berth/nologs/api", events: [] });

    harness.logsAnswer = { status: 400, body: { __type: "InvalidParameterException", message: "bad token" } };
    expect((await read("/v1/stacks/nologs/services/api/logs?nextToken=stale")).status).toBe(400);
    expect((await read("/v1/stacks/nologs/services/api/logs?since=yesterday")).status).toBe(400);
    expect((await read("/v1/stacks/nologs/services/api/logs?since=2026-13-45T00:00:00Z")).status).toBe(400);
    expect((await read("/v1/stacks/nologs/services/api/logs?limit=5000")).status).toBe(400);
  });

  it("answers 500 with only the request id when CloudWatch Logs fails", async () => {
    await apply("logsdown", stackFile());
    harness.logsAnswer = {
      status: 500,
      body: { __type: "ServiceUnavailableException", message: "secret detail" },
    };
    const reply = await read("/v1/stacks/logsdown/services/api/logs");
    expect(reply.status).toBe(500);
    expect(reply.json).toEqual({
      error: { code: "INTERNAL", message: "internal error", requestId: reply.headers["x-request-id"] },
    });
  });
});

describe("GET /v1/deployments/{id}", () => {
  it("returns the deployment with its events in order", async () => {
    const applied = await apply("events", stackFile());
    const id = applied.json.plan[0].deployment.deployment.id;

    const reply = await read(`/v1/deployments/${id}`);

    expect(reply.status).toBe(200);
    expect(reply.json.deployment.id).toBe(id);
    expect(reply.json.events.map((event: { type: string }) => event.type)).toEqual([
      "requested",
      "activated",
    ]);
    expect(reply.json.events.map((event: { sequence: number }) => event.sequence)).toEqual([1, 2]);
  });

  it("answers 404 for an unknown id and 400 for a malformed one", async () => {
    expect((await read("/v1/deployments/01ARZ3NDEKTSV4RRFFQ69G5FAV")).status).toBe(404);
    const malformed = await read("/v1/deployments/not-an-id");
    expect(malformed.status).toBe(400);
    expect(malformed.json.error.details[0].path).toBe("params.id");
  });
});

describe("POST /v1/deployments/{id}/cancel", () => {
  it("cancels a queued deployment, and an active one whose place the next one takes", async () => {
    await apply("cancel", stackFile());
    const active = (await read("/v1/stacks/cancel/services/api")).json.activeDeployment.id;
    const queued = (await post("/v1/stacks/cancel/services/api/deployments")).json.deployment.id;
    const newest = (await post("/v1/stacks/cancel/services/api/deployments")).json.deployment.id;

    const superseded = await read(`/v1/deployments/${queued}`);
    expect(superseded.json.deployment.status).toBe("SUPERSEDED");

    const cancelActive = await post(`/v1/deployments/${active}/cancel`, { reason: "wrong branch" });
    expect(cancelActive.status).toBe(200);
    expect(cancelActive.json).toMatchObject({
      outcome: "cancelled",
      deployment: { id: active, status: "CANCELLED", reason: "wrong branch" },
      promoted: { deployment: { id: newest }, workflow: { started: true } },
    });
    expect(harness.workflows.starts.at(-1)).toMatchObject({ deploymentId: newest, action: "deploy" });

    const repeated = await post(`/v1/deployments/${active}/cancel`);
    expect(repeated.status).toBe(200);
    expect(repeated.json.outcome).toBe("cancelled");
  });

  it("flags a deploying deployment (202) and refuses a finished one (409)", async () => {
    await apply("cancel-running", stackFile());
    const active = (await read("/v1/stacks/cancel-running/services/api")).json.activeDeployment.id;
    await Deployment.transition(harness.store, active, "PENDING", "DEPLOYING", "rolling out");

    const flagged = await post(`/v1/deployments/${active}/cancel`);
    expect(flagged.status).toBe(202);
    expect(flagged.json.outcome).toBe("cancel-requested");
    expect(flagged.json.deployment.cancelRequestedAt).toEqual(expect.any(String));

    await Deployment.transition(harness.store, active, "DEPLOYING", "SUCCEEDED", "healthy");
    const finished = await post(`/v1/deployments/${active}/cancel`);
    expect(finished.status).toBe(409);
    expect(finished.json.error.code).toBe("INVALID_TRANSITION");
  });

  it("answers 404 for an unknown deployment", async () => {
    expect((await post("/v1/deployments/01ARZ3NDEKTSV4RRFFQ69G5FAV/cancel")).status).toBe(404);
  });
});

describe("tokens", () => {
  const admin = (method: string, path: string, body?: unknown) =>
    harness.call({
      method,
      path,
      token: harness.tokens.admin,
      ...(body === undefined ? {} : { headers: JSON_TYPE, body: JSON.stringify(body) }),
    });

  it("creates a token shown once, lists it without its secret, and revokes it at once", async () => {
    const created = await admin("POST", "/v1/tokens", { name: "ci", scopes: ["deploy", "deploy"] });
    expect(created.status).toBe(201);
    expect(created.json.token).toMatch(/^berth_[A-Za-z0-9_-]{43}$/);
    expect(created.json.info).toMatchObject({ name: "ci", scopes: ["deploy"] });

    const usable = await harness.call({ method: "GET", path: "/v1/stacks", token: created.json.token });
    expect(usable.status).toBe(200);

    const listed = await admin("GET", "/v1/tokens");
    const entry = listed.json.tokens.find((token: { id: string }) => token.id === created.json.info.id);
    expect(entry).toMatchObject({ name: "ci", scopes: ["deploy"] });
    expect(JSON.stringify(listed.json)).not.toContain(created.json.token);
    const table = JSON.stringify(await harness.scan());
    expect(table).not.toContain(created.json.token);

    const revoked = await admin("DELETE", `/v1/tokens/${created.json.info.id}`);
    expect(revoked.status).toBe(204);
    expect(
      (await harness.call({ method: "GET", path: "/v1/stacks", token: created.json.token })).status,
    ).toBe(401);
    expect((await admin("DELETE", `/v1/tokens/${created.json.info.id}`)).status).toBe(404);
  });

  it.each([
    [{ name: "x", scopes: ["root"] }, "body.scopes.0"],
    [{ name: "", scopes: ["read"] }, "body.name"],
    [{ name: "x", scopes: [] }, "body.scopes"],
  ])("refuses %j with 400", async (body, path) => {
    const reply = await admin("POST", "/v1/tokens", body);
    expect(reply.status).toBe(400);
    expect(reply.json.error.details[0].path).toBe(path);
  });
});

describe("public routes and routing", () => {
  it("answers /v1/health and /v1/openapi.json without a token", async () => {
    expect(await harness.call({ method: "GET", path: "/v1/health" })).toMatchObject({
      status: 200,
      json: { status: "ok" },
    });
    const openapi = await harness.call({ method: "GET", path: "/v1/openapi.json" });
    expect(openapi.status).toBe(200);
    expect(openapi.json.openapi).toBe("3.1.0");
    expect(openapi.json.paths["/v1/schema/stack-file.json"].get.security).toEqual([]);
  });

  it("serves the stack file's JSON Schema without a token, as an editor fetches it", async () => {
    const reply = await harness.call({ method: "GET", path: "/v1/schema/stack-file.json" });
    expect(reply.status).toBe(200);
    expect(reply.headers["content-type"]).toBe("application/schema+json");
    expect(reply.json.$schema).toBe("https://json-schema.org/draft/2020-12/schema");
    expect(reply.json.properties.resources.additionalProperties.oneOf).toHaveLength(8);
  });

  it("answers 404 for unknown paths and 405 with Allow for known paths", async () => {
    const unknown = await harness.call({ method: "GET", path: "/v2/stacks", token: harness.tokens.read });
    expect(unknown.status).toBe(404);
    const wrongMethod = await harness.call({
      method: "PATCH",
      path: "/v1/stacks/shop",
      token: harness.tokens.read,
    });
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.allow).toBe("PUT, GET, DELETE");
  });

  it("accepts a trailing slash and base64-encoded bodies", async () => {
    const reply = await harness.call({
      method: "PUT",
      path: "/v1/stacks/encoded/",
      headers: YAML,
      body: stackFile(),
      base64: true,
      token: harness.tokens.deploy,
    });
    expect(reply.status).toBe(202);
  });
});

describe("when Step Functions cannot be reached", () => {
  it("keeps the deployment PENDING in its slot with the reason, and a cancel hands the slot on", async () => {
    harness.workflows.failure = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:4566"), {
      name: "TimeoutError",
    });
    const reply = await apply("nosfn", stackFile({ withWorker: false }));

    expect(reply.status).toBe(202);
    const requested = reply.json.plan[0].deployment;
    expect(requested.workflow.started).toBe(false);
    expect(requested.workflow.reason).toContain("ECONNREFUSED");
    const stored = await read(`/v1/deployments/${requested.deployment.id}`);
    expect(stored.json.deployment).toMatchObject({ status: "PENDING" });
    expect(stored.json.deployment.reason).toBe(
      "the deploy workflow could not be started (TimeoutError: connect ECONNREFUSED 127.0.0.1:4566)",
    );
    expect(stored.json.deployment).not.toHaveProperty("executionArn");
    expect((await read("/v1/stacks/nosfn/services/api")).json.activeDeployment.id).toBe(
      requested.deployment.id,
    );

    harness.workflows.failure = undefined;
    const retry = await post("/v1/stacks/nosfn/services/api/deployments");
    expect(retry.json.placement).toBe("queued");
    const cancelled = await post(`/v1/deployments/${requested.deployment.id}/cancel`);
    expect(cancelled.json.promoted).toMatchObject({
      deployment: { id: retry.json.deployment.id },
      workflow: { started: true },
    });
  });
});

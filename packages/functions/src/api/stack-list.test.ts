import { ECSClient } from "@aws-sdk/client-ecs";
import { ServiceRecord } from "@berth/core/store";
import { startAwsJsonEndpoint } from "@berth/core/test-support";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { validateWithBotocore } from "../../../../test/support/botocore.ts";
import { type Harness, stackFile, startHarness, YAML } from "./test-support.ts";

/**
 * GET /v1/stacks?services=true: every stack with its services' statuses and task counts in one
 * request, read from ECS ten services per DescribeServices.
 */

let harness: Harness;
let ecs: Awaited<ReturnType<typeof startAwsJsonEndpoint>>;
/** ECS service name → counts; a name listed in `failing` makes its whole call fail. */
const running = new Map<string, { desired: number; running: number }>();
const failing = new Set<string>();

beforeAll(async () => {
  ecs = await startAwsJsonEndpoint(({ target, body }) => {
    if (!target.endsWith("DescribeServices"))
      return { status: 400, body: { __type: "InvalidParameterException" } };
    const names = body.services as string[];
    if (names.some((name) => failing.has(name))) {
      return { status: 500, body: { __type: "ServerException", message: "ECS is having a bad day" } };
    }
    const services = names.flatMap((serviceName) => {
      const counts = running.get(serviceName);
      return counts
        ? [{ serviceName, status: "ACTIVE", desiredCount: counts.desired, runningCount: counts.running }]
        : [];
    });
    return { status: 200, body: { services, failures: [] } };
  });
  const client = new ECSClient({
    endpoint: ecs.url,
    region: "us-east-1",
    credentials: { accessKeyId: "local", secretAccessKey: "local" },
    maxAttempts: 1,
  });
  harness = await startHarness({ ecs: { client, cluster: "berth" } });
});

afterAll(async () => {
  await harness?.stop();
  await ecs?.stop();
});

const apply = (stack: string) =>
  harness.call({
    method: "PUT",
    path: `/v1/stacks/${stack}`,
    headers: YAML,
    body: stackFile(),
    token: harness.tokens.deploy,
  });

const list = (query = "?services=true") =>
  harness.call({ method: "GET", path: `/v1/stacks${query}`, token: harness.tokens.read });

describe("GET /v1/stacks?services=true", () => {
  it("lists each stack's services with status and task counts, ten services a DescribeServices", async () => {
    const names = Array.from({ length: 7 }, (_, index) => `fleet${index}`);
    for (const name of names) expect((await apply(name)).status).toBe(202);
    // fleet0's api has run and finished its deployment: LIVE; the others still deploy.
    const stored = (await ServiceRecord.get(harness.store, "fleet0", "api")) as ServiceRecord.Info;
    await ServiceRecord.update(
      harness.store,
      { stack: "fleet0", name: "api", expectedVersion: stored.version },
      {
        liveTaskDefinitionArn: "arn:aws:ecs:us-east-1:123456789012:task-definition/fleet0-api:1",
        activeDeploymentId: null,
      },
    );
    running.set("fleet0-api", { desired: 2, running: 1 });
    running.set("fleet6-worker", { desired: 1, running: 1 });
    const callsBefore = ecs.calls.length;

    const reply = await list();

    expect(reply.status).toBe(200);
    const byName = new Map(
      (reply.json.stacks as { name: string; services: unknown[] }[]).map((stack) => [stack.name, stack]),
    );
    expect(byName.get("fleet0")?.services).toEqual([
      { name: "api", type: "private-service", status: "LIVE", tasks: { desired: 2, running: 1 } },
      {
        name: "worker",
        type: "worker-service",
        status: "DEPLOYING",
        tasks: { desired: null, running: null },
      },
    ]);
    expect(byName.get("fleet6")?.services).toContainEqual(
      expect.objectContaining({ name: "worker", tasks: { desired: 1, running: 1 } }),
    );
    expect(byName.get("fleet3")).not.toHaveProperty("stackFile");
    // 14 services: two DescribeServices calls, none naming more than ten services.
    const calls = ecs.calls.slice(callsBefore);
    expect(calls.length).toBe(2);
    expect(calls.every((call) => (call.body.services as string[]).length <= 10)).toBe(true);
    const checked = validateWithBotocore(
      calls.map((call) => ({ service: "ecs", operation: "DescribeServices", input: call.body })),
    );
    expect(checked.results).toEqual(calls.map(() => []));
  });

  it("still lists every stack when ECS cannot answer, with counts unknown", async () => {
    await apply("ecs-down");
    failing.add("ecs-down-api");
    try {
      const reply = await list();
      expect(reply.status).toBe(200);
      const stack = reply.json.stacks.find((candidate: { name: string }) => candidate.name === "ecs-down");
      expect(stack.services.map((service: { tasks: unknown }) => service.tasks)).toEqual([
        { desired: null, running: null },
        { desired: null, running: null },
      ]);
    } finally {
      failing.delete("ecs-down-api");
    }
  });

  it("leaves services out without the option, and refuses a value that is not true or false", async () => {
    const plain = await list("");
    expect(plain.status).toBe(200);
    expect(plain.json.stacks.every((stack: object) => !("services" in stack))).toBe(true);
    expect((await list("?services=yes")).status).toBe(400);
  });
});

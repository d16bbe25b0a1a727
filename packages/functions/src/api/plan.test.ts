import { StackPlan } from "@berth/core/deployments";
import { Spec } from "@berth/core/spec";
import type { ServiceRecord } from "@berth/core/store";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const { desiredServices, diffJson, planStack, specHash } = StackPlan;

import { type Harness, harnessForFile, stackFile, startHarness, YAML } from "./test-support.ts";

function parsed(file: string): Spec.Stack {
  const result = Spec.parse(file);
  if (!result.ok) throw new Error(JSON.stringify(result.issues));
  return result.stack;
}

function stored(name: string, spec: Record<string, unknown>): ServiceRecord.Info {
  return { stack: "shop", name, spec, updatedAt: new Date(0).toISOString(), version: 1 };
}

describe("diffJson", () => {
  it("names each changed, added and removed field by its path", () => {
    const before = { port: 3000, env: [{ name: "A", value: "1" }], scaling: { min: 1 }, gone: true };
    const after = {
      port: 8080,
      env: [
        { name: "A", value: "2" },
        { name: "B", value: "3" },
      ],
      scaling: { min: 1, max: 2 },
    };
    expect(diffJson(before, after)).toEqual([
      { path: "env[0].value", before: "1", after: "2" },
      { path: "env[1]", after: { name: "B", value: "3" } },
      { path: "gone", before: true },
      { path: "port", before: 3000, after: 8080 },
      { path: "scaling.max", after: 2 },
    ]);
  });

  it("finds no change between equal values whatever their key order, and a change of type as a whole", () => {
    expect(diffJson({ a: 1, b: [1, { c: null }] }, { b: [1, { c: null }], a: 1 })).toEqual([]);
    expect(diffJson({ a: [1] }, { a: { 0: 1 } })).toEqual([{ path: "a", before: [1], after: { 0: 1 } }]);
    expect(diffJson({ a: [1, 2] }, { a: [1] })).toEqual([{ path: "a[1]", before: 2 }]);
  });
});

describe("specHash", () => {
  it("ignores key order and changes with any value", () => {
    expect(specHash({ a: 1, b: { c: 2, d: 3 } })).toBe(specHash({ b: { d: 3, c: 2 }, a: 1 }));
    expect(specHash({ a: 1 })).not.toBe(specHash({ a: 2 }));
    expect(specHash({ a: 1 })).toMatch(/^sha256:[0-9a-f]{64}$/);
  });
});

describe("planStack", () => {
  const current = desiredServices(parsed(stackFile()));
  const services = [...current].map(([name, spec]) => stored(name, spec));

  it("classifies adds, field-level changes, unchanged services and deletes", () => {
    const file = `${stackFile({ apiPort: 8080, withWorker: false })}
  cron:
    type: worker-service
    properties:
      packaging:
        type: prebuilt-image
        properties:
          image: busybox:1.36
      resources:
        cpu: 0.25
        memory: 512
`;
    const plan = planStack(desiredServices(parsed(file)), services, new Set());
    expect(plan.map(({ service, change, changes }) => ({ service, change, changes }))).toEqual([
      {
        service: "api",
        change: "updated",
        changes: [{ path: "properties.port", before: 3000, after: 8080 }],
      },
      { service: "cron", change: "created", changes: undefined },
      { service: "worker", change: "deleted", changes: undefined },
    ]);
  });

  it("leaves equal specs unchanged, and re-creates a service whose deletion is pending", () => {
    const plan = planStack(current, services, new Set(["worker"]));
    expect(plan.map(({ service, change, pendingDeletion }) => [service, change, pendingDeletion])).toEqual([
      ["api", "unchanged", undefined],
      ["worker", "created", true],
    ]);
  });

  it("plans only compute resources", () => {
    const file = `${stackFile({ withWorker: false })}
  gateway:
    type: http-api-gateway
`;
    expect([...desiredServices(parsed(file)).keys()]).toEqual(["api"]);
  });
});

describe("PUT /v1/stacks/{stack}?dryRun=true", () => {
  const harness = harnessForFile();

  const dryRun = (stack: string, body: string) =>
    harness.call({
      method: "PUT",
      path: `/v1/stacks/${stack}?dryRun=true`,
      headers: YAML,
      body,
      token: harness.tokens.deploy,
    });

  it("returns the plan and writes nothing, for a new stack and for a changed one", async () => {
    const empty = await harness.scanWithoutTokens();

    const fresh = await dryRun("planned", stackFile());
    expect(fresh.status).toBe(200);
    expect(fresh.json).toMatchObject({ stack: "planned", dryRun: true });
    expect(fresh.json.plan.map((entry: { change: string }) => entry.change)).toEqual(["created", "created"]);
    expect(await harness.scanWithoutTokens()).toEqual(empty);

    await harness.call({
      method: "PUT",
      path: "/v1/stacks/planned",
      headers: YAML,
      body: stackFile(),
      token: harness.tokens.deploy,
    });
    const startsBefore = harness.workflows.starts.length;
    const before = await harness.scanWithoutTokens();

    const changed = await dryRun("planned", stackFile({ greeting: "hi", withWorker: false }));

    expect(changed.json.plan).toEqual([
      {
        service: "api",
        type: "private-service",
        change: "updated",
        changes: [{ path: "properties.environment[0].value", before: "hello", after: "hi" }],
      },
      { service: "worker", type: "worker-service", change: "deleted" },
    ]);
    expect(await harness.scanWithoutTokens()).toEqual(before);
    expect(harness.workflows.starts).toHaveLength(startsBefore);
  });

  it("still refuses an invalid file with 422", async () => {
    const reply = await dryRun("planned-bad", "resources: {}\n");
    expect(reply.status).toBe(422);
    expect(reply.json.error.details[0]).toMatchObject({ path: "resources", line: 1 });
  });
});

describe("a stack file applied again", () => {
  // Two installations in one process (a Lambda instance serves one, but the parsed files are
  // kept per process): one with EC2 capacity, one without.
  let withEc2: Harness;
  let withoutEc2: Harness;
  const ec2File = `resources:
  api:
    type: private-service
    properties:
      packaging:
        type: prebuilt-image
        properties:
          image: public.ecr.aws/docker/library/nginx:1.27
      resources: { cpu: 0.25, memory: 512, instanceTypes: ["c5.large"] }
`;

  beforeAll(async () => {
    [withEc2, withoutEc2] = await Promise.all([startHarness({ ec2Capacity: true }), startHarness()]);
  });

  afterAll(async () => {
    await Promise.all([withEc2.stop(), withoutEc2.stop()]);
  });

  const dryRun = (harness: Harness, body: string) =>
    harness.call({
      method: "PUT",
      path: "/v1/stacks/again?dryRun=true",
      headers: YAML,
      body,
      token: harness.tokens.deploy,
    });

  it("is judged by the installation it is applied to, however often the same text was parsed before", async () => {
    for (let round = 0; round < 2; round++) {
      const accepted = await dryRun(withEc2, ec2File);
      expect(accepted.status).toBe(200);
      expect(accepted.json.plan.map((entry: { service: string }) => entry.service)).toEqual(["api"]);
      const refused = await dryRun(withoutEc2, ec2File);
      expect(refused.status).toBe(422);
      expect(JSON.stringify(refused.json.error.details)).toContain("instanceTypes");
    }
  });

  it("plans the same each time, and another text anew", async () => {
    const first = await dryRun(withoutEc2, stackFile());
    const second = await dryRun(withoutEc2, stackFile());
    expect(second.status).toBe(200);
    expect(second.json).toEqual(first.json);
    const edited = await dryRun(withoutEc2, stackFile({ greeting: "changed" }));
    expect(edited.json.stackFileHash).not.toBe(first.json.stackFileHash);
  });
});

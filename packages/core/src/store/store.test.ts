import { DescribeTableCommand } from "@aws-sdk/client-dynamodb";
import { BatchWriteCommand, QueryCommand } from "@aws-sdk/lib-dynamodb";
import { describe, expect, it } from "vitest";
import * as DeploymentEventRecord from "./deployment-event-record.ts";
import * as DeploymentRecord from "./deployment-record.ts";
import { putNewItems } from "./dynamo.ts";
import * as ServiceRecord from "./service-record.ts";
import * as StackRecord from "./stack-record.ts";
import { type Store, TTL_ATTRIBUTE, tableDefinition } from "./store.ts";
import { localTableForFile, rejection } from "./test-support.ts";

const local = localTableForFile();

const specHash = "a".repeat(64);
const digest = `sha256:${"b".repeat(64)}`;

describe("table", () => {
  it("is created from tableDefinition with on-demand billing, string keys and both indexes", async () => {
    const definition = tableDefinition("anything");
    expect(definition.ttlAttribute).toBe(TTL_ATTRIBUTE);
    expect(definition.createTable.TableName).toBe("anything");
    const { Table } = await local.client.send(new DescribeTableCommand({ TableName: local.store.tableName }));
    expect(Table?.TableStatus).toBe("ACTIVE");
    expect(Table?.KeySchema).toEqual([
      { AttributeName: "PK", KeyType: "HASH" },
      { AttributeName: "SK", KeyType: "RANGE" },
    ]);
    expect(Table?.GlobalSecondaryIndexes?.map((index) => index.IndexName).sort()).toEqual(["GSI1", "GSI2"]);
  });
});

describe("stacks", () => {
  it("round-trip with the stack file's hash, keep createdAt on update, and list by name", async () => {
    const created = await StackRecord.put(local.store, {
      name: "shop",
      stage: "prod",
      stackFile: "name: shop\n",
    });
    expect(created).toMatchObject({ name: "shop", stage: "prod", stackFile: "name: shop\n" });
    expect(created.stackFileHash).toBe(StackRecord.hashStackFile("name: shop\n"));
    expect(await StackRecord.get(local.store, "shop")).toEqual(created);

    local.advanceClock(1_000);
    const updated = await StackRecord.put(local.store, {
      name: "shop",
      stage: "prod",
      stackFile: "name: shop\n#2\n",
    });
    expect(updated.createdAt).toBe(created.createdAt);
    expect(updated.updatedAt > created.updatedAt).toBe(true);
    expect(updated.stackFileHash).not.toBe(created.stackFileHash);

    await StackRecord.put(local.store, { name: "blog", stage: "prod", stackFile: "{}" });
    // Other tests' stacks may be in the table too (vitest --sequence.shuffle): listed by name.
    const names = (await StackRecord.list(local.store)).map((stack) => stack.name);
    expect(names.filter((name) => name === "blog" || name === "shop")).toEqual(["blog", "shop"]);
    expect(names).toEqual([...names].sort());
    expect(await StackRecord.remove(local.store, "blog")).toBe(true);
    expect(await StackRecord.get(local.store, "blog")).toBeUndefined();
    expect(await StackRecord.remove(local.store, "blog")).toBe(false);
  });

  it("refuse a write planned against a stack file that has changed since", async () => {
    const first = await StackRecord.put(local.store, {
      name: "plans",
      stage: "dev",
      stackFile: "v1",
      expectedHash: null,
    });
    await StackRecord.put(local.store, {
      name: "plans",
      stage: "dev",
      stackFile: "v2",
      expectedHash: first.stackFileHash,
    });
    const stale = await rejection(
      StackRecord.put(local.store, {
        name: "plans",
        stage: "dev",
        stackFile: "v3",
        expectedHash: first.stackFileHash,
      }),
    );
    expect(stale.code).toBe("CONFLICT");
    const duplicate = await rejection(
      StackRecord.put(local.store, { name: "plans", stage: "dev", stackFile: "v1", expectedHash: null }),
    );
    expect(duplicate.code).toBe("CONFLICT");
    expect((await StackRecord.get(local.store, "plans"))?.stackFile).toBe("v2");
  });

  it("reject names that are not DNS labels before they reach a key", async () => {
    for (const name of ["Shop", "a#b", "-shop", "shop-", "", "x".repeat(64)]) {
      const error = await rejection(StackRecord.put(local.store, { name, stage: "dev", stackFile: "" }));
      expect(error.code).toBe("INVALID_INPUT");
      expect(error.details[0]?.path).toBe("name");
    }
  });
});

describe("services", () => {
  const spec = { type: "web-service", image: "nginx", nested: { list: [1, "two", null], empty: "" } };

  it("round-trip with their spec exactly, and list per stack", async () => {
    const created = await ServiceRecord.create(local.store, { stack: "svc", name: "api", spec });
    expect(created.version).toBe(1);
    expect(await ServiceRecord.get(local.store, "svc", "api")).toEqual(created);
    await ServiceRecord.create(local.store, { stack: "svc", name: "worker", spec: {} });
    await StackRecord.put(local.store, { name: "svc", stage: "dev", stackFile: "" });
    expect((await ServiceRecord.list(local.store, "svc")).map((service) => service.name)).toEqual([
      "api",
      "worker",
    ]);
    expect(await ServiceRecord.get(local.store, "svc", "missing")).toBeUndefined();
    expect(
      (await rejection(ServiceRecord.create(local.store, { stack: "svc", name: "api", spec }))).code,
    ).toBe("CONFLICT");
  });

  it("are read with their stack in one query of the partition, and without it once the stack is gone", async () => {
    const api = await ServiceRecord.create(local.store, { stack: "both", name: "api", spec: { a: 1 } });
    const worker = await ServiceRecord.create(local.store, { stack: "both", name: "worker", spec: {} });
    await ServiceRecord.create(local.store, { stack: "both-other", name: "api", spec: {} });
    expect(await StackRecord.getWithServices(local.store, "both")).toEqual({
      stack: undefined,
      services: [api, worker],
    });
    const stack = await StackRecord.put(local.store, { name: "both", stage: "dev", stackFile: "x: 1" });
    expect(await StackRecord.getWithServices(local.store, "both")).toEqual({
      stack,
      services: [api, worker],
    });
    expect(await StackRecord.getWithServices(local.store, "none")).toEqual({
      stack: undefined,
      services: [],
    });
  });

  it("write, clear and bump the version; a write against an old version fails", async () => {
    const created = await ServiceRecord.create(local.store, { stack: "versions", name: "api", spec });
    const live = await ServiceRecord.update(
      local.store,
      { stack: "versions", name: "api", expectedVersion: 1 },
      {
        liveTaskDefinitionArn: "arn:aws:ecs:us-east-1:123456789012:task-definition/api:7",
        lastGoodTaskDefinitionArn: "arn:aws:ecs:us-east-1:123456789012:task-definition/api:6",
        spec: { ...spec, image: "nginx:2" },
      },
    );
    expect(live.version).toBe(2);
    expect(live.spec).toEqual({ ...spec, image: "nginx:2" });
    const cleared = await ServiceRecord.update(
      local.store,
      { stack: "versions", name: "api", expectedVersion: 2 },
      { lastGoodTaskDefinitionArn: null },
    );
    expect(cleared.lastGoodTaskDefinitionArn).toBeUndefined();
    expect(cleared.liveTaskDefinitionArn).toBe(live.liveTaskDefinitionArn);
    const stale = await rejection(
      ServiceRecord.update(
        local.store,
        { stack: "versions", name: "api", expectedVersion: created.version },
        {},
      ),
    );
    expect(stale.code).toBe("CONFLICT");
    const missing = await rejection(
      ServiceRecord.update(local.store, { stack: "versions", name: "nope", expectedVersion: 1 }, {}),
    );
    expect(missing.code).toBe("NOT_FOUND");
  });

  it("let exactly one of two writers of the same version win", async () => {
    await ServiceRecord.create(local.store, { stack: "race", name: "api", spec });
    const writers = ["01J0000000000000000000000A", "01J0000000000000000000000B"].map((id) =>
      ServiceRecord.update(
        local.store,
        { stack: "race", name: "api", expectedVersion: 1 },
        { activeDeploymentId: id },
      ),
    );
    const results = await Promise.allSettled(writers);
    const winners = results.filter((result) => result.status === "fulfilled");
    const losers = results.filter((result) => result.status === "rejected");
    expect(winners).toHaveLength(1);
    expect(losers).toHaveLength(1);
    expect(losers[0]?.reason).toMatchObject({ code: "CONFLICT" });
    const stored = await ServiceRecord.get(local.store, "race", "api");
    expect(stored?.version).toBe(2);
    expect(stored?.activeDeploymentId).toBe(winners[0]?.value.activeDeploymentId);
  });

  it("delete only the version that was read", async () => {
    await ServiceRecord.create(local.store, { stack: "removal", name: "api", spec });
    expect((await rejection(ServiceRecord.remove(local.store, "removal", "api", 5))).code).toBe("CONFLICT");
    expect(await ServiceRecord.remove(local.store, "removal", "api", 1)).toBe(true);
    expect(await ServiceRecord.remove(local.store, "removal", "api", 1)).toBe(false);
  });
});

describe("deployments", () => {
  it("round-trip with their first event, details and status writes", async () => {
    const created = await DeploymentRecord.create(local.store, {
      stack: "deploys",
      service: "api",
      trigger: "webhook",
      specHash,
      imageDigests: { web: digest },
    });
    expect(created).toMatchObject({ status: "PENDING", reason: "requested by webhook", eventCount: 1 });
    expect(created.id).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}$/);
    expect(await DeploymentRecord.get(local.store, created.id)).toEqual(created);

    const arn = "arn:aws:states:us-east-1:123456789012:execution:deploy:x";
    const detailed = await DeploymentRecord.recordDetails(local.store, created.id, { executionArn: arn });
    expect(detailed.executionArn).toBe(arn);
    expect(detailed.imageDigests).toEqual({ web: digest });

    const building = await DeploymentRecord.compareAndSetStatus(local.store, created.id, {
      from: "PENDING",
      to: "BUILDING",
      reason: "go",
    });
    expect(building.startedAt).toBeDefined();
    expect(building.finishedAt).toBeUndefined();
    const failed = await DeploymentRecord.compareAndSetStatus(local.store, created.id, {
      from: "BUILDING",
      to: "FAILED",
      reason: "exit 1",
    });
    expect(failed.finishedAt).toBeDefined();
    expect(failed.startedAt).toBe(building.startedAt);

    const stored = await DeploymentRecord.getWithEvents(local.store, created.id);
    expect(stored?.deployment).toEqual(failed);
    expect(stored?.events.map((event) => [event.sequence, event.type])).toEqual([
      [1, "requested"],
      [2, "status"],
      [3, "status"],
    ]);
    expect(stored?.events[2]).toMatchObject({
      message: "BUILDING → FAILED: exit 1",
      data: { from: "BUILDING" },
    });
  });

  it("keep events in order under concurrent appends, with arbitrary JSON data", async () => {
    const { id } = await DeploymentRecord.create(local.store, {
      stack: "events",
      service: "api",
      trigger: "api",
      specHash,
    });
    await Promise.all(
      Array.from({ length: 30 }, (_, index) =>
        DeploymentEventRecord.append(local.store, id, {
          type: "log",
          message: `line ${index}`,
          data: { index, nested: { list: [index, null, ""] } },
        }),
      ),
    );
    const events = await DeploymentEventRecord.all(local.store, id);
    expect(events.map((event) => event.sequence)).toEqual(
      Array.from({ length: 31 }, (_, index) => index + 1),
    );
    expect(new Set(events.slice(1).map((event) => event.message)).size).toBe(30);
    expect(events[5]?.data).toMatchObject({ nested: { list: [expect.any(Number), null, ""] } });

    const firstPage = await DeploymentEventRecord.list(local.store, id, { limit: 20 });
    const secondPage = await DeploymentEventRecord.list(local.store, id, {
      limit: 20,
      cursor: firstPage.nextCursor,
    });
    expect([...firstPage.items, ...secondPage.items]).toEqual(events);
    expect(secondPage.nextCursor).toBeUndefined();
    const missing = await rejection(
      DeploymentEventRecord.append(local.store, "01J00000000000000000000000", { type: "x", message: "" }),
    );
    expect(missing.code).toBe("NOT_FOUND");
  });

  it("list per service newest first, page by page, with an opaque cursor", async () => {
    const ids: string[] = [];
    for (let index = 0; index < 7; index++) {
      local.advanceClock(1);
      ids.push(
        (
          await DeploymentRecord.create(local.store, {
            stack: "pages",
            service: "api",
            trigger: "api",
            specHash,
          })
        ).id,
      );
    }
    await DeploymentRecord.create(local.store, {
      stack: "pages",
      service: "other",
      trigger: "api",
      specHash,
    });
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await DeploymentRecord.listForService(local.store, "pages", "api", { limit: 3, cursor });
      seen.push(...page.items.map((deployment) => deployment.id));
      cursor = page.nextCursor;
      pages++;
      if (cursor) expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
    } while (cursor);
    expect(pages).toBe(3);
    expect(seen).toEqual([...ids].reverse());

    const exact = await DeploymentRecord.listForService(local.store, "pages", "api", { limit: 7 });
    expect(exact.items).toHaveLength(7);
    expect(exact.nextCursor).toBeUndefined();
  });

  it("refuse cursors from another listing, damaged cursors and limits out of range", async () => {
    await DeploymentRecord.create(local.store, { stack: "cursors", service: "a", trigger: "api", specHash });
    await DeploymentRecord.create(local.store, { stack: "cursors", service: "a", trigger: "api", specHash });
    const page = await DeploymentRecord.listForService(local.store, "cursors", "a", { limit: 1 });
    expect(page.nextCursor).toBeDefined();
    const foreign = await rejection(
      DeploymentRecord.listForService(local.store, "cursors", "b", { limit: 1, cursor: page.nextCursor }),
    );
    expect(foreign.code).toBe("INVALID_CURSOR");
    const damaged = await rejection(
      DeploymentRecord.listForService(local.store, "cursors", "a", { cursor: "not-a-cursor!" }),
    );
    expect(damaged.code).toBe("INVALID_CURSOR");
    for (const limit of [0, 101, 1.5]) {
      expect(
        (await rejection(DeploymentRecord.listForService(local.store, "cursors", "a", { limit }))).code,
      ).toBe("INVALID_INPUT");
    }
  });

  it("refuse a status write from a status it is no longer in", async () => {
    const { id } = await DeploymentRecord.create(local.store, {
      stack: "cas",
      service: "api",
      trigger: "api",
      specHash,
    });
    const error = await rejection(
      DeploymentRecord.compareAndSetStatus(local.store, id, {
        from: "BUILDING",
        to: "DEPLOYING",
        reason: "x",
      }),
    );
    expect(error.code).toBe("CONFLICT");
    expect(error.message).toContain("is PENDING, not BUILDING");
    expect((await DeploymentRecord.get(local.store, id))?.status).toBe("PENDING");
    expect((await DeploymentEventRecord.all(local.store, id)).length).toBe(1);
  });
});

describe("putNewItems", () => {
  // dynalite and DynamoDB Local process every item of a batch; DynamoDB leaves some unprocessed
  // when it throttles. The fault is injected in front of the real table: the wrapped client writes
  // only the first `processed` items of each batch and hands the rest back as unprocessed.
  function throttling(processed: number): { store: Store; batches: () => number; sizes: number[] } {
    let batches = 0;
    const sizes: number[] = [];
    const client = {
      send(command: unknown) {
        if (!(command instanceof BatchWriteCommand)) return local.store.client.send(command as never);
        batches++;
        const requests = command.input.RequestItems?.[local.store.tableName] ?? [];
        sizes.push(requests.length);
        const written = requests.slice(0, processed);
        const left = requests.slice(processed);
        const write = written.length
          ? local.store.client.send(
              new BatchWriteCommand({ RequestItems: { [local.store.tableName]: written } }),
            )
          : Promise.resolve();
        return write.then(() => ({
          UnprocessedItems: left.length ? { [local.store.tableName]: left } : {},
        }));
      },
    } as unknown as Store["client"];
    return { store: { ...local.store, client }, batches: () => batches, sizes };
  }

  const itemsUnder = (pk: string, count: number) =>
    Array.from({ length: count }, (_, index) => ({
      PK: pk,
      SK: `ITEM#${String(index).padStart(3, "0")}`,
      index,
    }));

  const stored = async (pk: string) => {
    const { Items } = await local.store.client.send(
      new QueryCommand({
        TableName: local.store.tableName,
        KeyConditionExpression: "PK = :pk",
        ExpressionAttributeValues: { ":pk": pk },
      }),
    );
    return (Items ?? []).map((item) => item.index as number).sort((a, b) => a - b);
  };

  it("sends again what DynamoDB left unprocessed until every item is in", async () => {
    const { store, batches } = throttling(10);
    await putNewItems(
      store,
      itemsUnder("BATCH#retried", 30).map((item) => [item]),
    );
    expect(await stored("BATCH#retried")).toEqual(Array.from({ length: 30 }, (_, index) => index));
    // 30 items: a batch of 25 (10 in, then 10, then 5) and one of 5 (in at once).
    expect(batches()).toBe(4);
  });

  it("never splits a group (a record and its events) between two batch writes", async () => {
    const { store, sizes } = throttling(25);
    const items = itemsUnder("BATCH#grouped", 27);
    await putNewItems(
      store,
      Array.from({ length: 9 }, (_, group) => items.slice(group * 3, group * 3 + 3)),
    );
    expect(sizes.sort((a, b) => b - a)).toEqual([24, 3]);
    expect(await stored("BATCH#grouped")).toHaveLength(27);
  });

  it("gives up, saying how many items are left, when DynamoDB never takes them", async () => {
    const { store, batches } = throttling(0);
    await expect(
      putNewItems(
        store,
        itemsUnder("BATCH#refused", 3).map((item) => [item]),
      ),
    ).rejects.toThrow("3 items were left unprocessed after 8 batch writes");
    expect(batches()).toBe(8);
    expect(await stored("BATCH#refused")).toEqual([]);
  });
});

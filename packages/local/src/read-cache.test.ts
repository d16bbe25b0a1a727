import { request as httpRequest, type Server } from "node:http";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient, GetCommand, PutCommand, QueryCommand } from "@aws-sdk/lib-dynamodb";
import { ensureTable } from "@berth/core/store";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cacheReads, type WriteWatch, watchWrites } from "./read-cache.ts";

const dynalite = createRequire(import.meta.url)("dynalite") as (options: { createTableMs: number }) => Server;
const credentials = { accessKeyId: "local", secretAccessKey: "local" };
const TABLE = "read-cache-test";

let server: Server;
let endpoint: string;
let watch: WriteWatch;
let raw: DynamoDBClient;
let cached: DynamoDBDocumentClient;
let counts: ReturnType<typeof cacheReads>;
/** Another writer on the same endpoint, as a step Lambda or a test would be. */
let other: DynamoDBDocumentClient;

beforeAll(async () => {
  server = dynalite({ createTableMs: 0 });
  watch = watchWrites(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  raw = new DynamoDBClient({ endpoint, region: "us-east-1", credentials });
  await ensureTable(raw, TABLE);
  cached = DynamoDBDocumentClient.from(raw);
  counts = cacheReads(cached, watch);
  other = DynamoDBDocumentClient.from(new DynamoDBClient({ endpoint, region: "us-east-1", credentials }));
});

afterAll(async () => {
  raw.destroy();
  other.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

const get = (key: string) =>
  cached.send(new GetCommand({ TableName: TABLE, Key: { PK: key, SK: "x" }, ConsistentRead: true }));

/** A PutItem whose body dynalite has not got yet: in flight until `finish` is called. */
function heldPut(key: string, value: string): { finish(): Promise<void> } {
  const body = JSON.stringify({
    TableName: TABLE,
    Item: { PK: { S: key }, SK: { S: "x" }, value: { S: value } },
  });
  const { hostname, port } = new URL(endpoint);
  let answered: Promise<void> = Promise.resolve();
  const sent = httpRequest({
    host: hostname,
    port,
    method: "POST",
    path: "/",
    headers: {
      "content-type": "application/x-amz-json-1.0",
      "content-length": Buffer.byteLength(body),
      "x-amz-target": "DynamoDB_20120810.PutItem",
      authorization:
        "AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0",
      "x-amz-date": "20260101T000000Z",
    },
  });
  answered = new Promise<void>((resolve, reject) => {
    sent.on("response", (response) => {
      response.resume();
      response.on("end", () =>
        response.statusCode === 200
          ? resolve()
          : reject(new Error(`PutItem answered ${response.statusCode}`)),
      );
    });
    sent.on("error", reject);
  });
  sent.flushHeaders();
  return {
    async finish() {
      sent.end(body);
      await answered;
    },
  };
}

describe("read cache over Berth Local's dynalite", () => {
  it("answers a repeated read from memory, each caller with its own copy", async () => {
    await other.send(new PutCommand({ TableName: TABLE, Item: { PK: "a", SK: "x", value: "one" } }));
    const first = await get("a");
    const hitsBefore = counts.hits();
    const second = await get("a");
    expect(counts.hits()).toBe(hitsBefore + 1);
    expect(second.Item).toEqual({ PK: "a", SK: "x", value: "one" });
    (second.Item as Record<string, unknown>).value = "changed by a caller";
    expect((await get("a")).Item?.value).toBe("one");
    expect(first.Item?.value).toBe("one");
  });

  it("sees a write by another client on the endpoint at the next read", async () => {
    await get("a");
    await get("a");
    await other.send(new PutCommand({ TableName: TABLE, Item: { PK: "a", SK: "x", value: "two" } }));
    expect((await get("a")).Item?.value).toBe("two");
    const query = await cached.send(
      new QueryCommand({
        TableName: TABLE,
        KeyConditionExpression: "PK = :pk",
        ExpressionAttributeValues: { ":pk": "a" },
      }),
    );
    expect(query.Items?.map((item) => item.value)).toEqual(["two"]);
  });

  it("keeps nothing while a write is in flight, and shows the write once it is answered", async () => {
    await other.send(new PutCommand({ TableName: TABLE, Item: { PK: "b", SK: "x", value: "before" } }));
    const put = heldPut("b", "after");
    // The held request has reached dynalite once the watcher counts it.
    await expect.poll(() => watch.inFlight).toBe(1);
    const hitsBefore = counts.hits();
    expect((await get("b")).Item?.value).toBe("before");
    expect((await get("b")).Item?.value).toBe("before");
    expect(counts.hits()).toBe(hitsBefore);
    await put.finish();
    expect(watch.inFlight).toBe(0);
    expect((await get("b")).Item?.value).toBe("after");
    expect((await get("b")).Item?.value).toBe("after");
    expect(counts.hits()).toBe(hitsBefore + 1);
  });

  it("shares one read among the same reads sent together, each caller with its own copy", async () => {
    await other.send(new PutCommand({ TableName: TABLE, Item: { PK: "c", SK: "x", value: "burst" } }));
    const [missesBefore, sharedBefore] = [counts.misses(), counts.shared()];
    const answers = await Promise.all([get("c"), get("c"), get("c"), get("c")]);
    expect(counts.misses()).toBe(missesBefore + 1);
    expect(counts.shared()).toBe(sharedBefore + 3);
    for (const answer of answers) expect(answer.Item).toEqual({ PK: "c", SK: "x", value: "burst" });
    (answers[0]?.Item as Record<string, unknown>).value = "changed by a caller";
    expect(answers[1]?.Item?.value).toBe("burst");
    expect((await get("c")).Item?.value).toBe("burst");
  });

  it("does not share a read sent before a write with a read sent after it", async () => {
    await other.send(new PutCommand({ TableName: TABLE, Item: { PK: "d", SK: "x", value: "old" } }));
    // The first read is on its way; a write then arrives and is answered; the next read is its own.
    const first = get("d");
    await other.send(new PutCommand({ TableName: TABLE, Item: { PK: "d", SK: "x", value: "new" } }));
    const sharedBefore = counts.shared();
    const second = await get("d");
    expect(counts.shared()).toBe(sharedBefore);
    expect(second.Item?.value).toBe("new");
    expect(["old", "new"]).toContain((await first).Item?.value);
  });

  it("does not share a read while a write is in flight", async () => {
    await other.send(new PutCommand({ TableName: TABLE, Item: { PK: "e", SK: "x", value: "before" } }));
    const put = heldPut("e", "after");
    await expect.poll(() => watch.inFlight).toBe(1);
    const sharedBefore = counts.shared();
    const answers = await Promise.all([get("e"), get("e")]);
    expect(counts.shared()).toBe(sharedBefore);
    for (const answer of answers) expect(answer.Item?.value).toBe("before");
    await put.finish();
    expect((await get("e")).Item?.value).toBe("after");
  });
});

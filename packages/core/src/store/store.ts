import {
  CreateTableCommand,
  type CreateTableCommandInput,
  type DynamoDBClient,
  waitUntilTableExists,
} from "@aws-sdk/client-dynamodb";
import type { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
// Only DynamoDB's module: the index would load every other AWS client with the store.
import * as DynamoDb from "../aws/dynamodb.ts";

/**
 * Where records live. The caller owns the client and the table name (read from its own
 * configuration), so this module never looks at the environment and runs unchanged against
 * DynamoDB and dynalite.
 */
export interface Store {
  readonly client: DynamoDBDocumentClient;
  readonly tableName: string;
  /** Stamps every record; injectable so that expiry can be tested without waiting. */
  readonly clock: () => Date;
}

export interface StoreOptions {
  client: DynamoDBDocumentClient;
  tableName: string;
  clock?: () => Date;
}

export function createStore(options: StoreOptions): Store {
  if (options.tableName.length === 0) throw new Error("the store needs a table name");
  return { client: options.client, tableName: options.tableName, clock: options.clock ?? (() => new Date()) };
}

/** DynamoDB deletes items some time after this epoch-seconds attribute passes; reads never rely on it. */
export const TTL_ATTRIBUTE = "expiresAt";

/** Collections: all stacks, a service's deployments (newest first), all tokens. */
export const LISTING_INDEX = "GSI1";
/** Token lookup by the hash of its secret; keys only, the item itself is read consistently. */
export const TOKEN_HASH_INDEX = "GSI2";

export interface TableDefinition {
  createTable: CreateTableCommandInput;
  /** For `UpdateTimeToLive` once the table exists (CreateTable cannot set it). */
  ttlAttribute: typeof TTL_ATTRIBUTE;
}

export function tableDefinition(tableName: string): TableDefinition {
  return {
    createTable: {
      TableName: tableName,
      BillingMode: "PAY_PER_REQUEST",
      AttributeDefinitions: [
        { AttributeName: "PK", AttributeType: "S" },
        { AttributeName: "SK", AttributeType: "S" },
        { AttributeName: "GSI1PK", AttributeType: "S" },
        { AttributeName: "GSI1SK", AttributeType: "S" },
        { AttributeName: "GSI2PK", AttributeType: "S" },
        { AttributeName: "GSI2SK", AttributeType: "S" },
      ],
      KeySchema: [
        { AttributeName: "PK", KeyType: "HASH" },
        { AttributeName: "SK", KeyType: "RANGE" },
      ],
      GlobalSecondaryIndexes: [
        {
          IndexName: LISTING_INDEX,
          KeySchema: [
            { AttributeName: "GSI1PK", KeyType: "HASH" },
            { AttributeName: "GSI1SK", KeyType: "RANGE" },
          ],
          Projection: { ProjectionType: "ALL" },
        },
        {
          IndexName: TOKEN_HASH_INDEX,
          KeySchema: [
            { AttributeName: "GSI2PK", KeyType: "HASH" },
            { AttributeName: "GSI2SK", KeyType: "RANGE" },
          ],
          Projection: { ProjectionType: "KEYS_ONLY" },
        },
      ],
    },
    ttlAttribute: TTL_ATTRIBUTE,
  };
}

/**
 * Creates the table unless it exists and waits until it is usable; for Berth Local and tests,
 * where nothing else provisions it.
 */
export async function ensureTable(client: DynamoDBClient, tableName: string): Promise<void> {
  try {
    await client.send(new CreateTableCommand(tableDefinition(tableName).createTable));
  } catch (error) {
    if (!DynamoDb.isTableInUse(error)) throw error;
  }
  await waitUntilTableExists({ client, maxWaitTime: 60, minDelay: 1, maxDelay: 2 }, { TableName: tableName });
}

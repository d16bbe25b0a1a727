import { tableDefinition } from "@berth/core/store";
import { RemovalPolicy } from "aws-cdk-lib";
import * as dynamodb from "aws-cdk-lib/aws-dynamodb";
import type { StackContext } from "sst/constructs/FunctionalStack.js";
import { settingsOf } from "./settings.ts";

type KeySchema = { AttributeName?: string; KeyType?: string }[] | undefined;

/**
 * The single table, shaped by the store's own definition (`tableDefinition`, which Berth Local
 * and the tests create their tables from), so keys and indexes cannot drift from the code.
 */
export function Store({ stack, app }: StackContext) {
  const settings = settingsOf(app);
  const definition = tableDefinition("berth").createTable;
  const { ttlAttribute } = tableDefinition("berth");

  const attributeTypes = new Map(
    (definition.AttributeDefinitions ?? []).map((attribute) => [
      attribute.AttributeName,
      attribute.AttributeType,
    ]),
  );
  const attribute = (schema: KeySchema, keyType: "HASH" | "RANGE"): dynamodb.Attribute | undefined => {
    const name = schema?.find((key) => key.KeyType === keyType)?.AttributeName;
    if (name === undefined) return undefined;
    const type = attributeTypes.get(name);
    const types: Record<string, dynamodb.AttributeType> = {
      S: dynamodb.AttributeType.STRING,
      N: dynamodb.AttributeType.NUMBER,
      B: dynamodb.AttributeType.BINARY,
    };
    const cdkType = type === undefined ? undefined : types[type];
    if (cdkType === undefined) throw new Error(`the store's key ${name} has no attribute definition`);
    return { name, type: cdkType };
  };
  const partitionKey = attribute(definition.KeySchema, "HASH");
  if (!partitionKey) throw new Error("the store's table definition has no partition key");

  const table = new dynamodb.Table(stack, "Table", {
    partitionKey,
    sortKey: attribute(definition.KeySchema, "RANGE"),
    billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
    pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
    timeToLiveAttribute: ttlAttribute,
    deletionProtection: !settings.dev,
    removalPolicy: settings.dev ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN,
  });
  for (const index of definition.GlobalSecondaryIndexes ?? []) {
    const indexPartitionKey = attribute(index.KeySchema, "HASH");
    if (!index.IndexName || !indexPartitionKey) throw new Error("a store index has no name or partition key");
    const projection = index.Projection?.ProjectionType ?? "ALL";
    table.addGlobalSecondaryIndex({
      indexName: index.IndexName,
      partitionKey: indexPartitionKey,
      sortKey: attribute(index.KeySchema, "RANGE"),
      projectionType: dynamodb.ProjectionType[projection as keyof typeof dynamodb.ProjectionType],
      ...(index.Projection?.NonKeyAttributes ? { nonKeyAttributes: index.Projection.NonKeyAttributes } : {}),
    });
  }

  stack.addOutputs({ TableName: table.tableName });
  return { table };
}

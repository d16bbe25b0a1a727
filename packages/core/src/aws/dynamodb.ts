import { DynamoDBClient, ResourceInUseException } from "@aws-sdk/client-dynamodb";
import { type ClientConfig, isAwsError } from "./errors.ts";

export function dynamoDbClient(config: ClientConfig = {}): DynamoDBClient {
  return new DynamoDBClient(config);
}

/** A conditional write found the item not as the condition required. */
export function isConditionFailure(error: unknown): boolean {
  return isAwsError(error, "ConditionalCheckFailedException");
}

/** CreateTable's answer for a table that exists already (or is still being created). */
export function isTableInUse(error: unknown): boolean {
  return error instanceof ResourceInUseException;
}

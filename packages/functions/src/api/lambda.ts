import { Logger } from "@aws-lambda-powertools/logger";
import { CloudWatchLogsClient } from "@aws-sdk/client-cloudwatch-logs";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { ECSClient } from "@aws-sdk/client-ecs";
import { S3Client } from "@aws-sdk/client-s3";
import { SFNClient } from "@aws-sdk/client-sfn";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { StepFunctions } from "@berth/core/aws";
import { createStore } from "@berth/core/store";
import { createApiHandler } from "./api.ts";
import { readApiConfig } from "./config.ts";

// Built once per Lambda container, at load: a missing variable stops the function here.
const config = readApiConfig(process.env);

export const handler = createApiHandler({
  store: createStore({
    client: DynamoDBDocumentClient.from(new DynamoDBClient({})),
    tableName: config.tableName,
  }),
  startExecution: StepFunctions.stepFunctionsStarter(new SFNClient({}), config.stateMachineArns),
  logs: new CloudWatchLogsClient({}),
  ecs: { client: new ECSClient({}), cluster: config.cluster },
  ...(config.sourceBucket ? { sources: { bucket: config.sourceBucket, client: new S3Client({}) } } : {}),
  logger: new Logger({ serviceName: "berth-api" }),
  stage: config.stage,
});

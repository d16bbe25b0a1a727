import { Logger } from "@aws-lambda-powertools/logger";
import type { S3Client } from "@aws-sdk/client-s3";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import {
  Acm,
  ApiGateway,
  AutoScaling,
  AutoScalingGroups,
  type ClientConfig,
  DynamoDb,
  Ecr,
  Ecs,
  Elb,
  Iam,
  Logs,
  Route53,
  Scheduler,
  SecretsManager,
  ServiceDiscovery,
  StepFunctions,
} from "@berth/core/aws";
import { type ApiConfig, type Config, readConfig } from "@berth/core/config";
import type { DeploymentRequest, HostRefresh } from "@berth/core/deployments";
import type { Rollout } from "@berth/core/rollout";
import { createStore, type Store } from "@berth/core/store";
import type { ApiDependencyOptions } from "./api/dependencies.ts";

/**
 * The one place that turns configuration into the things handlers run on: the store, the AWS
 * clients, the logger. The Lambda entry points call it with what the configuration module read
 * from their environment; Berth Local calls it with its installation's values and its endpoint.
 * Creating an SDK client does no I/O: a function only pays for the clients it sends with.
 */

export interface BuildOptions {
  client?: ClientConfig;
  /** A store the host already has (Berth Local's, on its own DynamoDB endpoint). */
  store?: Store;
  logger?: Logger;
}

function storeOf(config: Config["store"], options: BuildOptions): Store {
  if (options.store) return options.store;
  const client = DynamoDBDocumentClient.from(DynamoDb.dynamoDbClient(options.client));
  return createStore({ client, tableName: config.tableName });
}

/** An S3 client created, and its package imported, when first asked for (then the same one). */
function s3ClientOnFirstUse(config: ClientConfig): () => Promise<S3Client> {
  let client: Promise<S3Client> | undefined;
  return () => {
    client ??= import("@aws-sdk/client-s3").then(
      ({ S3Client }) => new S3Client(config),
      (error: unknown) => {
        client = undefined; // the next upload tries again
        throw error;
      },
    );
    return client;
  };
}

/** The API's dependencies. */
export function apiDependencies(config: ApiConfig, options: BuildOptions = {}): ApiDependencyOptions {
  const client = options.client ?? {};
  const sfn = StepFunctions.sfnClient(client);
  return {
    store: storeOf(config, options),
    startExecution: StepFunctions.stepFunctionsStarter(sfn, config.stateMachineArns),
    answerWait: StepFunctions.taskAnswerer(sfn),
    sfn,
    logs: Logs.logsClient(client),
    ecs: { client: Ecs.ecsClient(client), cluster: config.cluster },
    ...(config.sourceBucket
      ? { sources: { bucket: config.sourceBucket, client: s3ClientOnFirstUse(client) } }
      : {}),
    logger: options.logger ?? new Logger({ serviceName: "berth-api" }),
    stage: config.stage,
    ec2Capacity: config.ec2CapacityProvider !== undefined,
    ...(config.refreshScheduler
      ? { refreshScheduler: { ...config.refreshScheduler, client: Scheduler.schedulerClient(client) } }
      : {}),
    ...(config.registry ? { resolveDigest: Ecr.tagResolver(Ecr.ecrClient(client), config.registry) } : {}),
  };
}

/**
 * What every step and event function is built from: the store, the AWS clients and the
 * installation's settings.
 */
export interface Runtime extends Rollout.StepContext {
  logger: Logger;
  /** What starting a deployment's workflow needs (the state machine ARNs are read on first use). */
  workflowContext: () => DeploymentRequest.WorkflowContext;
  /** The EC2 hosts a refresh replaces, and the clients it does it with; absent without EC2 capacity. */
  hosts?: { fleet: HostRefresh.HostFleet; clients: HostRefresh.HostRefreshClients };
}

/**
 * The steps' runtime. Only the functions that start workflows are given the state machine
 * ARNs, so those are read (and checked) the first time a function asks for them.
 */
export function stepRuntime(
  config: Pick<Config, "store" | "installation">,
  options: BuildOptions & { workflows?: () => Config["workflows"] } = {},
): Runtime {
  const client = options.client ?? {};
  const store = storeOf(config.store, options);
  const logger = options.logger ?? new Logger({ serviceName: "berth-steps" });
  const sfn = StepFunctions.sfnClient(client);
  const readWorkflows = options.workflows ?? (() => readConfig(["workflows"], "the function").workflows);
  let workflowContext: DeploymentRequest.WorkflowContext | undefined;
  return {
    settings: config.installation,
    store,
    clients: {
      ecs: Ecs.ecsClient(client),
      logs: Logs.logsClient(client),
      iam: Iam.iamClient(client),
      autoscaling: AutoScaling.autoScalingClient(client),
      secrets: SecretsManager.secretsManagerClient(client),
      ecr: Ecr.ecrClient(client),
      sfn,
      apiGateway: ApiGateway.apiGatewayClient(client),
      serviceDiscovery: ServiceDiscovery.serviceDiscoveryClient(client),
      elb: Elb.elbClient(client),
      acm: Acm.acmClient(client),
      route53: Route53.route53Client(client),
    },
    logger,
    ...(config.installation.hostFleet
      ? {
          hosts: {
            fleet: config.installation.hostFleet,
            clients: {
              ssm: AutoScalingGroups.ssmClient(client),
              ec2: AutoScalingGroups.ec2Client(client),
              autoScaling: AutoScalingGroups.autoScalingGroupsClient(client),
            },
          },
        }
      : {}),
    workflowContext: () => {
      workflowContext ??= {
        store,
        startExecution: StepFunctions.stepFunctionsStarter(sfn, readWorkflows().stateMachineArns),
        logger,
      };
      return workflowContext;
    },
  };
}

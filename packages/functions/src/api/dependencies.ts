import type { Logger } from "@aws-lambda-powertools/logger";
import type { CloudWatchLogsClient } from "@aws-sdk/client-cloudwatch-logs";
import type { ECSClient } from "@aws-sdk/client-ecs";
import type { S3Client } from "@aws-sdk/client-s3";
import type { SFNClient } from "@aws-sdk/client-sfn";
import type { DeploymentRequest, ImagePush, RefreshSchedule } from "@berth/core/deployments";
import type { Store } from "@berth/core/store";
import { TokenCache } from "./security.ts";

/** Everything the API talks to, created by the caller: the Lambda module on AWS, Berth Local, the tests. */
export interface ApiDependencies {
  store: Store;
  /** Starts the deploy workflow of a stored deployment (Step Functions StartExecution on AWS). */
  startExecution: DeploymentRequest.StartExecution;
  /** Reads service logs with FilterLogEvents. */
  logs: Pick<CloudWatchLogsClient, "send">;
  /**
   * Answers a waiting workflow's task token (Step Functions SendTaskSuccess): how a cancel wakes a
   * deployment that waits on ECS (in the cluster of `ecs`). Without it the workflow notices the
   * cancel at its next step.
   */
  answerWait?: DeploymentRequest.AnswerWait;
  /**
   * Starts and reads batch-job runs (Step Functions StartExecution, ListExecutions,
   * DescribeExecution, GetExecutionHistory on the jobs' run state machines).
   */
  sfn: Pick<SFNClient, "send">;
  /**
   * Reads the digest a tag of the installation's registry names (ECR DescribeImages), for webhook
   * deliveries. Without it a delivery deploys only a digest its signed payload names.
   */
  resolveDigest?: ImagePush.PushContext["resolveDigest"];
  /** Reads live task counts with DescribeServices; without it the counts are null. */
  ecs?: { client: Pick<ECSClient, "send">; cluster: string };
  /**
   * The bucket clients upload build sources to, through URLs the API presigns with this client.
   * Without it (Berth Local) the installation takes no uploads: builds read file:// directories.
   * The client is asked for on the first upload: S3's SDK packages take about half a second of
   * CPU to import, which every API cold start would otherwise pay for.
   */
  sources?: { bucket: string; client: () => Promise<S3Client> };
  logger: Logger;
  /** "Now" for relative times the API computes (`since=15m`); the store keeps its own clock for records. */
  clock: () => Date;
  /** Recorded on every stack applied through this API. */
  stage: string;
  /** The cluster has an EC2 capacity provider: resources may name `instanceTypes`. Default: it has none. */
  ec2Capacity?: boolean;
  /** Where stacks' own refresh schedules are kept (EventBridge Scheduler); without it a refresh cron is refused. */
  refreshScheduler?: RefreshSchedule.RefreshScheduler;
  /** How long an apply or delete waits for another one of the same stack to finish before answering 409. */
  stackLeaseWaitMs: number;
  /** Tokens verified in the last few seconds: one per handler instance. */
  tokens: TokenCache;
}

type Defaulted = "clock" | "stage" | "stackLeaseWaitMs" | "tokens";
export type ApiDependencyOptions = Omit<ApiDependencies, Defaulted> &
  Partial<Pick<ApiDependencies, Defaulted>>;

const DEFAULT_STAGE = "default";
/**
 * Long enough for an apply that has just started to finish, short enough that a burst of applies
 * is answered (409 with Retry-After for those that found the stack busy) in well under a second.
 */
const DEFAULT_STACK_LEASE_WAIT_MS = 500;

export function withDefaults(options: ApiDependencyOptions): ApiDependencies {
  return {
    ...options,
    clock: options.clock ?? (() => new Date()),
    stage: options.stage ?? DEFAULT_STAGE,
    stackLeaseWaitMs: options.stackLeaseWaitMs ?? DEFAULT_STACK_LEASE_WAIT_MS,
    tokens: options.tokens ?? new TokenCache(),
  };
}

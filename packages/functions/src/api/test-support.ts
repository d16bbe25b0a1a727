import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { createServer } from "node:http";
import { Logger } from "@aws-lambda-powertools/logger";
import { CloudWatchLogsClient } from "@aws-sdk/client-cloudwatch-logs";
import { CreateBucketCommand, GetObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { SFNClient } from "@aws-sdk/client-sfn";
import { ScanCommand } from "@aws-sdk/lib-dynamodb";
import type { DeploymentRequest, Workflow } from "@berth/core/deployments";
import { ServiceRecord, type Store, TokenRecord } from "@berth/core/store";
import {
  type AwsJsonAnswer,
  close,
  listen,
  startAwsJsonEndpoint,
  startLocalTable,
} from "@berth/core/test-support";
import type { APIGatewayProxyEventV2, Context } from "aws-lambda";
import { afterAll, beforeAll } from "vitest";
import { createApiHandler } from "./api.ts";
import type { ApiDependencyOptions } from "./dependencies.ts";
import { ErrorBody } from "./errors.ts";
import { matchRoute } from "./router.ts";

const LOCAL_CREDENTIALS = { accessKeyId: "local", secretAccessKey: "local" };

export interface ApiRequestSpec {
  method: string;
  /** Path, optionally with `?query`. */
  path: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** Send the body base64-encoded, as API Gateway does for binary media types. */
  base64?: boolean;
  /** Shorthand for `Authorization: Bearer <token>`. */
  token?: string;
}

/** An API Gateway HTTP API (payload v2) event, as the `$default` stage delivers it. */
export function apiEvent(spec: ApiRequestSpec): APIGatewayProxyEventV2 {
  const [rawPath = "/", rawQueryString = ""] = spec.path.split(/\?(.*)/s);
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(spec.headers ?? {})) headers[name.toLowerCase()] = value;
  if (spec.token !== undefined) headers.authorization = `Bearer ${spec.token}`;
  const body = spec.body === undefined ? undefined : Buffer.from(spec.body);
  const now = new Date();
  const queryStringParameters: Record<string, string> = {};
  for (const [name, value] of new URLSearchParams(rawQueryString)) {
    queryStringParameters[name] =
      name in queryStringParameters ? `${queryStringParameters[name]},${value}` : value;
  }
  return {
    version: "2.0",
    routeKey: "$default",
    rawPath,
    rawQueryString,
    headers,
    ...(rawQueryString ? { queryStringParameters } : {}),
    requestContext: {
      accountId: "123456789012",
      apiId: "berthapi",
      domainName: "berthapi.execute-api.us-east-1.amazonaws.com",
      domainPrefix: "berthapi",
      http: {
        method: spec.method,
        path: rawPath,
        protocol: "HTTP/1.1",
        sourceIp: "127.0.0.1",
        userAgent: "berth-test",
      },
      requestId: randomUUID(),
      routeKey: "$default",
      stage: "$default",
      time: now.toUTCString(),
      timeEpoch: now.getTime(),
    },
    ...(body === undefined
      ? { isBase64Encoded: false }
      : spec.base64
        ? { body: body.toString("base64"), isBase64Encoded: true }
        : { body: body.toString("utf8"), isBase64Encoded: false }),
  };
}

export function lambdaContext(): Context {
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: "berth-api",
    functionVersion: "$LATEST",
    invokedFunctionArn: "arn:aws:lambda:us-east-1:123456789012:function:berth-api",
    memoryLimitInMB: "512",
    awsRequestId: randomUUID(),
    logGroupName: "/aws/lambda/berth-api",
    logStreamName: "test",
    // middy answers a timeout this long before the Lambda would end. A burst of 50 requests on a
    // machine at load 20+ has held one request past a minute; the tests assert what is answered,
    // not how fast, so the fake invocation has Lambda's longest allowed run (15 minutes).
    getRemainingTimeInMillis: () => 15 * 60_000,
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

/**
 * Stands in for Step Functions, the one boundary these tests fake: on AWS (and in Berth Local
 * later) the real `stepFunctionsStarter` sends StartExecution. It records every start.
 */
export class RecordingWorkflows {
  readonly starts: Workflow.WorkflowInput[] = [];
  /** When set, every start fails with it, as an unreachable or refusing Step Functions would. */
  failure: Error | undefined;

  readonly startExecution: DeploymentRequest.StartExecution = async (deploymentId, input) => {
    if (this.failure) throw this.failure;
    this.starts.push(input);
    return { executionArn: `arn:aws:states:us-east-1:123456789012:execution:berth-deploy:${deploymentId}` };
  };
}

export interface ApiReply {
  status: number;
  headers: Record<string, string>;
  // biome-ignore lint/suspicious/noExplicitAny: tests read whichever fields the route documents.
  json: any;
}

export interface Harness {
  store: Store;
  workflows: RecordingWorkflows;
  logsEndpoint: Awaited<ReturnType<typeof startAwsJsonEndpoint>>;
  /** Scripted answer of the logs endpoint for the next FilterLogEvents calls. */
  logsAnswer: AwsJsonAnswer;
  /**
   * The Step Functions endpoint job runs reach: it records every call and answers StartExecution
   * with the execution Step Functions would name; `sfnAnswer`, when set, answers instead.
   */
  sfnEndpoint: Awaited<ReturnType<typeof startAwsJsonEndpoint>>;
  sfnAnswer: AwsJsonAnswer | undefined;
  tokens: { read: string; deploy: string; admin: string };
  call(spec: ApiRequestSpec): Promise<ApiReply>;
  /** Moves the store's clock (records' times, expiries, rate windows). */
  advanceClock(milliseconds: number): void;
  /** Stops the store's clock: only `advanceClock` moves it until the returned function is called. */
  freezeClock(): () => void;
  /** Every item of the table, for before/after comparisons. */
  scan(): Promise<Record<string, unknown>[]>;
  /**
   * `scan` without the tokens' items: authenticating a request records the token's last use (at
   * most once a minute), so a before/after comparison that spans a minute's end would see a write
   * no route made.
   */
  scanWithoutTokens(): Promise<Record<string, unknown>[]>;
  stop(): Promise<void>;
}

export const silentLogger = () => new Logger({ serviceName: "berth-api-test", logLevel: "SILENT" });

/**
 * Checks a reply against what the OpenAPI document promises for its route and status: the
 * documented schema for successes, the error shape (and nothing else on a 5xx) for failures.
 */
function assertDocumented(spec: ApiRequestSpec, reply: ApiReply): void {
  if (reply.status >= 400) {
    const error = ErrorBody.strict().safeParse(reply.json);
    if (!error.success) throw new Error(`malformed error body ${JSON.stringify(reply.json)}`);
    if (reply.status >= 500 && Object.keys(reply.json.error).sort().join() !== "code,message,requestId") {
      throw new Error(`a 5xx body carries more than the request id: ${JSON.stringify(reply.json)}`);
    }
    return;
  }
  // A conditional GET's 304 (documented for every GET by the OpenAPI builder) has no body.
  if (reply.status === 304 && spec.method === "GET" && reply.json === undefined) return;
  const [path = ""] = spec.path.split("?");
  const match = matchRoute(spec.method, path.length > 1 ? path.replace(/\/$/, "") : path);
  if (match.kind !== "found") throw new Error(`a ${reply.status} from no route: ${spec.method} ${spec.path}`);
  const documented = match.route.responses[reply.status];
  if (!documented) throw new Error(`${match.route.operationId} answered an undocumented ${reply.status}`);
  if (!documented.schema) return;
  const result = documented.schema.safeParse(reply.json);
  if (!result.success) {
    throw new Error(
      `${match.route.operationId} ${reply.status} does not match its schema: ${result.error.message}`,
    );
  }
}

export async function startHarness(options: Partial<ApiDependencyOptions> = {}): Promise<Harness> {
  const table = await startLocalTable();
  const { store } = table;
  const workflows = new RecordingWorkflows();
  const harness = {} as Harness;
  harness.logsAnswer = { status: 200, body: { events: [] } };
  const logsEndpoint = await startAwsJsonEndpoint(() => harness.logsAnswer);
  const logs = new CloudWatchLogsClient({
    endpoint: logsEndpoint.url,
    region: "us-east-1",
    credentials: LOCAL_CREDENTIALS,
    maxAttempts: 1,
  });
  const sfnEndpoint = await startAwsJsonEndpoint((call) => {
    if (harness.sfnAnswer) return harness.sfnAnswer;
    const { stateMachineArn, name } = call.body as { stateMachineArn: string; name: string };
    const executionArn = `${stateMachineArn.replace(":stateMachine:", ":execution:")}:${name}`;
    return { status: 200, body: { executionArn, startDate: Date.now() / 1000 } };
  });
  const sfn = new SFNClient({
    endpoint: sfnEndpoint.url,
    region: "us-east-1",
    credentials: LOCAL_CREDENTIALS,
    maxAttempts: 1,
  });
  const api = createApiHandler({
    store,
    startExecution: workflows.startExecution,
    sfn,
    logs,
    logger: silentLogger(),
    stage: "test",
    ...options,
  });
  const created = async (scope: TokenRecord.Scope) =>
    (await TokenRecord.create(store, { name: `${scope} token`, scopes: [scope] })).token;
  Object.assign(harness, {
    store,
    workflows,
    logsEndpoint,
    sfnEndpoint,
    sfnAnswer: undefined,
    tokens: { read: await created("read"), deploy: await created("deploy"), admin: await created("admin") },
    advanceClock: (milliseconds: number) => table.advanceClock(milliseconds),
    freezeClock: () => table.freezeClock(),
    async call(spec: ApiRequestSpec): Promise<ApiReply> {
      const result = await api(apiEvent(spec), lambdaContext());
      const headers = (result.headers ?? {}) as Record<string, string>;
      const reply = {
        status: result.statusCode ?? 0,
        headers,
        json: result.body ? JSON.parse(result.body) : undefined,
      };
      assertDocumented(spec, reply);
      return reply;
    },
    async scan() {
      const items: Record<string, unknown>[] = [];
      let startKey: Record<string, unknown> | undefined;
      do {
        const page = await store.client.send(
          new ScanCommand({ TableName: store.tableName, ExclusiveStartKey: startKey, ConsistentRead: true }),
        );
        items.push(...(page.Items ?? []));
        startKey = page.LastEvaluatedKey;
      } while (startKey);
      const key = (item: Record<string, unknown>) => `${item.PK}|${item.SK}`;
      return items.sort((a, b) => key(a).localeCompare(key(b)));
    },
    async scanWithoutTokens() {
      return (await harness.scan()).filter((item) => !String(item.PK).startsWith("TOKEN#"));
    },
    async stop() {
      logs.destroy();
      sfn.destroy();
      await logsEndpoint.stop();
      await sfnEndpoint.stop();
      await table.stop();
    },
  });
  return harness;
}

/**
 * One harness for a test file (or a describe block): started before its tests, `prepare`d once
 * it is up, and stopped after them. Read its members inside tests and hooks; before its
 * beforeAll has run there is nothing to read yet.
 */
export function harnessForFile(
  options: Partial<ApiDependencyOptions> = {},
  prepare?: (harness: Harness) => Promise<unknown>,
): Harness {
  let started: Harness | undefined;
  beforeAll(async () => {
    started = await startHarness(options);
    await prepare?.(started);
  });
  afterAll(async () => {
    await started?.stop();
  });
  const current = (): Harness => {
    if (!started) throw new Error("the API harness is not started yet: use it inside a test or a hook");
    return started;
  };
  return new Proxy({} as Harness, {
    get: (_target, key) => Reflect.get(current(), key),
    set: (_target, key, value) => Reflect.set(current(), key, value),
  });
}

/** A small valid stack file: a private API and a worker, with overridable bits for diffs. */
export function stackFile(
  options: { apiPort?: number; greeting?: string; withWorker?: boolean } = {},
): string {
  const worker = `
  worker:
    type: worker-service
    properties:
      packaging:
        type: prebuilt-image
        properties:
          image: public.ecr.aws/docker/library/busybox:1.36
      resources:
        cpu: 0.25
        memory: 512
`;
  return `resources:
  api:
    type: private-service
    properties:
      port: ${options.apiPort ?? 3000}
      packaging:
        type: prebuilt-image
        properties:
          image: public.ecr.aws/docker/library/node:22
      resources:
        cpu: 0.25
        memory: 512
      environment:
        - name: GREETING
          value: ${options.greeting ?? "hello"}
${options.withWorker === false ? "" : worker}`;
}

/** A batch job's stored spec: one busybox container. */
const JOB_SPEC = {
  type: "batch-job",
  properties: {
    container: {
      packaging: {
        type: "prebuilt-image",
        properties: { image: "public.ecr.aws/docker/library/busybox:1.36" },
      },
    },
    resources: { cpu: 0.25, memory: 512 },
  },
};

/** Stores a batch job, as deployed (its run state machine recorded) when given the machine's ARN. */
export async function storeJob(
  store: Store,
  stack: string,
  name: string,
  stateMachineArn?: string,
): Promise<void> {
  const job = await ServiceRecord.create(store, { stack, name, spec: JOB_SPEC });
  if (!stateMachineArn) return;
  await ServiceRecord.update(
    store,
    { stack, name, expectedVersion: job.version },
    { jobStateMachineArn: stateMachineArn },
  );
}

export const YAML = { "content-type": "application/yaml" };
export const JSON_TYPE = { "content-type": "application/json" };

/** Whether moto's S3 emulator can be started here; the tests that need it are skipped without it. */
export const hasS3Emulator = spawnSync("sh", ["-c", "command -v moto_server"]).status === 0;

export interface S3Emulator {
  url: string;
  /** A client of the emulator, path-style as an endpoint on an IP address needs. */
  client: S3Client;
  bucket: string;
  /** An object of an `s3://` URL, with its content type. */
  read(url: string): Promise<{ body: Buffer; contentType: string | undefined }>;
  stop(): Promise<void>;
}

/** moto's S3 server as a child process, with one empty bucket: a real S3 wire protocol, not a mock. */
export async function startS3Emulator(bucket = "berth-test-sources"): Promise<S3Emulator> {
  const probe = createServer();
  const url = await listen(probe);
  await close(probe);
  const port = new URL(url).port;
  const child: ChildProcess = spawn("moto_server", ["-H", "127.0.0.1", "-p", port], { stdio: "ignore" });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  // moto_server is a Python process that imports all of moto before it listens: seconds on a quiet
  // machine, over a minute on a loaded one.
  const deadline = Date.now() + 150_000;
  for (;;) {
    try {
      if ((await fetch(`${url}/moto-api/`)).ok) break;
    } catch {
      // Not listening yet.
    }
    if (child.exitCode !== null) {
      throw new Error(`moto_server exited with ${child.exitCode} before it listened on port ${port}`);
    }
    if (Date.now() > deadline) {
      child.kill();
      throw new Error(`moto_server did not listen on port ${port} within 150 s`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const client = new S3Client({
    endpoint: url,
    region: "us-east-1",
    credentials: LOCAL_CREDENTIALS,
    forcePathStyle: true,
  });
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  return {
    url,
    client,
    bucket,
    async read(url) {
      const { hostname: Bucket, pathname } = new URL(url);
      const object = await client.send(new GetObjectCommand({ Bucket, Key: pathname.slice(1) }));
      const bytes = (await object.Body?.transformToByteArray()) ?? new Uint8Array();
      return { body: Buffer.from(bytes), contentType: object.ContentType };
    },
    async stop() {
      client.destroy();
      child.kill();
      await exited;
    },
  };
}

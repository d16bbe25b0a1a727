import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  GetFunctionCommand,
  InvokeCommand,
  LambdaClient,
  ListFunctionsCommand,
} from "@aws-sdk/client-lambda";
import { FUNCTIONS } from "@berth/core/functions";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { type AwsEndpoint, startAwsEndpoint } from "../server.ts";
import { failure } from "../test-support.ts";
import { FunctionRegistry } from "./registry.ts";
import { type LambdaFunctionError, lambdaRoute } from "./service.ts";

const REPOSITORY_ROOT = fileURLToPath(new URL("../../../../", import.meta.url));

let dir: string;
let endpoint: AwsEndpoint;
let client: LambdaClient;
let registry: FunctionRegistry;
const asyncErrors: LambdaFunctionError[] = [];

function decode(payload: Uint8Array | undefined): unknown {
  return JSON.parse(new TextDecoder().decode(payload));
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "berth-lambda-"));
  const write = (name: string, source: string) => writeFileSync(join(dir, name), source);
  write(
    "echo.mjs",
    `export const handler = async (event, context) => ({
      event,
      context: {
        awsRequestId: context.awsRequestId,
        functionName: context.functionName,
        functionVersion: context.functionVersion,
        invokedFunctionArn: context.invokedFunctionArn,
        memoryLimitInMB: context.memoryLimitInMB,
        logGroupName: context.logGroupName,
        logStreamName: context.logStreamName,
        remaining: context.getRemainingTimeInMillis(),
      },
      env: { fromDefinition: process.env.BERTH_LAMBDA_TEST_A, preset: process.env.BERTH_LAMBDA_TEST_B },
    });`,
  );
  write("nothing.mjs", "export const handler = async () => undefined;");
  write("fail.mjs", `export const handler = async () => { throw new TypeError("boom"); };`);
  write(
    "slow.mjs",
    "export const handler = () => new Promise((done) => setTimeout(() => done('late'), 3000));",
  );
  write(
    "touch.mjs",
    `import { writeFileSync } from "node:fs";
    export const handler = async (event) => { writeFileSync(event.file, JSON.stringify(event)); };`,
  );
  write("event-fail.mjs", `export const handler = async () => { throw new Error("async boom"); };`);
  write("no-export.mjs", "export const other = () => 1;");

  process.env.BERTH_LAMBDA_TEST_B = "operator";
  registry = new FunctionRegistry(
    [
      {
        name: "echo",
        handler: "echo.handler",
        timeoutSeconds: 10,
        memoryMiB: 256,
        environment: { BERTH_LAMBDA_TEST_A: "definition", BERTH_LAMBDA_TEST_B: "definition" },
      },
      { name: "nothing", handler: "nothing.handler", timeoutSeconds: 3 },
      { name: "fail", handler: "fail.handler", timeoutSeconds: 3 },
      { name: "slow", handler: "slow.handler", timeoutSeconds: 1 },
      { name: "touch", handler: "touch.handler", timeoutSeconds: 3 },
      { name: "event-fail", handler: "event-fail.handler", timeoutSeconds: 3 },
      { name: "no-export", handler: "no-export.handler", timeoutSeconds: 3 },
      { name: "missing", handler: "missing.handler", timeoutSeconds: 3 },
    ],
    { rootDir: dir, account: "123456789012", region: "us-east-1" },
  );
  endpoint = await startAwsEndpoint({
    port: 0,
    services: [],
    routes: [lambdaRoute(registry, { onAsyncError: (error) => asyncErrors.push(error) })],
  });
  client = new LambdaClient({
    endpoint: endpoint.url,
    region: "us-east-1",
    credentials: { accessKeyId: "local", secretAccessKey: "local" },
  });
});

afterAll(async () => {
  client.destroy();
  await endpoint.close();
  rmSync(dir, { recursive: true, force: true });
  delete process.env.BERTH_LAMBDA_TEST_A;
  delete process.env.BERTH_LAMBDA_TEST_B;
});

describe("Invoke RequestResponse", () => {
  it("returns the handler's result and passes a Lambda context", async () => {
    const result = await client.send(
      new InvokeCommand({ FunctionName: "echo", Payload: JSON.stringify({ hello: "world" }) }),
    );
    expect(result.StatusCode).toBe(200);
    expect(result.FunctionError).toBeUndefined();
    expect(result.ExecutedVersion).toBe("$LATEST");
    const payload = decode(result.Payload) as {
      event: unknown;
      context: Record<string, unknown>;
      env: Record<string, unknown>;
    };
    expect(payload.event).toEqual({ hello: "world" });
    expect(payload.context).toMatchObject({
      functionName: "echo",
      functionVersion: "$LATEST",
      invokedFunctionArn: "arn:aws:lambda:us-east-1:123456789012:function:echo",
      memoryLimitInMB: "256",
      logGroupName: "/aws/lambda/echo",
    });
    expect(payload.context.awsRequestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(payload.context.logStreamName).toMatch(/^\d{4}\/\d{2}\/\d{2}\/\[\$LATEST\][0-9a-f]{32}$/);
    expect(payload.context.remaining).toBeGreaterThan(9000);
    expect(payload.context.remaining).toBeLessThanOrEqual(10_000);
    // The definition's variables fill only what the process has not set.
    expect(payload.env).toEqual({ fromDefinition: "definition", preset: "operator" });
  });

  it("passes {} for an empty payload and answers null for undefined", async () => {
    const echoed = await client.send(new InvokeCommand({ FunctionName: "echo" }));
    expect((decode(echoed.Payload) as { event: unknown }).event).toEqual({});
    const nothing = await client.send(new InvokeCommand({ FunctionName: "nothing" }));
    expect(nothing.StatusCode).toBe(200);
    expect(decode(nothing.Payload)).toBeNull();
  });

  it("accepts a full ARN, a qualified ARN, a partial ARN and a qualified name", async () => {
    for (const name of [
      "arn:aws:lambda:us-east-1:123456789012:function:nothing",
      "arn:aws:lambda:us-east-1:123456789012:function:nothing:$LATEST",
      "123456789012:function:nothing",
      "nothing:$LATEST",
    ]) {
      const result = await client.send(new InvokeCommand({ FunctionName: name }));
      expect(result.StatusCode, name).toBe(200);
    }
  });

  it("reports a thrown error as Unhandled, as Lambda does", async () => {
    const result = await client.send(new InvokeCommand({ FunctionName: "fail" }));
    expect(result.StatusCode).toBe(200);
    expect(result.FunctionError).toBe("Unhandled");
    const error = decode(result.Payload) as LambdaFunctionError;
    expect(error.errorType).toBe("TypeError");
    expect(error.errorMessage).toBe("boom");
    expect(error.trace?.[0]).toBe("TypeError: boom");
  });

  it("reports a handler past its timeout as Sandbox.Timedout", async () => {
    const started = Date.now();
    const result = await client.send(new InvokeCommand({ FunctionName: "slow" }));
    expect(Date.now() - started).toBeLessThan(2500);
    expect(result.FunctionError).toBe("Unhandled");
    const error = decode(result.Payload) as LambdaFunctionError;
    expect(error.errorType).toBe("Sandbox.Timedout");
    expect(error.errorMessage).toMatch(/ [0-9a-f-]{36} Task timed out after 1\.00 seconds$/);
  });

  it("reports a module without the handler export as Runtime.HandlerNotFound", async () => {
    const result = await client.send(new InvokeCommand({ FunctionName: "no-export" }));
    expect(result.FunctionError).toBe("Unhandled");
    expect(decode(result.Payload)).toEqual({
      errorType: "Runtime.HandlerNotFound",
      errorMessage: "no-export.handler is undefined or not exported",
    });
  });
});

describe("Invoke Event and DryRun", () => {
  it("answers 202 at once and runs the handler in the background", async () => {
    const file = join(dir, "touched.json");
    const result = await client.send(
      new InvokeCommand({
        FunctionName: "touch",
        InvocationType: "Event",
        Payload: JSON.stringify({ file }),
      }),
    );
    expect(result.StatusCode).toBe(202);
    await vi.waitFor(() => expect(existsSync(file)).toBe(true), { timeout: 5000 });
    expect(JSON.parse(readFileSync(file, "utf8"))).toEqual({ file });
  });

  it("reports the errors of asynchronous invocations through onAsyncError", async () => {
    const result = await client.send(
      new InvokeCommand({ FunctionName: "event-fail", InvocationType: "Event" }),
    );
    expect(result.StatusCode).toBe(202);
    await vi.waitFor(() => expect(asyncErrors.map((error) => error.errorMessage)).toContain("async boom"));
  });

  it("answers 204 to DryRun without running the handler", async () => {
    const file = join(dir, "dry-run.json");
    const result = await client.send(
      new InvokeCommand({
        FunctionName: "touch",
        InvocationType: "DryRun",
        Payload: JSON.stringify({ file }),
      }),
    );
    expect(result.StatusCode).toBe(204);
    await new Promise((done) => setTimeout(done, 100));
    expect(existsSync(file)).toBe(false);
  });
});

describe("errors", () => {
  it("answers ResourceNotFoundException for an unknown or undeployed function", async () => {
    for (const name of ["unknown", "missing", "arn:aws:lambda:eu-west-1:123456789012:function:echo"]) {
      const error = await failure(client.send(new InvokeCommand({ FunctionName: name })));
      expect(error.name, name).toBe("ResourceNotFoundException");
    }
    const error = await failure(client.send(new InvokeCommand({ FunctionName: "unknown" })));
    expect(error.message).toBe("Function not found: arn:aws:lambda:us-east-1:123456789012:function:unknown");
  });

  it("answers InvalidRequestContentException for a payload that is not JSON", async () => {
    const error = await failure(
      client.send(
        new InvokeCommand({ FunctionName: "echo", Payload: new TextEncoder().encode("{not json") }),
      ),
    );
    expect(error.name).toBe("InvalidRequestContentException");
  });
});

describe("GetFunction and ListFunctions", () => {
  it("describes a function by name or ARN", async () => {
    for (const name of ["echo", "arn:aws:lambda:us-east-1:123456789012:function:echo"]) {
      const result = await client.send(new GetFunctionCommand({ FunctionName: name }));
      expect(result.Configuration).toMatchObject({
        FunctionName: "echo",
        FunctionArn: "arn:aws:lambda:us-east-1:123456789012:function:echo",
        Runtime: "nodejs22.x",
        Handler: "echo.handler",
        Timeout: 10,
        MemorySize: 256,
        State: "Active",
      });
    }
    const error = await failure(client.send(new GetFunctionCommand({ FunctionName: "missing" })));
    expect(error.name).toBe("ResourceNotFoundException");
  });

  it("lists the deployed functions", async () => {
    const result = await client.send(new ListFunctionsCommand({}));
    const names = (result.Functions ?? []).map((fn) => fn.FunctionName).sort();
    expect(names).toEqual(["echo", "event-fail", "fail", "no-export", "nothing", "slow", "touch"]);
  });
});

describe("FunctionRegistry", () => {
  it("resolves names and ARNs of its own region and account only", () => {
    expect(registry.resolve("echo")?.name).toBe("echo");
    expect(registry.resolve("arn:aws:lambda:us-east-1:123456789012:function:echo:$LATEST")?.name).toBe(
      "echo",
    );
    expect(registry.resolve("echo:1")).toBeUndefined();
    expect(registry.resolve("arn:aws:lambda:us-east-1:999999999999:function:echo")).toBeUndefined();
    expect(registry.resolve("nope")).toBeUndefined();
  });

  it("loads a handler once", async () => {
    const first = await registry.load("nothing");
    expect(await registry.load("nothing")).toBe(first);
    await expect(registry.load("missing")).rejects.toThrow(/not deployed/);
  });

  it("builds the control plane's functions from the manifest", () => {
    const manifest = FunctionRegistry.fromManifest(FUNCTIONS, {
      rootDir: REPOSITORY_ROOT,
      account: "123456789012",
      region: "eu-west-1",
      environment: { BERTH_TABLE_NAME: "berth", UNRELATED: "x" },
    });
    const api = manifest.resolve("arn:aws:lambda:eu-west-1:123456789012:function:api");
    expect(api).toMatchObject({
      name: "api",
      handler: "packages/functions/src/api/lambda.handler",
      timeoutSeconds: 29,
      memoryMiB: 1024,
      environment: { BERTH_TABLE_NAME: "berth" },
    });
    expect(manifest.isDeployed("api")).toBe(true);
    // Every function of the manifest has its handler written: all of them are served.
    for (const fn of FUNCTIONS) {
      expect(manifest.resolve(fn.name)?.name).toBe(fn.name);
      expect(manifest.isDeployed(fn.name), fn.name).toBe(true);
    }
    expect(
      manifest
        .deployed()
        .map((fn) => fn.name)
        .sort(),
    ).toEqual(FUNCTIONS.map((fn) => fn.name).sort());
  });
});

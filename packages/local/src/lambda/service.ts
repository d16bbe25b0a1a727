import { randomUUID } from "node:crypto";
import type { ServerResponse } from "node:http";
import type { Route } from "../server.ts";
import {
  type FunctionRegistry,
  HandlerLoadError,
  type LambdaContext,
  type LocalFunction,
} from "./registry.ts";

export interface LambdaRouteOptions {
  /** Errors of `Event` (asynchronous) invocations, which have no caller to answer; default: stderr. */
  onAsyncError?: (
    error: LambdaFunctionError,
    invocation: { functionName: string; requestId: string },
  ) => void;
}

/** A failed invocation, with the body Lambda answers for it. */
export interface LambdaFunctionError {
  errorType: string;
  errorMessage: string;
  trace?: string[];
}

type Outcome = { ok: true; payload: string } | { ok: false; error: LambdaFunctionError };

const PREFIX = "/2015-03-31/functions";
const INVOKE = /^\/2015-03-31\/functions\/([^/]+)\/invocations\/?$/;
const GET_FUNCTION = /^\/2015-03-31\/functions\/([^/]+)\/?$/;

function send(
  response: ServerResponse,
  status: number,
  body: string | undefined,
  headers: Record<string, string> = {},
): void {
  response.writeHead(status, {
    "content-type": "application/json",
    "content-length": body === undefined ? 0 : Buffer.byteLength(body),
    "x-amzn-requestid": headers["x-amzn-requestid"] ?? randomUUID(),
    ...headers,
  });
  response.end(body);
}

function sendError(response: ServerResponse, status: number, type: string, message: string): void {
  send(response, status, JSON.stringify({ Type: "User", message }), { "x-amzn-ErrorType": type });
}

/** What the Node.js runtime reports for an error thrown (or a promise rejected) by a handler. */
function toFunctionError(error: unknown): LambdaFunctionError {
  if (error instanceof HandlerLoadError) return { errorType: error.errorType, errorMessage: error.message };
  if (error instanceof Error) {
    return {
      errorType: error.name,
      errorMessage: error.message,
      trace: (error.stack ?? "").split("\n").filter((line) => line.length > 0),
    };
  }
  return { errorType: typeof error, errorMessage: String(error), trace: [] };
}

/**
 * Applies the function's configuration to `process.env`, only for variables not set already:
 * handlers run in-process and share one environment, so a function must not override what the
 * operator (or another function's identical configuration) set.
 */
function applyEnvironment(definition: LocalFunction): void {
  for (const [key, value] of Object.entries(definition.environment ?? {})) {
    if (process.env[key] === undefined) process.env[key] = value;
  }
}

function configuration(registry: FunctionRegistry, definition: LocalFunction) {
  return {
    FunctionName: definition.name,
    FunctionArn: registry.arn(definition.name),
    Runtime: "nodejs22.x",
    Handler: definition.handler,
    Timeout: definition.timeoutSeconds,
    MemorySize: definition.memoryMiB ?? 128,
    Version: "$LATEST",
    PackageType: "Zip",
    State: "Active",
    LastUpdateStatus: "Successful",
  };
}

/**
 * Runs a handler in-process under the function's timeout. A handler past its timeout is
 * reported as Lambda does; it cannot be stopped in-process and runs on to its end unobserved.
 */
async function invoke(
  registry: FunctionRegistry,
  definition: LocalFunction,
  event: unknown,
  requestId: string,
): Promise<Outcome> {
  const timeoutMs = definition.timeoutSeconds * 1000;
  const deadline = Date.now() + timeoutMs;
  const now = new Date();
  const day = now.toISOString().slice(0, 10).replaceAll("-", "/");
  const context: LambdaContext = {
    awsRequestId: requestId,
    functionName: definition.name,
    functionVersion: "$LATEST",
    invokedFunctionArn: registry.arn(definition.name),
    memoryLimitInMB: String(definition.memoryMiB ?? 128),
    logGroupName: `/aws/lambda/${definition.name}`,
    logStreamName: `${day}/[$LATEST]${randomUUID().replaceAll("-", "")}`,
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  };
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<Outcome>((resolve) => {
    timer = setTimeout(
      () =>
        resolve({
          ok: false,
          error: {
            errorType: "Sandbox.Timedout",
            errorMessage: `${new Date().toISOString()} ${requestId} Task timed out after ${definition.timeoutSeconds.toFixed(2)} seconds`,
          },
        }),
      timeoutMs,
    );
  });
  const run = (async (): Promise<Outcome> => {
    try {
      applyEnvironment(definition);
      const handler = await registry.load(definition.name);
      const result = await handler(event, context);
      try {
        return { ok: true, payload: JSON.stringify(result === undefined ? null : result) };
      } catch (error) {
        return {
          ok: false,
          error: {
            errorType: "Runtime.MarshalError",
            errorMessage: `Unable to stringify response body: ${String(error)}`,
          },
        };
      }
    } catch (error) {
      return { ok: false, error: toFunctionError(error) };
    }
  })();
  try {
    return await Promise.race([run, timedOut]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Lambda's REST-JSON API, as far as Berth Local needs it: Invoke (`RequestResponse`, `Event`,
 * `DryRun`), GetFunction and ListFunctions, for the functions of `registry`. Functions whose
 * handler module does not exist are not deployed: Lambda would not know them.
 */
export function lambdaRoute(registry: FunctionRegistry, options: LambdaRouteOptions = {}): Route {
  const onAsyncError =
    options.onAsyncError ??
    ((error, invocation) =>
      process.stderr.write(
        `lambda ${invocation.functionName} (${invocation.requestId}) failed: ${error.errorType}: ${error.errorMessage}\n`,
      ));

  const find = (response: ServerResponse, encodedName: string): LocalFunction | undefined => {
    let name: string;
    try {
      name = decodeURIComponent(encodedName);
    } catch {
      name = encodedName;
    }
    const definition = registry.resolve(name);
    if (definition && registry.isDeployed(definition.name)) return definition;
    const arn = name.startsWith("arn:") ? name : registry.arn(name);
    sendError(response, 404, "ResourceNotFoundException", `Function not found: ${arn}`);
    return undefined;
  };

  return (request, response, body) => {
    const url = new URL(request.url ?? "/", "http://localhost");
    const path = url.pathname;
    if (!path.startsWith(PREFIX)) return false;
    const qualifier = url.searchParams.get("Qualifier");

    const invokeMatch = INVOKE.exec(path);
    if (request.method === "POST" && invokeMatch?.[1] !== undefined) {
      const definition = find(response, invokeMatch[1]);
      if (!definition) return true;
      if (qualifier !== null && qualifier !== "$LATEST") {
        sendError(
          response,
          404,
          "ResourceNotFoundException",
          `Function not found: ${registry.arn(definition.name)}:${qualifier}`,
        );
        return true;
      }
      let event: unknown = {};
      if (body.length > 0) {
        try {
          event = JSON.parse(body.toString("utf8"));
        } catch (error) {
          sendError(
            response,
            400,
            "InvalidRequestContentException",
            `Could not parse request body into json: ${error instanceof Error ? error.message : String(error)}`,
          );
          return true;
        }
      }
      const invocationType = request.headers["x-amz-invocation-type"] ?? "RequestResponse";
      const requestId = randomUUID();
      if (invocationType === "DryRun") {
        send(response, 204, undefined, { "x-amzn-requestid": requestId });
        return true;
      }
      if (invocationType === "Event") {
        send(response, 202, undefined, { "x-amzn-requestid": requestId });
        void invoke(registry, definition, event, requestId).then((outcome) => {
          if (!outcome.ok) onAsyncError(outcome.error, { functionName: definition.name, requestId });
        });
        return true;
      }
      if (invocationType !== "RequestResponse") {
        sendError(
          response,
          400,
          "InvalidParameterValueException",
          `Unsupported invocation type: ${String(invocationType)}`,
        );
        return true;
      }
      return invoke(registry, definition, event, requestId).then((outcome) => {
        const headers = { "x-amzn-requestid": requestId, "X-Amz-Executed-Version": "$LATEST" };
        if (outcome.ok) send(response, 200, outcome.payload, headers);
        else
          send(response, 200, JSON.stringify(outcome.error), {
            ...headers,
            "X-Amz-Function-Error": "Unhandled",
          });
        return true;
      });
    }

    if (request.method === "GET" && (path === PREFIX || path === `${PREFIX}/`)) {
      const functions = registry.deployed().map((definition) => configuration(registry, definition));
      send(response, 200, JSON.stringify({ Functions: functions }));
      return true;
    }

    const getMatch = GET_FUNCTION.exec(path);
    if (request.method === "GET" && getMatch?.[1] !== undefined) {
      const definition = find(response, getMatch[1]);
      if (!definition) return true;
      send(
        response,
        200,
        JSON.stringify({
          Configuration: configuration(registry, definition),
          Code: { RepositoryType: "S3" },
        }),
      );
      return true;
    }
    return false;
  };
}

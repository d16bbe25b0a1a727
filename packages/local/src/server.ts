import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { AwsError, type AwsJsonService, dispatch } from "./protocol.ts";

/** Bodies above this are refused: no AWS JSON request Berth sends comes close. */
const MAX_BODY_BYTES = 16 * 1024 * 1024;

/** Extra routes beside the AWS JSON services (e.g. `/_local/...`); return false when not handled. */
export type Route = (
  request: IncomingMessage,
  response: ServerResponse,
  body: Buffer,
) => boolean | Promise<boolean>;

export interface AwsEndpoint {
  url: string;
  port: number;
  close(): Promise<void>;
}

export interface EndpointOptions {
  port: number;
  host?: string;
  services: AwsJsonService[];
  routes?: Route[];
  /** Called for requests that failed with something other than an AwsError (a Berth Local bug). */
  onInternalError?: (error: unknown) => void;
}

function readBody(request: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new AwsError("SerializationException", "request body too large", 413));
        request.destroy();
        return;
      }
      chunks.push(chunk);
    });
    request.on("end", () => resolve(Buffer.concat(chunks)));
    request.on("error", reject);
  });
}

function send(
  response: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  response.writeHead(status, {
    "content-type": "application/x-amz-json-1.1",
    "content-length": Buffer.byteLength(text),
    "x-amzn-requestid": randomUUID(),
    ...headers,
  });
  response.end(text);
}

function sendError(response: ServerResponse, error: AwsError): void {
  send(
    response,
    error.status,
    { __type: error.type, message: error.message },
    { "x-amzn-errortype": error.type },
  );
}

/**
 * One HTTP server for every AWS-compatible service of Berth Local. AWS JSON-protocol requests
 * are `POST /` with `X-Amz-Target: <TargetPrefix>.<Operation>`; the prefix picks the service.
 * Signatures are not checked: the endpoint listens on loopback only.
 */
export function startAwsEndpoint(options: EndpointOptions): Promise<AwsEndpoint> {
  const byPrefix = new Map(options.services.map((service) => [service.targetPrefix, service]));

  const server = createServer(async (request, response) => {
    try {
      const body = await readBody(request);
      for (const route of options.routes ?? []) {
        if (await route(request, response, body)) return;
      }
      const target = request.headers["x-amz-target"];
      if (request.method !== "POST" || typeof target !== "string") {
        throw new AwsError("UnknownOperationException", `no route for ${request.method} ${request.url}`, 404);
      }
      const dot = target.lastIndexOf(".");
      const service = byPrefix.get(target.slice(0, dot));
      if (!service) throw new AwsError("UnknownOperationException", `Berth Local does not serve ${target}`);
      let input: unknown = {};
      if (body.length > 0) {
        try {
          input = JSON.parse(body.toString("utf8"));
        } catch {
          throw new AwsError("SerializationException", "the request body is not valid JSON");
        }
      }
      const output = await dispatch(service, target.slice(dot + 1), input);
      send(response, 200, output);
    } catch (error) {
      if (error instanceof AwsError) {
        sendError(response, error);
      } else {
        options.onInternalError?.(error);
        sendError(response, new AwsError("ServerException", "internal error in Berth Local", 500));
      }
    }
  });
  // Longer than any client keeps an idle connection pooled (AWS endpoints keep them about a
  // minute): closing first races a client that reuses the connection, and it reads ECONNRESET.
  server.keepAliveTimeout = 65_000;

  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host ?? "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo;
      resolve({
        url: `http://${options.host ?? "127.0.0.1"}:${port}`,
        port,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}

import { Agent, request as httpRequest, type IncomingMessage, type ServerResponse } from "node:http";

/**
 * The HTTP forwarding core Berth Local's gateways share: one request to one of a set of local
 * targets, with the retries that make a rollout lose no request. A request that meets a target
 * that refused the connection, or a reused keep-alive connection a stopping target just closed
 * (before it read the request), is sent to the next target; when no target can take it, the
 * forwarder looks again every 100 ms for up to 2 s before it answers 503.
 */

export interface Target {
  id: string;
  port: number;
}

export interface ForwardOptions {
  /** The targets in the order to try them, asked again after each wait. */
  targets: () => Target[];
  /** Extra or replaced request headers (`host`, `x-forwarded-*`). */
  headers?: Record<string, string>;
  /** Request path to send (default: the incoming one). */
  path?: string;
  /** Says what had no target, in a 503's body. */
  label: string;
  /** Response headers every answer carries (CORS). */
  responseHeaders?: Record<string, string>;
}

const WAIT_ROUNDS = 20;
const WAIT_DELAY_MS = 100;
/** Bodies up to this size are kept so a request can be sent again; larger ones are sent once. */
const MAX_RETRY_BODY = 1024 * 1024;

const HOP_BY_HOP = [
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "upgrade",
  "te",
  "trailer",
];

export class HttpForwarder {
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 512, maxFreeSockets: 256 });

  /** Reads the request body and forwards the request. */
  handle(request: IncomingMessage, response: ServerResponse, options: ForwardOptions): void {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on("data", (chunk: Buffer) => {
      size += chunk.length;
      chunks.push(chunk);
    });
    request.on("error", () => response.destroy());
    request.on("end", () => {
      const body = Buffer.concat(chunks);
      this.attempt(request, response, options, body, size <= MAX_RETRY_BODY, options.targets(), 0, 0);
    });
  }

  close(): void {
    this.agent.destroy();
  }

  private attempt(
    request: IncomingMessage,
    response: ServerResponse,
    options: ForwardOptions,
    body: Buffer,
    retryable: boolean,
    candidates: Target[],
    index: number,
    round: number,
  ): void {
    if (response.destroyed) return;
    const target = candidates[index];
    if (!target) {
      if (round + 1 < WAIT_ROUNDS && (retryable || index === 0)) {
        setTimeout(
          () => this.attempt(request, response, options, body, retryable, options.targets(), 0, round + 1),
          WAIT_DELAY_MS,
        );
        return;
      }
      if (!response.headersSent) {
        response.writeHead(503, { "content-type": "text/plain", ...options.responseHeaders });
      }
      response.end(`no healthy target for ${options.label}\n`);
      return;
    }
    const headers: Record<string, string | string[] | undefined> = { ...request.headers };
    for (const name of HOP_BY_HOP) delete headers[name];
    const upstream = httpRequest(
      {
        host: "127.0.0.1",
        port: target.port,
        method: request.method,
        path: options.path ?? request.url,
        headers: { ...headers, ...options.headers, "content-length": String(body.length) },
        agent: this.agent,
      },
      (upstreamResponse) => {
        const responseHeaders = { ...upstreamResponse.headers };
        for (const name of HOP_BY_HOP) delete responseHeaders[name];
        response.writeHead(upstreamResponse.statusCode ?? 502, {
          ...responseHeaders,
          ...options.responseHeaders,
        });
        upstreamResponse.pipe(response);
        upstreamResponse.on("error", () => response.destroy());
      },
    );
    upstream.on("error", (error: NodeJS.ErrnoException) => {
      const again =
        error.code === "ECONNREFUSED" ||
        (upstream.reusedSocket && (error.code === "ECONNRESET" || error.code === "EPIPE"));
      if (again && retryable && !response.headersSent) {
        this.attempt(request, response, options, body, retryable, candidates, index + 1, round);
      } else if (!response.headersSent) {
        response.writeHead(502, { "content-type": "text/plain", ...options.responseHeaders });
        response.end(`upstream error: ${error.code ?? error.message}\n`);
      } else response.destroy();
    });
    upstream.end(body);
  }
}

// What this example's two containers share: an example builds from its stack file's directory
// only (the build context, and what berth deploy uploads), so it lives here, inside it.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";

/** `path` is the request URL without its query string. */
export type Handler = (
  request: IncomingMessage,
  response: ServerResponse,
  path: string,
) => void | Promise<void>;

/** Reads `PORT` once: Berth always sets it, so a missing or malformed value is a deployment bug. */
export function portFromEnvironment(): number {
  const text = process.env.PORT;
  const port = Number(text);
  if (!text || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new Error(
      `PORT must be a port number (1-65535), got ${text === undefined ? "nothing" : `"${text}"`}`,
    );
  }
  return port;
}

export function sendJson(response: ServerResponse, status: number, body: unknown): void {
  const payload = JSON.stringify(body);
  response.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(payload),
  });
  response.end(payload);
}

/**
 * Serves `handler` on `port`, with `GET /health`, and stops gracefully on SIGTERM (what ECS sends
 * before it stops a task) or SIGINT: no new connections, requests in flight are answered, then the
 * process exits 0. If they are not answered within `drainMs` (keep it under the resource's
 * stopTimeout, after which ECS sends SIGKILL), the remaining connections are cut and it exits 1.
 */
export function serve(options: { name: string; port: number; drainMs: number; handler: Handler }): Server {
  const { name, port, drainMs, handler } = options;
  let draining = false;

  const server = createServer((request, response) => {
    // While draining, ask clients not to reuse the connection, so close() can finish.
    if (draining) response.setHeader("connection", "close");
    const path = (request.url ?? "/").split("?")[0] ?? "/";
    if (request.method === "GET" && path === "/health") {
      sendJson(response, draining ? 503 : 200, { status: draining ? "draining" : "ok" });
      return;
    }
    Promise.resolve(handler(request, response, path)).catch((error: unknown) => {
      console.error(`${name}: ${request.method} ${request.url} failed:`, error);
      if (!response.headersSent) sendJson(response, 500, { error: "internal error" });
      else response.destroy();
    });
  });

  const shutdown = (signal: NodeJS.Signals) => {
    if (draining) return;
    draining = true;
    console.info(`${name}: ${signal} received, finishing requests in flight`);
    const deadline = setTimeout(() => {
      console.error(`${name}: requests still in flight after ${drainMs} ms, closing their connections`);
      server.closeAllConnections();
      process.exit(1);
    }, drainMs);
    deadline.unref();
    server.close(() => {
      console.info(`${name}: stopped`);
      process.exit(0);
    });
    server.closeIdleConnections();
  };
  process.on("SIGTERM", shutdown);
  process.on("SIGINT", shutdown);

  server.listen(port, () => console.info(`${name}: listening on port ${port}`));
  return server;
}

export function sendHtml(response: ServerResponse, status: number, html: string): void {
  response.writeHead(status, {
    "content-type": "text/html; charset=utf-8",
    "content-length": Buffer.byteLength(html),
  });
  response.end(html);
}

// This example's two services answer JSON only, from a table of routes, and the public one calls
// the private one; an example builds from its stack file's directory only (the build context, and
// what berth deploy uploads), so what they share lives here, inside it.
import { createServer, type ServerResponse } from "node:http";
import { setTimeout as delay } from "node:timers/promises";

/** Thrown by a route (or `getJson`) to answer `status` with `{ error: message }`. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** Keyed `METHOD /path` (no query string); answers 200 with what it returns, as JSON. */
export type Routes = Record<string, () => unknown>;

function reply(response: ServerResponse, status: number, body: unknown): void {
  const payload = JSON.stringify(body);
  response.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(payload),
  });
  response.end(payload);
}

/**
 * Serves `routes` on $PORT, with `GET /health`; any other request is answered 404. On SIGTERM
 * (what ECS sends before it stops a task) or SIGINT it stops gracefully: no new connections,
 * requests in flight are answered, then the process exits 0, or 1 if they were not answered
 * within `drainMs` (keep it under the service's stopTimeout, after which ECS sends SIGKILL).
 */
export function serveJson(options: { name: string; drainMs: number; routes: Routes }): void {
  const { name, drainMs, routes } = options;
  // Berth always sets PORT, so a missing or malformed value is a deployment bug.
  const text = process.env.PORT;
  const port = Number(text);
  if (!text || !Number.isInteger(port) || port < 1 || port > 65535)
    throw new Error(
      `PORT must be a port number (1-65535), got ${text === undefined ? "nothing" : `"${text}"`}`,
    );
  let draining = false;

  const server = createServer(async (request, response) => {
    // While draining, ask clients not to reuse the connection, so close() can finish.
    if (draining) response.setHeader("connection", "close");
    const route = `${request.method} ${(request.url ?? "/").split("?")[0] ?? "/"}`;
    if (route === "GET /health") {
      reply(response, draining ? 503 : 200, { status: draining ? "draining" : "ok" });
      return;
    }
    const answer = routes[route];
    if (!answer) {
      reply(response, 404, { error: `no route for ${route}` });
      return;
    }
    try {
      reply(response, 200, await answer());
    } catch (error) {
      if (error instanceof HttpError) return reply(response, error.status, { error: error.message });
      console.error(`${name}: ${request.method} ${request.url} failed:`, error);
      if (!response.headersSent) reply(response, 500, { error: "internal error" });
      else response.destroy();
    }
  });

  const stop = async (signal: NodeJS.Signals) => {
    if (draining) return;
    draining = true;
    console.info(`${name}: ${signal} received, finishing requests in flight`);
    const closed = new Promise<"closed">((resolve) => server.close(() => resolve("closed")));
    server.closeIdleConnections();
    // Unreferenced: once the last connection is answered, nothing else keeps the process up.
    const outcome = await Promise.race([closed, delay(drainMs, "late" as const, { ref: false })]);
    if (outcome === "late") {
      console.error(`${name}: requests still in flight after ${drainMs} ms, closing their connections`);
      server.closeAllConnections();
      process.exit(1);
    }
    console.info(`${name}: stopped`);
    process.exit(0);
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);

  server.listen(port, () => console.info(`${name}: listening on port ${port}`));
}

/**
 * GETs JSON from `url` on the upstream `upstream` (its name and address, for the error), within
 * `timeoutMs`; any failure is an HttpError 502 saying what went wrong.
 */
export async function getJson(
  url: string,
  upstream: { name: string; address: string },
  timeoutMs: number,
): Promise<unknown> {
  let response: Response;
  try {
    response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  } catch (error) {
    // fetch's own message is "fetch failed"; what happened (ECONNREFUSED, …) is its cause.
    const failure = error instanceof Error && error.cause instanceof Error ? error.cause : error;
    const reason = failure instanceof Error ? failure.message : String(failure);
    throw new HttpError(502, `${upstream.name} unreachable at ${upstream.address}: ${reason}`);
  }
  if (!response.ok) {
    await response.body?.cancel();
    throw new HttpError(502, `${upstream.name} answered ${response.status}`);
  }
  try {
    return await response.json();
  } catch {
    throw new HttpError(502, `${upstream.name} answered with invalid JSON`);
  }
}

import {
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { fastPathRequests, serveFast } from "./fast-path.ts";
import {
  drained,
  type ForwardOptions,
  HttpForwarder,
  inFlightTo,
  retireTargets,
  type Target,
} from "./http-forward.ts";

type Handler = (request: IncomingMessage, response: ServerResponse) => void;

// Each case runs on the forwarder's Node path and on the fast path the proxies' servers use.
describe.each(["Node", "fast"] as const)("HttpForwarder (%s path)", (path) => {
  const closers: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close();
  });

  async function listen(handler: Handler): Promise<number> {
    return (await serve(handler)).port;
  }

  async function serve(handler: Handler): Promise<{ server: Server; port: number }> {
    const server = createServer(handler);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    closers.push(
      () =>
        new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        }),
    );
    return { server, port: (server.address() as AddressInfo).port };
  }

  /** A port nothing listens on. */
  async function closedPort(): Promise<number> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    await new Promise((resolve) => server.close(resolve));
    return port;
  }

  let forwarder: HttpForwarder;

  async function proxy(options: Omit<ForwardOptions, "label">): Promise<string> {
    forwarder = new HttpForwarder();
    const own = forwarder;
    closers.push(() => own.close());
    const { server, port } = await serve((request, response) =>
      own.handle(request, response, { label: "test", ...options }),
    );
    if (path === "fast") serveFast(server, own, () => ({ label: "test", ...options }));
    return `http://127.0.0.1:${port}`;
  }

  /** Which path served the requests a case sent (a Connection header naming others: Node's). */
  function expectPath(requests: number): void {
    expect(fastPathRequests(forwarder)).toBe(path === "fast" ? requests : 0);
  }

  /** A request with headers fetch would not send (Connection, repeated names). */
  function send(
    url: string,
    init: { method?: string; headers?: Record<string, string | string[]>; body?: string } = {},
  ): Promise<{ status: number; headers: IncomingMessage["headers"]; body: string }> {
    return new Promise((resolve, reject) => {
      const outgoing = httpRequest(url, { method: init.method ?? "GET", headers: init.headers }, (answer) => {
        let body = "";
        answer.setEncoding("utf8");
        answer.on("data", (chunk: string) => {
          body += chunk;
        });
        answer.on("end", () => resolve({ status: answer.statusCode ?? 0, headers: answer.headers, body }));
      });
      outgoing.on("error", reject);
      outgoing.end(init.body);
    });
  }

  it("forwards the method, path, body and end-to-end headers, and streams the answer back with its headers", async () => {
    const port = await listen((request, response) => {
      let body = "";
      request.setEncoding("utf8");
      request.on("data", (chunk: string) => {
        body += chunk;
      });
      request.on("end", () => {
        response.writeHead(201, [
          "X-Answer",
          "yes",
          "Set-Cookie",
          "a=1",
          "Set-Cookie",
          "b=2",
          "Access-Control-Allow-Origin",
          "http://upstream",
        ]);
        response.write(`${request.method} ${request.url} `);
        setImmediate(() =>
          response.end(
            JSON.stringify({
              body,
              host: request.headers.host,
              custom: request.headers["x-custom"],
              forwarded: request.headers["x-forwarded-for"],
              connectionOption: request.headers["x-hop"] ?? null,
              keepAlive: request.headers["keep-alive"] ?? null,
              length: request.headers["content-length"],
            }),
          ),
        );
      });
    });
    const url = await proxy({
      targets: () => [{ id: "a", port }],
      headers: { host: "api:3000", "x-forwarded-for": "10.0.0.1" },
      responseHeaders: { "access-control-allow-origin": "*" },
    });
    const answer = await send(`${url}/items?x=1`, {
      method: "POST",
      headers: { "X-Custom": "1", "X-Forwarded-For": "spoofed", "Keep-Alive": "timeout=5" },
      body: "hello",
    });
    expect(answer.status).toBe(201);
    const [line, json] = [
      answer.body.slice(0, answer.body.indexOf("{")),
      answer.body.slice(answer.body.indexOf("{")),
    ];
    expect(line).toBe("POST /items?x=1 ");
    expect(JSON.parse(json)).toEqual({
      body: "hello",
      host: "api:3000",
      custom: "1",
      forwarded: "10.0.0.1",
      connectionOption: null,
      keepAlive: null,
      length: "5",
    });
    expect(answer.headers["x-answer"]).toBe("yes");
    expect(answer.headers["set-cookie"]).toEqual(["a=1", "b=2"]);
    expect(answer.headers["access-control-allow-origin"]).toBe("*");
    expectPath(1);
  });

  it("passes each part of a streamed answer on as it comes", async () => {
    let finish: (() => void) | undefined;
    const port = await listen((_request, response) => {
      response.writeHead(200, { "content-type": "text/event-stream" });
      response.write("data: first\n\n");
      finish = () => response.end("data: last\n\n");
    });
    const url = await proxy({ targets: () => [{ id: "a", port }] });
    const answer = await fetch(url);
    const reader = (answer.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    // The target sends the rest only once the first part has come through the forwarder.
    expect(decoder.decode((await reader.read()).value)).toBe("data: first\n\n");
    finish?.();
    let rest = "";
    for (let part = await reader.read(); !part.done; part = await reader.read())
      rest += decoder.decode(part.value);
    expect(rest).toBe("data: last\n\n");
    expectPath(1);
  });

  it("sends a request a target refused to the next target", async () => {
    const refused = await closedPort();
    const port = await listen((_request, response) => response.end("second"));
    const url = await proxy({
      targets: () => [
        { id: "gone", port: refused },
        { id: "up", port },
      ],
    });
    expect((await send(url)).body).toBe("second");
  });

  it("sends a request again when a reused connection closes before the answer, but not one that fails a fresh connection", async () => {
    // The first target answers the first request on each connection and then closes the
    // connection at the next one without answering, as a stopping target closes idle ones.
    const seen = new WeakMap<object, number>();
    const closing = await listen((request, response) => {
      const count = (seen.get(request.socket) ?? 0) + 1;
      seen.set(request.socket, count);
      if (count > 1) request.socket.destroy();
      else response.end("closing");
    });
    const steady = await listen((_request, response) => response.end("steady"));
    let targets: Target[] = [{ id: "closing", port: closing }];
    const url = await proxy({ targets: () => targets });
    expect((await send(url)).body).toBe("closing");
    targets = [
      { id: "closing", port: closing },
      { id: "steady", port: steady },
    ];
    expect((await send(url, { method: "POST", body: "once" })).body).toBe("steady");

    // A target that fails the request on a new connection may have acted on it: a 502.
    const failing = await listen((request) => request.socket.destroy());
    targets = [
      { id: "failing", port: failing },
      { id: "steady", port: steady },
    ];
    const failed = await send(url, { method: "POST", body: "once" });
    expect(failed.status).toBe(502);
    expect(failed.body).toMatch(/^upstream error: /);
    // An idempotent request may be sent again (a target that stopped right after it was chosen).
    expect((await send(url, { method: "GET" })).body).toBe("steady");
    expect((await send(url, { method: "PUT", body: "same" })).body).toBe("steady");
    expectPath(5);
  });

  it("sends an idempotent request again when a fresh connection fails before any answer", async () => {
    // A target that exits at once: it takes the connection and drops it.
    const failing = await listen((request) => request.socket.destroy());
    const steady = await listen((_request, response) => response.end("steady"));
    const url = await proxy({
      targets: () => [
        { id: "failing", port: failing },
        { id: "steady", port: steady },
      ],
    });
    for (const method of ["GET", "HEAD", "PUT", "DELETE"]) {
      const answer = await send(url, { method, ...(method === "PUT" ? { body: "same" } : {}) });
      expect(answer.status, method).toBe(200);
    }
  });

  it("strips the headers a Connection header names, both ways", async () => {
    const port = await listen((request, response) => {
      response.writeHead(200, { connection: "x-upstream-hop", "x-upstream-hop": "1", "x-kept": "1" });
      response.end(
        JSON.stringify({ hop: request.headers["x-hop"] ?? null, kept: request.headers["x-kept"] ?? null }),
      );
    });
    const url = await proxy({ targets: () => [{ id: "a", port }] });
    const answer = await send(url, { headers: { Connection: "x-hop", "X-Hop": "1", "X-Kept": "1" } });
    expect(JSON.parse(answer.body)).toEqual({ hop: null, kept: "1" });
    expect(answer.headers["x-upstream-hop"]).toBeUndefined();
    expect(answer.headers["x-kept"]).toBe("1");
    // A Connection header naming an end-to-end header is left to Node's path.
    expectPath(0);
  });

  it("counts requests in flight per target; drained resolves when the last one ends, and retired pools close", async () => {
    let finish: (() => void) | undefined;
    const sockets = new Set<import("node:net").Socket>();
    const port = await listen((request, response) => {
      sockets.add(request.socket);
      if (request.url === "/slow") finish = () => response.end("slow");
      else response.end("fast");
    });
    const url = await proxy({ targets: () => [{ id: "a", port }] });
    expect((await send(`${url}/fast`)).body).toBe("fast");
    expect(await drained([port], 1)).toBe(true);
    const slow = send(`${url}/slow`);
    await waitUntil(() => finish !== undefined);
    expect(inFlightTo(port)).toBe(1);
    // Still in flight: a short wait gives up and says so.
    expect(await drained([port], 50)).toBe(false);
    const whenDrained = drained([port], 10_000);
    finish?.();
    expect(await whenDrained).toBe(true);
    expect((await slow).body).toBe("slow");
    expect(inFlightTo(port)).toBe(0);
    // Retiring the target closes the forwarder's idle keep-alive connections to it.
    retireTargets([port]);
    await waitUntil(() => [...sockets].every((socket) => socket.destroyed));
  });

  it("answers 503 naming what had no target when none can take the request", async () => {
    const url = await proxy({ targets: () => [], responseHeaders: { "access-control-allow-origin": "*" } });
    const answer = await send(url);
    expect(answer.status).toBe(503);
    expect(answer.body).toBe("no healthy target for test\n");
    expect(answer.headers["access-control-allow-origin"]).toBe("*");
  }, 20_000);
});

async function waitUntil(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

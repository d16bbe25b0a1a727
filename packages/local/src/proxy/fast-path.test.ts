import { createHash } from "node:crypto";
import { Agent, createServer, get, type IncomingMessage, request, type ServerResponse } from "node:http";
import { type AddressInfo, connect, createServer as createTcpServer, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { fastPathRequests, serveFast } from "./fast-path.ts";
import { type ForwardOptions, HttpForwarder, inFlightTo } from "./http-forward.ts";
import { ChunkedEnd, parseRequestHead, parseResponseHead } from "./http1.ts";

describe("HTTP/1.1 readers", () => {
  it("finds the end of a chunked body however its bytes are split, and only there", () => {
    const body = "5\r\nhello\r\n3;ext=1\r\nabc\r\nA\r\n0123456789\r\n0\r\nX-Trailer: 1\r\n\r\n";
    const bytes = Buffer.from(`${body}NEXT`);
    for (let cut = 0; cut <= bytes.length - 4; cut += 1) {
      const reader = new ChunkedEnd();
      const first = reader.feed(bytes.subarray(0, cut));
      if (cut < body.length) expect(first, `cut at ${cut}`).toBe(-1);
      const second = reader.feed(bytes.subarray(cut));
      expect(second, `cut at ${cut}`).toBe(body.length - cut);
    }
    // One byte at a time.
    const reader = new ChunkedEnd();
    let end = -1;
    for (let index = 0; index < body.length && end === -1; index += 1)
      end = reader.feed(bytes.subarray(index, index + 1));
    expect(end).toBe(1);
  });

  it("says when a chunked body's framing is broken", () => {
    expect(new ChunkedEnd().feed(Buffer.from("zz\r\n"))).toBe(-2);
    expect(new ChunkedEnd().feed(Buffer.from("3\r\nabcX\r\n"))).toBe(-2);
    expect(new ChunkedEnd().feed(Buffer.from("1234567890abcd\r\n"))).toBe(-2);
  });

  it("takes plain HTTP/1.1 request heads and leaves the rest to Node", () => {
    const head =
      "POST /a?b=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nX-A:  spaced  \r\nConnection: keep-alive";
    expect(parseRequestHead(head, 1024)).toEqual({
      method: "POST",
      url: "/a?b=1",
      rawHeaders: ["Host", "x", "Content-Length", "5", "X-A", "spaced", "Connection", "keep-alive"],
      headers: { host: "x", "content-length": "5", "x-a": "spaced", connection: "keep-alive" },
      contentLength: 5,
    });
    const refused = [
      "GET / HTTP/1.0\r\nHost: x",
      "GET http://x/ HTTP/1.1\r\nHost: x",
      "get / HTTP/1.1\r\nHost: x",
      "POST / HTTP/1.1\r\nTransfer-Encoding: chunked",
      "GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade",
      "POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 1",
      "GET / HTTP/1.1\r\nConnection: close",
      "GET / HTTP/1.1\r\nHost: a\r\nHost: b",
      "GET / HTTP/1.1\r\nX-Folded: a\r\n b",
      "GET / HTTP/1.1\r\nBad Name: a",
      "GET / HTTP/1.1\r\nX-Ctl: a\u0001b",
      "POST / HTTP/1.1\r\nContent-Length: 2048",
      "POST / HTTP/1.1\r\nContent-Length: -1",
    ];
    for (const text of refused) expect(parseRequestHead(text, 1024), text).toBeUndefined();
  });

  it("reads a response head's framing and keep-alive", () => {
    const ok = parseResponseHead("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nKeep-Alive: timeout=5");
    expect(ok).toMatchObject({
      status: 200,
      reason: "OK",
      contentLength: 3,
      keepAlive: true,
      keepAliveMs: 5000,
    });
    expect(parseResponseHead("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked")).toMatchObject({
      chunked: true,
      otherCoding: false,
    });
    expect(parseResponseHead("HTTP/1.1 200 OK\r\nConnection: close")?.keepAlive).toBe(false);
    expect(parseResponseHead("HTTP/1.0 200 OK")?.keepAlive).toBe(false);
    expect(parseResponseHead("HTTP/1.0 200 OK\r\nConnection: keep-alive")?.keepAlive).toBe(true);
    expect(parseResponseHead("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4")).toBeUndefined();
    expect(parseResponseHead("HTTP/2 200")).toBeUndefined();
    expect(parseResponseHead("HTTP/1.1 2000 OK")).toBeUndefined();
  });
});

describe("the proxies' fast path", () => {
  const closers: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close();
  });

  /** A target written with Node's HTTP server. */
  async function httpTarget(handler: (request: IncomingMessage, response: ServerResponse) => void) {
    const server = createServer(handler);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    closers.push(() => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    });
    return (server.address() as AddressInfo).port;
  }

  /** A target that writes raw bytes: `answer` gets each request's head, one at a time. */
  async function rawTarget(answer: (socket: Socket, head: string) => void) {
    const connections: Socket[] = [];
    const server = createTcpServer((socket) => {
      connections.push(socket);
      let pending = "";
      socket.setEncoding("latin1");
      socket.on("data", (chunk: string) => {
        pending += chunk;
        for (let end = pending.indexOf("\r\n\r\n"); end !== -1; end = pending.indexOf("\r\n\r\n")) {
          const head = pending.slice(0, end);
          pending = pending.slice(end + 4);
          answer(socket, head);
        }
      });
      socket.on("error", () => undefined);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    closers.push(() => {
      for (const socket of connections) socket.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    });
    return { port: (server.address() as AddressInfo).port, connections };
  }

  /**
   * A proxy as the gateways build one: Node's server with the forwarder, and the fast path in
   * front. `route` may send a request to Node (undefined), where it is answered 404.
   */
  async function proxy(port: number, route?: (url: string) => boolean) {
    const forwarder = new HttpForwarder();
    const options: ForwardOptions = { targets: () => [{ id: "t", port }], label: "test" };
    const server = createServer((incoming, response) => {
      if (route && !route(incoming.url ?? "/")) response.writeHead(404).end("local answer");
      else forwarder.handle(incoming, response, options);
    });
    server.keepAliveTimeout = 65_000;
    serveFast(server, forwarder, (head) => (route && !route(head.url ?? "/") ? undefined : options));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    closers.push(() => {
      agent.destroy();
      forwarder.close();
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    });
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return { url, forwarder, agent, server, port: (server.address() as AddressInfo).port };
  }

  function fetchText(url: string, agent: Agent, init: { method?: string; body?: Buffer | string } = {}) {
    return new Promise<{
      status: number;
      body: Buffer;
      reused: boolean;
      headers: IncomingMessage["headers"];
    }>((resolve, reject) => {
      const outgoing = request(url, { agent, method: init.method ?? "GET" }, (answer) => {
        const chunks: Buffer[] = [];
        answer.on("data", (chunk: Buffer) => chunks.push(chunk));
        answer.on("end", () =>
          resolve({
            status: answer.statusCode ?? 0,
            body: Buffer.concat(chunks),
            reused: outgoing.reusedSocket,
            headers: answer.headers,
          }),
        );
        answer.on("error", reject);
      });
      outgoing.on("error", reject);
      outgoing.end(init.body);
    });
  }

  /** Raw bytes to the proxy on one connection, read until `done` says the answer is all in. */
  function rawExchange(port: number, text: string, done: (received: string) => boolean): Promise<string> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, "127.0.0.1");
      let received = "";
      socket.setEncoding("latin1");
      socket.on("data", (chunk: string) => {
        received += chunk;
        if (done(received)) {
          socket.destroy();
          resolve(received);
        }
      });
      socket.on("error", reject);
      socket.on("close", () => reject(new Error(`closed after ${JSON.stringify(received)}`)));
      socket.write(text);
    });
  }

  /** A keep-alive agent of its own: a new connection to the proxy. */
  function freshAgent(): Agent {
    const agent = new Agent({ keepAlive: true });
    closers.push(() => agent.destroy());
    return agent;
  }

  const count = (text: string, part: string) => text.split(part).length - 1;

  it("relays a chunked answer split across packets, and reuses both connections", async () => {
    const target = await rawTarget((socket) => {
      const parts = [
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r",
        "\nhel",
        "lo\r\n0\r",
        "\n\r\n",
      ];
      const next = () => {
        const part = parts.shift();
        if (part === undefined) return;
        socket.write(part);
        setTimeout(next, 5);
      };
      next();
    });
    const { url, forwarder, agent } = await proxy(target.port);
    const first = await fetchText(url, agent);
    expect(first.body.toString()).toBe("hello");
    expect(first.headers["transfer-encoding"]).toBe("chunked");
    const second = await fetchText(url, agent);
    expect(second.body.toString()).toBe("hello");
    expect(second.reused).toBe(true);
    expect(target.connections).toHaveLength(1);
    expect(fastPathRequests(forwarder)).toBe(2);
  });

  it("holds back a large answer while the client does not read, and passes it on intact", async () => {
    const size = 48 * 1024 * 1024;
    const payload = Buffer.alloc(size, "abcdefghijklmnopqrstuvwxyz");
    let sent = false;
    let blocked = false;
    const port = await httpTarget((_incoming, response) => {
      response.writeHead(200, { "content-length": String(size) });
      blocked = !response.write(payload);
      response.end(() => {
        sent = true;
      });
    });
    const { url, forwarder } = await proxy(port);
    const answer = await new Promise<IncomingMessage>((resolve, reject) =>
      get(url, resolve).on("error", reject),
    );
    answer.pause();
    // The client reads nothing: the proxy stops reading from the target, which cannot finish.
    await waitUntil(() => blocked);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(sent).toBe(false);
    const hash = createHash("sha256");
    let received = 0;
    answer.on("data", (chunk: Buffer) => {
      received += chunk.length;
      hash.update(chunk);
    });
    answer.resume();
    await new Promise((resolve) => answer.on("end", resolve));
    expect(received).toBe(size);
    expect(hash.digest("hex")).toBe(createHash("sha256").update(payload).digest("hex"));
    expect(fastPathRequests(forwarder)).toBe(1);
  }, 60_000);

  it("closes the target's connection when the client goes away mid-answer", async () => {
    let targetClosed = false;
    const port = await httpTarget((_incoming, response) => {
      response.writeHead(200, { "content-type": "text/plain" });
      response.write("first part");
      response.on("close", () => {
        targetClosed = true;
      });
    });
    const { url } = await proxy(port);
    await new Promise<void>((resolve, reject) => {
      const outgoing = get(url, (answer) => {
        answer.once("data", () => {
          expect(inFlightTo(port)).toBe(1);
          outgoing.destroy();
          resolve();
        });
      });
      outgoing.on("error", () => undefined);
      outgoing.on("close", () => undefined);
      setTimeout(() => reject(new Error("no first part")), 10_000).unref();
    });
    await waitUntil(() => targetClosed && inFlightTo(port) === 0);
  });

  it("cuts the client's connection when the target closes mid-answer, and answers 502 when it closes before", async () => {
    const target = await rawTarget((socket, head) => {
      if (head.startsWith("GET /partial")) {
        socket.write("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial");
        setTimeout(() => socket.destroy(), 5);
      } else socket.destroy();
    });
    const { url, forwarder } = await proxy(target.port);
    const outcome = await new Promise<string>((resolve) => {
      get(`${url}/partial`, (answer) => {
        answer.on("data", () => undefined);
        answer.on("end", () => resolve(answer.complete ? "complete" : "incomplete"));
        answer.on("error", () => resolve("incomplete"));
        answer.on("aborted", () => resolve("incomplete"));
      }).on("error", () => resolve("incomplete"));
    });
    expect(outcome).toBe("incomplete");
    // A POST the target dropped on a fresh connection may have been acted on: not sent again.
    const failed = await fetchText(`${url}/post`, freshAgent(), { method: "POST", body: "x" });
    expect(failed.status).toBe(502);
    expect(failed.body.toString()).toMatch(/^upstream error: /);
    expect(fastPathRequests(forwarder)).toBe(2);
  });

  it("passes on an answer delimited by the end of the connection as chunked, keeping the client's connection", async () => {
    const target = await rawTarget((socket) => {
      socket.write("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil ");
      setTimeout(() => socket.end("close"), 5);
    });
    const { url, agent } = await proxy(target.port);
    const first = await fetchText(url, agent);
    expect(first.body.toString()).toBe("until close");
    expect(first.headers["transfer-encoding"]).toBe("chunked");
    const second = await fetchText(url, agent);
    expect(second.body.toString()).toBe("until close");
    expect(second.reused).toBe(true);
    expect(target.connections).toHaveLength(2);
  });

  it("answers pipelined requests in order, HEAD and 204 without a body", async () => {
    const port = await httpTarget((incoming, response) => {
      if (incoming.url === "/empty") response.writeHead(204).end();
      else response.writeHead(200, { "content-type": "text/plain" }).end(`answer ${incoming.url}`);
    });
    const { port: proxyPort, forwarder } = await proxy(port);
    const requests = ["/one", "/two", "/empty"].map((path) => `GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
    requests.splice(2, 0, "HEAD /three HTTP/1.1\r\nHost: x\r\n\r\n");
    const received = await rawExchange(
      proxyPort,
      requests.join(""),
      (text) => count(text, "HTTP/1.1 ") === 4,
    );
    expect(received.indexOf("answer /one")).toBeLessThan(received.indexOf("answer /two"));
    expect(received).not.toContain("answer /three");
    expect(received).toMatch(/HTTP\/1\.1 204 No Content\r\n/);
    expect(count(received, "HTTP/1.1 200")).toBe(3);
    expect(fastPathRequests(forwarder)).toBe(4);
  });

  it("hands a connection to Node for requests it does not take, after serving earlier ones itself", async () => {
    const port = await httpTarget((incoming, response) => {
      let body = "";
      incoming.on("data", (chunk: Buffer) => {
        body += chunk.length;
      });
      incoming.on("end", () => response.end(`${incoming.method} ${incoming.url} ${body || 0}`));
    });
    const {
      port: proxyPort,
      forwarder,
      url,
      agent,
    } = await proxy(port, (path) => !path.startsWith("/local"));
    // Served on the fast path, then a request the router answers itself, then one Node forwards.
    const mixed = await rawExchange(
      proxyPort,
      "GET /fast HTTP/1.1\r\nHost: x\r\n\r\nGET /local HTTP/1.1\r\nHost: x\r\n\r\nGET /after HTTP/1.1\r\nHost: x\r\n\r\n",
      (text) => text.includes("GET /after 0"),
    );
    expect(mixed).toContain("GET /fast 0");
    expect(mixed).toContain("local answer");
    expect(fastPathRequests(forwarder)).toBe(1);
    // HTTP/1.0, a chunked upload and a body too large to send again: Node's path.
    const old = await rawExchange(proxyPort, "GET /old HTTP/1.0\r\nHost: x\r\n\r\n", (text) =>
      text.includes("GET /old 0"),
    );
    expect(old).toMatch(/^HTTP\/1\.1 200 /);
    const chunked = await new Promise<string>((resolve, reject) => {
      const outgoing = request(`${url}/chunked`, { method: "POST", agent }, (answer) => {
        let text = "";
        answer.on("data", (chunk: Buffer) => {
          text += chunk;
        });
        answer.on("end", () => resolve(text));
      });
      outgoing.on("error", reject);
      outgoing.write("abc");
      outgoing.end("de");
    });
    expect(chunked).toBe("POST /chunked 5");
    const large = await fetchText(`${url}/large`, freshAgent(), {
      method: "POST",
      body: Buffer.alloc(1536 * 1024),
    });
    expect(large.body.toString()).toMatch(/^POST \/large \d/);
    expect(fastPathRequests(forwarder)).toBe(1);
    // A body the proxy may keep to send again: the fast path.
    const kept = await fetchText(`${url}/kept`, freshAgent(), {
      method: "POST",
      body: Buffer.alloc(512 * 1024),
    });
    expect(kept.status).toBe(200);
    expect(fastPathRequests(forwarder)).toBe(2);
  });

  it("closes idle fast-path connections with the server's closeIdleConnections, and only that server's", async () => {
    const port = await httpTarget((_incoming, response) => response.end("ok"));
    const proxied = await proxy(port);
    // A second server on the same forwarder (as two balancers share one).
    const other = createServer();
    serveFast(other, proxied.forwarder, () => ({ targets: () => [{ id: "t", port }], label: "other" }));
    await new Promise<void>((resolve) => other.listen(0, "127.0.0.1", resolve));
    closers.push(() => {
      other.closeAllConnections();
      return new Promise<void>((resolve) => other.close(() => resolve()));
    });
    const served = async (serverPort: number) => {
      const socket = connect(serverPort, "127.0.0.1");
      socket.on("error", () => undefined);
      await new Promise<void>((resolve) => {
        socket.once("data", () => resolve());
        socket.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
      });
      return socket;
    };
    const socket = await served(proxied.port);
    const kept = await served((other.address() as AddressInfo).port);
    const closed = new Promise((resolve) => socket.on("close", resolve));
    // As a gateway's server closes on a stop: its idle connections end, fast path or not.
    proxied.server.closeIdleConnections();
    await closed;
    expect(kept.destroyed).toBe(false);
    kept.destroy();
  });
});

async function waitUntil(condition: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

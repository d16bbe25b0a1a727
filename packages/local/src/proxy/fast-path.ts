import type { Server } from "node:http";
import { connect, type Socket } from "node:net";
import {
  type AttachedPools,
  type ForwardOptions,
  finished,
  HOP_BY_HOP,
  type HttpForwarder,
  IDEMPOTENT,
  MAX_RETRY_BODY,
  SET_BY_FORWARDER,
  started,
  WAIT_DELAY_MS,
  WAIT_ROUNDS,
  withoutHopByHop,
} from "./http-forward.ts";
import {
  ChunkedEnd,
  MAX_HEAD,
  type ParsedRequest,
  type ParsedResponse,
  parseRequestHead,
  parseResponseHead,
  type RequestHead,
} from "./http1.ts";

/**
 * The proxies' fast path: plain HTTP/1.1 keep-alive requests read and relayed on the raw
 * sockets, without Node's `http` objects on either side, to keep-alive connections of their own
 * to the targets. It makes the same choices as the forwarder's Node path (targets, retries, the
 * wait for a target, 502 and 503, in-flight counts for draining) and sends the same headers.
 *
 * A request it does not take (see `parseRequestHead`), or one the router answers itself (404,
 * redirects, CORS preflights), hands the rest of its connection to the Node HTTP server, with
 * the bytes read so far put back in front: from then on Node serves that connection.
 */

/** What a router makes of a request: where to forward it, or undefined to answer it itself. */
export type FastRoute = (request: RequestHead) => ForwardOptions | undefined;

/** Client bytes kept while an answer is under way (pipelined requests) before reading pauses. */
const MAX_PENDING = MAX_HEAD + MAX_RETRY_BODY;
/** How long an idle target connection is kept without a `Keep-Alive: timeout` hint (undici's). */
const DEFAULT_IDLE_MS = 4000;
/** Kept off the target's own keep-alive timeout, so that it does not close under a request. */
const IDLE_MARGIN_MS = 500;
/** Codes of a target connection that failed before the target answered. */
const CLOSED = new Set(["ECONNRESET", "EPIPE", "UPSTREAM_CLOSED"]);

const Body = { None: 0, Length: 1, Chunked: 2, UntilClose: 3 } as const;

/**
 * Where every target connection's bytes are read into (Node's `onread`): without a stream's
 * buffering and a new buffer per read. Each read is used before the next one, so what is kept
 * or written on (the answer's bytes) is copied out of it.
 */
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);

/** One keep-alive connection to a target. */
class Upstream {
  /** Whether it carried a request before the current one. */
  used = false;
  /** Not read while the client catches up (back-pressure). */
  paused = false;
  idleUntil = 0;
  exchange: Exchange | undefined;
  readonly socket: Socket;

  constructor(
    port: number,
    readonly pool: TargetPool,
  ) {
    const socket = connect({
      port,
      host: "127.0.0.1",
      onread: {
        buffer: READ_BUFFER,
        callback: (size: number, buffer: Uint8Array) => {
          if (this.exchange) this.exchange.upstreamData(buffer as Buffer, size);
          else socket.destroy();
          return true;
        },
      },
    });
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on("error", (error: NodeJS.ErrnoException) =>
      this.exchange?.upstreamFailed(error.code ?? "ECONNRESET"),
    );
    socket.on("end", () => this.exchange?.upstreamEnded());
    socket.on("close", () => {
      this.pool.forget(this);
      this.exchange?.upstreamFailed("UPSTREAM_CLOSED");
    });
  }
}

/** The fast path's connections to one target port. */
class TargetPool {
  private readonly idle: Upstream[] = [];
  retired = false;

  constructor(readonly port: number) {}

  take(): Upstream {
    const now = Date.now();
    for (;;) {
      const upstream = this.idle.pop();
      if (!upstream) break;
      if (upstream.idleUntil > now && !upstream.socket.destroyed) {
        upstream.socket.ref();
        return upstream;
      }
      upstream.socket.destroy();
    }
    return new Upstream(this.port, this);
  }

  release(upstream: Upstream, idleMs: number): void {
    upstream.exchange = undefined;
    if (this.retired || idleMs <= 0 || upstream.socket.destroyed) {
      upstream.socket.destroy();
      return;
    }
    upstream.idleUntil = Date.now() + idleMs;
    upstream.socket.unref();
    this.idle.push(upstream);
  }

  forget(upstream: Upstream): void {
    const index = this.idle.indexOf(upstream);
    if (index !== -1) this.idle.splice(index, 1);
  }

  /** Closes the idle connections; busy ones close when their answer is done. */
  retire(): void {
    this.retired = true;
    for (const upstream of this.idle.splice(0)) upstream.socket.destroy();
  }
}

/** The fast path's target connections of one forwarder, and its client connections. */
class FastPools implements AttachedPools {
  private readonly pools = new Map<number, TargetPool>();
  readonly clients = new Set<ClientConnection>();
  requests = 0;

  poolFor(port: number): TargetPool {
    let pool = this.pools.get(port);
    if (!pool) {
      pool = new TargetPool(port);
      this.pools.set(port, pool);
    }
    return pool;
  }

  retire(ports: readonly number[]): void {
    for (const port of ports) {
      this.pools.get(port)?.retire();
      this.pools.delete(port);
    }
  }

  close(): void {
    for (const pool of this.pools.values()) pool.retire();
    this.pools.clear();
    for (const client of [...this.clients]) client.socket.destroy();
  }
}

/**
 * Takes the connections of a Node HTTP server: each is served on the fast path until a request
 * the fast path does not take, when Node's own connection handling gets it. The server's
 * `closeIdleConnections`/`closeAllConnections` (and so `close`) cover the fast path's too.
 */
export function serveFast(server: Server, forwarder: HttpForwarder, route: FastRoute): void {
  let pools = poolsOf.get(forwarder);
  if (!pools) {
    pools = new FastPools();
    poolsOf.set(forwarder, pools);
    forwarder.attach(pools);
  }
  installFastPath(server, route, pools);
}

const poolsOf = new WeakMap<HttpForwarder, FastPools>();

/** How many requests a forwarder's fast path has taken (for tests and diagnostics). */
export function fastPathRequests(forwarder: HttpForwarder): number {
  return poolsOf.get(forwarder)?.requests ?? 0;
}

function installFastPath(server: Server, route: FastRoute, pools: FastPools): void {
  const nodeListeners = server.listeners("connection") as ((socket: Socket) => void)[];
  server.removeAllListeners("connection");
  const handOver = (socket: Socket) => {
    for (const listener of nodeListeners) listener.call(server, socket);
  };
  // This server's connections on the fast path (the forwarder's pools may serve several servers).
  const clients = new Set<ClientConnection>();
  server.on("connection", (socket: Socket) => {
    const client = new ClientConnection(socket, server, route, pools, clients, handOver);
    clients.add(client);
    pools.clients.add(client);
  });
  const closeIdle = server.closeIdleConnections.bind(server);
  const closeAll = server.closeAllConnections.bind(server);
  server.closeIdleConnections = () => {
    for (const client of [...clients]) if (!client.busy) client.socket.destroy();
    closeIdle();
  };
  server.closeAllConnections = () => {
    for (const client of [...clients]) client.socket.destroy();
    closeAll();
  };
}

/** One client connection while the fast path serves it. */
class ClientConnection {
  /** Bytes read and not yet used (a request's start, pipelined requests). */
  private pending: Buffer | undefined;
  private exchange: Exchange | undefined;
  private paused = false;
  private done = false;
  private readonly onData = (chunk: Buffer) => this.received(chunk);
  private readonly onEnd = () => {
    this.exchange?.abort();
    this.socket.end();
  };
  private readonly onClose = () => {
    this.exchange?.abort();
    this.forget();
  };
  private readonly onError = () => this.socket.destroy();
  private readonly onTimeout = () => {
    if (!this.exchange) this.socket.destroy();
  };

  constructor(
    readonly socket: Socket,
    private readonly server: Server,
    private readonly route: FastRoute,
    readonly pools: FastPools,
    private readonly serverClients: Set<ClientConnection>,
    private readonly handOver: (socket: Socket) => void,
  ) {
    socket.setNoDelay(true);
    socket.on("data", this.onData);
    socket.on("end", this.onEnd);
    socket.on("close", this.onClose);
    socket.on("error", this.onError);
    socket.on("timeout", this.onTimeout);
    // Idle between requests: closed after the server's keep-alive timeout, as Node's server does.
    socket.setTimeout(server.keepAliveTimeout || 5000);
  }

  private forget(): void {
    this.pools.clients.delete(this);
    this.serverClients.delete(this);
  }

  get busy(): boolean {
    return this.exchange !== undefined;
  }

  get remoteAddress(): string | undefined {
    return this.socket.remoteAddress;
  }

  private received(chunk: Buffer): void {
    this.pending = this.pending === undefined ? chunk : Buffer.concat([this.pending, chunk]);
    if (this.exchange) {
      if (this.pending.length > MAX_PENDING && !this.paused) {
        this.paused = true;
        this.socket.pause();
      }
      return;
    }
    this.next();
  }

  /** Starts the next request when its head and body are all in. */
  private next(): void {
    const data = this.pending;
    if (data === undefined || this.done) return;
    const headEnd = data.indexOf(HEAD_END);
    if (headEnd === -1) {
      if (data.length > MAX_HEAD) this.fallBack();
      return;
    }
    if (headEnd > MAX_HEAD) {
      this.fallBack();
      return;
    }
    const parsed = parseRequestHead(data.toString("latin1", 0, headEnd), MAX_RETRY_BODY);
    if (!parsed) {
      this.fallBack();
      return;
    }
    const bodyStart = headEnd + 4;
    const end = bodyStart + parsed.contentLength;
    if (data.length < end) return;
    let options: ForwardOptions | undefined;
    try {
      options = this.route({
        method: parsed.method,
        url: parsed.url,
        headers: parsed.headers,
        socket: this.socket,
      });
    } catch {
      options = undefined;
    }
    if (!options) {
      this.fallBack();
      return;
    }
    this.pending = end === data.length ? undefined : data.subarray(end);
    const body = parsed.contentLength > 0 ? data.subarray(bodyStart, end) : null;
    this.pools.requests += 1;
    this.exchange = new Exchange(this, parsed, body, options);
    this.exchange.start();
  }

  /** The answer is out: on to the next request, if one came. */
  exchangeDone(): void {
    this.exchange = undefined;
    if (this.paused) {
      this.paused = false;
      this.socket.resume();
    }
    if (this.pending !== undefined) this.next();
  }

  /** Heads are written as latin1, as they were read. */
  write(data: string | Buffer): boolean {
    return typeof data === "string" ? this.socket.write(data, "latin1") : this.socket.write(data);
  }

  /** Node's HTTP server takes the connection, starting with the bytes not used yet. */
  private fallBack(): void {
    this.done = true;
    const { socket } = this;
    socket.off("data", this.onData);
    socket.off("end", this.onEnd);
    socket.off("close", this.onClose);
    socket.off("error", this.onError);
    socket.off("timeout", this.onTimeout);
    socket.setTimeout(0);
    this.forget();
    socket.pause();
    if (this.pending !== undefined) socket.unshift(this.pending);
    this.pending = undefined;
    this.handOver(socket);
    // Node's server reads through its own 'data' listener once the stream flows again.
    socket.resume();
  }

  keepAliveHeader(): string {
    const timeout = this.server.keepAliveTimeout || 5000;
    if (timeout !== keepAliveFor) {
      keepAliveFor = timeout;
      keepAliveLines = `connection: keep-alive\r\nkeep-alive: timeout=${Math.floor(timeout / 1000)}\r\n`;
    }
    return keepAliveLines;
  }
}

/** The last keep-alive lines written, and the server timeout they are for. */
let keepAliveFor = 0;
let keepAliveLines = "";

/** One request on the fast path, from the choice of a target to the end of the answer. */
class Exchange {
  private candidates: { id: string; port: number }[] = [];
  private index = 0;
  private round = 0;
  private timer: NodeJS.Timeout | undefined;
  private upstream: Upstream | undefined;
  private reused = false;
  /** The target port counted in flight, while the attempt lasts. */
  private counted: number | undefined;
  private finishedExchange = false;

  // The answer being relayed.
  private responseHead: Buffer | undefined;
  private answered = false;
  private bodyMode: number = Body.None;
  private remaining = 0;
  private chunks: ChunkedEnd | undefined;
  private keepAlive = false;
  private idleMs = 0;
  private readonly upstreamHead: string;

  constructor(
    private readonly client: ClientConnection,
    private readonly request: ParsedRequest,
    private readonly body: Buffer | null,
    private readonly options: ForwardOptions,
  ) {
    this.upstreamHead = requestHead(request, body, options);
  }

  start(): void {
    this.candidates = this.options.targets();
    this.attempt();
  }

  private attempt(): void {
    const target = this.candidates[this.index];
    if (!target) {
      if (this.round + 1 < WAIT_ROUNDS) {
        this.timer = setTimeout(() => {
          this.timer = undefined;
          this.round += 1;
          this.index = 0;
          this.candidates = this.options.targets();
          this.attempt();
        }, WAIT_DELAY_MS);
        return;
      }
      this.answerLocally(503, `no healthy target for ${this.options.label}\n`);
      return;
    }
    started(target.port);
    this.counted = target.port;
    const upstream = this.client.pools.poolFor(target.port).take();
    this.upstream = upstream;
    this.reused = upstream.used;
    upstream.used = true;
    upstream.exchange = this;
    const { socket } = upstream;
    if (this.body) {
      socket.cork();
      socket.write(this.upstreamHead, "latin1");
      socket.write(this.body);
      socket.uncork();
    } else socket.write(this.upstreamHead, "latin1");
  }

  /** Counts the attempt out of its target's requests in flight (once). */
  private settle(): void {
    if (this.counted === undefined) return;
    finished(this.counted);
    this.counted = undefined;
  }

  /** The client went away: the request to the target goes with it. */
  abort(): void {
    if (this.finishedExchange) return;
    this.finishedExchange = true;
    if (this.timer) clearTimeout(this.timer);
    const upstream = this.upstream;
    this.upstream = undefined;
    if (upstream) {
      upstream.exchange = undefined;
      upstream.socket.destroy();
    }
    this.settle();
  }

  /** Bytes of the answer, in the shared read buffer (`size` of them). */
  upstreamData(read: Buffer, size: number): void {
    const chunk = read.subarray(0, size);
    if (this.responseHead === undefined && !this.answered) {
      this.readHead(chunk);
      return;
    }
    this.relay(chunk, 0, undefined);
  }

  private readHead(chunk: Buffer): void {
    let data = this.responseHead === undefined ? chunk : Buffer.concat([this.responseHead, chunk]);
    for (;;) {
      const headEnd = data.indexOf(HEAD_END);
      if (headEnd === -1) {
        if (data.length > 64 * 1024) this.broken();
        // Kept for the next read: out of the shared read buffer.
        else this.responseHead = Buffer.from(data);
        return;
      }
      const parsed = parseResponseHead(data.toString("latin1", 0, headEnd));
      if (!parsed || parsed.status === 101) {
        this.broken();
        return;
      }
      if (parsed.status < 200) {
        // An interim answer (103 Early Hints): not passed on, as the Node path does not either.
        data = data.subarray(headEnd + 4);
        if (data.length === 0) {
          this.responseHead = undefined;
          return;
        }
        continue;
      }
      this.responseHead = undefined;
      this.answered = true;
      this.relay(data, headEnd + 4, this.clientHead(parsed));
      return;
    }
  }

  /** The answer's head as the client gets it, and how its body is framed. */
  private clientHead(parsed: ParsedResponse): string {
    const noBody = this.request.method === "HEAD" || parsed.status === 204 || parsed.status === 304;
    this.keepAlive = parsed.keepAlive;
    this.idleMs = parsed.keepAliveMs >= 0 ? parsed.keepAliveMs - IDLE_MARGIN_MS : DEFAULT_IDLE_MS;
    let framing = "";
    if (noBody) this.bodyMode = Body.None;
    else if (parsed.chunked) {
      this.bodyMode = Body.Chunked;
      this.chunks = new ChunkedEnd();
      framing = "transfer-encoding: chunked\r\n";
    } else if (parsed.contentLength >= 0 && !parsed.otherCoding) {
      this.bodyMode = parsed.contentLength === 0 ? Body.None : Body.Length;
      this.remaining = parsed.contentLength;
    } else {
      // Delimited by the end of the connection: sent on chunked, so the client's stays open.
      this.bodyMode = Body.UntilClose;
      this.keepAlive = false;
      framing = "transfer-encoding: chunked\r\n";
    }
    // A length next to a transfer coding is not the body's (RFC 9112 §6.3): dropped with it.
    const dropped = parsed.chunked || parsed.otherCoding ? HOP_BY_HOP_AND_LENGTH : HOP_BY_HOP;
    const headers = withoutHopByHop(parsed.rawHeaders, dropped, this.options.responseHeaders);
    let head = `HTTP/1.1 ${parsed.status} ${parsed.reason}\r\n`;
    for (let index = 0; index + 1 < headers.length; index += 2)
      head += `${headers[index]}: ${headers[index + 1]}\r\n`;
    return `${head}${framing}${this.client.keepAliveHeader()}\r\n`;
  }

  /**
   * Sends the answer's bytes from `offset` on (after `head`, when given) to the client, in one
   * write of a buffer of their own (`data` may be the shared read buffer).
   */
  private relay(data: Buffer, offset: number, head: string | undefined): void {
    let end = data.length;
    let complete = false;
    let framed: Buffer | undefined;
    switch (this.bodyMode) {
      case Body.None:
        end = offset;
        complete = true;
        break;
      case Body.Length: {
        const take = Math.min(this.remaining, data.length - offset);
        this.remaining -= take;
        end = offset + take;
        complete = this.remaining === 0;
        break;
      }
      case Body.Chunked: {
        const found = (this.chunks as ChunkedEnd).feed(data, offset);
        if (found === -2) {
          if (head !== undefined) this.client.write(head);
          this.broken();
          return;
        }
        if (found >= 0) {
          end = found;
          complete = true;
        }
        break;
      }
      case Body.UntilClose:
        if (end > offset) {
          const size = Buffer.from(`${(end - offset).toString(16)}\r\n`, "latin1");
          framed = Buffer.concat([size, data.subarray(offset, end), CRLF]);
        }
        break;
    }
    // Bytes after the end of the answer: the connection is out of step, so it is not reused.
    if (complete && end < data.length) this.keepAlive = false;
    let out: Buffer | undefined;
    if (framed !== undefined) {
      out = head === undefined ? framed : Buffer.concat([Buffer.from(head, "latin1"), framed]);
    } else if (head !== undefined || end > offset) {
      // The head is latin1, one byte a character, as it was read.
      const headLength = head === undefined ? 0 : head.length;
      out = Buffer.allocUnsafe(headLength + end - offset);
      if (head !== undefined) out.write(head, 0, headLength, "latin1");
      if (end > offset) data.copy(out, headLength, offset, end);
    }
    const flowing = out === undefined || this.client.socket.write(out);
    if (complete) {
      this.complete();
      return;
    }
    if (!flowing) {
      // Back-pressure: the target's connection is not read until the client has caught up.
      const upstream = this.upstream as Upstream;
      upstream.paused = true;
      upstream.socket.pause();
      this.client.socket.once("drain", () => {
        if (this.upstream === upstream && upstream.paused) {
          upstream.paused = false;
          upstream.socket.resume();
        }
      });
    }
  }

  /** The target ended its side: the end of a close-delimited answer, else a failure. */
  upstreamEnded(): void {
    if (this.answered && this.bodyMode === Body.UntilClose) {
      this.client.write(LAST_CHUNK);
      this.complete();
      return;
    }
    this.upstreamFailed("UPSTREAM_CLOSED");
  }

  private complete(): void {
    const upstream = this.upstream as Upstream;
    this.upstream = undefined;
    this.finishedExchange = true;
    if (upstream.paused) {
      upstream.paused = false;
      upstream.socket.resume();
    }
    upstream.pool.release(upstream, this.keepAlive ? this.idleMs : 0);
    this.settle();
    this.client.exchangeDone();
  }

  /** The target sent what is not HTTP: 502 before the answer started, else the client is cut. */
  private broken(): void {
    if (!this.dropUpstream()) this.answerLocally(502, "upstream error: malformed answer\n");
  }

  /**
   * Closes the target's connection of a failed attempt. When part of the answer is out, the
   * client's connection is cut as well, as the Node path does (and true is returned).
   */
  private dropUpstream(): boolean {
    const upstream = this.upstream;
    if (upstream) {
      upstream.exchange = undefined;
      upstream.socket.destroy();
    }
    this.upstream = undefined;
    this.settle();
    if (!this.answered) return false;
    this.finishedExchange = true;
    this.client.socket.destroy();
    return true;
  }

  upstreamFailed(code: string): void {
    if (!this.upstream || this.finishedExchange) return;
    if (this.dropUpstream()) return;
    // Sent again elsewhere: a refused connection (the target never saw it), a reused keep-alive
    // connection the target closed while idle, and an idempotent request whose connection failed
    // before any answer (a target that exited at once).
    const again =
      code === "ECONNREFUSED" || (CLOSED.has(code) && (this.reused || IDEMPOTENT.has(this.request.method)));
    if (again && this.responseHead === undefined) {
      this.index += 1;
      this.attempt();
      return;
    }
    this.answerLocally(502, `upstream error: ${code}\n`);
  }

  /** A 502 or 503 of the proxy's own. */
  private answerLocally(status: 502 | 503, text: string): void {
    this.finishedExchange = true;
    const body = Buffer.from(text);
    let head = `HTTP/1.1 ${status} ${status === 502 ? "Bad Gateway" : "Service Unavailable"}\r\ncontent-type: text/plain\r\n`;
    const extra = this.options.responseHeaders;
    if (extra) for (const name in extra) head += `${name}: ${extra[name]}\r\n`;
    head += `content-length: ${body.length}\r\n${this.client.keepAliveHeader()}\r\n`;
    this.client.write(
      this.request.method === "HEAD" ? head : Buffer.concat([Buffer.from(head, "latin1"), body]),
    );
    this.client.exchangeDone();
  }
}

const CRLF = Buffer.from("\r\n");
const HEAD_END = Buffer.from("\r\n\r\n");
const HOP_BY_HOP_AND_LENGTH = new Set([...HOP_BY_HOP, "content-length"]);
const LAST_CHUNK = Buffer.from("0\r\n\r\n");

/** The request head sent to the target: end-to-end headers, the caller's, the body's length. */
function requestHead(request: ParsedRequest, body: Buffer | null, options: ForwardOptions): string {
  const headers = withoutHopByHop(request.rawHeaders, SET_BY_FORWARDER, options.headers);
  let head = `${request.method} ${options.path ?? request.url} HTTP/1.1\r\n`;
  let host = false;
  for (let index = 0; index + 1 < headers.length; index += 2) {
    const name = headers[index] as string;
    if (name.length === 4 && name.toLowerCase() === "host") host = true;
    head += `${name}: ${headers[index + 1]}\r\n`;
  }
  if (!host) head += "host: 127.0.0.1\r\n";
  // As undici: a length for a body, and a zero length for methods that expect one.
  if (body) head += `content-length: ${body.length}\r\n`;
  else if (request.method === "POST" || request.method === "PUT" || request.method === "PATCH")
    head += "content-length: 0\r\n";
  return `${head}connection: keep-alive\r\n\r\n`;
}

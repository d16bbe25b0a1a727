import { subscribe } from "node:diagnostics_channel";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import type { Dispatcher, Pool } from "undici";

/**
 * The HTTP forwarding core Berth Local's gateways share: one request to one of a set of local
 * targets, with the retries that make a rollout lose no request. A request that meets a target
 * that refused the connection, or a reused keep-alive connection a stopping target just closed
 * (before it answered), is sent to the next target; when no target can take it, the forwarder
 * looks again every 100 ms for up to 2 s before it answers 503.
 *
 * Requests go through undici's connection pools (one per target, keep-alive), several times
 * faster than Node's `http` client; the answer is streamed back as it arrives. The proxies'
 * servers put `fast-path.ts` in front of this: plain keep-alive requests are relayed there on
 * raw sockets, with the same choices, and only the rest of the requests come here.
 *
 * Which targets a request may go to, and in what order, is the caller's (`targets`): this module
 * only forwards. For a target that is leaving (a task asked to stop), the owner of the targets
 * first stops offering it, then waits for `drained` (no request to it in flight in any forwarder)
 * before the task gets SIGTERM, then calls `retireTargets` to close its connection pools.
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

export const WAIT_ROUNDS = 20;
export const WAIT_DELAY_MS = 100;
/** Bodies up to this size are kept so a request can be sent again; larger ones are sent once. */
export const MAX_RETRY_BODY = 1024 * 1024;

export const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "upgrade",
  "te",
  "trailer",
]);
/** Request headers the forwarder sets itself: the length of the body it sends, no 100-continue. */
export const SET_BY_FORWARDER = new Set([...HOP_BY_HOP, "content-length", "expect"]);

/** Errors that mean the connection closed before the target read the request or answered. */
const CLOSED_CONNECTION = new Set(["ECONNRESET", "EPIPE", "UND_ERR_SOCKET"]);
/**
 * Methods safe to send again after a connection failed before any answer (RFC 9110 §9.2.2):
 * the target may have seen the request, and sending it twice does no harm.
 */
export const IDEMPOTENT = new Set(["GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"]);

/** Requests in flight by target port, across every forwarder, and who waits for a port to drain. */
const inFlight = new Map<number, number>();
const drainWaiters = new Set<() => void>();
const forwarders = new Set<HttpForwarder>();

export function started(port: number): void {
  inFlight.set(port, (inFlight.get(port) ?? 0) + 1);
}

export function finished(port: number): void {
  const left = (inFlight.get(port) ?? 1) - 1;
  if (left > 0) inFlight.set(port, left);
  else inFlight.delete(port);
  if (left <= 0 && drainWaiters.size > 0) for (const wake of [...drainWaiters]) wake();
}

/** Requests in flight to a target port, across every forwarder. */
export function inFlightTo(port: number): number {
  return inFlight.get(port) ?? 0;
}

/**
 * Resolves once no forwarder has a request in flight to any of the ports, or after `timeoutMs`
 * (with false then): a leaving target's requests finish before it is told to stop.
 */
export function drained(ports: readonly number[], timeoutMs: number): Promise<boolean> {
  const idle = () => ports.every((port) => !inFlight.has(port));
  if (idle()) return Promise.resolve(true);
  return new Promise((resolve) => {
    const done = (result: boolean) => {
      clearTimeout(timer);
      drainWaiters.delete(wake);
      resolve(result);
    };
    const wake = () => {
      if (idle()) done(true);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    drainWaiters.add(wake);
  });
}

/**
 * undici, imported when the first request comes here rather than with this module: its import
 * takes a sixth of a second of CPU, which a Berth Local that forwards no request (or only on the
 * fast path) would otherwise pay for nothing at start.
 */
let undiciPool: typeof Pool | undefined;
let loadingUndici: Promise<void> | undefined;

function loadUndici(): Promise<void> {
  loadingUndici ??= import("undici").then(
    (undici) => {
      undiciPool = undici.Pool;
    },
    (error: unknown) => {
      loadingUndici = undefined; // the next request tries again
      throw error;
    },
  );
  return loadingUndici;
}

/** Closes every forwarder's connections to the ports (a drained target that is going away). */
export function retireTargets(ports: readonly number[]): void {
  for (const forwarder of forwarders) forwarder.retire(ports);
}

/**
 * Whether a request went out on a connection that had carried an earlier one (a reused
 * keep-alive connection), which is when a reset means "the target closed it while idle" rather
 * than "the target failed on this request". undici announces each request's socket on this
 * channel synchronously right after it calls the request's `onConnect`, so the handler whose
 * `onConnect` ran last is the one being sent.
 */
const usedSockets = new WeakSet<Socket>();
let sending: Attempt | undefined;
subscribe("undici:client:sendHeaders", (message) => {
  const { socket } = message as { socket: Socket };
  if (sending) {
    sending.reused = usedSockets.has(socket);
    sending = undefined;
  }
  usedSockets.add(socket);
});

interface Exchange {
  request: IncomingMessage;
  response: ServerResponse;
  options: ForwardOptions;
  headers: string[];
  body: Buffer | null;
  retryable: boolean;
  /** The attempt under way, to abort when the client goes away. */
  current?: Attempt;
}

/** One try of one request at one target, as undici's dispatch handler. */
class Attempt implements Dispatcher.DispatchHandlers {
  reused = false;
  /** Bytes of the answer still to come, when it has a length (-1: unknown). */
  private remaining = -1;
  private ended = false;
  private abort: ((error?: Error) => void) | undefined;
  private resume: (() => void) | undefined;
  private readonly onDrain = () => this.resume?.();

  private counted: number | undefined;

  constructor(
    private readonly exchange: Exchange,
    private readonly retry: () => void,
    port: number,
  ) {
    this.counted = port;
    started(port);
  }

  /** Counts the attempt out of its target's requests in flight (once). */
  private settle(): void {
    if (this.counted === undefined) return;
    finished(this.counted);
    this.counted = undefined;
  }

  cancel(): void {
    this.abort?.();
  }

  onConnect(abort: (error?: Error) => void): void {
    this.abort = abort;
    if (this.exchange.response.destroyed) abort();
    else sending = this;
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    if (statusCode < 200) return true;
    const { response, options, request } = this.exchange;
    const raw: string[] = new Array(rawHeaders.length);
    for (let index = 0; index < rawHeaders.length; index += 1)
      raw[index] = (rawHeaders[index] as Buffer).toString("latin1");
    const headers = withoutHopByHop(raw, HOP_BY_HOP, options.responseHeaders);
    if (request.method !== "HEAD") {
      for (let index = 0; index + 1 < headers.length; index += 2) {
        const name = headers[index] as string;
        if (name.length === 14 && name.toLowerCase() === "content-length") {
          this.remaining = Number(headers[index + 1]);
          break;
        }
      }
    }
    response.writeHead(statusCode, headers);
    this.resume = resume;
    return true;
  }

  onData(chunk: Buffer): boolean {
    const { response } = this.exchange;
    this.remaining -= chunk.length;
    if (this.remaining === 0) {
      // The last bytes of an answer of known length: sent with `end`, so that a short answer
      // goes out with its headers in one write.
      this.ended = true;
      response.end(chunk);
      return true;
    }
    if (response.write(chunk)) return true;
    // Back-pressure: undici stops reading from the target until the client has caught up.
    response.once("drain", this.onDrain);
    return false;
  }

  onComplete(): void {
    this.settle();
    if (!this.ended) this.exchange.response.end();
  }

  onError(error: Error): void {
    this.settle();
    const { request, response, options, retryable } = this.exchange;
    if (response.headersSent) {
      response.destroy();
      return;
    }
    if (response.destroyed) return;
    const code = (error as NodeJS.ErrnoException).code ?? "";
    // Sent again elsewhere: a refused connection (the target never saw it), a reused keep-alive
    // connection the target closed while idle, and an idempotent request whose connection failed
    // before any answer (a target that exited at once).
    const again =
      code === "ECONNREFUSED" ||
      (CLOSED_CONNECTION.has(code) && (this.reused || IDEMPOTENT.has(request.method ?? "GET")));
    if (again && retryable) {
      this.retry();
      return;
    }
    response.writeHead(502, { "content-type": "text/plain", ...options.responseHeaders });
    response.end(`upstream error: ${code || error.message}\n`);
  }
}

/** Target connections kept outside the forwarder's undici pools (the fast path's). */
export interface AttachedPools {
  retire(ports: readonly number[]): void;
  close(): void;
}

export class HttpForwarder {
  /** One keep-alive pool per target port. */
  private readonly pools = new Map<number, Pool>();
  private readonly attached = new Set<AttachedPools>();

  constructor() {
    forwarders.add(this);
  }

  private poolFor(UndiciPool: typeof Pool, port: number): Pool {
    let pool = this.pools.get(port);
    if (!pool) {
      pool = new UndiciPool(`http://127.0.0.1:${port}`, {
        connections: 512,
        pipelining: 1,
        // An idle connection is kept for the target's `Keep-Alive: timeout=N` hint less this
        // margin (with undici's default margin of 2 s, a server with a 1 or 2 s timeout got a new
        // connection per request).
        keepAliveTimeoutThreshold: 500,
        // As with Node's http client: no timeouts of its own (long polls and streams pass).
        headersTimeout: 0,
        bodyTimeout: 0,
      });
      this.pools.set(port, pool);
    }
    return pool;
  }

  /** Closes the pools of targets that are going away (a later target on the port gets a new one). */
  retire(ports: readonly number[]): void {
    for (const pools of this.attached) pools.retire(ports);
    for (const port of ports) {
      const pool = this.pools.get(port);
      if (!pool) continue;
      this.pools.delete(port);
      void pool.close().catch(() => undefined);
    }
  }

  /** Reads the request body and forwards the request. */
  handle(request: IncomingMessage, response: ServerResponse, options: ForwardOptions): void {
    request.on("error", () => response.destroy());
    const start = (body: Buffer | null, size: number) => {
      const exchange: Exchange = {
        request,
        response,
        options,
        headers: withoutHopByHop(request.rawHeaders, SET_BY_FORWARDER, options.headers),
        body,
        retryable: size <= MAX_RETRY_BODY,
      };
      // A client that goes away takes its request to the target with it.
      response.on("close", () => {
        if (!response.writableFinished) exchange.current?.cancel();
      });
      this.attempt(exchange, options.targets(), 0, 0);
    };
    const { headers } = request;
    if (headers["content-length"] === undefined && headers["transfer-encoding"] === undefined) {
      // No body (most GETs): forward at once, without waiting for the end of an empty stream.
      start(null, 0);
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    request.on("data", (chunk: Buffer) => {
      size += chunk.length;
      chunks.push(chunk);
    });
    request.on("end", () =>
      start(size === 0 ? null : chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks), size),
    );
  }

  /** Other connections to targets that `retire` and `close` cover as well. */
  attach(pools: AttachedPools): void {
    this.attached.add(pools);
  }

  close(): void {
    forwarders.delete(this);
    for (const pools of this.attached) pools.close();
    for (const pool of this.pools.values()) void pool.destroy().catch(() => undefined);
    this.pools.clear();
  }

  private attempt(exchange: Exchange, candidates: Target[], index: number, round: number): void {
    const { request, response, options, retryable } = exchange;
    if (response.destroyed) return;
    const UndiciPool = undiciPool;
    if (UndiciPool === undefined) {
      // The first request here: the targets are asked for again once undici is loaded.
      loadUndici().then(
        () => this.attempt(exchange, options.targets(), 0, round),
        (error: unknown) => {
          if (response.headersSent) return void response.destroy();
          response.writeHead(502, { "content-type": "text/plain" });
          response.end(`Berth Local could not load its HTTP client (undici): ${String(error)}\n`);
        },
      );
      return;
    }
    const target = candidates[index];
    if (!target) {
      if (round + 1 < WAIT_ROUNDS && (retryable || index === 0)) {
        setTimeout(() => this.attempt(exchange, options.targets(), 0, round + 1), WAIT_DELAY_MS);
        return;
      }
      if (!response.headersSent) {
        response.writeHead(503, { "content-type": "text/plain", ...options.responseHeaders });
      }
      response.end(`no healthy target for ${options.label}\n`);
      return;
    }
    const attempt = new Attempt(
      exchange,
      () => this.attempt(exchange, candidates, index + 1, round),
      target.port,
    );
    exchange.current = attempt;
    this.poolFor(UndiciPool, target.port).dispatch(
      {
        method: (request.method ?? "GET") as Dispatcher.HttpMethod,
        path: options.path ?? request.url ?? "/",
        headers: exchange.headers,
        body: exchange.body,
      },
      attempt,
    );
  }
}

/**
 * Raw name/value pairs (names as written, repeated ones kept) less hop-by-hop headers: those in
 * `dropped` and those a `Connection` header names (RFC 9110 §7.6.1), and less those `extra`
 * replaces, followed by `extra`. One pass, with no lookup structure built for the common case of a
 * `Connection` header that names only hop-by-hop headers (`keep-alive`, `close`).
 */
export function withoutHopByHop(
  raw: readonly string[],
  dropped: ReadonlySet<string>,
  extra: Record<string, string> | undefined,
): string[] {
  const replaced = extra === undefined ? undefined : lowerCaseKeys(extra);
  const headers: string[] = [];
  let named: string[] | undefined;
  for (let index = 0; index + 1 < raw.length; index += 2) {
    const name = raw[index] as string;
    const lower = name.toLowerCase();
    if (lower === "connection") named = connectionTokens(raw[index + 1] as string, dropped, named);
    if (dropped.has(lower) || (replaced !== undefined && Object.hasOwn(replaced, lower))) continue;
    headers.push(name, raw[index + 1] as string);
  }
  // Rare: a Connection header that names an end-to-end header, which is dropped as well.
  if (named !== undefined && named.length > 0) {
    for (let index = headers.length - 2; index >= 0; index -= 2) {
      if (named.includes((headers[index] as string).toLowerCase())) headers.splice(index, 2);
    }
  }
  if (extra) for (const name in extra) headers.push(name, extra[name] as string);
  return headers;
}

/**
 * The header names one `Connection` header value lists, less those `dropped` anyway, added to
 * `into` (made only for a name to add: `keep-alive` alone, the common case, adds none).
 */
function connectionTokens(
  value: string,
  dropped: ReadonlySet<string>,
  into?: string[],
): string[] | undefined {
  let list = into;
  let from = 0;
  while (from <= value.length) {
    let end = value.indexOf(",", from);
    if (end === -1) end = value.length;
    const name = value.slice(from, end).trim().toLowerCase();
    if (name && !dropped.has(name)) {
      list ??= [];
      list.push(name);
    }
    from = end + 1;
  }
  return list;
}

/** The object itself when its keys are lower case already (as callers write them), else a copy. */
function lowerCaseKeys(headers: Record<string, string>): Record<string, string> {
  for (const name in headers) {
    if (name !== name.toLowerCase()) {
      const lowered: Record<string, string> = {};
      for (const key in headers) lowered[key.toLowerCase()] = headers[key] as string;
      return lowered;
    }
  }
  return headers;
}

import type { IncomingHttpHeaders } from "node:http";

/**
 * Strict readers for the parts of HTTP/1.1 the proxies' fast path handles itself: a request head
 * in the common form, a response head, and where a chunked body ends. Anything they do not
 * accept is not an error here: the caller hands the connection to Node's own HTTP server, which
 * answers it as it always did (400, 431, 100-continue, upgrades, HTTP/1.0, chunked uploads).
 */

/** What the routing of a request looks at: an IncomingMessage, or a head the fast path read. */
export interface RequestHead {
  method?: string;
  url?: string;
  headers: IncomingHttpHeaders;
  socket: { remoteAddress?: string };
}

export interface ParsedRequest {
  method: string;
  url: string;
  /** Names as written, then values, as IncomingMessage.rawHeaders. */
  rawHeaders: string[];
  /** Lower-case names (each at most once: a repeated name is not taken). */
  headers: Record<string, string>;
  contentLength: number;
}

export interface ParsedResponse {
  /** 1.0 or 1.1. */
  minor: number;
  status: number;
  reason: string;
  rawHeaders: string[];
  /** -1: none given. */
  contentLength: number;
  /** Whether the last transfer coding is chunked. */
  chunked: boolean;
  /** A transfer coding other than chunked ends it: the body runs to the end of the connection. */
  otherCoding: boolean;
  /** Whether the target will keep the connection open after this answer. */
  keepAlive: boolean;
  /** The target's `Keep-Alive: timeout=N` hint in ms (-1: none). */
  keepAliveMs: number;
}

/** Node's default limit on a request head; a longer one is left to Node (431). */
export const MAX_HEAD = 16 * 1024;

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const METHOD = /^[A-Z]+$/;
/** What a field value may hold: tab, visible characters, spaces and obs-text (no controls). */
const FIELD_VALUE = /^[\t -~\u0080-\u00ff]*$/;
/** A request target in origin form (`/path?query`), printable ASCII only. */
const ORIGIN_FORM = /^\/[\x21-\x7e]*$/;

/**
 * A request head (without its final empty line) when it is one the fast path may forward:
 * HTTP/1.1, origin-form target, no repeated field name, no `Transfer-Encoding`, `Upgrade` or
 * `Expect`, a `Connection` header (if any) that only asks for keep-alive, and a body of at most
 * `maxBody` bytes. Otherwise undefined.
 */
export function parseRequestHead(head: string, maxBody: number): ParsedRequest | undefined {
  let lineEnd = head.indexOf("\r\n");
  if (lineEnd === -1) lineEnd = head.length;
  const line = head.slice(0, lineEnd);
  const first = line.indexOf(" ");
  const last = line.lastIndexOf(" ");
  if (first <= 0 || last === first || line.slice(last + 1) !== "HTTP/1.1") return undefined;
  const method = line.slice(0, first);
  const url = line.slice(first + 1, last);
  if (!METHOD.test(method) || !ORIGIN_FORM.test(url)) return undefined;
  const rawHeaders: string[] = [];
  const headers: Record<string, string> = Object.create(null);
  let contentLength = 0;
  const taken = eachField(head, lineEnd + 2, (name, value) => {
    if (!FIELD_VALUE.test(value)) return false;
    const lower = name.toLowerCase();
    if (headers[lower] !== undefined) return false;
    switch (lower) {
      case "transfer-encoding":
      case "upgrade":
      case "expect":
        return false;
      case "connection":
        if (value.toLowerCase() !== "keep-alive") return false;
        break;
      case "content-length":
        if (!/^\d{1,15}$/.test(value)) return false;
        contentLength = Number(value);
        if (contentLength > maxBody) return false;
        break;
    }
    headers[lower] = value;
    rawHeaders.push(name, value);
    return true;
  });
  return taken ? { method, url, rawHeaders, headers, contentLength } : undefined;
}

/** A response head (without its final empty line), or undefined when it is malformed. */
export function parseResponseHead(head: string): ParsedResponse | undefined {
  let lineEnd = head.indexOf("\r\n");
  if (lineEnd === -1) lineEnd = head.length;
  const line = head.slice(0, lineEnd);
  if (!line.startsWith("HTTP/1.") || line.charCodeAt(8) !== 32) return undefined;
  const minor = line.charCodeAt(7) - 48;
  const status = Number(line.slice(9, 12));
  if ((minor !== 0 && minor !== 1) || !/^\d{3}$/.test(line.slice(9, 12)) || status < 100) return undefined;
  if (line.length > 12 && line.charCodeAt(12) !== 32) return undefined;
  const reason = line.length > 13 ? line.slice(13) : "";
  const rawHeaders: string[] = [];
  let contentLength = -1;
  let chunked = false;
  let otherCoding = false;
  let keepAlive = minor === 1;
  let keepAliveMs = -1;
  const valid = eachField(head, lineEnd + 2, (name, value) => {
    switch (name.length) {
      case 10:
        if (name.toLowerCase() === "connection") {
          const tokens = value.toLowerCase();
          if (/(^|,)\s*close\s*(,|$)/.test(tokens)) keepAlive = false;
          else if (minor === 0 && /(^|,)\s*keep-alive\s*(,|$)/.test(tokens)) keepAlive = true;
        } else if (name.toLowerCase() === "keep-alive") {
          const hint = /(?:^|[,\s])timeout\s*=\s*(\d+)/i.exec(value);
          if (hint) keepAliveMs = Number(hint[1]) * 1000;
        }
        break;
      case 14:
        if (name.toLowerCase() === "content-length") {
          if (!/^\d{1,15}$/.test(value)) return false;
          const length = Number(value);
          // Repeated, the lengths must agree (RFC 9112 §6.3).
          if (contentLength !== -1 && contentLength !== length) return false;
          contentLength = length;
        }
        break;
      case 17:
        if (name.toLowerCase() === "transfer-encoding") {
          const codings = value.toLowerCase().split(",");
          chunked = (codings[codings.length - 1] as string).trim() === "chunked";
          otherCoding = !chunked;
        }
        break;
    }
    rawHeaders.push(name, value);
    return true;
  });
  if (!valid) return undefined;
  return { minor, status, reason, rawHeaders, contentLength, chunked, otherCoding, keepAlive, keepAliveMs };
}

/**
 * Calls `visit` with each header field of a head from `start` (name as written, value without
 * the white space around it): false when a line is not a field or `visit` refuses one.
 */
function eachField(head: string, start: number, visit: (name: string, value: string) => boolean): boolean {
  let from = start;
  while (from < head.length) {
    let end = head.indexOf("\r\n", from);
    if (end === -1) end = head.length;
    const colon = head.indexOf(":", from);
    if (colon <= from || colon >= end) return false;
    const name = head.slice(from, colon);
    if (!TOKEN.test(name) || !visit(name, head.slice(colon + 1, end).trim())) return false;
    from = end + 2;
  }
  return true;
}

/** Where a chunked body's reader is. */
const Chunk = {
  Size: 0,
  Extension: 1,
  SizeLf: 2,
  Data: 3,
  DataCr: 4,
  DataLf: 5,
  TrailerStart: 6,
  TrailerLine: 7,
  EndLf: 8,
  Done: 9,
} as const;

/**
 * Follows a chunked body as its bytes arrive, in pieces split anywhere, to tell where it ends
 * (after the last chunk and its trailer section). The bytes themselves are not changed.
 */
export class ChunkedEnd {
  private state: number = Chunk.Size;
  private size = 0;
  private digits = 0;
  private remaining = 0;

  /**
   * Reads `data` from `offset`: the index just past the end of the body when it ends in
   * `data`, -1 when it goes on, -2 when the framing is broken.
   */
  feed(data: Uint8Array, offset = 0): number {
    let index = offset;
    const length = data.length;
    while (index < length) {
      switch (this.state) {
        case Chunk.Data: {
          const take = Math.min(this.remaining, length - index);
          this.remaining -= take;
          index += take;
          if (this.remaining === 0) this.state = Chunk.DataCr;
          continue;
        }
        case Chunk.Size: {
          const byte = data[index] as number;
          const digit = hexValue(byte);
          if (digit >= 0) {
            if (++this.digits > 12) return -2;
            this.size = this.size * 16 + digit;
          } else if (this.digits === 0) return -2;
          else if (byte === 0x3b || byte === 0x20 || byte === 0x09) this.state = Chunk.Extension;
          else if (byte === 0x0d) this.state = Chunk.SizeLf;
          else return -2;
          break;
        }
        case Chunk.Extension:
          if (data[index] === 0x0d) this.state = Chunk.SizeLf;
          else if (data[index] === 0x0a) return -2;
          break;
        case Chunk.SizeLf:
          if (data[index] !== 0x0a) return -2;
          if (this.size === 0) this.state = Chunk.TrailerStart;
          else {
            this.remaining = this.size;
            this.state = Chunk.Data;
          }
          this.size = 0;
          this.digits = 0;
          break;
        case Chunk.DataCr:
          if (data[index] !== 0x0d) return -2;
          this.state = Chunk.DataLf;
          break;
        case Chunk.DataLf:
          if (data[index] !== 0x0a) return -2;
          this.state = Chunk.Size;
          break;
        case Chunk.TrailerStart:
          this.state = data[index] === 0x0d ? Chunk.EndLf : Chunk.TrailerLine;
          break;
        case Chunk.TrailerLine:
          if (data[index] === 0x0a) this.state = Chunk.TrailerStart;
          break;
        case Chunk.EndLf:
          if (data[index] !== 0x0a) return -2;
          this.state = Chunk.Done;
          return index + 1;
        case Chunk.Done:
          return index;
      }
      index += 1;
    }
    return this.state === Chunk.Done ? index : -1;
  }
}

function hexValue(byte: number): number {
  if (byte >= 0x30 && byte <= 0x39) return byte - 0x30;
  if (byte >= 0x61 && byte <= 0x66) return byte - 0x57;
  if (byte >= 0x41 && byte <= 0x46) return byte - 0x37;
  return -1;
}

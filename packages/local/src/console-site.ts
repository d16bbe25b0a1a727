import { existsSync, readFileSync, statSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { extname, join, normalize, sep } from "node:path";
import { gzipSync } from "node:zlib";

/**
 * The console's static files on the API's own origin: every GET or HEAD outside `/v1` is a file of
 * the build, or else index.html, so a deep link (`/stacks/shop/services/web`) reloads the app
 * rather than answering 404. No inline script is ever served, so the policy allows none.
 */
const CONSOLE_SECURITY_HEADERS: Readonly<Record<string, string>> = {
  "content-security-policy": [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join("; "),
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
  "cross-origin-opener-policy": "same-origin",
};

const CONTENT_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".txt": "text/plain; charset=utf-8",
  ".woff2": "font/woff2",
};

/**
 * Files are answered from memory, gzipped once: reading them through the libuv thread pool
 * would queue them behind the store's disk work, which Berth Local keeps busy. An entry is read
 * again when the file's modification time changes (a rebuild while Berth Local runs).
 */
const cache = new Map<string, { mtimeMs: number; body: Buffer; gzipped: Buffer }>();

function cached(file: string): { body: Buffer; gzipped: Buffer } {
  const { mtimeMs } = statSync(file);
  const hit = cache.get(file);
  if (hit && hit.mtimeMs === mtimeMs) return hit;
  const body = readFileSync(file);
  const entry = { mtimeMs, body, gzipped: gzipSync(body) };
  cache.set(file, entry);
  return entry;
}

/** Whether a request path belongs to the API rather than the console. */
function isApiPath(path: string): boolean {
  return path === "/v1" || path.startsWith("/v1/") || path.startsWith("/v1?");
}

/**
 * Answers a console request; returns false for what the API must answer (its paths, and every
 * method but GET and HEAD).
 */
export function serveConsole(dir: string, request: IncomingMessage, response: ServerResponse): boolean {
  const method = request.method ?? "GET";
  const target = request.url ?? "/";
  const path = target.split("?")[0] ?? "/";
  if (isApiPath(path) || (method !== "GET" && method !== "HEAD")) return false;
  const acceptsGzip = /\bgzip\b/.test(String(request.headers["accept-encoding"] ?? ""));
  const send = (status: number, headers: Record<string, string>, file?: string, text?: string) => {
    let body: Buffer | string | undefined = text;
    const encoding: Record<string, string> = {};
    if (file) {
      const entry = cached(file);
      body = acceptsGzip ? entry.gzipped : entry.body;
      if (acceptsGzip) encoding["content-encoding"] = "gzip";
      encoding.vary = "accept-encoding";
    }
    response.writeHead(status, {
      ...CONSOLE_SECURITY_HEADERS,
      ...headers,
      ...encoding,
      "content-length": String(body === undefined ? 0 : Buffer.byteLength(body)),
    });
    response.end(method === "HEAD" ? undefined : body);
  };
  const index = join(dir, "index.html");
  if (!existsSync(index)) {
    send(
      503,
      { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" },
      undefined,
      "The Berth console is not built. Run `npm run build -w @berth/web` (npm ci and npm start build it).\n",
    );
    return true;
  }
  // The console on the API's own origin: the API is here, and so is its config.
  if (path === "/config.json") {
    send(
      200,
      { "content-type": CONTENT_TYPES[".json"] as string, "cache-control": "no-store" },
      undefined,
      '{"apiUrl":""}',
    );
    return true;
  }
  let decoded: string;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    decoded = "/";
  }
  const file = normalize(join(dir, decoded));
  const inside = file.startsWith(dir.endsWith(sep) ? dir : `${dir}${sep}`);
  if (inside && existsSync(file) && statSync(file).isFile()) {
    const immutable = decoded.startsWith("/assets/");
    send(
      200,
      {
        "content-type": CONTENT_TYPES[extname(file)] ?? "application/octet-stream",
        // Built assets are named by their content hash; index.html must be asked for every time.
        "cache-control": immutable ? "public, max-age=31536000, immutable" : "no-cache",
      },
      file,
    );
    return true;
  }
  // A missing asset is a 404 (a stale tab asking for an old hash), not the app's page.
  if (decoded.startsWith("/assets/") || /\.[a-z0-9]{1,5}$/i.test(decoded)) {
    send(
      404,
      { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" },
      undefined,
      `no file ${decoded}\n`,
    );
    return true;
  }
  send(200, { "content-type": CONTENT_TYPES[".html"] as string, "cache-control": "no-cache" }, index);
  return true;
}

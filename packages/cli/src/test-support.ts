import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { ApiDependencyOptions } from "../../functions/src/api/dependencies.ts";
import { type Harness, startHarness } from "../../functions/src/api/test-support.ts";
import { type Io, main } from "./main.ts";

const root = fileURLToPath(new URL("../../..", import.meta.url));

/**
 * The real API handler, store (dynalite) and routes behind a real HTTP server, so the CLI
 * meets exactly what it meets in Berth Local. The functions' harness supplies them, with its
 * two stand-ins: a Step Functions starter that records starts, and a scripted CloudWatch Logs.
 */
export interface ApiServer {
  url: string;
  harness: Harness;
  /** Every request the CLI made, as `METHOD /path?query`. */
  requests: string[];
  /** Answers that broke the API's own documented contract (the harness checks each one). */
  contractFailures: Error[];
  stop(): Promise<void>;
}

async function bodyOf(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** `options` add to the harness's dependencies, e.g. a source bucket. */
export async function startApiServer(options: Partial<ApiDependencyOptions> = {}): Promise<ApiServer> {
  const harness = await startHarness(options);
  const requests: string[] = [];
  const contractFailures: Error[] = [];
  const server = createServer(async (request, response) => {
    const body = await bodyOf(request);
    const method = request.method ?? "GET";
    const path = request.url ?? "/";
    requests.push(`${method} ${path}`);
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(request.headers)) {
      if (typeof value === "string") headers[name] = value;
    }
    try {
      const reply = await harness.call({ method, path, headers, ...(body.length > 0 ? { body } : {}) });
      const { "content-length": _, ...replyHeaders } = reply.headers;
      response.writeHead(reply.status, replyHeaders);
      response.end(reply.json === undefined ? undefined : JSON.stringify(reply.json));
    } catch (error) {
      contractFailures.push(error as Error);
      response.writeHead(500, { "content-type": "application/json" });
      response.end(JSON.stringify({ error: { code: "INTERNAL", message: "internal error" } }));
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    harness,
    requests,
    contractFailures,
    async stop() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await harness.stop();
    },
  };
}

/** A URL on which nothing listens: a port that was free a moment ago. */
export async function deadUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

/**
 * A project directory outside the repository whose files are `files` (name → text) and which
 * depends on `@berth/config` as an app would: `node_modules/@berth/config` is this repository's.
 */
export function configProject(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), "berth-project-"));
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  mkdirSync(join(dir, "node_modules", "@berth"), { recursive: true });
  symlinkSync(
    fileURLToPath(new URL("../../config", import.meta.url)),
    join(dir, "node_modules", "@berth", "config"),
  );
  return dir;
}

/** `berth …` in-process in `cwd`, with no environment, its output captured. */
export async function berth(
  args: string[],
  cwd: string,
  io: Partial<Io> = {},
): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(args, {
    out: (text) => out.push(text),
    err: (text) => err.push(text),
    cwd,
    env: {},
    ...io,
  });
  return { code, out: out.join("\n"), err: err.join("\n") };
}

/**
 * `tsc` over files of a project made by `configProject`, with the repository's compiler settings.
 * Each run parses Node's types and core's sources again (seconds of CPU): check several files in one.
 */
export async function typecheck(
  dir: string,
  ...files: [string, ...string[]]
): Promise<{ code: number; output: string }> {
  writeFileSync(
    join(dir, "tsconfig.json"),
    JSON.stringify({
      extends: join(root, "tsconfig.base.json"),
      compilerOptions: { types: [] },
      // Core's sources, which the types come from, use Node's modules.
      files: [...files, join(root, "node_modules/@types/node/index.d.ts")],
    }),
  );
  try {
    await promisify(execFile)(process.execPath, [join(root, "node_modules/typescript/bin/tsc"), "-p", dir], {
      cwd: dir,
    });
    return { code: 0, output: "" };
  } catch (error) {
    const failed = error as { code: number; stdout: string };
    return { code: failed.code, output: failed.stdout };
  }
}

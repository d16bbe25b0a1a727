import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * A small real HTTP app used as a Berth Local image (`file://` directory). Its behaviour comes
 * from its environment: VERSION (the answer), CRASH=1 (exit 3 at start), CRASH_AFTER_MS=N (exit 3
 * N ms after it listens), UNHEALTHY=1 (/health answers 500), UNHEALTHY_ONCE_SERVING=1 (/health
 * answers 500 once the app has answered any other request), CRASH_ONCE_SERVING=1 (exit 3 once it
 * has answered its first request other than /health), IGNORE_SIGTERM=1 (keeps running on
 * SIGTERM), ON_SIGTERM=close (only `server.close(() => process.exit(0))`) or ON_SIGTERM=exit
 * (exits at once), DELAY_MS=N (answers /whoami after N ms).
 */
const SERVER = `
import http from "node:http";
const version = process.env.VERSION ?? "v1";
if (process.env.CRASH === "1") {
  console.error("crashing on start: CRASH=1");
  process.exit(3);
}
let served = false;
const server = http.createServer((request, response) => {
  if (request.url === "/health") {
    const sick = process.env.UNHEALTHY === "1" || (served && process.env.UNHEALTHY_ONCE_SERVING === "1");
    response.writeHead(sick ? 500 : 200);
    response.end(sick ? "health: database unreachable" : "ok");
    return;
  }
  served = true;
  if (process.env.CRASH_ONCE_SERVING === "1") {
    // A release that breaks on its first real request: it answers it, then exits with 3.
    response.end(version, () => {
      console.error("crashing after serving a request: CRASH_ONCE_SERVING=1");
      process.exit(3);
    });
    return;
  }
  if (request.url === "/whoami") {
    const answer = () => response.end(version + ":" + process.pid);
    if (process.env.DELAY_MS) setTimeout(answer, Number(process.env.DELAY_MS));
    else answer();
    return;
  }
  if (request.url === "/upstream") {
    // Calls the address Berth injected (API=host:port) and answers with what it got.
    fetch("http://" + process.env.API + "/whoami").then(
      async (upstream) => response.end("via " + (await upstream.text())),
      (error) => { response.writeHead(502); response.end(String(error)); },
    );
    return;
  }
  response.end(version);
});
server.keepAliveTimeout = 1000;
server.listen(Number(process.env.PORT), "127.0.0.1", () => {
  console.log("listening on " + process.env.PORT + " as " + version);
  if (process.env.CRASH_AFTER_MS) {
    console.error("exiting with 3 in " + process.env.CRASH_AFTER_MS + " ms");
    setTimeout(() => process.exit(3), Number(process.env.CRASH_AFTER_MS));
  }
});
// SIGINT too: PM2 stops its workers with SIGINT.
for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => {
    console.log(signal + " received");
    if (process.env.IGNORE_SIGTERM === "1") return;
    if (process.env.ON_SIGTERM === "exit") process.exit(0);
    if (process.env.ON_SIGTERM === "close") {
      server.close(() => process.exit(0));
      return;
    }
    server.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 500).unref();
  });
}
`;

const ECHO = `
import net from "node:net";
const server = net.createServer((socket) => socket.pipe(socket));
server.listen(Number(process.env.PORT), "127.0.0.1");
process.on("SIGTERM", () => server.close(() => process.exit(0)));
`;

export function httpApp(): { dir: string; image: string } {
  const dir = mkdtempSync(join(tmpdir(), "berth-app-"));
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "server.mjs"), SERVER);
  writeFileSync(join(dir, "echo.mjs"), ECHO);
  return { dir, image: `file://${dir}` };
}

/** A stack file's packaging for the test app of `httpApp()` (or a directory like it) at `image`. */
export function appPackaging(image: string) {
  return { type: "prebuilt-image", properties: { image, command: ["node", "server.mjs"] } };
}

/**
 * The tests' health check timing. A check is a process (sh and curl) that can take seconds to
 * start and exit on a loaded 2-core machine: a 2 s timeout failed checks that had answered "200 ok".
 * Berth refuses a timeout that is not shorter than the interval.
 */
export const HEALTH_CHECK_TIMING = { intervalSeconds: 6, timeoutSeconds: 5 } as const;

/**
 * The shell line of the tests' health check: asks the app's /health with curl, prints "STATUS
 * BODY" (what a failed check's reason shows) and fails unless curl got a whole answer with a 2xx
 * status (`-q`: no ~/.curlrc of the user's). curl and sh cost
 * a few milliseconds of CPU where a Node process costs about a tenth of a second, and tests run
 * thousands of checks.
 */
export const HTTP_HEALTH_CHECK_LINE =
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell line: sh expands it, not JavaScript.
  'answer=$(curl -q -sS -m 4 -w " %{http_code}" "http://127.0.0.1:$PORT/health"); code=$?; status=${answer##* }; echo "$status ${answer% *}"; [ "$code" -eq 0 ] && [ "$status" -ge 200 ] && [ "$status" -lt 300 ]';

/** `HTTP_HEALTH_CHECK_LINE` as a CMD-SHELL health check command. */
export const HTTP_HEALTH_CHECK = ["CMD-SHELL", HTTP_HEALTH_CHECK_LINE];

/** The HTTP health check as an ECS container definition's `healthCheck`. */
export const APP_HEALTH_CHECK = {
  command: HTTP_HEALTH_CHECK,
  interval: HEALTH_CHECK_TIMING.intervalSeconds,
  timeout: HEALTH_CHECK_TIMING.timeoutSeconds,
  retries: 2,
};

/**
 * RegisterTaskDefinition's input for the test app as container `app` on port 3000 (port name
 * `app-3000`), with the HTTP health check unless `command` replaces the server.
 */
export function appTaskDefinition(
  image: string,
  family: string,
  environment: Record<string, string>,
  options: { command?: string[]; appProtocol?: "http"; stopTimeout?: number } = {},
) {
  return {
    family,
    containerDefinitions: [
      {
        name: "app",
        image,
        command: options.command ?? ["node", "server.mjs"],
        portMappings: [
          {
            containerPort: 3000,
            name: "app-3000",
            ...(options.appProtocol ? { appProtocol: options.appProtocol } : {}),
          },
        ],
        environment: Object.entries(environment).map(([name, value]) => ({ name, value })),
        stopTimeout: options.stopTimeout ?? 2,
        ...(options.command ? {} : { healthCheck: APP_HEALTH_CHECK }),
      },
    ],
  };
}

export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 30_000,
  everyMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      last = error;
    }
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ""}`);
}

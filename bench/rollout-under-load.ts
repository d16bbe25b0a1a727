/**
 * Zero-downtime proof: a 3-task HTTP service behind Berth Local's Service Connect proxy, under a
 * constant load from a second process, rolled forward three times and then to a revision that
 * fails its health check. The same app and load through PM2's cluster-mode reload, for
 * comparison; and the proxy's throughput against nginx's round-robin upstream (when nginx is
 * installed) on the same three backends.
 *
 *   npm run bench -- rollout-under-load
 */
import { type ChildProcess, execFile, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { startBerthLocal } from "../packages/local/src/berth-local.ts";
import { ServiceConnect } from "../packages/local/src/ecs/service-connect.ts";
import { httpApp, waitFor } from "../test/support/apps.ts";
import { machine, ms } from "./machine.ts";
import {
  createWebService,
  deploymentCompleted,
  firstFailedHealthCheck,
  localEcs,
  registerWeb,
  rollOutBadRevision,
  updateWeb,
} from "./support/ecs.ts";

const RPS = 250;
const root = fileURLToPath(new URL("..", import.meta.url));
const tsx = join(root, "node_modules/.bin/tsx");
const app = httpApp();

interface LoadResult {
  sent: number;
  failed: number;
  failures: string[];
  rate: number;
  p50: number;
  p99: number;
}

/** Starts the load generator (a second process); `stop()` ends it and returns its figures. */
function startLoad(url: string, maxSeconds: number): { stop: () => Promise<LoadResult> } {
  const child = spawn(
    tsx,
    [
      join(root, "bench/support/load.ts"),
      "--url",
      url,
      "--rps",
      String(RPS),
      "--seconds",
      String(maxSeconds),
      "--max",
      String(RPS * maxSeconds),
    ],
    {
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  let output = "";
  child.stdout.on("data", (chunk) => {
    output += chunk;
  });
  const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
  return {
    stop: async () => {
      child.kill("SIGTERM");
      await exited;
      return JSON.parse(output.trim().split("\n").pop() ?? "{}") as LoadResult;
    },
  };
}

const sleep = (millis: number) => new Promise((resolve) => setTimeout(resolve, millis));
const describeLoad = (load: LoadResult) =>
  `${load.sent} requests at ${load.rate.toFixed(0)}/s, ${load.failed} failed, p50 ${load.p50.toFixed(1)} ms, p99 ${load.p99.toFixed(1)} ms${load.failed ? ` (e.g. ${load.failures[0]})` : ""}`;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

// Berth Local ---------------------------------------------------------------------------------

async function berthLocal(): Promise<string[]> {
  const dataDir = mkdtempSync(join(tmpdir(), "berth-bench-load-"));
  const local = await startBerthLocal({ dataDir, awsPort: 0, tickMs: 100 });
  const failedAt: number[] = [];
  local.bus.subscribe((event) => {
    if (
      event["detail-type"] === "ECS Deployment State Change" &&
      (event.detail as { eventName: string }).eventName === "SERVICE_DEPLOYMENT_FAILED"
    )
      failedAt.push(Date.now());
  });
  const ecs = localEcs(local);
  const register = (environment: Record<string, string>) =>
    registerWeb(ecs, "web", app.image, environment, { appProtocol: "http", stopTimeout: 3 });
  const completed = (taskDefinition: string) => deploymentCompleted(ecs, "bench", "web", taskDefinition);

  const v1 = await register({ VERSION: "v1" });
  await createWebService(ecs, v1, {
    serviceConnectConfiguration: {
      enabled: true,
      namespace: "berth.local",
      services: [{ portName: "web-3000", clientAliases: [{ port: 3000, dnsName: "web" }] }],
    },
  });
  await completed(v1);
  const proxy = local.ecs.serviceConnect.addressOf("web:3000");

  const load = startLoad(`http://${proxy}/`, 300);
  await sleep(2000);
  const durations: number[] = [];
  for (const version of ["v2", "v3", "v4"]) {
    const next = await register({ VERSION: version });
    const begin = Date.now();
    await updateWeb(ecs, next);
    await completed(next);
    durations.push(Date.now() - begin);
  }
  const { bad, updatedAt: badBegin } = await rollOutBadRevision(ecs, register);
  const badBack = Date.now() - badBegin;
  await sleep(2000);
  const result = await load.stop();

  const firstFailedCheck = firstFailedHealthCheck(local, bad);
  const rollbackStart = failedAt.find((at) => at >= badBegin) ?? Number.NaN;
  await local.close();
  rmSync(dataDir, { recursive: true, force: true });
  return [
    `Berth Local (Service Connect proxy): ${describeLoad(result)}`,
    `  rollouts: ${durations.map(ms).join(", ")}`,
    `  bad revision: first failed health check → rollback started ${ms(rollbackStart - firstFailedCheck)} (ECS circuit breaker: 3 tasks marked UNHEALTHY after 2 failed checks 5 s apart); update → back on the good revision ${ms(badBack)}`,
  ];
}

// PM2 -----------------------------------------------------------------------------------------

async function pm2(): Promise<string[]> {
  const home = mkdtempSync(join(tmpdir(), "berth-bench-pm2-"));
  const port = await freePort();
  const bin = join(root, "node_modules/.bin/pm2");
  const env = { ...process.env, PM2_HOME: home, PORT: String(port), VERSION: "v1" };
  const run = (args: string[], extra: Record<string, string> = {}) =>
    execFileSync(bin, args, { env: { ...env, ...extra }, cwd: app.dir, stdio: "pipe" });
  run(["start", "server.mjs", "--name", "web", "-i", "3", "--kill-timeout", "3000", "--no-autorestart"]);
  await waitFor(
    "PM2's workers",
    async () => ((await fetch(`http://127.0.0.1:${port}/`)).ok ? true : undefined),
    30_000,
  );
  const load = startLoad(`http://127.0.0.1:${port}/`, 300);
  await sleep(2000);
  const durations: number[] = [];
  for (const version of ["v2", "v3", "v4"]) {
    const begin = Date.now();
    // `pm2 reload` restarts the workers one by one (graceful reload in cluster mode).
    run(["reload", "web", "--update-env"], { VERSION: version });
    durations.push(Date.now() - begin);
  }
  const begin = Date.now();
  run(["reload", "web", "--update-env"], { VERSION: "bad", UNHEALTHY: "1" });
  const badReload = Date.now() - begin;
  await sleep(2000);
  const result = await load.stop();
  try {
    run(["kill"]);
  } catch {
    // the daemon may already be gone
  }
  rmSync(home, { recursive: true, force: true });
  return [
    `PM2 cluster-mode reload:             ${describeLoad(result)}`,
    `  reloads: ${durations.map(ms).join(", ")}`,
    `  bad revision: PM2 has no health checks, so the reload (${ms(badReload)}) keeps the bad revision running: no rollback`,
  ];
}

// Proxy throughput ----------------------------------------------------------------------------

/** Asynchronously: Berth's proxy runs in this process and must keep serving meanwhile. */
async function autocannon(url: string): Promise<number> {
  const { stdout } = await promisify(execFile)(
    join(root, "node_modules/.bin/autocannon"),
    ["-c", "32", "-d", "8", "--json", url],
    { encoding: "utf8" },
  );
  return (JSON.parse(stdout) as { requests: { average: number } }).requests.average;
}

async function throughput(): Promise<string[]> {
  const ports = await Promise.all([freePort(), freePort(), freePort()]);
  const backends: ChildProcess[] = ports.map((port) =>
    spawn("node", ["server.mjs"], {
      cwd: app.dir,
      env: { ...process.env, PORT: String(port) },
      stdio: "ignore",
    }),
  );
  for (const port of ports)
    await waitFor("a backend", async () =>
      (await fetch(`http://127.0.0.1:${port}/`)).ok ? true : undefined,
    );
  const lines: string[] = [];
  const serviceConnect = new ServiceConnect(() =>
    ports.map((port, index) => ({ taskId: `backend-${index}`, port })),
  );
  const proxy = await serviceConnect.ensure("web:3000", {
    clusterArn: "bench",
    serviceName: "web",
    portName: "web-3000",
    protocol: "http",
  });
  const berth = await autocannon(`http://${proxy}/`);
  lines.push(
    `proxy throughput (autocannon, 32 connections, 8 s, 3 backends): Berth Service Connect ${berth.toFixed(0)} req/s`,
  );
  await serviceConnect.close();
  let hasNginx = true;
  try {
    execFileSync("nginx", ["-v"], { stdio: "ignore" });
  } catch {
    hasNginx = false;
  }
  if (hasNginx) {
    const prefix = mkdtempSync(join(tmpdir(), "berth-bench-nginx-"));
    const listen = await freePort();
    writeFileSync(
      join(prefix, "nginx.conf"),
      `worker_processes 1;\npid ${prefix}/nginx.pid;\nerror_log ${prefix}/error.log;\nevents { worker_connections 1024; }\nhttp {\n  access_log off;\n  upstream web { ${ports.map((port) => `server 127.0.0.1:${port};`).join(" ")} keepalive 64; }\n  server { listen 127.0.0.1:${listen}; location / { proxy_pass http://web; proxy_http_version 1.1; proxy_set_header Connection ""; } }\n}\n`,
    );
    const nginx = spawn("nginx", ["-p", prefix, "-c", join(prefix, "nginx.conf"), "-g", "daemon off;"], {
      stdio: "ignore",
    });
    await waitFor("nginx", async () => ((await fetch(`http://127.0.0.1:${listen}/`)).ok ? true : undefined));
    const reference = await autocannon(`http://127.0.0.1:${listen}/`);
    nginx.kill("SIGQUIT");
    rmSync(prefix, { recursive: true, force: true });
    lines.push(
      `  nginx round-robin upstream (1 worker, keepalive 64): ${reference.toFixed(0)} req/s; Berth's proxy reaches ${((berth / reference) * 100).toFixed(0)}% of nginx`,
    );
  } else {
    lines.push("  nginx is not installed: no comparison (apt-get install nginx)");
  }
  for (const backend of backends) backend.kill("SIGTERM");
  return lines;
}

const report = [
  `rollout under load — ${machine()}`,
  `load: a second process sending GET / at ${RPS}/s over keep-alive connections, through each rollout`,
];
report.push(...(await berthLocal()));
report.push(...(await pm2()));
report.push(...(await throughput()));
console.log(report.join("\n"));
rmSync(app.dir, { recursive: true, force: true });
process.exit(0);

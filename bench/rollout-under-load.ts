/**
 * Zero-downtime proof: a 3-task HTTP service behind Berth Local's Service Connect proxy, under a
 * constant load from a second process, rolled forward three times and then to a revision that
 * fails its health check. The same app and load through PM2's cluster-mode reload, for
 * comparison; and the throughput and CPU per request of Berth Local's proxy core (the Service
 * Connect proxy, the HTTP API gateway listener and the ALB listener) beside nginx's round-robin
 * upstream (one worker, and one per core) and a bare backend, on the same three backends. nginx is
 * installed from Debian (apt-get, as root) when it is missing.
 *
 *   npm run bench -- rollout-under-load
 *   BENCH_PARTS=throughput BENCH_SECONDS=8 BENCH_ROUNDS=3 npm run bench -- rollout-under-load
 */
import { type ChildProcess, execFile, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import {
  ApiGatewayV2Client,
  CreateApiCommand,
  CreateIntegrationCommand,
  CreateRouteCommand,
} from "@aws-sdk/client-apigatewayv2";
import {
  CreateListenerCommand,
  CreateLoadBalancerCommand,
  CreateTargetGroupCommand,
  ElasticLoadBalancingV2Client,
} from "@aws-sdk/client-elastic-load-balancing-v2";
import { ApiGateways, LOCAL_VPC_LINK_ID } from "../packages/local/src/apigatewayv2/service.ts";
import { startBerthLocal } from "../packages/local/src/berth-local.ts";
import { ServiceConnect } from "../packages/local/src/ecs/service-connect.ts";
import { LoadBalancers } from "../packages/local/src/elasticloadbalancing/service.ts";
import { startAwsEndpoint } from "../packages/local/src/server.ts";
import { httpApp, waitFor } from "../test/support/apps.ts";
import { machine, ms, percentile } from "./machine.ts";
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
  const proxy = local.ecs.serviceConnect.addressOf("berth.local", "web:3000");

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

const CONNECTIONS = 32;
const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

interface Figures {
  rps: number;
  p50: number;
  p99: number;
  /** Answers other than 2xx, and connection errors and timeouts. */
  bad: number;
}

const loadavg = () => readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");

/** Asynchronously: Berth's proxy runs in this process and must keep serving meanwhile. */
async function autocannon(url: string, seconds: number): Promise<Figures> {
  const { stdout } = await promisify(execFile)(
    join(root, "node_modules/.bin/autocannon"),
    ["-c", String(CONNECTIONS), "-d", String(seconds), "--json", url],
    { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 },
  );
  const result = JSON.parse(stdout) as {
    requests: { average: number };
    latency: { p50: number; p99: number };
    non2xx: number;
    errors: number;
    timeouts: number;
  };
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    bad: result.non2xx + result.errors + result.timeouts,
  };
}

/** nginx's path, installing Debian's package first when it is missing and this user is root. */
function findNginx(): { path?: string; note: string } {
  const locate = () =>
    ["nginx", "/usr/sbin/nginx"].find((candidate) => {
      try {
        execFileSync(candidate, ["-v"], { stdio: "ignore" });
        return true;
      } catch {
        return false;
      }
    });
  const found = locate();
  if (found) return { path: found, note: "nginx was installed already" };
  if (process.getuid?.() !== 0) {
    return {
      note: "nginx is not installed and this user is not root, so the benchmark cannot install it: no nginx comparison (as root: apt-get install -y nginx)",
    };
  }
  try {
    execFileSync("apt-get", ["--version"], { stdio: "ignore" });
  } catch {
    return {
      note: "nginx is not installed and there is no apt-get here to install it with: no nginx comparison",
    };
  }
  console.log("nginx is not installed: apt-get update && apt-get install -y nginx (Debian's package) …");
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  try {
    execFileSync("apt-get", ["-o", "DPkg::Lock::Timeout=300", "update"], { env, stdio: "pipe" });
    execFileSync(
      "apt-get",
      ["-o", "DPkg::Lock::Timeout=300", "install", "-y", "--no-install-recommends", "nginx"],
      {
        env,
        stdio: "pipe",
      },
    );
  } catch (error) {
    const output = String((error as { stderr?: Buffer }).stderr ?? error).trim();
    return {
      note: `nginx is not installed and apt-get could not install it, so there is no nginx comparison: ${output.split("\n").slice(-3).join(" / ")}`,
    };
  }
  const installed = locate();
  return installed
    ? { path: installed, note: "nginx installed from Debian by this benchmark (apt-get install -y nginx)" }
    : { note: "apt-get installed nginx but no nginx binary is found: no nginx comparison" };
}

/**
 * nginx in front of the backends as this user, round robin, keep-alive to upstream: with
 * `workers` 1, a single process (master_process off) like Berth's single-threaded proxy; with
 * "auto", a master and one worker per core, nginx's usual setting.
 */
async function startNginx(
  binary: string,
  ports: number[],
  workers: 1 | "auto",
): Promise<{ url: string; pids: () => number[]; stop: () => void }> {
  const prefix = mkdtempSync(join(tmpdir(), "berth-bench-nginx-"));
  const listen = await freePort();
  const temp = ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"]
    .map((kind) => `  ${kind}_temp_path ${prefix}/${kind};`)
    .join("\n");
  writeFileSync(
    join(prefix, "nginx.conf"),
    `daemon off;
master_process ${workers === 1 ? "off" : "on"};
worker_processes ${workers};
pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
${temp}
  upstream web {
${ports.map((port) => `    server 127.0.0.1:${port};`).join("\n")}
    keepalive 64;
  }
  server {
    listen 127.0.0.1:${listen};
    location / {
      proxy_pass http://web;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`,
  );
  const nginx = spawn(
    binary,
    ["-p", prefix, "-e", join(prefix, "error.log"), "-c", join(prefix, "nginx.conf")],
    {
      stdio: "ignore",
    },
  );
  const url = `http://127.0.0.1:${listen}/`;
  await waitFor("nginx", async () => ((await fetch(url)).ok ? true : undefined));
  return {
    url,
    // The master's workers are its children.
    pids: () => [nginx.pid ?? 0, ...childrenOf(nginx.pid ?? 0)],
    stop: () => {
      nginx.kill("SIGQUIT");
      rmSync(prefix, { recursive: true, force: true });
    },
  };
}

/** Berth Local's HTTP API gateway (in this process) with a `$default` route to the backends. */
async function startGateway(ports: number[]): Promise<{ url: string; close: () => Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), "berth-bench-gateway-"));
  const registry = "arn:aws:servicediscovery:us-east-1:000000000000:service/srv-bench";
  const gateways = new ApiGateways(join(dir, "apis.json"), {
    account: "000000000000",
    region: "us-east-1",
    targetsOf: (arn) =>
      arn === registry
        ? ports.map((port, index) => ({ taskId: `backend-${index}`, port, healthy: true }))
        : [],
  });
  await gateways.start();
  const endpoint = await startAwsEndpoint({ port: 0, services: [], routes: [gateways.route()] });
  const client = new ApiGatewayV2Client({
    endpoint: endpoint.url,
    region: "us-east-1",
    credentials: { accessKeyId: "bench", secretAccessKey: "bench" },
  });
  const api = await client.send(new CreateApiCommand({ Name: "bench", ProtocolType: "HTTP" }));
  const integration = await client.send(
    new CreateIntegrationCommand({
      ApiId: api.ApiId,
      IntegrationType: "HTTP_PROXY",
      IntegrationMethod: "ANY",
      IntegrationUri: registry,
      ConnectionType: "VPC_LINK",
      ConnectionId: LOCAL_VPC_LINK_ID,
      PayloadFormatVersion: "1.0",
    }),
  );
  await client.send(
    new CreateRouteCommand({
      ApiId: api.ApiId,
      RouteKey: "$default",
      Target: `integrations/${integration.IntegrationId}`,
    }),
  );
  client.destroy();
  return {
    url: `${api.ApiEndpoint}/`,
    close: async () => {
      await endpoint.close();
      await gateways.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Berth Local's application load balancer (in this process), its listener forwarding to the backends. */
async function startAlb(ports: number[]): Promise<{ url: string; close: () => Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), "berth-bench-alb-"));
  const balancers = new LoadBalancers(join(dir, "elbv2.json"), {
    account: "000000000000",
    region: "us-east-1",
    targetsOf: () => ports.map((port, index) => ({ taskId: `backend-${index}`, port, healthy: true })),
  });
  await balancers.start();
  const endpoint = await startAwsEndpoint({ port: 0, services: [], routes: [balancers.route()] });
  const client = new ElasticLoadBalancingV2Client({
    endpoint: endpoint.url,
    region: "us-east-1",
    credentials: { accessKeyId: "bench", secretAccessKey: "bench" },
  });
  const { LoadBalancers: [balancer] = [] } = await client.send(
    new CreateLoadBalancerCommand({
      Name: "berth-bench-front",
      Subnets: ["local"],
      SecurityGroups: ["local"],
    }),
  );
  const { TargetGroups: [group] = [] } = await client.send(
    new CreateTargetGroupCommand({ Name: "bench-web-3000", TargetType: "ip", Port: 3000 }),
  );
  await client.send(
    new CreateListenerCommand({
      LoadBalancerArn: balancer?.LoadBalancerArn,
      Port: 80,
      Protocol: "HTTP",
      DefaultActions: [{ Type: "forward", TargetGroupArn: group?.TargetGroupArn }],
    }),
  );
  client.destroy();
  return {
    url: `http://${balancer?.DNSName}/`,
    close: async () => {
      await endpoint.close();
      await balancers.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A process's children (nginx's workers). */
function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8")
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

/** CPU seconds (user + system) the processes have used so far, from /proc (Linux). */
function cpuSeconds(pids: number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // gone
    }
  }
  return ticks / 100;
}

const median = (values: number[]) => percentile(values, 50);

async function throughput(): Promise<string[]> {
  const nginxBinary = findNginx();
  console.log(nginxBinary.note);
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
  const serviceConnect = new ServiceConnect(() =>
    ports.map((port, index) => ({ taskId: `backend-${index}`, port })),
  );
  const proxy = await serviceConnect.ensure("bench", "web:3000", {
    clusterArn: "bench",
    serviceName: "web",
    portName: "web-3000",
    protocol: "http",
  });
  const gateway = await startGateway(ports);
  const alb = await startAlb(ports);
  const nginx1 = nginxBinary.path ? await startNginx(nginxBinary.path, ports, 1) : undefined;
  const nginxAuto = nginxBinary.path ? await startNginx(nginxBinary.path, ports, "auto") : undefined;
  const cores = availableParallelism();
  const here = () => [process.pid];

  const NGINX_1 = "nginx, 1 worker";
  const NGINX_AUTO = `nginx, ${cores} workers`;
  const targets: { name: string; url: string; pids: () => number[] }[] = [
    ...(nginx1 && nginxAuto
      ? [
          { name: NGINX_1, url: nginx1.url, pids: nginx1.pids },
          { name: NGINX_AUTO, url: nginxAuto.url, pids: nginxAuto.pids },
        ]
      : []),
    { name: "Service Connect proxy", url: `http://${proxy}/`, pids: here },
    { name: "HTTP API gateway", url: gateway.url, pids: here },
    { name: "ALB listener", url: alb.url, pids: here },
    {
      name: "bare backend (1 of 3)",
      url: `http://127.0.0.1:${ports[0]}/`,
      pids: () => [backends[0]?.pid ?? 0],
    },
  ];
  const lines = [
    `proxy throughput: autocannon -c ${CONNECTIONS} -d ${SECONDS} against GET /, ${ROUNDS} rounds in rotating order (after a 2 s warm-up each), 3 identical Node backends, ${cores} cores`,
    `  nginx twice: "${NGINX_1}" (worker_processes 1, master_process off: one thread, as Berth's proxy) and "${NGINX_AUTO}" (worker_processes auto); round-robin upstream, keepalive 64`,
    "  Berth's Service Connect proxy, HTTP API gateway and ALB listener: this process, one thread; CPU/req is the proxy's own CPU time (user + system) per request answered",
  ];
  for (const line of lines) console.log(line);
  for (const target of targets) await autocannon(target.url, 2);
  const figures = new Map<string, (Figures & { cpu: number })[]>(targets.map((target) => [target.name, []]));
  const ratios = new Map<string, { one: number[]; auto: number[] }>(
    targets.map((target) => [target.name, { one: [], auto: [] }]),
  );
  const loads: string[] = [];
  for (let round = 0; round < ROUNDS; round += 1) {
    const order = [...targets.slice(round % targets.length), ...targets.slice(0, round % targets.length)];
    const measured = new Map<string, Figures>();
    for (const target of order) {
      const before = loadavg();
      const pids = target.pids();
      const cpuBefore = cpuSeconds(pids);
      const result = await autocannon(target.url, SECONDS);
      const cpu = ((cpuSeconds(pids) - cpuBefore) * 1e6) / Math.max(1, result.rps * SECONDS);
      measured.set(target.name, result);
      figures.get(target.name)?.push({ ...result, cpu });
      loads.push(before);
      // Printed as measured; the report repeats only the medians.
      console.log(
        `  round ${round + 1}: ${target.name.padEnd(22)} ${result.rps.toFixed(0).padStart(6)} req/s, p50 ${result.p50} ms, p99 ${result.p99} ms, ${cpu.toFixed(0)} µs CPU/req${result.bad ? `, ${result.bad} failed` : ""} (loadavg ${before} → ${loadavg()})`,
      );
    }
    const one = measured.get(NGINX_1);
    const auto = measured.get(NGINX_AUTO);
    for (const [name, result] of measured) {
      if (one) ratios.get(name)?.one.push(result.rps / one.rps);
      if (auto) ratios.get(name)?.auto.push(result.rps / auto.rps);
    }
  }
  const list = (values: number[]) => values.map((r) => r.toFixed(2)).join(", ");
  const oneMinute = loads.map((load) => Number(load.split(" ")[0]));
  lines.push(
    `  medians (1-minute loadavg during the runs ${Math.min(...oneMinute)}–${Math.max(...oneMinute)}):`,
  );
  for (const target of targets) {
    const runs = figures.get(target.name) ?? [];
    const ratio = ratios.get(target.name) ?? { one: [], auto: [] };
    const versus =
      ratio.one.length > 0 && !target.name.startsWith("nginx")
        ? `, ${median(ratio.one).toFixed(2)}× ${NGINX_1} (rounds ${list(ratio.one)}), ${median(ratio.auto).toFixed(2)}× ${NGINX_AUTO} (rounds ${list(ratio.auto)})`
        : "";
    lines.push(
      `    ${target.name.padEnd(22)} ${median(runs.map((run) => run.rps))
        .toFixed(0)
        .padStart(
          6,
        )} req/s, p50 ${median(runs.map((run) => run.p50))} ms, p99 ${median(runs.map((run) => run.p99))} ms, ${median(runs.map((run) => run.cpu)).toFixed(0)} µs CPU/req${versus}`,
    );
  }
  if (!nginx1) lines.push(`  ${nginxBinary.note}`);
  nginx1?.stop();
  nginxAuto?.stop();
  await alb.close();
  await gateway.close();
  await serviceConnect.close();
  for (const backend of backends) backend.kill("SIGTERM");
  return lines;
}

// BENCH_PARTS=throughput (or rollouts, pm2, comma-separated) runs only those parts.
const parts = new Set((process.env.BENCH_PARTS ?? "rollouts,pm2,throughput").split(","));
const report = [`rollout under load — ${machine()}`];
if (parts.has("rollouts") || parts.has("pm2"))
  report.push(
    `load: a second process sending GET / at ${RPS}/s over keep-alive connections, through each rollout`,
  );
if (parts.has("rollouts")) report.push(...(await berthLocal()));
if (parts.has("pm2")) report.push(...(await pm2()));
if (parts.has("throughput")) report.push(...(await throughput()));
console.log(report.join("\n"));
rmSync(app.dir, { recursive: true, force: true });
process.exit(0);

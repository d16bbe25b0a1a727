/**
 * The HTTP API on Berth Local: requests per second and latency of `GET /v1/stacks/{stack}` and
 * of `PUT /v1/stacks/{stack}?dryRun=true` (parse, validate and plan a stack file), measured with
 * autocannon from a second process, and for scale the same GET answered by a bare Node HTTP
 * server with the same JSON (the floor on this machine). With `--baseline COMMIT`, the same
 * measurements on that commit's Berth Local first, so before and after are printed side by side.
 *
 *   npm run bench -- api                       (or: npx tsx bench/api.ts [--baseline 49578ff] [--seconds 10])
 */
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { loadavg } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs, promisify } from "node:util";
import { DynamoDBClient, ListTablesCommand } from "@aws-sdk/client-dynamodb";
import { machine } from "./machine.ts";
import { serveLocal, treesToCompare } from "./support/baseline.ts";

const { values: args } = parseArgs({
  options: { baseline: { type: "string" }, seconds: { type: "string", default: "10" } },
});
const CONNECTIONS = 16;
const SECONDS = Number(args.seconds);
const root = fileURLToPath(new URL("..", import.meta.url));
const stackFile = readFileSync(join(root, "examples/private-api/berth.yml"), "utf8");

interface Result {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number };
  non2xx: number;
  errors: number;
}

/** autocannon in its own process, so it does not share the server's event loop. */
async function measure(args: string[]): Promise<Result> {
  const { stdout } = await promisify(execFile)(
    join(root, "node_modules/.bin/autocannon"),
    ["-c", String(CONNECTIONS), "-d", String(SECONDS), "--json", ...args],
    { encoding: "utf8", maxBuffer: 16 << 20 },
  );
  return JSON.parse(stdout) as Result;
}

const load = () => `load ${loadavg()[0]?.toFixed(2)}`;
const line = (result: Result) =>
  `${result.requests.average.toFixed(0)} req/s, p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms (${result.requests.total} requests, ${result.non2xx} non-2xx, ${result.errors} errors; ${load()})`;

console.log(`Berth Local HTTP API — ${machine()}`);
console.log(
  `autocannon: ${CONNECTIONS} connections, ${SECONDS} s each, from a second process; Berth Local (API, dynalite, AWS endpoints) in a third`,
);
let floor: Result | undefined;
const measured: { label: string; get: Result; dryRun: Result }[] = [];
for (const tree of treesToCompare(args.baseline)) {
  const local = await serveLocal(tree);
  try {
    const auth = ["-H", `authorization=Bearer ${local.token}`];
    // One stack to read back.
    await fetch(`${local.url}/v1/stacks/demo`, {
      method: "PUT",
      body: stackFile,
      headers: { authorization: `Bearer ${local.token}`, "content-type": "application/yaml" },
    });
    const body = await (
      await fetch(`${local.url}/v1/stacks/demo`, { headers: { authorization: `Bearer ${local.token}` } })
    ).text();
    // What one DynamoDB call and one store-less request cost here.
    const dynamo = new DynamoDBClient({
      endpoint: local.dynamoEndpointUrl,
      region: "us-east-1",
      credentials: { accessKeyId: "b", secretAccessKey: "b" },
    });
    const callStarted = performance.now();
    for (let i = 0; i < 100; i++) await dynamo.send(new ListTablesCommand({}));
    const dynamoCallMs = (performance.now() - callStarted) / 100;
    dynamo.destroy();
    const healthStarted = performance.now();
    for (let i = 0; i < 100; i++) await (await fetch(`${local.url}/v1/health`)).text();
    const healthMs = (performance.now() - healthStarted) / 100;

    if (!floor) {
      // The floor: a bare Node HTTP server answering the same JSON, measured once.
      const bare = createServer((_request, response) => {
        response.writeHead(200, { "content-type": "application/json" });
        response.end(body);
      });
      await new Promise<void>((resolve) => bare.listen(0, "127.0.0.1", resolve));
      floor = await measure([`http://127.0.0.1:${(bare.address() as AddressInfo).port}/v1/stacks/demo`]);
      await new Promise<void>((resolve) => bare.close(() => resolve()));
      console.log(
        `floor: a bare Node HTTP server answering the same JSON (${body.length} bytes): ${line(floor)}`,
      );
    }
    const get = await measure([...auth, `${local.url}/v1/stacks/demo`]);
    const dryRun = await measure([
      ...auth,
      "-m",
      "PUT",
      "-H",
      "content-type=application/yaml",
      "-b",
      stackFile,
      `${local.url}/v1/stacks/demo?dryRun=true`,
    ]);
    measured.push({ label: tree.label, get, dryRun });
    console.log(`\n${tree.label}:`);
    console.log(
      `  GET /v1/stacks/demo: ${line(get)}; ${(floor.requests.average / get.requests.average).toFixed(1)}× below the floor`,
    );
    console.log(`  PUT /v1/stacks/demo?dryRun=true (examples/private-api/berth.yml): ${line(dryRun)}`);
    console.log(
      `  for scale: one sequential GET /v1/health (adapter + middy, no store) ${healthMs.toFixed(1)} ms; one DynamoDB call to Berth Local's dynalite ${dynamoCallMs.toFixed(1)} ms`,
    );
  } finally {
    await local.stop();
    tree.remove();
  }
}

// The goals, each tree side by side (the machine is shared: the ratios to the floor
// say more than the absolute figures).
const verdict = (met: boolean) => (met ? "met" : "NOT met");
console.log("\ngoals:");
for (const { label, get, dryRun } of measured) {
  const ratio = floor
    ? `, ${(floor.requests.average / get.requests.average).toFixed(1)}× below the floor`
    : "";
  console.log(
    `  ${label}: GET ≥ 1,000 req/s with p99 ≤ 20 ms: ${get.requests.average.toFixed(0)} req/s, p99 ${get.latency.p99} ms${ratio} — ${verdict(get.requests.average >= 1000 && get.latency.p99 <= 20)}; dry-run apply ≥ 500 req/s: ${dryRun.requests.average.toFixed(0)} req/s — ${verdict(dryRun.requests.average >= 500)}`,
  );
}
console.log(`  (${load()} at the end)`);

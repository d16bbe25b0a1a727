/**
 * The HTTP API on Berth Local: requests per second and latency of `GET /v1/stacks/{stack}` and
 * of `PUT /v1/stacks/{stack}?dryRun=true` (parse, validate and plan a stack file), measured with
 * autocannon from a second process.
 *
 *   npm run bench -- api
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { DynamoDBClient, ListTablesCommand } from "@aws-sdk/client-dynamodb";
import { startBerthLocal } from "../packages/local/src/berth-local.ts";
import { machine } from "./machine.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const stackFile = readFileSync(join(root, "examples/private-api/berth.yml"), "utf8");
const dataDir = mkdtempSync(join(tmpdir(), "berth-bench-api-"));
const local = await startBerthLocal({ dataDir, awsPort: 0, apiPort: 0 });
const api = local.api?.url ?? "";
const token = local.api?.admin.token ?? "";

// One stack to read back.
await fetch(`${api}/v1/stacks/demo`, {
  method: "PUT",
  body: stackFile,
  headers: { authorization: `Bearer ${token}`, "content-type": "application/yaml" },
});

interface Result {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number };
  non2xx: number;
  errors: number;
}

/** autocannon in its own process, so it does not share Berth Local's event loop. */
async function measure(args: string[]): Promise<Result> {
  const { stdout } = await promisify(execFile)(
    join(root, "node_modules/.bin/autocannon"),
    ["-c", "16", "-d", "10", "--json", ...args],
    {
      encoding: "utf8",
      maxBuffer: 16 << 20,
    },
  );
  return JSON.parse(stdout) as Result;
}

// What one DynamoDB call costs here, since every API request makes a few of them.
const dynamo = new DynamoDBClient({
  endpoint: local.api?.dynamoEndpointUrl ?? "",
  region: "us-east-1",
  credentials: { accessKeyId: "b", secretAccessKey: "b" },
});
const callStarted = performance.now();
for (let i = 0; i < 100; i++) await dynamo.send(new ListTablesCommand({}));
const dynamoCallMs = (performance.now() - callStarted) / 100;
const healthStarted = performance.now();
for (let i = 0; i < 100; i++) await (await fetch(`${api}/v1/health`)).text();
const healthMs = (performance.now() - healthStarted) / 100;

const auth = ["-H", `authorization=Bearer ${token}`];
const get = await measure([...auth, `${api}/v1/stacks/demo`]);
const dryRun = await measure([
  ...auth,
  "-m",
  "PUT",
  "-H",
  "content-type=application/yaml",
  "-b",
  stackFile,
  `${api}/v1/stacks/demo?dryRun=true`,
]);

console.log(`Berth Local HTTP API — ${machine()}`);
console.log(
  "autocannon: 16 connections, 10 s each, from a second process; the API, dynalite and the AWS endpoint share one Node process",
);
for (const [name, result] of [
  ["GET /v1/stacks/demo", get],
  ["PUT /v1/stacks/demo?dryRun=true (examples/private-api/berth.yml)", dryRun],
] as const) {
  console.log(
    `${name}: ${result.requests.average.toFixed(0)} req/s, p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms (${result.requests.total} requests, ${result.non2xx} non-2xx, ${result.errors} errors)`,
  );
}
console.log(
  `for scale: one sequential GET /v1/health (adapter + middy, no store) takes ${healthMs.toFixed(1)} ms; one DynamoDB call to dynalite (persisted) ${dynamoCallMs.toFixed(1)} ms, and a stack read makes about four (token, stack, services)`,
);
await local.close();
rmSync(dataDir, { recursive: true, force: true });

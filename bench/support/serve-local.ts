/**
 * Berth Local from a given source tree, as its own process, for benchmarks that compare two
 * trees in one run (`baseline.ts`). Prints one JSON line ({ url, token, dynamoEndpointUrl }) once
 * it serves, and stops (removing its data dir) on SIGTERM.
 *
 *   tsx bench/support/serve-local.ts [--root DIR]
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";

const { values } = parseArgs({ options: { root: { type: "string" } } });
const root = resolve(values.root ?? fileURLToPath(new URL("../..", import.meta.url)));
const { startBerthLocal } = (await import(
  pathToFileURL(join(root, "packages/local/src/berth-local.ts")).href
)) as typeof import("../../packages/local/src/berth-local.ts");
const dataDir = mkdtempSync(join(tmpdir(), "berth-bench-local-"));
const local = await startBerthLocal({ dataDir, awsPort: 0, apiPort: 0 });
console.log(
  JSON.stringify({
    url: local.api?.url,
    token: local.api?.admin.token,
    dynamoEndpointUrl: local.api?.dynamoEndpointUrl,
  }),
);
let stopping = false;
process.on("SIGTERM", async () => {
  if (stopping) return;
  stopping = true;
  await local.close();
  rmSync(dataDir, { recursive: true, force: true });
  process.exit(0);
});

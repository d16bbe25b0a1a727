#!/usr/bin/env node
// `npm test` after the lint: the type-check and vitest run side by side (the type-check is one
// busy core for over a minute, while most of vitest's time goes on waiting for real processes),
// then the store tests again on DynamoDB Local. The type-check's output is held back and printed
// once vitest is done, so the two never interleave. Exits non-zero if any part failed, after
// running every part. Arguments go to vitest (`npm test -- packages/core/src/spec`).
import { spawn } from "node:child_process";

function run(command, args, { quiet }) {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: quiet ? ["ignore", "pipe", "pipe"] : "inherit" });
    let output = "";
    if (quiet) {
      child.stdout.on("data", (chunk) => {
        output += chunk;
      });
      child.stderr.on("data", (chunk) => {
        output += chunk;
      });
    }
    child.on("error", (error) => resolve({ status: 1, output: `${output}${error.message}\n` }));
    child.on("close", (status, signal) => resolve({ status: status ?? (signal ? 1 : 0), output }));
  });
}

const started = Date.now();
const seconds = () => `${Math.round((Date.now() - started) / 1000)} s`;

console.log("type-check (npm run typecheck) runs beside vitest; its output follows vitest's");
const typecheck = run("npm", ["run", "--silent", "typecheck"], { quiet: true }).then((result) => {
  console.log(`type-check finished after ${seconds()}: ${result.status === 0 ? "clean" : "FAILED"}`);
  return result;
});
const vitest = await run("npx", ["vitest", "run", ...process.argv.slice(2)], { quiet: false });
const checked = await typecheck;
if (checked.output.trim() !== "") process.stdout.write(`--- type-check output ---\n${checked.output}`);

const failed = [];
if (checked.status !== 0) failed.push("type-check");
if (vitest.status !== 0) failed.push("vitest");
const dynamodb = await run("node", ["test/support/dynamodb-local.mjs"], { quiet: false });
if (dynamodb.status !== 0) failed.push("DynamoDB Local store tests");

console.log(
  failed.length === 0
    ? `all tests passed in ${seconds()}`
    : `FAILED after ${seconds()}: ${failed.join(", ")}`,
);
process.exit(failed.length === 0 ? 0 : 1);

#!/usr/bin/env node
// `npm test` after the lint: vitest, with the type-check beside it from the start and the store
// tests on DynamoDB Local beside it once the type-check is done. The type-check is one busy core
// for a minute or two, the DynamoDB Local pass half a minute, while most of vitest's time goes
// on waiting for real processes: neither adds to the run's length. Their output is held back and
// printed once vitest is done, so nothing interleaves. Exits non-zero if any part failed, after
// running every part. Arguments go to vitest (`npm test -- packages/core/src/spec`).
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

function run(command, args, { quiet, env }) {
  return new Promise((resolve) => {
    const child = spawn(command, args, {
      stdio: quiet ? ["ignore", "pipe", "pipe"] : "inherit",
      ...(env ? { env: { ...process.env, ...env } } : {}),
    });
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

console.log(
  "type-check (npm run typecheck) runs beside vitest, then the DynamoDB Local store tests; their output follows vitest's",
);
const typecheck = run("npm", ["run", "--silent", "typecheck"], { quiet: true }).then((result) => {
  console.log(`type-check finished after ${seconds()}: ${result.status === 0 ? "clean" : "FAILED"}`);
  return result;
});
const dynamodb = typecheck.then(() =>
  run("node", ["test/support/dynamodb-local.mjs"], { quiet: true }).then((result) => {
    console.log(
      `DynamoDB Local store tests finished after ${seconds()}: ${result.status === 0 ? "passed" : "FAILED"}`,
    );
    return result;
  }),
);
// A JSON report beside the usual output, so the run ends with the failed tests and their first
// lines: a CI log is read from its tail, and vitest's own account of a failure is far above it.
const args = process.argv.slice(2);
const reportDir = mkdtempSync(join(tmpdir(), "berth-vitest-"));
const report = join(reportDir, "report.json");
const reporters = args.some((arg) => arg.startsWith("--reporter"))
  ? []
  : ["--reporter=default", "--reporter=json", `--outputFile.json=${report}`];
const vitest = await run("npx", ["vitest", "run", ...reporters, ...args], { quiet: false });
console.log(`vitest finished after ${seconds()}`);
const vitestFailures = failuresIn(report);
rmSync(reportDir, { recursive: true, force: true });
const checked = await typecheck;
if (checked.output.trim() !== "") process.stdout.write(`--- type-check output ---\n${checked.output}`);
const stores = await dynamodb;
process.stdout.write(`--- DynamoDB Local store tests ---\n${stores.output}`);

if (vitestFailures.length > 0) {
  console.log(`--- vitest: ${vitestFailures.length} failed ---`);
  for (const failure of vitestFailures) console.log(failure);
}

const failed = [];
if (checked.status !== 0) failed.push("type-check");
if (vitest.status !== 0) failed.push("vitest");
if (stores.status !== 0) failed.push("DynamoDB Local store tests");

console.log(
  failed.length === 0
    ? `all tests passed in ${seconds()}`
    : `FAILED after ${seconds()}: ${failed.join(", ")}`,
);
process.exit(failed.length === 0 ? 0 : 1);

// "file > suite > test" and the first lines of each failure message, from vitest's JSON report;
// a file that failed outside any test (an import or a hook) is listed with its own message.
function failuresIn(path) {
  let parsed;
  try {
    parsed = JSON.parse(readFileSync(path, "utf8"));
  } catch {
    return [];
  }
  const firstLines = (text) =>
    String(text ?? "")
      .split("\n")
      .filter((line) => line.trim() !== "" && !line.includes("node_modules"))
      .slice(0, 6)
      .map((line) => `    ${line}`)
      .join("\n");
  const lines = [];
  for (const file of parsed.testResults ?? []) {
    const name = file.name.startsWith(process.cwd()) ? file.name.slice(process.cwd().length + 1) : file.name;
    const failedTests = (file.assertionResults ?? []).filter((test) => test.status === "failed");
    for (const test of failedTests) {
      lines.push(`✗ ${name} > ${test.fullName}\n${firstLines(test.failureMessages?.[0])}`);
    }
    if (failedTests.length === 0 && file.status === "failed") {
      lines.push(`✗ ${name}\n${firstLines(file.message)}`);
    }
  }
  return lines;
}

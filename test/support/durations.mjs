#!/usr/bin/env node
// What a vitest run spent per test file, from its JSON report
// (`npx vitest run --reporter=default --reporter=json --outputFile=/tmp/vitest.json`):
//
//   node test/support/durations.mjs /tmp/vitest.json [--cpu /tmp/cpu.log] [--workers 3] [--top 15] [--write]
//
// Prints the slowest files, the sum of all files' durations, the run's wall time, and the
// makespan of vitest's scheduling replayed on N workers in the committed order (longest first).
// With --cpu (the lines BERTH_TEST_CPU_LOG=file wrote during the same run) it adds each file's CPU
// time and the CPU the whole run needs, the bound on a 2-core machine however many files run at
// once. --write stores the durations (rounded to 100 ms) in test/support/file-durations.json,
// the order test/support/sequencer.ts starts files in.
import { readFileSync, writeFileSync } from "node:fs";
import { relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../..", import.meta.url));
const durationsFile = fileURLToPath(new URL("./file-durations.json", import.meta.url));

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const index = args.indexOf(name);
  return index === -1 ? fallback : args[index + 1];
};
const report = args.find((arg, index) => !arg.startsWith("--") && !args[index - 1]?.startsWith("--"));
if (!report) {
  console.error(
    "usage: node test/support/durations.mjs <vitest JSON report> [--cpu FILE] [--workers N] [--top N] [--write]",
  );
  process.exit(2);
}
const workers = Number(option("--workers", "3"));
const top = Number(option("--top", "15"));

const { testResults, startTime } = JSON.parse(readFileSync(report, "utf8"));
const files = testResults.map((result) => ({
  // A report from another checkout of the repository: its paths from the repository's root.
  file: relative(root, result.name).replace(/^(\.\.\/)+[^/]+\//, ""),
  ms: result.endTime - result.startTime,
  start: result.startTime,
  end: result.endTime,
  status: result.status,
}));
const cpu = new Map();
/** Per file: the wall time before its tests (worker start and import), which the JSON report leaves out. */
const starts = new Map();
const cpuLog = option("--cpu");
if (cpuLog) {
  for (const line of readFileSync(cpuLog, "utf8").split("\n")) {
    if (line.trim() === "") continue;
    const entry = JSON.parse(line);
    cpu.set(entry.file, entry.startCpuMs + entry.collectCpuMs + entry.runCpuMs + entry.childCpuMs);
    starts.set(entry.file, entry.startWallMs + entry.collectWallMs);
  }
}

// The report's times start with a file's first test: with the CPU log, add its worker's start and import.
for (const entry of files) entry.ms += starts.get(entry.file) ?? 0;

const seconds = (ms) => (ms / 1000).toFixed(1).padStart(6);
files.sort((a, b) => b.ms - a.ms);
console.log(`${"wall s".padStart(6)}${cpuLog ? `${"cpu s".padStart(7)}` : ""}  file`);
for (const entry of files.slice(0, top)) {
  const used = cpu.get(entry.file);
  console.log(
    `${seconds(entry.ms)}${cpuLog ? ` ${used === undefined ? "     ?" : seconds(used)}` : ""}  ${entry.file}${entry.status === "passed" ? "" : ` (${entry.status})`}`,
  );
}
const sum = files.reduce((total, entry) => total + entry.ms, 0);
const lastEnd = Math.max(...files.map((entry) => entry.end));
console.log(
  `files: ${files.length}; sum of durations: ${seconds(sum)} s; longest: ${seconds(files[0]?.ms ?? 0)} s`,
);
console.log(
  `this run: first file start → last file end ${seconds(lastEnd - (startTime ?? Math.min(...files.map((entry) => entry.start))))} s`,
);

// Vitest hands the next file in its order to the first free worker: replay that.
const order = [...files].sort((a, b) => b.ms - a.ms);
const free = Array.from({ length: workers }, () => 0);
for (const entry of order) {
  const soonest = free.indexOf(Math.min(...free));
  free[soonest] += entry.ms;
}
console.log(`replayed longest first on ${workers} workers, these durations: ${seconds(Math.max(...free))} s`);
if (cpuLog) {
  const total = [...cpu.values()].reduce((sum, used) => sum + used, 0);
  console.log(
    `CPU of the files measured (${cpu.size}): ${seconds(total)} s; on 2 cores no run is shorter than ${seconds(total / 2)} s`,
  );
}

if (args.includes("--write")) {
  const durations = Object.fromEntries(
    [...files]
      .sort((a, b) => a.file.localeCompare(b.file))
      .map((entry) => [entry.file, Math.max(100, Math.round(entry.ms / 100) * 100)]),
  );
  writeFileSync(
    durationsFile,
    `${JSON.stringify(
      {
        about:
          "Each test file's duration in ms in one full run (test/support/durations.mjs --write): the order test/support/sequencer.ts starts files in, longest first.",
        files: durations,
      },
      null,
      2,
    )}\n`,
  );
  console.log(`wrote ${relative(root, durationsFile)}`);
}

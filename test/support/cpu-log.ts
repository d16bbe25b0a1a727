import { appendFileSync, readFileSync } from "node:fs";
import { relative } from "node:path";
import { afterAll, beforeAll } from "vitest";

/**
 * Loaded as a setup file only when `BERTH_TEST_CPU_LOG` names a file (vitest.config.ts): appends
 * one JSON line per test file with the wall and CPU time of its worker process (vitest runs each
 * file in a fresh one), split into the worker's start, collecting the file (importing it and
 * what it imports) and running its tests and hooks. The run's CPU includes the child processes
 * the worker waited for (a Berth Local process and, through it, its task processes). In a worker
 * that runs one file after another (the `shared` project in vitest.config.ts) a file's start is
 * counted from the end of the file before it, kept on the global object, which outlives the
 * module cache.
 * `node test/support/durations.mjs <report> --cpu <log>` reads these lines: a file that waits
 * uses little CPU for its wall time, and so can share a core with another.
 */

const TICKS_PER_SECOND = 100;

/** This process's user+system CPU and its waited-for children's, in ms (Linux /proc). */
function cpuMs(): { self: number; children: number } {
  // After the command's closing parenthesis, utime, stime, cutime and cstime are fields 12 to 15.
  const fields = readFileSync("/proc/self/stat", "utf8").split(") ")[1]?.split(" ") ?? [];
  const tick = (index: number) => (Number(fields[index]) * 1000) / TICKS_PER_SECOND;
  return { self: tick(11) + tick(12), children: tick(13) + tick(14) };
}

const log = process.env.BERTH_TEST_CPU_LOG;
type Sample = { wall: number; cpu: { self: number; children: number } };
const worker = globalThis as { berthCpuLogLastEnd?: Sample };
/** The process's start, or the end of the file this worker ran before. */
const since: Sample = worker.berthCpuLogLastEnd ?? { wall: 0, cpu: { self: 0, children: 0 } };
const atSetup: Sample = { wall: process.uptime() * 1000, cpu: cpuMs() };
let collected = atSetup;
let file = "";

// biome-ignore lint/correctness/noEmptyPattern: vitest reads a hook's first parameter as a fixture pattern; the suite is the second.
beforeAll(({}, suite) => {
  file = relative(process.cwd(), suite.file.filepath);
  collected = { wall: process.uptime() * 1000, cpu: cpuMs() };
});

afterAll(() => {
  if (!log) return;
  const end = { wall: process.uptime() * 1000, cpu: cpuMs() };
  worker.berthCpuLogLastEnd = end;
  const round = (ms: number) => Math.round(ms);
  appendFileSync(
    log,
    `${JSON.stringify({
      file,
      pid: process.pid,
      startWallMs: round(atSetup.wall - since.wall),
      startCpuMs: round(atSetup.cpu.self - since.cpu.self),
      collectWallMs: round(collected.wall - atSetup.wall),
      collectCpuMs: round(collected.cpu.self - atSetup.cpu.self),
      runWallMs: round(end.wall - collected.wall),
      runCpuMs: round(end.cpu.self - collected.cpu.self),
      childCpuMs: round(end.cpu.children - since.cpu.children),
    })}\n`,
  );
});

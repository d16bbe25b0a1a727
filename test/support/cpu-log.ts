import { appendFileSync, readFileSync } from "node:fs";
import { relative } from "node:path";
import { afterAll, beforeAll } from "vitest";

/**
 * Loaded as a setup file only when `BERTH_TEST_CPU_LOG` names a file (vitest.config.ts): appends
 * one JSON line per test file with its wall time and the CPU time its worker used, itself and
 * through the child processes it waited for (a Berth Local process and, through it, its task
 * processes). `node test/support/durations.mjs` reads these lines beside vitest's JSON report:
 * a file that waits uses little CPU for its wall time, and so can share a core with another.
 */

const TICKS_PER_SECOND = 100;

/** This process's user+system CPU and its waited-for children's, in ms (Linux /proc). */
function cpuMs(): { self: number; children: number } {
  // Fields after the command's closing parenthesis: utime is the 14th field of the line, so 12th here.
  const fields = readFileSync("/proc/self/stat", "utf8").split(") ")[1]?.split(" ") ?? [];
  const tick = (index: number) => (Number(fields[index]) * 1000) / TICKS_PER_SECOND;
  return { self: tick(11) + tick(12), children: tick(13) + tick(14) };
}

const log = process.env.BERTH_TEST_CPU_LOG;
let file = "";
let startedAt = 0;
let startCpu = { self: 0, children: 0 };

// biome-ignore lint/correctness/noEmptyPattern: vitest reads a hook's first parameter as a fixture pattern; the suite is the second.
beforeAll(({}, suite) => {
  file = relative(process.cwd(), suite.file.filepath);
  startedAt = Date.now();
  startCpu = cpuMs();
});

afterAll(() => {
  if (!log) return;
  const now = cpuMs();
  appendFileSync(
    log,
    `${JSON.stringify({
      file,
      pid: process.pid,
      wallMs: Date.now() - startedAt,
      cpuMs: Math.round(now.self - startCpu.self),
      childCpuMs: Math.round(now.children - startCpu.children),
    })}\n`,
  );
});

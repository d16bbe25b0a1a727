import { readFileSync } from "node:fs";
import { relative } from "node:path";
import { BaseSequencer, type TestSpecification } from "vitest/node";

/**
 * The order vitest starts the test files in: the isolated project's, then the shared project's
 * (vitest.config.ts), each the longest first, from the durations committed in
 * `file-durations.json` (CI has no vitest cache to learn them from), so the long end-to-end
 * files do not start last and hold up the end of the run. A file missing from the list (a new
 * one) is placed by an estimate: an end-to-end file (`*.e2e.test.ts`) as a long one, others as short.
 * With `--sequence.shuffle` the files are shuffled instead (by vitest's seed, which it prints),
 * so a shuffled run still checks that no file depends on another's order.
 * `node test/support/durations.mjs <vitest JSON report>` rewrites the list.
 */

const DURATIONS_FILE = new URL("./file-durations.json", import.meta.url);
/** A new end-to-end file starts among the long ones (most take a minute or more), others mid-way. */
const NEW_E2E_MS = 60_000;
const NEW_FILE_MS = 5_000;

function committedDurations(): Record<string, number> {
  try {
    const { files } = JSON.parse(readFileSync(DURATIONS_FILE, "utf8")) as { files: Record<string, number> };
    return files;
  } catch {
    return {};
  }
}

/** A small seeded generator (mulberry32): the same seed gives the same order. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

export default class LongestFirstSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const { sequence, root } = this.ctx.config;
    if (sequence.shuffle) {
      const next = random(sequence.seed);
      const shuffled = [...files];
      for (let index = shuffled.length - 1; index > 0; index -= 1) {
        const other = Math.floor(next() * (index + 1));
        [shuffled[index], shuffled[other]] = [
          shuffled[other] as TestSpecification,
          shuffled[index] as TestSpecification,
        ];
      }
      return shuffled;
    }
    const durations = committedDurations();
    const expected = new Map<TestSpecification, number>();
    for (const file of files) {
      const path = relative(root, file.moduleId);
      const known = durations[path];
      expected.set(file, known ?? (path.endsWith(".e2e.test.ts") ? NEW_E2E_MS : NEW_FILE_MS));
    }
    // A worker of the shared project (`isolate: false`) is kept for the next file only when the
    // next file in this order is also a shared one; otherwise vitest ends it, and the shared file
    // after that starts a new worker that imports everything again. So the files of the isolated
    // project come first (the longest first), then the shared project's (the longest first), and
    // the shared files' workers (at most maxWorkers of them) last until the end of the run.
    const shared = (file: TestSpecification) => (file.project.config.isolate === false ? 1 : 0);
    return [...files].sort(
      (a, b) =>
        shared(a) - shared(b) ||
        (expected.get(b) ?? 0) - (expected.get(a) ?? 0) ||
        a.moduleId.localeCompare(b.moduleId),
    );
  }
}

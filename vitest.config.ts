import { configDefaults, defineConfig } from "vitest/config";
import LongestFirstSequencer from "./test/support/sequencer.ts";
import { SHARED_WORKER_FILES } from "./test/support/shared-worker-files.ts";

const ALL_TEST_FILES = [
  "packages/*/src/**/*.test.ts",
  "packages/*/src/**/*.test.tsx",
  "test/**/*.test.ts",
  "stacks/**/*.test.ts",
];

export default defineConfig({
  // The console's components (packages/web) are Preact JSX.
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  test: {
    // Two projects, each file in one (their `include`s; the root has none, as a project's list
    // would be added to the root's). `shared`: files that leave nothing behind
    // (test/support/shared-worker-files.ts) run one after another in long-lived workers, which
    // import the AWS SDK and Berth's modules once instead of once per file (two to four seconds
    // of CPU a file). `isolated`: every other file, each in a fresh process.
    projects: [
      {
        extends: true,
        test: { name: "shared", include: SHARED_WORKER_FILES, isolate: false },
      },
      {
        extends: true,
        test: {
          name: "isolated",
          include: ALL_TEST_FILES,
          exclude: [...configDefaults.exclude, ...SHARED_WORKER_FILES],
        },
      },
    ],
    // Generous: a test must fail for what it asserts, not because a loaded machine ran it slowly.
    // The fuzz tests and 50-request bursts take seconds on a quiet machine and minutes at load 12.
    testTimeout: 180_000,
    hookTimeout: 180_000,
    pool: "forks",
    // Vitest's default on a 2-core machine is one file at a time. Most of the slow files wait on
    // real processes and timers rather than compute (an end-to-end file uses a fifth of a core
    // or less over its run; `BERTH_TEST_CPU_LOG` measures it), so four run at a time, the longest
    // first, the isolated files before the shared ones so that the shared project's workers (four
    // at most) are kept for its files to the end (test/support/sequencer.ts); every test is
    // written to hold on a loaded machine.
    maxWorkers: 4,
    globalSetup: ["test/support/global-setup.ts"],
    // The AWS SDK warns, once in every process that loads it, that its releases after January 2027
    // will need Node 22. Tests start hundreds of such processes on Node 20 (Berth's minimum), and
    // the same paragraph hundreds of times hides the output that matters.
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true" },
    // The longest files first (test/support/file-durations.json), shuffled under --sequence.shuffle.
    sequence: { sequencer: LongestFirstSequencer },
    // BERTH_TEST_CPU_LOG=file: one line per test file with its wall and CPU time (durations.mjs reads them).
    setupFiles: process.env.BERTH_TEST_CPU_LOG ? ["test/support/cpu-log.ts"] : [],
  },
});

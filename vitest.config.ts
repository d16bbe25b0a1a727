import { defineConfig } from "vitest/config";

export default defineConfig({
  // The console's components (packages/web) are Preact JSX.
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  test: {
    include: [
      "packages/*/src/**/*.test.ts",
      "packages/*/src/**/*.test.tsx",
      "test/**/*.test.ts",
      "stacks/**/*.test.ts",
    ],
    // Generous: a test must fail for what it asserts, not because a loaded machine ran it slowly.
    // The fuzz tests and 50-request bursts take seconds on a quiet machine and minutes at load 12.
    testTimeout: 180_000,
    hookTimeout: 180_000,
    pool: "forks",
    // Vitest's default on a 2-core machine is one file at a time. Most of the slow files wait on
    // real processes and timers rather than compute, so three at a time cut the run to about half
    // of its time; every test is written to hold on a loaded machine.
    maxWorkers: 3,
    globalSetup: ["test/support/global-setup.ts"],
    // The AWS SDK warns, once in every process that loads it, that its releases after January 2027
    // will need Node 22. Tests start hundreds of such processes on Node 20 (Berth's minimum), and
    // the same paragraph hundreds of times hides the output that matters.
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true" },
  },
});

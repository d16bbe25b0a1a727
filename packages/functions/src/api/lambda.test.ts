import { STATE_MACHINE_ENVIRONMENT } from "@berth/core/test-support";
import { afterEach, describe, expect, it, vi } from "vitest";
import { apiEvent, lambdaContext } from "./test-support.ts";

describe("the Lambda module", () => {
  afterEach(() => {
    vi.unstubAllEnvs();
    vi.resetModules();
  });

  it("fails as it loads when its configuration is missing", async () => {
    vi.stubEnv("BERTH_TABLE_NAME", "");
    for (const [name, value] of Object.entries(STATE_MACHINE_ENVIRONMENT)) vi.stubEnv(name, value);
    await expect(import("./lambda.ts")).rejects.toThrow("BERTH_TABLE_NAME");
  });

  it("builds its handler once at load and serves the public routes without touching AWS", async () => {
    vi.stubEnv("BERTH_TABLE_NAME", "berth");
    for (const [name, value] of Object.entries(STATE_MACHINE_ENVIRONMENT)) vi.stubEnv(name, value);
    vi.stubEnv("AWS_REGION", "us-east-1");
    vi.stubEnv("POWERTOOLS_LOG_LEVEL", "SILENT");
    const { handler } = await import("./lambda.ts");
    const reply = await handler(apiEvent({ method: "GET", path: "/v1/health" }), lambdaContext());
    expect(reply.statusCode).toBe(200);
  });
});

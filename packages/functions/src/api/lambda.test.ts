import { afterEach, describe, expect, it, vi } from "vitest";
import { apiEvent, lambdaContext } from "./test-support.ts";

const STATE_MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:berth-deploy";
const DELETE = "arn:aws:states:us-east-1:123456789012:stateMachine:berth-delete-service";
const ROLLBACK = "arn:aws:states:us-east-1:123456789012:stateMachine:berth-rollback";
const MACHINES = {
  BERTH_DEPLOY_STATE_MACHINE_ARN: STATE_MACHINE,
  BERTH_DELETE_SERVICE_STATE_MACHINE_ARN: DELETE,
  BERTH_ROLLBACK_STATE_MACHINE_ARN: ROLLBACK,
};

describe("the Lambda module", () => {
  afterEach(() => {
    vi.unstubAllEnvs();
    vi.resetModules();
  });

  it("fails as it loads when its configuration is missing", async () => {
    vi.stubEnv("BERTH_TABLE_NAME", "");
    for (const [name, value] of Object.entries(MACHINES)) vi.stubEnv(name, value);
    await expect(import("./lambda.ts")).rejects.toThrow("BERTH_TABLE_NAME");
  });

  it("builds its handler once at load and serves the public routes without touching AWS", async () => {
    vi.stubEnv("BERTH_TABLE_NAME", "berth");
    for (const [name, value] of Object.entries(MACHINES)) vi.stubEnv(name, value);
    vi.stubEnv("AWS_REGION", "us-east-1");
    vi.stubEnv("POWERTOOLS_LOG_LEVEL", "SILENT");
    const { handler } = await import("./lambda.ts");
    const reply = await handler(apiEvent({ method: "GET", path: "/v1/health" }), lambdaContext());
    expect(reply.statusCode).toBe(200);
  });
});

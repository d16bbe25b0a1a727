import { describe, expect, it } from "vitest";
import { readApiConfig } from "./config.ts";
import { DELETE, STATE_MACHINE_ENVIRONMENT as MACHINES, ROLLBACK, STATE_MACHINE } from "./test-support.ts";

describe("readApiConfig", () => {
  it("reads the table, the state machine, the stage and the cluster", () => {
    expect(
      readApiConfig({
        BERTH_TABLE_NAME: "berth",
        ...MACHINES,
        BERTH_STAGE: "prod",
        BERTH_CLUSTER: "berth-prod",
      }),
    ).toEqual({
      tableName: "berth",
      stateMachineArns: { deploy: STATE_MACHINE, "delete-service": DELETE, rollback: ROLLBACK },
      stage: "prod",
      cluster: "berth-prod",
    });
    const defaults = readApiConfig({ BERTH_TABLE_NAME: "berth", ...MACHINES });
    expect(defaults.stage).toBe("default");
    expect(defaults.cluster).toBe("berth");
    expect(defaults.sourceBucket).toBeUndefined();
  });

  it("reads the optional bucket of uploaded sources, and refuses a name S3 would", () => {
    const base = { BERTH_TABLE_NAME: "berth", ...MACHINES };
    expect(readApiConfig({ ...base, BERTH_SOURCE_BUCKET: "berth-prod-sources" }).sourceBucket).toBe(
      "berth-prod-sources",
    );
    expect(() => readApiConfig({ ...base, BERTH_SOURCE_BUCKET: "Not A Bucket" })).toThrow(
      "BERTH_SOURCE_BUCKET must be an S3 bucket name",
    );
  });

  it("names every missing or malformed variable", () => {
    expect(() => readApiConfig({})).toThrow(
      "the API's configuration is incomplete: BERTH_TABLE_NAME is not set; BERTH_DEPLOY_STATE_MACHINE_ARN is not set; BERTH_DELETE_SERVICE_STATE_MACHINE_ARN is not set; BERTH_ROLLBACK_STATE_MACHINE_ARN is not set",
    );
    expect(() =>
      readApiConfig({
        BERTH_TABLE_NAME: "berth",
        ...MACHINES,
        BERTH_DEPLOY_STATE_MACHINE_ARN: "berth-deploy",
      }),
    ).toThrow("BERTH_DEPLOY_STATE_MACHINE_ARN must be a Step Functions state machine ARN");
  });
});

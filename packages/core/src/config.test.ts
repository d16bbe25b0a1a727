import { describe, expect, it } from "vitest";
import { readApiConfig, readSettings } from "./config.ts";
import { renderEnvironment } from "./deployments/rollout/target.ts";
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

describe("readSettings", () => {
  const installation = {
    BERTH_ACCOUNT: "123456789012",
    BERTH_CLUSTER: "berth",
    BERTH_REGISTRY: "123456789012.dkr.ecr.us-east-1.amazonaws.com",
    BERTH_EXECUTION_ROLE_ARN: "arn:aws:iam::123456789012:role/exec",
    BERTH_SUBNETS: "subnet-a,subnet-b",
    BERTH_SECURITY_GROUPS: "sg-a",
    BERTH_SERVICE_CONNECT_NAMESPACE: "arn:aws:servicediscovery:us-east-1:123456789012:namespace/ns-1",
  };

  it("carries the EC2 capacity provider into the steps' rendering, so instanceTypes run on it", () => {
    const settings = readSettings({ ...installation, BERTH_EC2_CAPACITY_PROVIDER: "berth-prod-ec2" });
    expect(renderEnvironment(settings, "shop").ec2CapacityProvider).toBe("berth-prod-ec2");
    const withoutHosts = readSettings(installation);
    expect(withoutHosts.ec2CapacityProvider).toBeUndefined();
    expect(renderEnvironment(withoutHosts, "shop").ec2CapacityProvider).toBeUndefined();
  });

  it("reads the EC2 hosts a refresh replaces: all three variables or none, each checked", () => {
    const hosts = {
      BERTH_HOST_GROUP: "berth-prod-hosts",
      BERTH_HOST_LAUNCH_TEMPLATE: "lt-0123456789abcdef0",
      BERTH_HOST_AMI_PARAMETER: "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id",
    };
    expect(readSettings({ ...installation, ...hosts }).hostFleet).toEqual({
      autoScalingGroupName: "berth-prod-hosts",
      launchTemplateId: "lt-0123456789abcdef0",
      amiParameter: hosts.BERTH_HOST_AMI_PARAMETER,
    });
    expect(readSettings(installation).hostFleet).toBeUndefined();
    const { BERTH_HOST_LAUNCH_TEMPLATE: _, ...partial } = hosts;
    expect(() => readSettings({ ...installation, ...partial })).toThrow(
      /BERTH_HOST_LAUNCH_TEMPLATE is not set/,
    );
    expect(() =>
      readSettings({ ...installation, ...hosts, BERTH_HOST_AMI_PARAMETER: "/my/own/parameter" }),
    ).toThrow(/BERTH_HOST_AMI_PARAMETER must be an ECS-optimized AMI parameter/);
  });
});

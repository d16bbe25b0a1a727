import { describe, expect, it } from "vitest";
import { HostRefresh } from "../packages/core/src/deployments/index.ts";
import { type ContractRequest, validateWithBotocore } from "./support/botocore.ts";

/**
 * The EC2 host refresh's requests (SSM, EC2, Auto Scaling) checked with botocore's
 * ParamValidator, and its handling of an instance refresh already in progress. Berth Local has
 * no Auto Scaling groups, so the AWS answers here are written out: the fake clients exist to
 * reach, and inject, InstanceRefreshInProgressFault, which nothing local can produce.
 */

const FLEET: HostRefresh.HostFleet = {
  autoScalingGroupName: "berth-prod-hosts",
  launchTemplateId: "lt-0123456789abcdef0",
  amiParameter: "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id",
};
const MIXED = {
  LaunchTemplate: {
    LaunchTemplateSpecification: { LaunchTemplateId: FLEET.launchTemplateId, Version: "3" },
    Overrides: [{ InstanceType: "t4g.medium" }, { InstanceType: "m7g.large" }],
  },
  InstancesDistribution: { OnDemandPercentageAboveBaseCapacity: 100 },
};

type Command = { input: unknown; constructor: { name: string } };

/** Clients that record each request and answer from `answers` (by operation), or throw. */
function fakeClients(answers: Record<string, unknown>, recorded: ContractRequest[]) {
  const client = (service: string) => ({
    send: async (command: Command) => {
      const operation = command.constructor.name.replace(/Command$/, "");
      recorded.push({ service, operation, input: command.input });
      const answer = answers[operation];
      if (answer instanceof Error) throw answer;
      if (answer === undefined) throw new Error(`${operation} must not be called`);
      return answer;
    },
  });
  return {
    ssm: client("ssm"),
    ec2: client("ec2"),
    autoScaling: client("autoscaling"),
  } as unknown as HostRefresh.HostRefreshClients;
}

/** Refreshes FLEET through clients that answer from `answers` and record into `recorded`. */
function refresh(answers: Record<string, unknown>, recorded: ContractRequest[]) {
  return HostRefresh.refreshHosts(fakeClients(answers, recorded), FLEET);
}

/** SSM names `newest` as the current AMI; the launch template's latest version runs `current`. */
function amis(newest: string, current: { version: number; imageId: string }) {
  return {
    GetParameter: { Parameter: { Value: newest } },
    DescribeLaunchTemplateVersions: {
      LaunchTemplateVersions: [
        { VersionNumber: current.version, LaunchTemplateData: { ImageId: current.imageId } },
      ],
    },
  };
}

const inProgress = Object.assign(new Error("An Instance Refresh is already in progress"), {
  name: "InstanceRefreshInProgressFault",
});

describe("the EC2 host refresh", () => {
  it("writes a new launch template version for a newer AMI and rolls the group onto it, keeping its instance types", async () => {
    const recorded: ContractRequest[] = [];
    const refreshed = await refresh(
      {
        ...amis("ami-0newer000000000000", { version: 3, imageId: "ami-0older000000000000" }),
        CreateLaunchTemplateVersion: { LaunchTemplateVersion: { VersionNumber: 4 } },
        DescribeAutoScalingGroups: { AutoScalingGroups: [{ MixedInstancesPolicy: MIXED }] },
        StartInstanceRefresh: { InstanceRefreshId: "refresh-1" },
      },
      recorded,
    );
    expect(refreshed).toEqual({
      started: true,
      instanceRefreshId: "refresh-1",
      imageId: "ami-0newer000000000000",
      launchTemplateVersion: "4",
      newVersion: true,
    });
    const start = recorded.find((request) => request.operation === "StartInstanceRefresh")?.input;
    expect(start).toMatchObject({
      AutoScalingGroupName: FLEET.autoScalingGroupName,
      Preferences: {
        MinHealthyPercentage: 100,
        MaxHealthyPercentage: 200,
        SkipMatching: true,
        AutoRollback: true,
      },
      DesiredConfiguration: {
        MixedInstancesPolicy: {
          LaunchTemplate: {
            LaunchTemplateSpecification: { LaunchTemplateId: FLEET.launchTemplateId, Version: "4" },
            Overrides: MIXED.LaunchTemplate.Overrides,
          },
        },
      },
    });
    expect(recorded.find((request) => request.operation === "CreateLaunchTemplateVersion")?.input).toEqual({
      LaunchTemplateId: FLEET.launchTemplateId,
      SourceVersion: "3",
      VersionDescription: "Berth host refresh: ami-0newer000000000000",
      LaunchTemplateData: { ImageId: "ami-0newer000000000000" },
    });
    const { results } = validateWithBotocore(recorded);
    expect(
      results.flatMap((problems, index) => problems.map((p) => `${recorded[index]?.operation}: ${p}`)),
    ).toEqual([]);
  });

  it("writes no version when the template already names the AMI, and still refreshes hosts that lag behind", async () => {
    const recorded: ContractRequest[] = [];
    const refreshed = await refresh(
      {
        ...amis("ami-0same0000000000000", { version: 7, imageId: "ami-0same0000000000000" }),
        DescribeAutoScalingGroups: { AutoScalingGroups: [{}] },
        StartInstanceRefresh: { InstanceRefreshId: "refresh-2" },
      },
      recorded,
    );
    expect(refreshed).toMatchObject({ started: true, launchTemplateVersion: "7", newVersion: false });
    expect(recorded.map((request) => request.operation)).not.toContain("CreateLaunchTemplateVersion");
    expect(recorded.at(-1)?.input).toMatchObject({
      DesiredConfiguration: { LaunchTemplate: { LaunchTemplateId: FLEET.launchTemplateId, Version: "7" } },
    });
    expect(validateWithBotocore(recorded).results.flat()).toEqual([]);
  });

  it("reports an instance refresh already in progress instead of failing", async () => {
    const recorded: ContractRequest[] = [];
    const refreshed = await refresh(
      {
        ...amis("ami-0newer000000000000", { version: 4, imageId: "ami-0newer000000000000" }),
        DescribeAutoScalingGroups: { AutoScalingGroups: [{ MixedInstancesPolicy: MIXED }] },
        StartInstanceRefresh: inProgress,
      },
      recorded,
    );
    expect(refreshed).toEqual({
      started: false,
      imageId: "ami-0newer000000000000",
      reason: expect.stringMatching(/already in progress/),
    });
  });

  it("starts nothing when the parameter names no AMI, and lets other errors through", async () => {
    const recorded: ContractRequest[] = [];
    expect(await refresh({ GetParameter: { Parameter: { Value: "" } } }, recorded)).toMatchObject({
      started: false,
      reason: expect.stringMatching(/names no AMI/),
    });
    const denied = Object.assign(new Error("not authorized"), { name: "AccessDeniedException" });
    await expect(refresh({ GetParameter: denied }, recorded)).rejects.toThrow(/not authorized/);
  });
});

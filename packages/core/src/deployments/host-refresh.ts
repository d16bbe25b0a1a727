import type {
  AutoScalingClient,
  MixedInstancesPolicy,
  StartInstanceRefreshCommandInput,
} from "@aws-sdk/client-auto-scaling";
import type { CreateLaunchTemplateVersionCommandInput, EC2Client } from "@aws-sdk/client-ec2";
import type { SSMClient } from "@aws-sdk/client-ssm";
import { isRefreshInProgress } from "../aws/auto-scaling-groups.ts";

/**
 * Replacing the EC2 hosts of the cluster's capacity provider with ones on the newest
 * ECS-optimized AMI: the AMI id is read from its public SSM parameter, written into a new
 * version of the hosts' launch template (only when it differs), and an Auto Scaling instance
 * refresh rolls the group onto that version. New hosts join before old ones leave
 * (MinHealthyPercentage 100, MaxHealthyPercentage 200), hosts already on the version are kept
 * (SkipMatching), a refresh that fails is undone (AutoRollback), and the capacity provider's
 * managed draining moves each old host's tasks before Auto Scaling terminates it.
 */

export interface HostFleet {
  autoScalingGroupName: string;
  launchTemplateId: string;
  /** e.g. `/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id`. */
  amiParameter: string;
}

export interface HostRefreshClients {
  ssm: Pick<SSMClient, "send">;
  ec2: Pick<EC2Client, "send">;
  autoScaling: Pick<AutoScalingClient, "send">;
}

export type HostRefresh =
  | {
      started: true;
      instanceRefreshId: string;
      imageId: string;
      launchTemplateVersion: string;
      newVersion: boolean;
    }
  | { started: false; reason: string; imageId?: string };

/** A new launch template version: the source version with only its AMI changed. */
function launchTemplateVersionInput(
  fleet: HostFleet,
  sourceVersion: string,
  imageId: string,
): CreateLaunchTemplateVersionCommandInput {
  return {
    LaunchTemplateId: fleet.launchTemplateId,
    SourceVersion: sourceVersion,
    VersionDescription: `Berth host refresh: ${imageId}`,
    LaunchTemplateData: { ImageId: imageId },
  };
}

/**
 * The instance refresh onto `version` of the launch template. A group with a mixed instances
 * policy keeps its instance types and distribution: only its launch template version changes.
 */
function instanceRefreshInput(
  fleet: HostFleet,
  version: string,
  mixed: MixedInstancesPolicy | undefined,
): StartInstanceRefreshCommandInput {
  const template = { LaunchTemplateId: fleet.launchTemplateId, Version: version };
  return {
    AutoScalingGroupName: fleet.autoScalingGroupName,
    Strategy: "Rolling",
    DesiredConfiguration: mixed
      ? {
          MixedInstancesPolicy: {
            ...mixed,
            LaunchTemplate: { ...mixed.LaunchTemplate, LaunchTemplateSpecification: template },
          },
        }
      : { LaunchTemplate: template },
    Preferences: {
      MinHealthyPercentage: 100,
      MaxHealthyPercentage: 200,
      SkipMatching: true,
      AutoRollback: true,
      InstanceWarmup: 300,
      // ECS protects hosts that run tasks from scale-in; they are the ones to replace.
      ScaleInProtectedInstances: "Refresh",
      StandbyInstances: "Terminate",
    },
  };
}

/** Starts the hosts' refresh onto the newest ECS-optimized AMI; an ongoing one is reported, not an error. */
export async function refreshHosts(clients: HostRefreshClients, fleet: HostFleet): Promise<HostRefresh> {
  // Imported here, not with the module: see auto-scaling-groups.ts (EC2's package alone is a second of CPU).
  const [ssm, ec2, autoScaling] = await Promise.all([
    import("@aws-sdk/client-ssm"),
    import("@aws-sdk/client-ec2"),
    import("@aws-sdk/client-auto-scaling"),
  ]);
  const { GetParameterCommand } = ssm;
  const { CreateLaunchTemplateVersionCommand, DescribeLaunchTemplateVersionsCommand } = ec2;
  const { DescribeAutoScalingGroupsCommand, StartInstanceRefreshCommand } = autoScaling;
  const parameter = await clients.ssm.send(new GetParameterCommand({ Name: fleet.amiParameter }));
  const imageId = parameter.Parameter?.Value;
  if (!imageId?.startsWith("ami-")) {
    return {
      started: false,
      reason: `SSM parameter ${fleet.amiParameter} names no AMI (${imageId ?? "empty"})`,
    };
  }
  const described = await clients.ec2.send(
    new DescribeLaunchTemplateVersionsCommand({
      LaunchTemplateId: fleet.launchTemplateId,
      Versions: ["$Latest"],
    }),
  );
  const latest = described.LaunchTemplateVersions?.[0];
  if (latest?.VersionNumber === undefined) {
    return { started: false, imageId, reason: `launch template ${fleet.launchTemplateId} has no version` };
  }
  let version = String(latest.VersionNumber);
  const newVersion = latest.LaunchTemplateData?.ImageId !== imageId;
  if (newVersion) {
    const created = await clients.ec2.send(
      new CreateLaunchTemplateVersionCommand(launchTemplateVersionInput(fleet, version, imageId)),
    );
    const number = created.LaunchTemplateVersion?.VersionNumber;
    if (number === undefined)
      throw new Error(`CreateLaunchTemplateVersion answered no version for ${fleet.launchTemplateId}`);
    version = String(number);
  }
  const groups = await clients.autoScaling.send(
    new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [fleet.autoScalingGroupName] }),
  );
  const group = groups.AutoScalingGroups?.[0];
  if (!group)
    return {
      started: false,
      imageId,
      reason: `Auto Scaling group ${fleet.autoScalingGroupName} does not exist`,
    };
  try {
    const started = await clients.autoScaling.send(
      new StartInstanceRefreshCommand(instanceRefreshInput(fleet, version, group.MixedInstancesPolicy)),
    );
    return {
      started: true,
      instanceRefreshId: started.InstanceRefreshId ?? "",
      imageId,
      launchTemplateVersion: version,
      newVersion,
    };
  } catch (error) {
    if (!isRefreshInProgress(error)) throw error;
    return {
      started: false,
      imageId,
      reason: `an instance refresh of ${fleet.autoScalingGroupName} is already in progress; the hosts are refreshed when it ends (launch template version ${version} is ready for the next one)`,
    };
  }
}

/** What a scheduled refresh says about the hosts: the refresh, or why it did not start. */
export type HostRefreshReport = HostRefresh | { started: false; error: string };

/**
 * `refreshHosts` for a scheduled refresh: an AWS error is logged and reported in the result, not
 * thrown, so the services' refreshes already requested are still reported; the next refresh
 * tries again.
 */
export async function refreshHostsReported(
  clients: HostRefreshClients,
  fleet: HostFleet,
  logger: { warn(message: string, details: Record<string, unknown>): void },
): Promise<HostRefreshReport> {
  try {
    const refreshed = await refreshHosts(clients, fleet);
    if (!refreshed.started) logger.warn("host refresh not started", { ...fleet, reason: refreshed.reason });
    return refreshed;
  } catch (error) {
    const described = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    logger.warn("host refresh failed", { ...fleet, error: described });
    return { started: false, error: `the EC2 hosts were not refreshed: ${described}`.slice(0, 1000) };
  }
}

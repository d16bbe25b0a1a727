import { Stack } from "aws-cdk-lib";
import * as autoscaling from "aws-cdk-lib/aws-autoscaling";
import * as ec2 from "aws-cdk-lib/aws-ec2";
import * as ecs from "aws-cdk-lib/aws-ecs";
import * as iam from "aws-cdk-lib/aws-iam";
import * as servicediscovery from "aws-cdk-lib/aws-servicediscovery";
import { type StackContext, use } from "sst/constructs/FunctionalStack.js";
import { gatewayWiring, loadBalancerWiring } from "./ingress.ts";
import { suppress } from "./nag.ts";
import { type Names, namesFor } from "./names.ts";
import { Network } from "./network.ts";
import { type StageSettings, settingsOf } from "./settings.ts";

/** The ECS-optimized Amazon Linux 2023 AMI, as a public SSM parameter per architecture. */
const ECS_AMI_PARAMETERS: Record<ec2.InstanceArchitecture, string> = {
  [ec2.InstanceArchitecture.ARM_64]:
    "/aws/service/ecs/optimized-ami/amazon-linux-2023/arm64/recommended/image_id",
  [ec2.InstanceArchitecture.X86_64]: "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id",
};

/**
 * The ECS cluster: Fargate and Fargate Spot always, an EC2 Auto Scaling group when the stage
 * asks for one, and the Cloud Map namespace Service Connect publishes the services in.
 */
export function Cluster({ stack, app }: StackContext) {
  const settings = settingsOf(app);
  const names = namesFor(app.stage);
  const { vpc, taskSecurityGroup, taskSubnets } = use(Network);

  const cluster = new ecs.Cluster(stack, "Cluster", {
    clusterName: names.cluster,
    vpc,
    enableFargateCapacityProviders: true,
    containerInsightsV2: settings.containerInsights
      ? ecs.ContainerInsights.ENABLED
      : ecs.ContainerInsights.DISABLED,
  });
  if (!settings.containerInsights) {
    suppress(cluster, [
      {
        id: "AwsSolutions-ECS4",
        reason:
          "Container Insights is off by this stage's settings (it is billed per metric); task logs and ECS events still reach CloudWatch",
      },
    ]);
  }

  // An HTTP (API-only) namespace: Service Connect needs no DNS zone, so none is paid for. As the
  // cluster's default, services join it without naming it.
  const namespace = cluster.addDefaultCloudMapNamespace({
    name: names.serviceConnectNamespace,
    type: servicediscovery.NamespaceType.HTTP,
    useForServiceConnect: true,
  });

  const gateways = gatewayWiring(Stack.of(stack), vpc, taskSecurityGroup, taskSubnets, names);
  const balancers = loadBalancerWiring(Stack.of(stack), vpc, taskSecurityGroup);

  const ec2Capacity = settings.ec2 ? hostCapacity(Stack.of(stack), vpc, settings.ec2, names) : undefined;
  if (ec2Capacity) {
    cluster.addAsgCapacityProvider(ec2Capacity.provider);
    // After the cluster added the agent's grants to the host role.
    suppress(ec2Capacity.hostRole, [
      {
        id: "AwsSolutions-IAM5",
        reason:
          "The ECS agent's grants from CDK: DiscoverPollEndpoint, GetAuthorizationToken and the log actions have no resource-level permissions; Submit* is the agent's state reporting on this cluster; Poll and telemetry are per container instance, whose ids are assigned at registration",
        appliesTo: [
          "Resource::*",
          "Action::ecs:Submit*",
          { regex: "/^Resource::arn:.*container-instance/.*\\*$/" },
        ],
      },
    ]);
    suppress(ec2Capacity.group, [
      {
        id: "CdkNagValidationFailure",
        reason:
          "AwsSolutions-EC26 cannot follow a launch template referenced through a mixed instances policy; the template's only volume is encrypted",
        appliesTo: ["AwsSolutions-EC26"],
      },
    ]);
  }

  stack.addOutputs({
    ClusterName: cluster.clusterName,
    ServiceConnectNamespace: namespace.namespaceArn,
    IngressNamespace: gateways.namespace.namespaceId,
    VpcLink: gateways.vpcLink.vpcLinkId,
    LoadBalancerSecurityGroup: balancers.securityGroup.securityGroupId,
    NetworkLoadBalancerSecurityGroup: balancers.networkSecurityGroup.securityGroupId,
    ...(ec2Capacity ? { Ec2CapacityProvider: ec2Capacity.provider.capacityProviderName } : {}),
  });
  return {
    cluster,
    namespace,
    ingressNamespace: gateways.namespace,
    vpcLink: gateways.vpcLink,
    loadBalancerSecurityGroup: balancers.securityGroup,
    networkLoadBalancerSecurityGroup: balancers.networkSecurityGroup,
    ec2CapacityProvider: ec2Capacity?.provider,
    /** What a refresh needs to replace the EC2 hosts; undefined without EC2 capacity. */
    hosts: ec2Capacity
      ? {
          launchTemplateId: ec2Capacity.launchTemplate.launchTemplateId ?? "",
          roleName: ec2Capacity.hostRole.roleName,
          amiParameter: ec2Capacity.amiParameter,
        }
      : undefined,
  };
}

function hostCapacity(
  stack: Stack,
  vpc: ec2.IVpc,
  ec2Settings: NonNullable<StageSettings["ec2"]>,
  names: Names,
): {
  provider: ecs.AsgCapacityProvider;
  hostRole: iam.Role;
  group: autoscaling.AutoScalingGroup;
  launchTemplate: ec2.LaunchTemplate;
  amiParameter: string;
} {
  const instanceTypes = ec2Settings.instanceTypes.map((type) => new ec2.InstanceType(type));
  const architectures = new Set(instanceTypes.map((type) => type.architecture));
  const [architecture] = architectures;
  if (architectures.size !== 1 || architecture === undefined) {
    throw new Error(`ec2.instanceTypes mixes architectures: ${ec2Settings.instanceTypes.join(", ")}`);
  }

  const hostSecurityGroup = new ec2.SecurityGroup(stack, "HostSecurityGroup", {
    vpc,
    description: "Berth EC2 hosts: traffic of the ECS agent; tasks have a group of their own",
    allowAllOutbound: true,
  });
  const hostRole = new iam.Role(stack, "HostRole", {
    assumedBy: new iam.ServicePrincipal("ec2.amazonaws.com"),
    description: "Berth EC2 hosts: the ECS agent (the cluster adds its permissions)",
  });

  const userData = ec2.UserData.forLinux();
  // Tasks (awsvpc) must not borrow the host's credentials through the instance metadata service.
  userData.addCommands("echo ECS_AWSVPC_BLOCK_IMDS=true >> /etc/ecs/ecs.config");

  const launchTemplate = new ec2.LaunchTemplate(stack, "HostTemplate", {
    // Resolved by EC2 at every launch, not at deploy time. A refresh (the weekly-refresh and
    // scheduled-refresh functions) writes the AMI it resolves into a new version of this
    // template and rolls the group onto it (packages/core/src/deployments/host-refresh.ts).
    machineImage: ec2.MachineImage.resolveSsmParameterAtLaunch(ECS_AMI_PARAMETERS[architecture]),
    userData,
    role: hostRole,
    securityGroup: hostSecurityGroup,
    requireImdsv2: true,
    blockDevices: [
      {
        deviceName: "/dev/xvda",
        volume: ec2.BlockDeviceVolume.ebs(30, { encrypted: true, volumeType: ec2.EbsDeviceVolumeType.GP3 }),
      },
    ],
  });

  const group = new autoscaling.AutoScalingGroup(stack, "HostGroup", {
    autoScalingGroupName: names.hostGroup,
    vpc,
    vpcSubnets: { subnets: vpc.privateSubnets },
    minCapacity: ec2Settings.minCapacity,
    maxCapacity: ec2Settings.maxCapacity,
    mixedInstancesPolicy: {
      launchTemplate,
      launchTemplateOverrides: instanceTypes.map((instanceType) => ({ instanceType })),
      instancesDistribution: { onDemandPercentageAboveBaseCapacity: 100 },
    },
  });

  const provider = new ecs.AsgCapacityProvider(stack, "Ec2Capacity", {
    capacityProviderName: names.ec2CapacityProvider,
    autoScalingGroup: group,
    enableManagedScaling: true,
    targetCapacityPercent: 100,
    enableManagedTerminationProtection: true,
    // ECS moves a host's tasks elsewhere before Auto Scaling terminates it (scale-in, refresh).
    enableManagedDraining: true,
    // The "Amazon Linux" kind of joining (ECS_CLUSTER in ecs.config), which AL2023 shares.
    machineImageType: ecs.MachineImageType.AMAZON_LINUX_2,
  });

  suppress(group, [
    {
      id: "AwsSolutions-AS3",
      reason:
        "Scaling is ECS managed scaling's; its activity is in the Auto Scaling and ECS event streams, no notification topic is read",
    },
  ]);
  return { provider, hostRole, group, launchTemplate, amiParameter: ECS_AMI_PARAMETERS[architecture] };
}

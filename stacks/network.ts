import { RemovalPolicy } from "aws-cdk-lib";
import * as ec2 from "aws-cdk-lib/aws-ec2";
import * as logs from "aws-cdk-lib/aws-logs";
import type { StackContext } from "sst/constructs/FunctionalStack.js";
import { settingsOf } from "./settings.ts";

/**
 * Where the tasks run: a VPC (new, or an existing one by id) and the security group every
 * task gets. Tasks run in the private subnets; their traffic out goes through NAT.
 */
export function Network({ stack, app }: StackContext) {
  const settings = settingsOf(app);
  const { existingVpcId, maxAzs, natGateways } = settings.network;

  let vpc: ec2.IVpc;
  if (existingVpcId) {
    vpc = ec2.Vpc.fromLookup(stack, "Vpc", { vpcId: existingVpcId });
  } else {
    const flowLogs = new logs.LogGroup(stack, "FlowLogs", {
      retention: settings.logRetentionDays,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    vpc = new ec2.Vpc(stack, "Vpc", {
      ipAddresses: ec2.IpAddresses.cidr("10.64.0.0/16"),
      maxAzs,
      natGateways,
      subnetConfiguration: [
        { name: "public", subnetType: ec2.SubnetType.PUBLIC, cidrMask: 20 },
        // Room for awsvpc tasks: every task takes an address of its own.
        { name: "private", subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 19 },
      ],
      // Rejected connections only: enough to debug a security group, a fraction of the volume.
      flowLogs: {
        rejected: {
          trafficType: ec2.FlowLogTrafficType.REJECT,
          destination: ec2.FlowLogDestination.toCloudWatchLogs(flowLogs),
        },
      },
    });
  }

  const taskSecurityGroup = new ec2.SecurityGroup(stack, "TaskSecurityGroup", {
    vpc,
    description: `Berth ${app.stage}: every task of every stack`,
    allowAllOutbound: true,
  });
  // Service Connect proxies reach each other's tasks directly; nothing else comes in.
  taskSecurityGroup.addIngressRule(
    taskSecurityGroup,
    ec2.Port.allTcp(),
    "Service Connect between Berth tasks",
  );

  const taskSubnets = vpc.privateSubnets;
  if (!existingVpcId && taskSubnets.length === 0) throw new Error("the VPC has no private subnets");

  stack.addOutputs({
    VpcId: vpc.vpcId,
    TaskSubnets: taskSubnets.map((subnet) => subnet.subnetId).join(","),
    TaskSecurityGroup: taskSecurityGroup.securityGroupId,
  });
  return { vpc, taskSecurityGroup, taskSubnets };
}

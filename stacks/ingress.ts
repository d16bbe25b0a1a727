import type { Stack } from "aws-cdk-lib";
import * as apigatewayv2 from "aws-cdk-lib/aws-apigatewayv2";
import * as ec2 from "aws-cdk-lib/aws-ec2";
import * as servicediscovery from "aws-cdk-lib/aws-servicediscovery";
import type { Names } from "./names.ts";

/**
 * What every HTTP API gateway Berth creates integrates through: one VPC link into the task
 * subnets, and a private DNS namespace where ECS registers the tasks of web services with SRV
 * records (API Gateway's private integrations need each task's port, which only SRV gives).
 * The gateways themselves are created by the deploy workflow, not here.
 */
export function gatewayWiring(
  scope: Stack,
  vpc: ec2.IVpc,
  taskSecurityGroup: ec2.ISecurityGroup,
  taskSubnets: ec2.ISubnet[],
  names: Names,
) {
  const namespace = new servicediscovery.PrivateDnsNamespace(scope, "IngressNamespace", {
    name: names.ingressNamespace,
    vpc,
    description: "Berth: tasks behind HTTP API gateways (SRV records per container port)",
  });
  const linkSecurityGroup = new ec2.SecurityGroup(scope, "VpcLinkSecurityGroup", {
    vpc,
    description: "Berth: the API Gateway VPC link, toward the tasks behind HTTP API gateways",
    allowAllOutbound: false,
  });
  // The VPC link opens connections to tasks on whatever port their container listens on.
  linkSecurityGroup.addEgressRule(taskSecurityGroup, ec2.Port.allTcp(), "to Berth tasks");
  // Created here, beside the link (remoteRule): the task group's stack must not depend on this one.
  taskSecurityGroup.addIngressRule(
    linkSecurityGroup,
    ec2.Port.allTcp(),
    "from the API Gateway VPC link",
    true,
  );
  const vpcLink = new apigatewayv2.VpcLink(scope, "VpcLink", {
    vpc,
    vpcLinkName: names.vpcLink,
    subnets: { subnets: taskSubnets },
    securityGroups: [linkSecurityGroup],
  });
  return { namespace, vpcLink };
}

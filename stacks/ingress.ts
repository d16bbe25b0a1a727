import type { Stack } from "aws-cdk-lib";
import * as apigatewayv2 from "aws-cdk-lib/aws-apigatewayv2";
import * as ec2 from "aws-cdk-lib/aws-ec2";
import * as servicediscovery from "aws-cdk-lib/aws-servicediscovery";
import { suppress } from "./nag.ts";
import type { Names } from "./names.ts";

/**
 * Lets `source` reach the tasks on any TCP port, both ways of the rule: its egress, and the tasks'
 * ingress created beside it (remoteRule), so the task group's stack never depends on this one.
 */
function openTasksTo(source: ec2.SecurityGroup, taskSecurityGroup: ec2.ISecurityGroup, description: string) {
  source.addEgressRule(taskSecurityGroup, ec2.Port.allTcp(), "to Berth tasks");
  taskSecurityGroup.addIngressRule(source, ec2.Port.allTcp(), description, true);
}

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
  openTasksTo(linkSecurityGroup, taskSecurityGroup, "from the API Gateway VPC link");
  const vpcLink = new apigatewayv2.VpcLink(scope, "VpcLink", {
    vpc,
    vpcLinkName: names.vpcLink,
    subnets: { subnets: taskSubnets },
    securityGroups: [linkSecurityGroup],
  });
  return { namespace, vpcLink };
}

/**
 * What every load balancer Berth creates gets: one security group that takes HTTP and HTTPS
 * from anywhere (the balancers are public entry points) and reaches only the tasks, which in
 * turn accept it. The balancers, listeners and target groups are created by the deploy workflow.
 */
export function loadBalancerWiring(scope: Stack, vpc: ec2.IVpc, taskSecurityGroup: ec2.ISecurityGroup) {
  const securityGroup = new ec2.SecurityGroup(scope, "LoadBalancerSecurityGroup", {
    vpc,
    description: "Berth: load balancers in front of web services, toward their tasks",
    allowAllOutbound: false,
  });
  for (const port of [80, 443]) {
    securityGroup.addIngressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(port), `HTTP(S) from anywhere on ${port}`);
    securityGroup.addIngressRule(ec2.Peer.anyIpv6(), ec2.Port.tcp(port), `HTTP(S) from anywhere on ${port}`);
  }
  // A private service's internal balancer listens on the service's own port: its consumers (tasks)
  // reach it there.
  securityGroup.addIngressRule(
    taskSecurityGroup,
    ec2.Port.allTcp(),
    "from Berth tasks, to internal balancers on their services' ports",
  );
  // Targets are registered by IP on their container port, whichever it is.
  openTasksTo(securityGroup, taskSecurityGroup, "from Berth load balancers");
  suppress(securityGroup, [
    {
      id: "AwsSolutions-EC23",
      reason:
        "Internet-facing load balancers of public web services take HTTP and HTTPS from anywhere; only ports 80 and 443 are open",
    },
  ]);
  // Network load balancers listen on whatever TCP ports their stacks declare, so their group takes
  // any TCP port; a balancer passes on only the ports it has listeners for.
  const networkSecurityGroup = new ec2.SecurityGroup(scope, "NetworkLoadBalancerSecurityGroup", {
    vpc,
    description: "Berth: network balancers (TCP) in front of services, toward their tasks",
    allowAllOutbound: false,
  });
  networkSecurityGroup.addIngressRule(ec2.Peer.anyIpv4(), ec2.Port.allTcp(), "TCP from anywhere");
  networkSecurityGroup.addIngressRule(ec2.Peer.anyIpv6(), ec2.Port.allTcp(), "TCP from anywhere");
  openTasksTo(networkSecurityGroup, taskSecurityGroup, "from Berth network load balancers");
  suppress(networkSecurityGroup, [
    {
      id: "AwsSolutions-EC23",
      reason:
        "Network load balancers take TCP on the listener ports their stacks declare, unknown when the installation is deployed; a balancer forwards only its listeners' ports",
    },
  ]);
  return { securityGroup, networkSecurityGroup };
}

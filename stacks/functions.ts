import { FUNCTIONS } from "@berth/core/functions";
import { Duration, RemovalPolicy, Stack } from "aws-cdk-lib";
import * as iam from "aws-cdk-lib/aws-iam";
import * as lambda from "aws-cdk-lib/aws-lambda";
import * as logs from "aws-cdk-lib/aws-logs";
import { dependsOn, type StackContext, use } from "sst/constructs/FunctionalStack.js";
import { handlerCode } from "./bundling.ts";
import { Cluster } from "./cluster.ts";
import { environmentOf } from "./environment.ts";
import { Iam } from "./iam.ts";
import { suppress } from "./nag.ts";
import {
  deploymentRoleArn,
  executionRoleArn,
  functionArn,
  jobRunRoleArn,
  namesFor,
  permissionsBoundaryArn,
  registryHost,
  schedulerRoleArn,
  stateMachineArn,
} from "./names.ts";
import { Network } from "./network.ts";
import { grantedPermissions, type PlaceholderValues, statementOf } from "./placeholders.ts";
import { Registry } from "./registry.ts";
import { settingsOf } from "./settings.ts";
import { Store } from "./store.ts";

/**
 * Every function of the manifest (`FUNCTIONS`), each with its own role holding exactly the
 * manifest's permissions. Triggers live with what triggers them: the API, the event rules and
 * the state machines refer to the functions by name.
 */
export function Functions({ stack, app }: StackContext) {
  const settings = settingsOf(app);
  const names = namesFor(app.stage);
  const { table } = use(Store);
  const { vpc, taskSecurityGroup, taskSubnets } = use(Network);
  const {
    namespace,
    ec2CapacityProvider,
    hosts,
    ingressNamespace,
    vpcLink,
    loadBalancerSecurityGroup,
    networkLoadBalancerSecurityGroup,
  } = use(Cluster);
  const { sources } = use(Registry);
  // The boundary and the execution role are referred to by name; they must exist first.
  dependsOn(Iam);

  const placeholders: PlaceholderValues = {
    Partition: Stack.of(stack).partition,
    Region: Stack.of(stack).region,
    Account: Stack.of(stack).account,
    Table: table.tableName,
    Cluster: names.cluster,
    TaskRolePath: settings.taskRolePath,
    ExecutionRole: names.executionRole,
    StateMachinePrefix: names.prefix,
    CodeBuildProject: names.builderProject,
    PermissionsBoundary: permissionsBoundaryArn(stack, names),
    SourceBucket: sources.bucketName,
    Stage: app.stage,
    IngressNamespace: ingressNamespace.namespaceId,
    ...(hosts
      ? { HostGroup: names.hostGroup, HostLaunchTemplate: hosts.launchTemplateId, HostRole: hosts.roleName }
      : {}),
  };
  const values = {
    tableName: table.tableName,
    stage: app.stage,
    partition: Stack.of(stack).partition,
    account: Stack.of(stack).account,
    cluster: names.cluster,
    registry: registryHost(stack),
    executionRoleArn: executionRoleArn(stack, names),
    taskRolePath: settings.taskRolePath,
    permissionsBoundaryArn: permissionsBoundaryArn(stack, names),
    subnets: taskSubnets.map((subnet) => subnet.subnetId).join(","),
    securityGroups: taskSecurityGroup.securityGroupId,
    serviceConnectNamespace: namespace.namespaceArn,
    ingress: "{}",
    vpcLinkId: vpcLink.vpcLinkId,
    ingressNamespaceId: ingressNamespace.namespaceId,
    vpcId: vpc.vpcId,
    // An existing VPC without public subnets has no place for internet-facing load balancers:
    // the variable stays unset and a service behind one is refused (MISSING_INGRESS).
    ...(vpc.publicSubnets.length > 0
      ? { publicSubnets: vpc.publicSubnets.map((subnet) => subnet.subnetId).join(",") }
      : {}),
    loadBalancerSecurityGroups: loadBalancerSecurityGroup.securityGroupId,
    networkLoadBalancerSecurityGroups: networkLoadBalancerSecurityGroup.securityGroupId,
    sourceBucket: sources.bucketName,
    stateMachineArn: (workflow: string) => stateMachineArn(stack, names, workflow),
    stateMachinePrefix: names.prefix,
    jobRunRoleArn: jobRunRoleArn(stack, names),
    deploymentRoleArn: deploymentRoleArn(stack, names),
    scheduleGroup: names.scheduleGroup,
    schedulerRoleArn: schedulerRoleArn(stack, names),
    scheduledRefreshArn: functionArn(stack, names, "scheduled-refresh"),
    // By name, as the cluster stack creates it: a Ref would add a cross-stack export for a constant.
    ...(ec2CapacityProvider ? { ec2CapacityProvider: names.ec2CapacityProvider } : {}),
    ...(hosts
      ? {
          hostGroup: names.hostGroup,
          hostLaunchTemplate: hosts.launchTemplateId,
          hostAmiParameter: hosts.amiParameter,
        }
      : {}),
  };

  const functions: Record<string, lambda.Function> = {};
  for (const definition of FUNCTIONS) {
    const functionName = names.function(definition.name);
    const logGroup = new logs.LogGroup(stack, `${definition.name}-logs`, {
      logGroupName: `/aws/lambda/${functionName}`,
      retention: settings.logRetentionDays,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const role = new iam.Role(stack, `${definition.name}-role`, {
      assumedBy: new iam.ServicePrincipal("lambda.amazonaws.com"),
      description: `Berth ${app.stage}: the ${definition.name} function`,
      inlinePolicies: {
        manifest: new iam.PolicyDocument({
          statements: grantedPermissions(definition.permissions, placeholders).map((permission) =>
            statementOf(permission, placeholders),
          ),
        }),
        logs: new iam.PolicyDocument({
          statements: [
            new iam.PolicyStatement({
              actions: ["logs:CreateLogStream", "logs:PutLogEvents"],
              resources: [logGroup.logGroupArn],
            }),
          ],
        }),
      },
    });
    const { code, handler } = handlerCode(definition.handler);
    const fn = new lambda.Function(stack, definition.name, {
      functionName,
      description: definition.description,
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      code,
      handler,
      memorySize: definition.memoryMiB,
      timeout: Duration.seconds(definition.timeoutSeconds),
      environment: environmentOf(definition, values),
      role,
      logGroup,
    });
    functions[definition.name] = fn;
    suppress(fn, [
      {
        id: "AwsSolutions-L1",
        reason:
          "Berth's functions target nodejs22.x on purpose: the same handlers run on Node 20 and 22 in Berth Local, and a runtime is only adopted once the code is tested on it",
      },
    ]);

    suppress(role, [
      {
        id: "AwsSolutions-IAM5",
        reason:
          "The manifest's grants (packages/core/src/functions.ts): ARN patterns scoped to this installation's table, cluster, name prefixes and paths; a wildcard stands for what the control plane names at run time (a stack's services, tasks, roles, log groups) or for an action without resource-level permissions",
        appliesTo: [{ regex: "/^Resource::.*\\*.*$/" }],
      },
    ]);
  }

  return { functions };
}

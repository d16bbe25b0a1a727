import { ArnFormat, Stack } from "aws-cdk-lib";
import type { IConstruct } from "constructs";

/**
 * Physical names of the resources that other stacks, the control plane or the workflows refer
 * to by name. Naming them (instead of passing CloudFormation references) keeps the stacks free
 * of cross-stack exports where a reference would otherwise run in both directions (functions ↔
 * state machines, functions ↔ their API and rules), and lets an export-free stack be replaced.
 */
export interface Names {
  stage: string;
  /** Prefix of every named resource of the stage, and the state machines' `StateMachinePrefix`. */
  prefix: string;
  cluster: string;
  serviceConnectNamespace: string;
  /** The private DNS namespace HTTP API gateways find tasks in, and their VPC link. */
  ingressNamespace: string;
  vpcLink: string;
  hostGroup: string;
  ec2CapacityProvider: string;
  builderProject: string;
  executionRole: string;
  /** The boundary is a managed policy under this path, with this name. */
  boundaryPath: string;
  boundaryPolicy: string;
  /** The role batch jobs' run state machines (`<prefix>job-<stack>-<job>`) run as. */
  jobRunRole: string;
  /** The role ECS shifts gradual deployments' load balancer traffic with. */
  deploymentRole: string;
  /** The schedule group stacks' own refresh schedules live in, and the role they invoke as. */
  scheduleGroup: string;
  schedulerRole: string;
  function(name: string): string;
  stateMachine(workflow: string): string;
}

export function namesFor(stage: string): Names {
  const prefix = `berth-${stage}-`;
  return {
    stage,
    prefix,
    cluster: `berth-${stage}`,
    serviceConnectNamespace: `berth-${stage}`,
    ingressNamespace: `${stage}.berth.internal`,
    vpcLink: `${prefix}gateways`,
    hostGroup: `${prefix}hosts`,
    ec2CapacityProvider: `${prefix}ec2`,
    builderProject: `${prefix}builder`,
    // At the root path: task roles live under the task role path, and a grant on that path
    // (CreateRole, PutRolePolicy) must never reach the execution role.
    executionRole: `${prefix}task-execution`,
    boundaryPath: "/berth/",
    boundaryPolicy: `${prefix}task-boundary`,
    jobRunRole: `${prefix}job-run`,
    deploymentRole: `${prefix}ecs-load-balancers`,
    scheduleGroup: `${prefix}refresh`,
    schedulerRole: `${prefix}scheduler`,
    function: (name) => `${prefix}${name}`,
    stateMachine: (workflow) => `${prefix}${workflow}`,
  };
}

export function functionArn(scope: IConstruct, names: Names, name: string): string {
  return Stack.of(scope).formatArn({
    service: "lambda",
    resource: "function",
    resourceName: names.function(name),
    arnFormat: ArnFormat.COLON_RESOURCE_NAME,
  });
}

export function stateMachineArn(scope: IConstruct, names: Names, workflow: string): string {
  return Stack.of(scope).formatArn({
    service: "states",
    resource: "stateMachine",
    resourceName: names.stateMachine(workflow),
    arnFormat: ArnFormat.COLON_RESOURCE_NAME,
  });
}

export function permissionsBoundaryArn(scope: IConstruct, names: Names): string {
  return Stack.of(scope).formatArn({
    service: "iam",
    region: "",
    resource: "policy",
    resourceName: `${names.boundaryPath.slice(1)}${names.boundaryPolicy}`,
  });
}

export function executionRoleArn(scope: IConstruct, names: Names): string {
  return Stack.of(scope).formatArn({
    service: "iam",
    region: "",
    resource: "role",
    resourceName: names.executionRole,
  });
}

export function jobRunRoleArn(scope: IConstruct, names: Names): string {
  return Stack.of(scope).formatArn({
    service: "iam",
    region: "",
    resource: "role",
    resourceName: names.jobRunRole,
  });
}

export function deploymentRoleArn(scope: IConstruct, names: Names): string {
  return Stack.of(scope).formatArn({
    service: "iam",
    region: "",
    resource: "role",
    resourceName: names.deploymentRole,
  });
}

export function schedulerRoleArn(scope: IConstruct, names: Names): string {
  return Stack.of(scope).formatArn({
    service: "iam",
    region: "",
    resource: "role",
    resourceName: names.schedulerRole,
  });
}

/** The ECR registry host of the stack's account and region. */
export function registryHost(scope: IConstruct): string {
  const stack = Stack.of(scope);
  return `${stack.account}.dkr.ecr.${stack.region}.${stack.urlSuffix}`;
}

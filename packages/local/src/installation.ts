import type { Workflow } from "@berth/core/deployments";
import { LOCAL_VPC_LINK_ID } from "./apigatewayv2/service.ts";
import { LOCAL_EC2_CAPACITY_PROVIDER } from "./ecs/capacity.ts";
import { LOCAL_NAMESPACE_ID } from "./servicediscovery/service.ts";

/**
 * What Berth Local's installation is named and configured with: the values `stacks/` gives the
 * functions on AWS, here in one place so the API host, the function registry and the state
 * machines agree.
 */
export interface LocalInstallation {
  account: string;
  region: string;
  tableName: string;
  cluster: string;
  stateMachinePrefix: string;
  codeBuildProject: string;
  stateMachineArns: Workflow.StateMachineArns;
  refreshStateMachineArn: string;
  /** Every configuration variable a manifest function may name, with Berth Local's value. */
  functionEnvironment: Record<string, string>;
}

export const LOCAL_TABLE_NAME = "berth";
const LOCAL_CLUSTER = "berth";
const LOCAL_STATE_MACHINE_PREFIX = "berth-";
const LOCAL_CODEBUILD_PROJECT = "berth-build";
/** The schedule group stacks' refresh schedules are kept in. */
export const LOCAL_SCHEDULE_GROUP = "berth-local";
/** Images Berth Local builds are addressed as `berth.local/<repository>@sha256:<hex>`. */
const LOCAL_REGISTRY = "berth.local";

export function localInstallation(options: { account: string; region: string }): LocalInstallation {
  const { account, region } = options;
  const machine = (name: string) =>
    `arn:aws:states:${region}:${account}:stateMachine:${LOCAL_STATE_MACHINE_PREFIX}${name}`;
  const stateMachineArns: Workflow.StateMachineArns = {
    deploy: machine("deploy"),
    "delete-service": machine("delete-service"),
    rollback: machine("rollback"),
  };
  const refreshStateMachineArn = machine("refresh");
  return {
    account,
    region,
    tableName: LOCAL_TABLE_NAME,
    cluster: LOCAL_CLUSTER,
    stateMachinePrefix: LOCAL_STATE_MACHINE_PREFIX,
    codeBuildProject: LOCAL_CODEBUILD_PROJECT,
    stateMachineArns,
    refreshStateMachineArn,
    functionEnvironment: {
      BERTH_TABLE_NAME: LOCAL_TABLE_NAME,
      BERTH_STAGE: "local",
      BERTH_CLUSTER: LOCAL_CLUSTER,
      BERTH_ACCOUNT: account,
      BERTH_DEPLOY_STATE_MACHINE_ARN: stateMachineArns.deploy,
      BERTH_DELETE_SERVICE_STATE_MACHINE_ARN: stateMachineArns["delete-service"],
      BERTH_ROLLBACK_STATE_MACHINE_ARN: stateMachineArns.rollback,
      BERTH_REFRESH_STATE_MACHINE_ARN: refreshStateMachineArn,
      BERTH_REGISTRY: LOCAL_REGISTRY,
      BERTH_EXECUTION_ROLE_ARN: `arn:aws:iam::${account}:role/berth-task-execution`,
      BERTH_TASK_ROLE_PATH: "/berth/",
      BERTH_PERMISSIONS_BOUNDARY_ARN: `arn:aws:iam::${account}:policy/berth-task-boundary`,
      // The role ECS would assume to shift gradual deployments' traffic (a name only here).
      BERTH_DEPLOYMENT_ROLE_ARN: `arn:aws:iam::${account}:role/berth-ecs-infrastructure-lb`,
      // Berth Local's ECS runs every task on this machine: the network settings are names only.
      BERTH_SUBNETS: "subnet-berth-local",
      BERTH_SECURITY_GROUPS: "sg-berth-local",
      BERTH_SERVICE_CONNECT_NAMESPACE: "berth.local",
      // HTTP API gateways are served by Berth Local's API Gateway, through its one VPC link to
      // its Cloud Map namespace; application load balancers by its Elastic Load Balancing.
      BERTH_VPC_LINK_ID: LOCAL_VPC_LINK_ID,
      BERTH_INGRESS_NAMESPACE_ID: LOCAL_NAMESPACE_ID,
      BERTH_VPC_ID: "vpc-berthlocal",
      BERTH_PUBLIC_SUBNETS: "subnet-berth-local-public",
      BERTH_LB_SECURITY_GROUPS: "sg-berth-local-lb",
      BERTH_NLB_SECURITY_GROUPS: "sg-berth-local-nlb",
      BERTH_INGRESS: "{}",
      BERTH_INGRESS_MISSING: "omit",
      // No ACM or Route 53 here: custom domains are served without a certificate, DNS is the user's.
      BERTH_DOMAIN_LOOKUPS: "none",
      BERTH_STATE_MACHINE_PREFIX: LOCAL_STATE_MACHINE_PREFIX,
      // Stacks' own refresh schedules: Berth Local's scheduler fires them at the function.
      BERTH_SCHEDULE_GROUP: LOCAL_SCHEDULE_GROUP,
      BERTH_SCHEDULER_ROLE_ARN: `arn:aws:iam::${account}:role/${LOCAL_STATE_MACHINE_PREFIX}scheduler`,
      BERTH_SCHEDULED_REFRESH_ARN: `arn:aws:lambda:${region}:${account}:function:scheduled-refresh`,
      BERTH_JOB_RUN_ROLE_ARN: `arn:aws:iam::${account}:role/${LOCAL_STATE_MACHINE_PREFIX}job-run`,
      // BERTH_SOURCE_BUCKET stays unset: the local builder reads file:// directories in place, so
      // the API answers POST /v1/sources with SOURCES_UNSUPPORTED and clients send file://.
      // Resources with `instanceTypes` run on the cluster's EC2 capacity provider, whose
      // container instances Berth Local models (ecs/capacity.ts).
      BERTH_EC2_CAPACITY_PROVIDER: LOCAL_EC2_CAPACITY_PROVIDER,
    },
  };
}

import type { FunctionDefinition } from "@berth/core/functions";
import { Workflows } from "@berth/core/workflows";

/** What the installation can tell a function, as values (CDK tokens allowed). */
export interface InstallationValues {
  tableName: string;
  stage: string;
  partition: string;
  account: string;
  cluster: string;
  registry: string;
  executionRoleArn: string;
  taskRolePath: string;
  permissionsBoundaryArn: string;
  /** Comma-separated, as the variables carry them. */
  subnets: string;
  securityGroups: string;
  serviceConnectNamespace: string;
  /**
   * Per-service ingress wiring (`Render.Environment.ingress`) as JSON: load balancer target
   * groups and listener rules. This installation creates none, so it is `{}`.
   */
  ingress: string;
  /** The VPC link and the Cloud Map namespace (id) every HTTP API gateway integrates through. */
  vpcLinkId: string;
  ingressNamespaceId: string;
  /** Where the load balancers Berth creates go: the VPC, its public subnets (comma-separated;
   * absent when the VPC has none) and their security group. */
  vpcId: string;
  publicSubnets?: string;
  loadBalancerSecurityGroups: string;
  networkLoadBalancerSecurityGroups: string;
  /** The bucket the API presigns source uploads into. */
  sourceBucket: string;
  stateMachineArn(workflow: string): string;
  /** The state machines' name prefix (batch jobs' run state machines share it). */
  stateMachinePrefix: string;
  /** The role batch jobs' run state machines run as. */
  jobRunRoleArn: string;
  /** ECS's infrastructure role for load balancers (gradual deployments). */
  deploymentRoleArn: string;
  /** Stacks' own refresh schedules: their group, the role they invoke as, and their target. */
  scheduleGroup: string;
  schedulerRoleArn: string;
  scheduledRefreshArn: string;
  /** The cluster's EC2 capacity provider; absent when the stage has no `ec2` settings. */
  ec2CapacityProvider?: string;
  /** The EC2 hosts a refresh replaces (group, launch template id, AMI parameter); absent likewise. */
  hostGroup?: string;
  hostLaunchTemplate?: string;
  hostAmiParameter?: string;
}

/**
 * Variables a function may read that the installation sets only where it has the thing they
 * name; a function reads such a variable as optional.
 */
const OPTIONAL_VARIABLES = new Set([
  "BERTH_EC2_CAPACITY_PROVIDER",
  "BERTH_PUBLIC_SUBNETS",
  "BERTH_HOST_GROUP",
  "BERTH_HOST_LAUNCH_TEMPLATE",
  "BERTH_HOST_AMI_PARAMETER",
]);

/** `delete-service` → `BERTH_DELETE_SERVICE_STATE_MACHINE_ARN`: one variable per workflow. */
export function stateMachineVariable(workflow: string): string {
  return `BERTH_${workflow.toUpperCase().replace(/[^A-Z0-9]+/g, "_")}_STATE_MACHINE_ARN`;
}

/** Every variable name a function may read, and its value. */
function installationVariables(values: InstallationValues): Record<string, string> {
  const variables: Record<string, string> = {
    BERTH_TABLE_NAME: values.tableName,
    BERTH_STAGE: values.stage,
    BERTH_PARTITION: values.partition,
    BERTH_ACCOUNT: values.account,
    BERTH_CLUSTER: values.cluster,
    BERTH_REGISTRY: values.registry,
    BERTH_EXECUTION_ROLE_ARN: values.executionRoleArn,
    BERTH_TASK_ROLE_PATH: values.taskRolePath,
    BERTH_PERMISSIONS_BOUNDARY_ARN: values.permissionsBoundaryArn,
    BERTH_SUBNETS: values.subnets,
    BERTH_SECURITY_GROUPS: values.securityGroups,
    BERTH_SERVICE_CONNECT_NAMESPACE: values.serviceConnectNamespace,
    BERTH_INGRESS: values.ingress,
    // Without the wiring, refuse the deployment: "omit" would run a public service that nothing
    // routes to, and call it a success.
    BERTH_INGRESS_MISSING: "error",
    // Custom domains: their certificates from ACM, their alias records in Route 53.
    BERTH_DOMAIN_LOOKUPS: "acm-route53",
    BERTH_VPC_LINK_ID: values.vpcLinkId,
    BERTH_INGRESS_NAMESPACE_ID: values.ingressNamespaceId,
    BERTH_VPC_ID: values.vpcId,
    ...(values.publicSubnets ? { BERTH_PUBLIC_SUBNETS: values.publicSubnets } : {}),
    BERTH_LB_SECURITY_GROUPS: values.loadBalancerSecurityGroups,
    BERTH_NLB_SECURITY_GROUPS: values.networkLoadBalancerSecurityGroups,
    BERTH_SOURCE_BUCKET: values.sourceBucket,
    BERTH_STATE_MACHINE_PREFIX: values.stateMachinePrefix,
    BERTH_JOB_RUN_ROLE_ARN: values.jobRunRoleArn,
    BERTH_DEPLOYMENT_ROLE_ARN: values.deploymentRoleArn,
    BERTH_SCHEDULE_GROUP: values.scheduleGroup,
    BERTH_SCHEDULER_ROLE_ARN: values.schedulerRoleArn,
    BERTH_SCHEDULED_REFRESH_ARN: values.scheduledRefreshArn,
    ...(values.ec2CapacityProvider ? { BERTH_EC2_CAPACITY_PROVIDER: values.ec2CapacityProvider } : {}),
    ...(values.hostGroup && values.hostLaunchTemplate && values.hostAmiParameter
      ? {
          BERTH_HOST_GROUP: values.hostGroup,
          BERTH_HOST_LAUNCH_TEMPLATE: values.hostLaunchTemplate,
          BERTH_HOST_AMI_PARAMETER: values.hostAmiParameter,
        }
      : {}),
  };
  for (const workflow of Workflows.WORKFLOWS) {
    variables[stateMachineVariable(workflow.name)] = values.stateMachineArn(workflow.name);
  }
  return variables;
}

/**
 * Exactly the variables the manifest says the function reads. A name the installation has no
 * value for stops the synthesis: a function deployed without a variable it needs would fail
 * only on its first invocation.
 */
export function environmentOf(
  definition: FunctionDefinition,
  values: InstallationValues,
): Record<string, string> {
  const variables = installationVariables(values);
  const unknown = definition.environment.filter(
    (name) => !Object.hasOwn(variables, name) && !OPTIONAL_VARIABLES.has(name),
  );
  if (unknown.length > 0) {
    throw new Error(
      `function ${definition.name} reads ${unknown.join(", ")}, which the installation does not provide: ` +
        "give each a value in stacks/environment.ts",
    );
  }
  const environment: Record<string, string> = {};
  for (const name of definition.environment) {
    const value = variables[name];
    if (value !== undefined) environment[name] = value;
  }
  return environment;
}

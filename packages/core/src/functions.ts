// biome-ignore-all lint/suspicious/noTemplateCurlyInString: `${Name}` placeholders are the manifest's contract, filled by the installation.
/**
 * The function manifest: every Lambda of the control plane, as data. `stacks/` creates the
 * functions, their rules and their roles from it; Berth Local installs the same handlers into
 * its Lambda and EventBridge endpoints from it. The workflows in `./workflows` name these
 * functions through `${Function:<name>}` placeholders.
 */

export type FunctionTrigger =
  | { kind: "http-api" }
  | { kind: "eventbridge"; pattern: Record<string, unknown> }
  | { kind: "schedule"; expression: string }
  /** Invoked by stacks' own EventBridge Scheduler schedules, which the API creates. */
  | { kind: "scheduler" }
  | { kind: "state-machine-task" };

/**
 * One IAM statement. Resources are ARN patterns with placeholders (`${Partition}`, `${Region}`,
 * `${Account}`, `${Table}`, …, see `PERMISSION_PLACEHOLDERS`) that the installation fills; `*`
 * only where the action has no resource-level permissions.
 */
export interface FunctionPermission {
  actions: string[];
  resources: string[];
  /**
   * IAM condition block (operator → condition key → value), for grants that are only safe with
   * one; its values may carry the same placeholders as the resources.
   */
  conditions?: Record<string, Record<string, string | string[]>>;
}

export interface FunctionDefinition {
  name: string;
  /** `packages/functions/src/<path>.handler`, relative to the repository root. */
  handler: string;
  description: string;
  timeoutSeconds: number;
  memoryMiB: number;
  /** The configuration variables the handler reads; the installation sets exactly these. */
  environment: string[];
  triggers: FunctionTrigger[];
  permissions: FunctionPermission[];
}

/** Placeholders a permission's resource may carry, and what the installation puts there. */
export const PERMISSION_PLACEHOLDERS = {
  Partition: "the AWS partition (aws, aws-cn, …)",
  Region: "the installation's region",
  Account: "the installation's account id",
  Table: "the DynamoDB table's name",
  Cluster: "the ECS cluster's name",
  TaskRolePath: "the IAM path of task roles, with its slashes (default /berth/)",
  ExecutionRole: "the name of the task execution role the installation created",
  StateMachinePrefix: "the name prefix of the installation's state machines",
  CodeBuildProject: "the name of the CodeBuild project that builds images",
  PermissionsBoundary: "the ARN of the permissions boundary every task role is created with",
  SourceBucket: "the name of the bucket clients upload build sources to",
  Stage: "the installation's stage (every resource Berth creates is tagged berth:stage with it)",
  IngressNamespace: "the id of the Cloud Map namespace HTTP API gateways find their targets in",
  HostGroup: "the name of the EC2 hosts' Auto Scaling group (only where the cluster has EC2 capacity)",
  HostLaunchTemplate: "the id of the EC2 hosts' launch template (only where the cluster has EC2 capacity)",
  HostRole: "the name of the EC2 hosts' instance role (only where the cluster has EC2 capacity)",
} as const;
export type PermissionPlaceholder = keyof typeof PERMISSION_PLACEHOLDERS;

const TABLE = [
  "arn:${Partition}:dynamodb:${Region}:${Account}:table/${Table}",
  "arn:${Partition}:dynamodb:${Region}:${Account}:table/${Table}/index/*",
];
/**
 * HTTP API gateways (API Gateway's management API authorizes by HTTP verb and path) and the
 * Cloud Map services they reach tasks through: created only with the stage's tag, and changed or
 * deleted only where that tag is (an API's routes, integrations and stages inherit its tags).
 */
const API_GATEWAY = "arn:${Partition}:apigateway:${Region}::";
const REGISTRY_SERVICES = "arn:${Partition}:servicediscovery:${Region}:${Account}:service/*";
const BERTH_TAGGED = { StringEquals: { "aws:ResourceTag/berth:stage": "${Stage}" } };
const TAGGING_BERTH = { StringEquals: { "aws:RequestTag/berth:stage": "${Stage}" } };
const manageGateways: FunctionPermission[] = [
  { actions: ["apigateway:GET"], resources: [`${API_GATEWAY}/apis`, `${API_GATEWAY}/apis/*`] },
  {
    actions: ["apigateway:POST", "apigateway:TagResource"],
    resources: [`${API_GATEWAY}/apis`, `${API_GATEWAY}/tags/*`],
    conditions: TAGGING_BERTH,
  },
  {
    actions: ["apigateway:POST", "apigateway:PATCH", "apigateway:DELETE"],
    resources: [`${API_GATEWAY}/apis/*`],
    conditions: BERTH_TAGGED,
  },
  // Custom domains: domain names created only with the stage's tag; their API mappings changed
  // only under a domain name that has it.
  {
    actions: ["apigateway:GET"],
    resources: [`${API_GATEWAY}/domainnames`, `${API_GATEWAY}/domainnames/*`],
  },
  {
    actions: ["apigateway:POST"],
    resources: [`${API_GATEWAY}/domainnames`],
    conditions: TAGGING_BERTH,
  },
  {
    actions: ["apigateway:POST", "apigateway:PATCH", "apigateway:DELETE"],
    resources: [`${API_GATEWAY}/domainnames/*`],
    conditions: BERTH_TAGGED,
  },
  // Listing a namespace's services allows no resource-level permissions.
  { actions: ["servicediscovery:ListServices"], resources: ["*"] },
  {
    actions: ["servicediscovery:CreateService", "servicediscovery:TagResource"],
    resources: [
      "arn:${Partition}:servicediscovery:${Region}:${Account}:namespace/${IngressNamespace}",
      REGISTRY_SERVICES,
    ],
    conditions: TAGGING_BERTH,
  },
  {
    actions: ["servicediscovery:GetService", "servicediscovery:DeleteService"],
    resources: [REGISTRY_SERVICES],
    conditions: BERTH_TAGGED,
  },
];
/**
 * Application load balancers, their listeners, rules and target groups: described anywhere (ELB's
 * Describe calls allow no resource-level permissions), created only with the stage's tag, and
 * changed or deleted only where that tag is.
 */
const ELB = "arn:${Partition}:elasticloadbalancing:${Region}:${Account}";
const ELB_RESOURCES = [
  `${ELB}:loadbalancer/app/*`,
  `${ELB}:loadbalancer/net/*`,
  `${ELB}:listener/app/*`,
  `${ELB}:listener/net/*`,
  `${ELB}:listener-rule/app/*`,
  `${ELB}:targetgroup/*`,
];
/**
 * Custom domains' certificates and DNS: the region's ACM certificates are read (listing allows no
 * resource-level permissions), and alias A records alone are upserted or deleted in the account's
 * hosted zones (Route 53's listings allow none either).
 */
const manageDomains: FunctionPermission[] = [
  { actions: ["acm:ListCertificates", "route53:ListHostedZonesByName"], resources: ["*"] },
  {
    actions: ["acm:DescribeCertificate"],
    resources: ["arn:${Partition}:acm:${Region}:${Account}:certificate/*"],
  },
  {
    actions: ["route53:ListResourceRecordSets"],
    resources: ["arn:${Partition}:route53:::hostedzone/*"],
  },
  {
    actions: ["route53:ChangeResourceRecordSets"],
    resources: ["arn:${Partition}:route53:::hostedzone/*"],
    conditions: {
      "ForAllValues:StringEquals": {
        "route53:ChangeResourceRecordSetsRecordTypes": ["A"],
        "route53:ChangeResourceRecordSetsActions": ["UPSERT", "DELETE"],
      },
    },
  },
];
const manageLoadBalancers: FunctionPermission[] = [
  {
    actions: [
      "elasticloadbalancing:DescribeLoadBalancers",
      "elasticloadbalancing:DescribeListeners",
      "elasticloadbalancing:DescribeRules",
      "elasticloadbalancing:DescribeTargetGroups",
    ],
    resources: ["*"],
  },
  {
    actions: [
      "elasticloadbalancing:CreateLoadBalancer",
      "elasticloadbalancing:CreateTargetGroup",
      "elasticloadbalancing:CreateListener",
      "elasticloadbalancing:CreateRule",
      "elasticloadbalancing:AddTags",
    ],
    resources: ELB_RESOURCES,
    conditions: TAGGING_BERTH,
  },
  {
    actions: [
      "elasticloadbalancing:ModifyRule",
      "elasticloadbalancing:ModifyListener",
      "elasticloadbalancing:DeleteListener",
      "elasticloadbalancing:ModifyTargetGroup",
      "elasticloadbalancing:ModifyTargetGroupAttributes",
      "elasticloadbalancing:AddListenerCertificates",
      "elasticloadbalancing:DeleteRule",
      "elasticloadbalancing:DeleteTargetGroup",
      "elasticloadbalancing:DeleteLoadBalancer",
    ],
    resources: ELB_RESOURCES,
    conditions: BERTH_TAGGED,
  },
];
const STATE_MACHINES = "arn:${Partition}:states:${Region}:${Account}:stateMachine:${StateMachinePrefix}*";
const EXECUTIONS = "arn:${Partition}:states:${Region}:${Account}:execution:${StateMachinePrefix}*:*";
/** Batch jobs' run state machines (`<prefix>job-<stack>-<job>`) and the role they run as. */
const JOB_STATE_MACHINES =
  "arn:${Partition}:states:${Region}:${Account}:stateMachine:${StateMachinePrefix}job-*";
const JOB_EXECUTIONS = "arn:${Partition}:states:${Region}:${Account}:execution:${StateMachinePrefix}job-*:*";
const JOB_RUN_ROLE = "arn:${Partition}:iam::${Account}:role/${StateMachinePrefix}job-run";
/** The ECS infrastructure role for load balancers (BERTH_DEPLOYMENT_ROLE_ARN). */
const DEPLOYMENT_ROLE = "arn:${Partition}:iam::${Account}:role/${StateMachinePrefix}ecs-load-balancers";
const SERVICES = "arn:${Partition}:ecs:${Region}:${Account}:service/${Cluster}/*";
const TASKS = "arn:${Partition}:ecs:${Region}:${Account}:task/${Cluster}/*";
/** The service deployments of the cluster's services (StopServiceDeployment, DescribeServiceDeployments). */
const SERVICE_DEPLOYMENTS = "arn:${Partition}:ecs:${Region}:${Account}:service-deployment/${Cluster}/*";
const TASK_DEFINITIONS = "arn:${Partition}:ecs:${Region}:${Account}:task-definition/*:*";
const TASK_ROLES = "arn:${Partition}:iam::${Account}:role${TaskRolePath}*";
const EXECUTION_ROLE = "arn:${Partition}:iam::${Account}:role/${ExecutionRole}";
const LOG_GROUPS = "arn:${Partition}:logs:${Region}:${Account}:log-group:/berth/*";
const BUILD_LOG_GROUPS =
  "arn:${Partition}:logs:${Region}:${Account}:log-group:/aws/codebuild/${CodeBuildProject}";
/** Any repository of the account's registry: a prebuilt image a service follows may live in any. */
const ANY_REPOSITORY = "arn:${Partition}:ecr:${Region}:${Account}:repository/*";
const describeImages: FunctionPermission = { actions: ["ecr:DescribeImages"], resources: [ANY_REPOSITORY] };
/** Uploaded build sources: the API presigns uploads under `sources/`, the builder reads them. */
const UPLOADED_SOURCES = "arn:${Partition}:s3:::${SourceBucket}/sources/*";
const SCALABLE_TARGETS = "arn:${Partition}:application-autoscaling:${Region}:${Account}:scalable-target/*";
/**
 * Refreshing the EC2 hosts (`deployments/host-refresh.ts`): read the public ECS-optimized AMI
 * parameters, add a version to the hosts' launch template, and start an instance refresh of
 * their group onto it. Auto Scaling checks that the caller may launch from the template
 * (RunInstances on it) and pass its instance role to EC2. Describe calls of EC2 launch templates
 * and Auto Scaling groups allow no resource-level permissions. The installation drops these
 * statements where the cluster has no EC2 capacity (their Host placeholders have no value).
 */
const HOST_LAUNCH_TEMPLATE =
  "arn:${Partition}:ec2:${Region}:${Account}:launch-template/${HostLaunchTemplate}";
const refreshHosts: FunctionPermission[] = [
  {
    actions: ["ssm:GetParameter"],
    resources: ["arn:${Partition}:ssm:${Region}::parameter/aws/service/ecs/optimized-ami/*"],
  },
  {
    actions: ["ec2:DescribeLaunchTemplateVersions", "autoscaling:DescribeAutoScalingGroups"],
    resources: ["*"],
  },
  { actions: ["ec2:CreateLaunchTemplateVersion", "ec2:RunInstances"], resources: [HOST_LAUNCH_TEMPLATE] },
  {
    actions: ["autoscaling:StartInstanceRefresh"],
    resources: [
      "arn:${Partition}:autoscaling:${Region}:${Account}:autoScalingGroup:*:autoScalingGroupName/${HostGroup}",
    ],
  },
  {
    actions: ["iam:PassRole"],
    resources: ["arn:${Partition}:iam::${Account}:role/${HostRole}"],
    conditions: { StringEquals: { "iam:PassedToService": "ec2.amazonaws.com" } },
  },
];

const writeTable: FunctionPermission = {
  actions: [
    "dynamodb:GetItem",
    "dynamodb:Query",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
  ],
  resources: TABLE,
};
const describeServices: FunctionPermission = {
  actions: ["ecs:DescribeServices"],
  resources: [SERVICES],
};
/** Reads a `$Secret`'s ARN: preflight checks it exists, registering a revision names it. */
const readSecrets: FunctionPermission = {
  actions: ["secretsmanager:DescribeSecret"],
  resources: ["arn:${Partition}:secretsmanager:${Region}:${Account}:secret:*"],
};
/**
 * Registering a revision (prepare-resources after a build, apply-service without one): the
 * log group, the task role and the task definition.
 */
const registerRevision: FunctionPermission[] = [
  readSecrets,
  // Tags of the installation's registry are pinned to their digests (DescribeImages).
  describeImages,
  {
    actions: ["logs:CreateLogGroup", "logs:PutRetentionPolicy", "logs:TagResource", "logs:DescribeLogGroups"],
    resources: [LOG_GROUPS],
  },
  { actions: ["iam:GetRole", "iam:UpdateAssumeRolePolicy", "iam:TagRole"], resources: [TASK_ROLES] },
  // A role the control plane creates or writes a policy into must carry the installation's
  // boundary, so no stack file can give a task more than the boundary allows. (GetRole and
  // the others do not support this condition key: there it would deny them.)
  {
    actions: ["iam:CreateRole", "iam:PutRolePolicy"],
    resources: [TASK_ROLES],
    conditions: { StringEquals: { "iam:PermissionsBoundary": "${PermissionsBoundary}" } },
  },
  { actions: ["iam:PassRole"], resources: [TASK_ROLES, EXECUTION_ROLE] },
  // RegisterTaskDefinition and DescribeTaskDefinition allow no resource-level permissions.
  { actions: ["ecs:RegisterTaskDefinition", "ecs:DescribeTaskDefinition"], resources: ["*"] },
  // Registering with tags also needs TagResource on the new revision.
  { actions: ["ecs:TagResource"], resources: [TASK_DEFINITIONS] },
];
/** Answers a waiting workflow's task token: the ECS event handler, the wait's steps, a cancel. */
const answerTaskTokens: FunctionPermission = {
  actions: ["states:SendTaskSuccess", "states:SendTaskFailure", "states:SendTaskHeartbeat"],
  resources: [STATE_MACHINES],
};
/**
 * Fail fast: pointing a failing service back at its last good revision, or scaling it to 0; a
 * gradual rollout mid-shift is stopped with StopServiceDeployment (ROLLBACK), and a rollback ECS
 * runs is followed through the service's deployments.
 */
const ecsRollback: FunctionPermission[] = [
  { actions: ["ecs:UpdateService", "ecs:ListServiceDeployments"], resources: [SERVICES] },
  {
    actions: ["ecs:StopServiceDeployment", "ecs:DescribeServiceDeployments"],
    resources: [SERVICE_DEPLOYMENTS],
  },
];
const startExecutions: FunctionPermission = {
  actions: ["states:StartExecution", "states:DescribeExecution"],
  resources: [STATE_MACHINES, EXECUTIONS],
};

const describeTasks: FunctionPermission = { actions: ["ecs:DescribeTasks"], resources: [TASKS] };
/** What a failed task left behind: its stop reason and exit codes, and its last log lines. */
const taskEvidence: FunctionPermission[] = [
  describeTasks,
  { actions: ["logs:GetLogEvents"], resources: [`${LOG_GROUPS}:log-stream:*`] },
];

/**
 * Updating a service: apply-service, and load-deployment, which applies a deploy that builds
 * nothing in its own step (the deploy workflow's `apply`).
 */
const applyToService: FunctionPermission[] = [
  writeTable,
  ...registerRevision,
  {
    actions: ["ecs:CreateService", "ecs:UpdateService", "ecs:DescribeServices", "ecs:TagResource"],
    resources: [SERVICES],
  },
  // A batch job's deployment writes its run state machine.
  {
    actions: ["states:CreateStateMachine", "states:UpdateStateMachine", "states:TagResource"],
    resources: [JOB_STATE_MACHINES],
  },
  {
    actions: ["iam:PassRole"],
    resources: [JOB_RUN_ROLE],
    conditions: { StringEquals: { "iam:PassedToService": "states.amazonaws.com" } },
  },
  // A gradual deployment's loadBalancers name the role ECS shifts their traffic with.
  {
    actions: ["iam:PassRole"],
    resources: [DEPLOYMENT_ROLE],
    conditions: { StringEquals: { "iam:PassedToService": "ecs.amazonaws.com" } },
  },
  // Registering a new scalable target allows no resource-level permissions.
  {
    actions: [
      "application-autoscaling:RegisterScalableTarget",
      "application-autoscaling:PutScalingPolicy",
      "application-autoscaling:DescribeScalableTargets",
    ],
    resources: ["*"],
  },
  // The HTTP API gateways of the service, created or updated before ECS is changed.
  ...manageGateways,
  ...manageLoadBalancers,
  ...manageDomains,
];

const TABLE_ENV = ["BERTH_TABLE_NAME", "BERTH_STAGE"];
/**
 * What the steps know about the installation (the `installation` section of `config.ts`): every step and event
 * function reads the same settings, so every one is given all of them.
 */
const SETTINGS_ENV = [
  ...TABLE_ENV,
  "BERTH_ACCOUNT",
  "BERTH_CLUSTER",
  "BERTH_REGISTRY",
  "BERTH_EXECUTION_ROLE_ARN",
  "BERTH_TASK_ROLE_PATH",
  "BERTH_PERMISSIONS_BOUNDARY_ARN",
  "BERTH_DEPLOYMENT_ROLE_ARN",
  "BERTH_SUBNETS",
  "BERTH_SECURITY_GROUPS",
  "BERTH_SERVICE_CONNECT_NAMESPACE",
  "BERTH_INGRESS",
  "BERTH_INGRESS_MISSING",
  "BERTH_DOMAIN_LOOKUPS",
  "BERTH_VPC_LINK_ID",
  "BERTH_INGRESS_NAMESPACE_ID",
  "BERTH_VPC_ID",
  "BERTH_PUBLIC_SUBNETS",
  "BERTH_LB_SECURITY_GROUPS",
  "BERTH_NLB_SECURITY_GROUPS",
  "BERTH_STATE_MACHINE_PREFIX",
  "BERTH_JOB_RUN_ROLE_ARN",
  "BERTH_EC2_CAPACITY_PROVIDER",
];
const CLUSTER_ENV = SETTINGS_ENV;
/** The EC2 hosts a refresh replaces; the installation sets them only where it has EC2 capacity. */
const HOST_ENV = ["BERTH_HOST_GROUP", "BERTH_HOST_LAUNCH_TEMPLATE", "BERTH_HOST_AMI_PARAMETER"];
/** The per-service workflows a function may start (a promoted or requested deployment). */
const STATE_MACHINE_ENV = [
  "BERTH_DEPLOY_STATE_MACHINE_ARN",
  "BERTH_DELETE_SERVICE_STATE_MACHINE_ARN",
  "BERTH_ROLLBACK_STATE_MACHINE_ARN",
];

/** Where the API keeps stacks' refresh schedules (EventBridge Scheduler), all three or none. */
const REFRESH_SCHEDULER_ENV = [
  "BERTH_SCHEDULE_GROUP",
  "BERTH_SCHEDULER_ROLE_ARN",
  "BERTH_SCHEDULED_REFRESH_ARN",
];

/** A step of a workflow: invoked by Step Functions through `lambda:invoke`, never by anything else. */
const STEP: FunctionTrigger[] = [{ kind: "state-machine-task" }];

function step(
  name: string,
  description: string,
  fields: Pick<FunctionDefinition, "timeoutSeconds" | "environment" | "permissions"> & { memoryMiB?: number },
): FunctionDefinition {
  return {
    name,
    handler: `packages/functions/src/steps/${name}.handler`,
    description,
    timeoutSeconds: fields.timeoutSeconds,
    memoryMiB: fields.memoryMiB ?? 512,
    environment: fields.environment,
    triggers: STEP,
    permissions: fields.permissions,
  };
}

/** A handler under packages/functions/src/events, run by one EventBridge rule or schedule. */
function eventHandler(
  name: string,
  description: string,
  fields: Pick<FunctionDefinition, "timeoutSeconds" | "environment" | "permissions"> & {
    trigger: FunctionTrigger;
  },
): FunctionDefinition {
  return {
    name,
    handler: `packages/functions/src/events/${name}.handler`,
    description,
    timeoutSeconds: fields.timeoutSeconds,
    memoryMiB: 512,
    environment: fields.environment,
    triggers: [fields.trigger],
    permissions: fields.permissions,
  };
}

export const FUNCTIONS: readonly FunctionDefinition[] = [
  {
    name: "api",
    handler: "packages/functions/src/api/lambda.handler",
    description: "The HTTP API: stacks, services, deployments, tokens, webhook receivers",
    timeoutSeconds: 29,
    memoryMiB: 1024,
    environment: [
      "BERTH_TABLE_NAME",
      ...STATE_MACHINE_ENV,
      "BERTH_STAGE",
      "BERTH_CLUSTER",
      "BERTH_SOURCE_BUCKET",
      "BERTH_EC2_CAPACITY_PROVIDER",
      "BERTH_REGISTRY",
      ...REFRESH_SCHEDULER_ENV,
    ],
    triggers: [{ kind: "http-api" }],
    permissions: [
      writeTable,
      startExecutions,
      // A webhook receiver resolves a pushed tag of the installation's registry to its digest.
      describeImages,
      describeServices,
      // A cancel wakes the deployment's workflow where it waits on ECS, to undo the rollout.
      answerTaskTokens,
      // The service view's rollout: the tasks of the service's newest ECS deployment. ListTasks
      // is authorized on the cluster's container instances, with the cluster as condition key.
      {
        actions: ["ecs:ListTasks"],
        resources: ["arn:${Partition}:ecs:${Region}:${Account}:container-instance/${Cluster}/*"],
        conditions: {
          ArnEquals: { "ecs:cluster": "arn:${Partition}:ecs:${Region}:${Account}:cluster/${Cluster}" },
        },
      },
      describeTasks,
      // Batch-job runs: started, listed and read with their histories.
      {
        actions: ["states:StartExecution", "states:ListExecutions"],
        resources: [JOB_STATE_MACHINES],
      },
      {
        actions: ["states:DescribeExecution", "states:GetExecutionHistory"],
        resources: [JOB_EXECUTIONS],
      },
      {
        actions: ["logs:FilterLogEvents", "logs:GetLogEvents"],
        resources: [LOG_GROUPS, `${LOG_GROUPS}:log-stream:*`],
      },
      // A presigned URL acts with the signer's permissions: the client's upload is this PutObject.
      { actions: ["s3:PutObject"], resources: [UPLOADED_SOURCES] },
      // Stacks' own refresh schedules, only in the installation's group, invoking as its scheduler role.
      {
        actions: [
          "scheduler:GetSchedule",
          "scheduler:CreateSchedule",
          "scheduler:UpdateSchedule",
          "scheduler:DeleteSchedule",
        ],
        resources: [
          "arn:${Partition}:scheduler:${Region}:${Account}:schedule/${StateMachinePrefix}refresh/*",
        ],
      },
      {
        actions: ["iam:PassRole"],
        resources: ["arn:${Partition}:iam::${Account}:role/${StateMachinePrefix}scheduler"],
        conditions: { StringEquals: { "iam:PassedToService": "scheduler.amazonaws.com" } },
      },
    ],
  },
  step(
    "load-deployment",
    "Reads a deployment, moves it out of PENDING, derives the workflow's inputs, (deploy) runs the preflight checks (secrets, images, connection targets) and applies a deploy that builds nothing as apply-service does",
    {
      timeoutSeconds: 60,
      environment: SETTINGS_ENV,
      // applyToService includes what loading alone needs: the table, DescribeServices, the secrets and images.
      permissions: applyToService,
    },
  ),
  step(
    "prepare-resources",
    "Creates or updates the log group and task role, and registers the task definition",
    {
      timeoutSeconds: 60,
      environment: SETTINGS_ENV,
      permissions: [writeTable, ...registerRevision],
    },
  ),
  step(
    "apply-service",
    "Creates or updates the ECS service and its scaling (a batch job: its run state machine); returns the ECS deployment",
    {
      timeoutSeconds: 60,
      environment: SETTINGS_ENV,
      permissions: applyToService,
    },
  ),
  step(
    "wait-for-deployment",
    "Stores the workflow's task token against the ECS deployment, for the ECS event handler to answer",
    {
      timeoutSeconds: 20,
      environment: SETTINGS_ENV,
      // An outcome decided before the token arrived is answered here; one DescribeServices
      // catches an ECS deployment that ended before its events could be matched.
      permissions: [writeTable, describeServices, answerTaskTokens, ...ecsRollback],
    },
  ),
  step("reconcile", "After the wait timed out: one DescribeServices decides the deployment's outcome", {
    timeoutSeconds: 30,
    environment: SETTINGS_ENV,
    permissions: [writeTable, describeServices, ...ecsRollback, describeTasks],
  }),
  step(
    "advance-wait",
    "After the stability window: DescribeTasks decides success or rollback; after a cancel: returns the service to its previous revision",
    {
      timeoutSeconds: 30,
      environment: SETTINGS_ENV,
      permissions: [
        writeTable,
        describeServices,
        ...ecsRollback,
        answerTaskTokens,
        // ListTasks names no task or service resource: it is scoped to the cluster by condition.
        {
          actions: ["ecs:ListTasks"],
          resources: ["*"],
          conditions: {
            ArnEquals: { "ecs:cluster": "arn:${Partition}:ecs:${Region}:${Account}:cluster/${Cluster}" },
          },
        },
        ...taskEvidence,
      ],
    },
  ),
  step(
    "finalize",
    "Ends the deployment truthfully: its final status, the reason and the new last-good revision",
    {
      timeoutSeconds: 30,
      environment: SETTINGS_ENV,
      // A failed build's last log lines go into the deployment's events.
      permissions: [
        writeTable,
        { actions: ["logs:GetLogEvents"], resources: [`${BUILD_LOG_GROUPS}:log-stream:*`] },
      ],
    },
  ),
  step("release-service", "Frees the service's active slot and starts the next queued deployment", {
    timeoutSeconds: 30,
    environment: [...SETTINGS_ENV, ...STATE_MACHINE_ENV],
    permissions: [writeTable, startExecutions],
  }),
  step(
    "delete-service",
    "Scales the service to 0, deletes it, its scaling, its task role and a batch job's run state machine (log groups stay)",
    {
      timeoutSeconds: 60,
      environment: SETTINGS_ENV,
      permissions: [
        writeTable,
        {
          actions: ["ecs:UpdateService", "ecs:DeleteService", "ecs:DescribeServices"],
          resources: [SERVICES],
        },
        {
          actions: [
            "application-autoscaling:DeregisterScalableTarget",
            "application-autoscaling:DeleteScalingPolicy",
            "application-autoscaling:DescribeScalableTargets",
          ],
          resources: [SCALABLE_TARGETS],
        },
        {
          actions: ["iam:ListRolePolicies", "iam:DeleteRolePolicy", "iam:DeleteRole"],
          resources: [TASK_ROLES],
        },
        { actions: ["states:DeleteStateMachine"], resources: [JOB_STATE_MACHINES] },
        // Its routes on the stack's gateways, a gateway no service uses any more, its Cloud Map services.
        ...manageGateways,
        ...manageLoadBalancers,
        ...manageDomains,
      ],
    },
  ),
  eventHandler(
    "ecs-events",
    "Matches ECS deployment and task events to the waiting deployment; rolls back fast",
    {
      timeoutSeconds: 30,
      environment: CLUSTER_ENV,
      trigger: {
        kind: "eventbridge",
        pattern: {
          source: ["aws.ecs"],
          "detail-type": ["ECS Deployment State Change", "ECS Task State Change", "ECS Service Action"],
        },
      },
      permissions: [writeTable, answerTaskTokens, describeServices, ...ecsRollback, ...taskEvidence],
    },
  ),
  eventHandler(
    "execution-events",
    "Ends a deployment whose workflow execution failed, timed out or was stopped outside its own failure path",
    {
      timeoutSeconds: 30,
      environment: [...SETTINGS_ENV, ...STATE_MACHINE_ENV],
      trigger: {
        kind: "eventbridge",
        pattern: {
          source: ["aws.states"],
          "detail-type": ["Step Functions Execution Status Change"],
          detail: { status: ["FAILED", "TIMED_OUT", "ABORTED"] },
        },
      },
      permissions: [writeTable, startExecutions],
    },
  ),
  eventHandler("registry-push", "Deploys the digest of a pushed ECR tag to the services that follow it", {
    timeoutSeconds: 30,
    environment: [...SETTINGS_ENV, ...STATE_MACHINE_ENV],
    trigger: {
      kind: "eventbridge",
      pattern: {
        source: ["aws.ecr"],
        "detail-type": ["ECR Image Action"],
        detail: { "action-type": ["PUSH"], result: ["SUCCESS"] },
      },
    },
    permissions: [writeTable, startExecutions, describeImages],
  }),
  eventHandler("weekly-refresh", "Refreshes every stack weekly, so services pick up patched base images", {
    timeoutSeconds: 60,
    environment: [...SETTINGS_ENV, ...STATE_MACHINE_ENV, ...HOST_ENV],
    trigger: { kind: "schedule", expression: "cron(0 3 ? * SUN *)" },
    permissions: [writeTable, startExecutions, ...refreshHosts],
  }),
  eventHandler("scheduled-refresh", "Refreshes one stack when its own refresh schedule fires", {
    timeoutSeconds: 60,
    environment: [...SETTINGS_ENV, ...STATE_MACHINE_ENV, ...HOST_ENV],
    trigger: { kind: "scheduler" },
    permissions: [writeTable, startExecutions, ...refreshHosts],
  }),
];

export function findFunction(name: string): FunctionDefinition | undefined {
  return FUNCTIONS.find((definition) => definition.name === name);
}

/** The functions Step Functions invokes as workflow steps. */
export function stateMachineTaskFunctions(): FunctionDefinition[] {
  return FUNCTIONS.filter((definition) =>
    definition.triggers.some((trigger) => trigger.kind === "state-machine-task"),
  );
}

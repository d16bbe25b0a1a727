import { Workflows as CoreWorkflows } from "@berth/core/workflows";
import { ArnFormat, Stack } from "aws-cdk-lib";
import * as iam from "aws-cdk-lib/aws-iam";
import { type StackContext, use } from "sst/constructs/FunctionalStack.js";
import { suppress } from "./nag.ts";
import { executionRoleArn, functionArn, namesFor } from "./names.ts";
import { Registry } from "./registry.ts";
import { settingsOf } from "./settings.ts";
import { Store } from "./store.ts";

/**
 * What a task may do at all. Berth creates one role per service from its stack file
 * (`iamRoleStatements`, `connectTo`), so what a role grants is the stack author's choice; this
 * boundary, which the control plane must attach to every such role (its CreateRole and
 * PutRolePolicy grants require it), is the ceiling the author cannot raise.
 *
 * It lists whole services on `*` on purpose: it grants nothing by itself (the role's own
 * policy names the resources), it only bounds. What it leaves out (IAM, STS, Organizations,
 * EC2, CloudFormation, …) no task gets, whatever its stack file says. Extend the list here
 * when an application needs another service.
 */
const TASK_BOUNDARY_SERVICES = [
  "s3:*",
  "dynamodb:*",
  "sqs:*",
  "sns:*",
  "ses:*",
  "kinesis:*",
  "firehose:PutRecord",
  "firehose:PutRecordBatch",
  "events:PutEvents",
  "states:StartExecution",
  "states:StartSyncExecution",
  "states:DescribeExecution",
  "lambda:InvokeFunction",
  "execute-api:Invoke",
  "execute-api:ManageConnections",
  "appsync:GraphQL",
  "secretsmanager:GetSecretValue",
  "secretsmanager:DescribeSecret",
  "ssm:GetParameter",
  "ssm:GetParameters",
  "ssm:GetParametersByPath",
  "kms:Decrypt",
  "kms:Encrypt",
  "kms:GenerateDataKey",
  "kms:DescribeKey",
  "cloudwatch:PutMetricData",
  "logs:CreateLogStream",
  "logs:PutLogEvents",
  "xray:PutTraceSegments",
  "xray:PutTelemetryRecords",
  "bedrock:InvokeModel",
  "bedrock:InvokeModelWithResponseStream",
  "rds-db:connect",
  "elasticache:Connect",
  // ECS Exec (enableRemoteSessions) and running batch jobs (connectTo a batch-job).
  "ssmmessages:CreateControlChannel",
  "ssmmessages:CreateDataChannel",
  "ssmmessages:OpenControlChannel",
  "ssmmessages:OpenDataChannel",
  "ecs:RunTask",
  "ecs:DescribeTasks",
  "ecs:StopTask",
];

/**
 * The roles the installation gives ECS and the boundary of the roles the control plane
 * creates. The roles of the control plane's own functions and state machines sit with them.
 */
export function Iam({ stack, app }: StackContext) {
  const settings = settingsOf(app);
  const names = namesFor(app.stage);
  const { table } = use(Store);
  const { sources } = use(Registry);
  const arn = (
    service: string,
    resource: string,
    resourceName: string,
    format = ArnFormat.SLASH_RESOURCE_NAME,
  ) => Stack.of(stack).formatArn({ service, resource, resourceName, arnFormat: format });
  const taskRoles = Stack.of(stack).formatArn({
    service: "iam",
    region: "",
    resource: "role",
    resourceName: `${settings.taskRolePath.slice(1)}*`,
  });
  const berthLogGroups = arn("logs", "log-group", "/berth/*", ArnFormat.COLON_RESOURCE_NAME);

  const executionRole = new iam.Role(stack, "TaskExecutionRole", {
    roleName: names.executionRole,
    description: `Berth ${app.stage}: ECS pulls images, writes logs and reads secrets for every task`,
    assumedBy: new iam.ServicePrincipal("ecs-tasks.amazonaws.com", {
      conditions: { StringEquals: { "aws:SourceAccount": Stack.of(stack).account } },
    }),
    inlinePolicies: {
      execution: new iam.PolicyDocument({
        statements: [
          // Registry-wide by design: GetAuthorizationToken has no resource-level permissions.
          new iam.PolicyStatement({ actions: ["ecr:GetAuthorizationToken"], resources: ["*"] }),
          // Built images and prebuilt ones from this account's other repositories.
          new iam.PolicyStatement({
            actions: ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"],
            resources: [arn("ecr", "repository", "*")],
          }),
          new iam.PolicyStatement({
            actions: ["logs:CreateLogStream", "logs:PutLogEvents"],
            resources: [berthLogGroups, `${berthLogGroups}:log-stream:*`],
          }),
          // A stack file names its secrets by name; any secret of the account may be one.
          new iam.PolicyStatement({
            actions: ["secretsmanager:GetSecretValue"],
            resources: [arn("secretsmanager", "secret", "*", ArnFormat.COLON_RESOURCE_NAME)],
          }),
          new iam.PolicyStatement({
            actions: ["kms:Decrypt"],
            resources: [arn("kms", "key", "*")],
            conditions: {
              StringEquals: { "kms:ViaService": `secretsmanager.${Stack.of(stack).region}.amazonaws.com` },
            },
          }),
        ],
      }),
    },
  });
  suppress(executionRole, [
    {
      id: "AwsSolutions-IAM5",
      reason:
        "ECS pulls any image of the account (built or prebuilt), writes to any Berth log group (/berth/<stack>/<resource>, created per service) and reads the secrets stack files name; kms:Decrypt only via Secrets Manager; GetAuthorizationToken has no resource",
      appliesTo: [
        "Resource::*",
        { regex: "/^Resource::arn:<AWS::Partition>:(ecr|kms):.*:(repository|key)/\\*$/" },
        { regex: "/^Resource::arn:<AWS::Partition>:logs:.*:log-group:/berth/\\*(:log-stream:\\*)?$/" },
        { regex: "/^Resource::arn:<AWS::Partition>:secretsmanager:.*:secret:\\*$/" },
      ],
    },
  ]);

  const boundary = new iam.ManagedPolicy(stack, "TaskBoundary", {
    managedPolicyName: names.boundaryPolicy,
    path: names.boundaryPath,
    description: `Berth ${app.stage}: the most any service's task role may do`,
    statements: [
      // A ceiling, not a grant: see TASK_BOUNDARY_SERVICES.
      new iam.PolicyStatement({
        sid: "ApplicationServices",
        actions: TASK_BOUNDARY_SERVICES,
        resources: ["*"],
      }),
      new iam.PolicyStatement({
        sid: "PassOnlyBerthTaskRoles",
        actions: ["iam:PassRole"],
        resources: [taskRoles, executionRoleArn(stack, names)],
        conditions: { StringEquals: { "iam:PassedToService": "ecs-tasks.amazonaws.com" } },
      }),
      // Whatever a role grants, a task never reaches into the installation itself.
      new iam.PolicyStatement({
        sid: "ProtectTheInstallation",
        effect: iam.Effect.DENY,
        actions: ["dynamodb:*", "states:*", "s3:*", "lambda:*"],
        resources: [
          table.tableArn,
          `${table.tableArn}/*`,
          // The workflows one by one: batch jobs' run state machines (`<prefix>job-…`) are what
          // a service that connects to a job starts.
          ...CoreWorkflows.WORKFLOWS.flatMap((workflow) => [
            arn("states", "stateMachine", names.stateMachine(workflow.name), ArnFormat.COLON_RESOURCE_NAME),
            arn(
              "states",
              "execution",
              `${names.stateMachine(workflow.name)}:*`,
              ArnFormat.COLON_RESOURCE_NAME,
            ),
          ]),
          sources.bucketArn,
          sources.arnForObjects("*"),
          arn("lambda", "function", `${names.prefix}*`, ArnFormat.COLON_RESOURCE_NAME),
        ],
      }),
    ],
  });
  suppress(boundary, [
    {
      id: "AwsSolutions-IAM5",
      reason:
        "A permissions boundary is a ceiling: the service-wide actions on * bound what task roles (whose own policies name resources) may do; the other wildcards name the installation's task roles and, in a Deny, its own resources",
      appliesTo: [{ regex: "/^Action::[a-z0-9-]+:\\*$/" }, "Resource::*", { regex: "/^Resource::.*\\*$/" }],
    },
  ]);

  stack.addOutputs({
    TaskExecutionRoleArn: executionRole.roleArn,
    TaskPermissionsBoundaryArn: boundary.managedPolicyArn,
    TaskRolePath: settings.taskRolePath,
  });
  // What a batch job's run state machine does: run the job's task in the cluster, pass it its
  // roles, stop it when the run is stopped or times out, and watch it through the rule `.sync` uses.
  const jobRunRole = new iam.Role(stack, "JobRunRole", {
    roleName: names.jobRunRole,
    description: `Berth ${app.stage}: batch jobs' run state machines run their tasks`,
    assumedBy: new iam.ServicePrincipal("states.amazonaws.com", {
      conditions: { StringEquals: { "aws:SourceAccount": Stack.of(stack).account } },
    }),
    inlinePolicies: {
      "job-run": new iam.PolicyDocument({
        statements: [
          new iam.PolicyStatement({
            actions: ["ecs:RunTask"],
            resources: [arn("ecs", "task-definition", "*:*")],
            conditions: { ArnEquals: { "ecs:cluster": arn("ecs", "cluster", names.cluster) } },
          }),
          new iam.PolicyStatement({
            actions: ["ecs:StopTask", "ecs:DescribeTasks"],
            resources: [arn("ecs", "task", `${names.cluster}/*`)],
          }),
          new iam.PolicyStatement({
            actions: ["iam:PassRole"],
            resources: [taskRoles, executionRoleArn(stack, names)],
            conditions: { StringEquals: { "iam:PassedToService": "ecs-tasks.amazonaws.com" } },
          }),
          new iam.PolicyStatement({
            actions: ["events:PutTargets", "events:PutRule", "events:DescribeRule"],
            resources: [arn("events", "rule", "StepFunctionsGetEventsForECSTaskRule")],
          }),
        ],
      }),
    },
  });

  suppress(jobRunRole, [
    {
      id: "AwsSolutions-IAM5",
      reason:
        "A job's run state machine runs whichever revision the job's last deployment registered (RunTask only in the installation's cluster), stops and describes its tasks in that cluster, and passes them Berth's task roles (path-scoped) and the execution role",
      appliesTo: [
        { regex: "/^Resource::arn:<AWS::Partition>:ecs:.*:task-definition/\\*:\\*$/" },
        { regex: "/^Resource::arn:<AWS::Partition>:ecs:.*:task/berth-[a-z0-9-]+/\\*$/" },
        { regex: "/^Resource::arn:<AWS::Partition>:iam::.*:role/berth/.*\\*$/" },
      ],
    },
  ]);

  // What stacks' own refresh schedules (EventBridge Scheduler) run as: they invoke the
  // scheduled-refresh function, and nothing else. The API creates the schedules and passes it.
  const schedulerRole = new iam.Role(stack, "SchedulerRole", {
    roleName: names.schedulerRole,
    description: `Berth ${app.stage}: stacks' refresh schedules invoke the scheduled-refresh function`,
    assumedBy: new iam.ServicePrincipal("scheduler.amazonaws.com", {
      conditions: { StringEquals: { "aws:SourceAccount": Stack.of(stack).account } },
    }),
    inlinePolicies: {
      invoke: new iam.PolicyDocument({
        statements: [
          new iam.PolicyStatement({
            actions: ["lambda:InvokeFunction"],
            resources: [functionArn(stack, names, "scheduled-refresh")],
          }),
        ],
      }),
    },
  });

  // ECS's infrastructure role for load balancers: what ECS assumes to move a gradual deployment's
  // traffic between its two target groups (the production and test listener rules' weights) and
  // to register tasks in them. AWS's managed policy for it is the one ECS documents.
  const deploymentRole = new iam.Role(stack, "EcsLoadBalancersRole", {
    roleName: names.deploymentRole,
    description: `Berth ${app.stage}: ECS shifts gradual deployments' traffic between target groups`,
    assumedBy: new iam.ServicePrincipal("ecs.amazonaws.com", {
      conditions: { StringEquals: { "aws:SourceAccount": Stack.of(stack).account } },
    }),
    managedPolicies: [
      iam.ManagedPolicy.fromAwsManagedPolicyName("AmazonECSInfrastructureRolePolicyForLoadBalancers"),
    ],
  });
  suppress(deploymentRole, [
    {
      id: "AwsSolutions-IAM4",
      reason:
        "AmazonECSInfrastructureRolePolicyForLoadBalancers is the policy ECS documents for its blue/green, canary and linear deployments: AWS keeps it in step with what ECS calls",
      appliesTo: [
        "Policy::arn:<AWS::Partition>:iam::aws:policy/AmazonECSInfrastructureRolePolicyForLoadBalancers",
      ],
    },
  ]);
  stack.addOutputs({ EcsLoadBalancersRoleArn: deploymentRole.roleArn });

  return { executionRole, boundary, jobRunRole, schedulerRole, deploymentRole };
}

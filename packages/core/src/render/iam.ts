import type { CreateRoleCommandInput, PutRolePolicyCommandInput } from "@aws-sdk/client-iam";
import { own } from "../lookup.ts";
import type { Spec } from "../spec/index.ts";
import type { Environment } from "./environment.ts";
import {
  jobStateMachineArn,
  standardTags,
  taskDefinitionFamilyArn,
  taskRoleArn,
  taskRoleName,
} from "./names.ts";

export interface PolicyStatement {
  Sid?: string;
  Effect: "Allow" | "Deny";
  Action: string[];
  Resource: string[];
  Condition?: Record<string, Record<string, unknown>>;
}

const TASK_POLICY_NAME = "berth-task";

/** The statements a task role gets from `connectTo`, remote sessions and `iamRoleStatements`. */
export function taskRoleStatements(
  stack: Spec.Stack,
  resource: Spec.ComputeResource,
  env: Environment,
): PolicyStatement[] {
  const statements: PolicyStatement[] = [];
  for (const target of resource.properties.connectTo) {
    if (target === "aws:ses") {
      statements.push({ Sid: "ConnectToSes", Effect: "Allow", Action: ["ses:*"], Resource: ["*"] });
      continue;
    }
    const targetResource = own(stack.resources, target);
    if (targetResource?.type !== "batch-job") continue; // services are reached over the network: no IAM
    const sid = `ConnectTo${target.charAt(0).toUpperCase()}${target.slice(1)}`;
    statements.push(
      {
        Sid: `${sid}Run`,
        Effect: "Allow",
        Action: ["ecs:RunTask"],
        Resource: [`${taskDefinitionFamilyArn(env, target)}:*`],
      },
      {
        Sid: `${sid}Tasks`,
        Effect: "Allow",
        Action: ["ecs:DescribeTasks", "ecs:StopTask"],
        Resource: [`arn:${env.partition}:ecs:${env.region}:${env.account}:task/${env.cluster}/*`],
      },
      {
        Sid: `${sid}StartRuns`,
        Effect: "Allow",
        Action: ["states:StartExecution"],
        Resource: [jobStateMachineArn(env, target)],
      },
      {
        Sid: `${sid}DescribeRuns`,
        Effect: "Allow",
        Action: ["states:DescribeExecution"],
        Resource: [`${jobStateMachineArn(env, target).replace(":stateMachine:", ":execution:")}:*`],
      },
      {
        Sid: `${sid}PassRole`,
        Effect: "Allow",
        Action: ["iam:PassRole"],
        Resource: [taskRoleArn(env, target), env.executionRoleArn],
        Condition: { StringEquals: { "iam:PassedToService": "ecs-tasks.amazonaws.com" } },
      },
    );
  }
  if (resource.type !== "batch-job" && resource.properties.enableRemoteSessions) {
    // ECS Exec's channels have no resource-level permissions: AWS documents "*" as the only resource.
    statements.push({
      Sid: "RemoteSessions",
      Effect: "Allow",
      Action: [
        "ssmmessages:CreateControlChannel",
        "ssmmessages:CreateDataChannel",
        "ssmmessages:OpenControlChannel",
        "ssmmessages:OpenDataChannel",
      ],
      Resource: ["*"],
    });
  }
  for (const statement of resource.properties.iamRoleStatements) {
    statements.push({
      ...(statement.Sid ? { Sid: statement.Sid } : {}),
      Effect: statement.Effect,
      Action: statement.Action,
      Resource: statement.Resource,
      ...(statement.Condition ? { Condition: statement.Condition } : {}),
    });
  }
  return statements;
}

export function renderTaskRole(
  stack: Spec.Stack,
  resourceName: string,
  resource: Spec.ComputeResource,
  env: Environment,
): { create: CreateRoleCommandInput; policy?: PutRolePolicyCommandInput } {
  const roleName = taskRoleName(env, resourceName);
  const trust = {
    Version: "2012-10-17",
    Statement: [
      {
        Effect: "Allow",
        Principal: { Service: "ecs-tasks.amazonaws.com" },
        Action: "sts:AssumeRole",
        // Only ECS tasks of this account may assume the role (confused-deputy protection).
        Condition: {
          ArnLike: { "aws:SourceArn": `arn:${env.partition}:ecs:${env.region}:${env.account}:*` },
          StringEquals: { "aws:SourceAccount": env.account },
        },
      },
    ],
  };
  const create: CreateRoleCommandInput = {
    RoleName: roleName,
    Path: env.taskRolePath,
    Description: `Berth task role of ${resourceName} in stack ${env.stack}`,
    AssumeRolePolicyDocument: JSON.stringify(trust),
    ...(env.permissionsBoundaryArn ? { PermissionsBoundary: env.permissionsBoundaryArn } : {}),
    Tags: Object.entries(standardTags(env, resourceName)).map(([Key, Value]) => ({ Key, Value })),
  };
  const statements = taskRoleStatements(stack, resource, env);
  if (statements.length === 0) return { create };
  return {
    create,
    policy: {
      RoleName: roleName,
      PolicyName: TASK_POLICY_NAME,
      PolicyDocument: JSON.stringify({ Version: "2012-10-17", Statement: statements }),
    },
  };
}

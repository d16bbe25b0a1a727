import { FUNCTIONS } from "@berth/core/functions";
import { Workflows as CoreWorkflows } from "@berth/core/workflows";
import { RemovalPolicy, Stack } from "aws-cdk-lib";
import * as iam from "aws-cdk-lib/aws-iam";
import * as logs from "aws-cdk-lib/aws-logs";
import * as sfn from "aws-cdk-lib/aws-stepfunctions";
import { dependsOn, type StackContext } from "sst/constructs/FunctionalStack.js";
import { Functions } from "./functions.ts";
import { suppress } from "./nag.ts";
import { functionArn, type Names, namesFor } from "./names.ts";
import { substituteDefinition } from "./placeholders.ts";
import { Registry } from "./registry.ts";
import { settingsOf } from "./settings.ts";

type Workflow = CoreWorkflows.Workflow;

/** Every `Resource` a definition's task states name (service integrations), nested ones too. */
function integrationsOf(definition: unknown): Set<string> {
  const found = new Set<string>();
  const visit = (value: unknown): void => {
    if (Array.isArray(value)) value.forEach(visit);
    else if (value !== null && typeof value === "object") {
      for (const [key, item] of Object.entries(value)) {
        if (key === "Resource" && typeof item === "string") found.add(item);
        else visit(item);
      }
    }
  };
  visit(definition);
  return found;
}

/** The manifest functions a definition invokes, from its `${Function:<name>}` placeholders. */
function invokedFunctions(workflow: Workflow): string[] {
  return CoreWorkflows.placeholdersOf(workflow.definition)
    .filter((name) => name.startsWith("Function:"))
    .map((name) => name.slice("Function:".length));
}

/**
 * What each service integration needs, for one workflow. An integration not listed stops the
 * synthesis, so a new one gets its permissions written (and reviewed) here first.
 */
function integrationStatements(
  stack: Stack,
  names: Names,
  workflow: Workflow,
  integration: string,
): iam.PolicyStatement[] {
  const invoke = () => [
    new iam.PolicyStatement({
      actions: ["lambda:InvokeFunction"],
      resources: invokedFunctions(workflow).map((name) => functionArn(stack, names, name)),
    }),
  ];
  switch (integration.replace(/^arn:aws:states:::/, "")) {
    case "lambda:invoke":
    case "lambda:invoke.waitForTaskToken":
      return invoke();
    case "codebuild:startBuild.sync":
      return [
        new iam.PolicyStatement({
          actions: ["codebuild:StartBuild", "codebuild:StopBuild", "codebuild:BatchGetBuilds"],
          resources: [
            stack.formatArn({
              service: "codebuild",
              resource: "project",
              resourceName: names.builderProject,
            }),
          ],
        }),
        // `.sync` waits on the build through a rule Step Functions manages in the account.
        new iam.PolicyStatement({
          actions: ["events:PutTargets", "events:PutRule", "events:DescribeRule"],
          resources: [
            stack.formatArn({
              service: "events",
              resource: "rule",
              resourceName: "StepFunctionsGetEventForCodeBuildStartBuildRule",
            }),
          ],
        }),
      ];
    default:
      throw new Error(
        `workflow ${workflow.name} uses ${integration}, for which stacks/workflows.ts grants nothing`,
      );
  }
}

/**
 * Every workflow of the core (`WORKFLOWS`) as a Standard state machine named
 * `<prefix><workflow>`, its definition the core's with the placeholders filled in.
 */
export function Workflows({ stack, app }: StackContext) {
  const settings = settingsOf(app);
  const names = namesFor(app.stage);
  // Functions and the build project are named in the definitions, not referenced.
  dependsOn(Functions);
  dependsOn(Registry);

  const values: Record<string, string> = {
    CodeBuildProject: names.builderProject,
    Cluster: names.cluster,
  };
  for (const definition of FUNCTIONS) {
    values[`Function:${definition.name}`] = functionArn(stack, names, definition.name);
  }

  const stateMachines: Record<string, sfn.StateMachine> = {};
  for (const workflow of CoreWorkflows.WORKFLOWS) {
    const stateMachineName = names.stateMachine(workflow.name);
    const role = new iam.Role(stack, `${workflow.name}-role`, {
      assumedBy: new iam.ServicePrincipal("states.amazonaws.com", {
        conditions: { StringEquals: { "aws:SourceAccount": Stack.of(stack).account } },
      }),
      description: `Berth ${app.stage}: the ${workflow.name} workflow`,
    });
    for (const integration of integrationsOf(workflow.definition)) {
      for (const statement of integrationStatements(Stack.of(stack), names, workflow, integration)) {
        role.addToPolicy(statement);
      }
    }
    const logGroup = new logs.LogGroup(stack, `${workflow.name}-logs`, {
      // The prefix AWS recommends for vended logs keeps the account's log resource policy small.
      logGroupName: `/aws/vendedlogs/states/${stateMachineName}`,
      retention: settings.logRetentionDays,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const stateMachine = new sfn.StateMachine(stack, workflow.name, {
      stateMachineName,
      stateMachineType: sfn.StateMachineType.STANDARD,
      comment: workflow.description,
      definitionBody: sfn.DefinitionBody.fromString(substituteDefinition(workflow.definition, values)),
      role,
      // Every state transition is logged, but not the payloads: they carry build variables.
      logs: { destination: logGroup, level: sfn.LogLevel.ALL, includeExecutionData: false },
    });
    stateMachines[workflow.name] = stateMachine;

    suppress(role, [
      {
        id: "AwsSolutions-IAM5",
        reason:
          "Log delivery to CloudWatch Logs (which CDK grants for the logging configuration) has no resource-level permissions",
        appliesTo: ["Resource::*"],
      },
    ]);
    suppress(stateMachine, [
      {
        id: "AwsSolutions-SF2",
        reason:
          "Each step is a Lambda function with its own logs and the deployment record says what happened; X-Ray traces would add cost and no answer",
      },
    ]);
  }

  stack.addOutputs(
    Object.fromEntries(
      Object.entries(stateMachines).map(([name, machine]) => [
        `StateMachine${name.replace(/(^|-)([a-z])/g, (_, __, letter: string) => letter.toUpperCase())}`,
        machine.stateMachineArn,
      ]),
    ),
  );
  return { stateMachines };
}

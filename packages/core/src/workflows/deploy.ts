// biome-ignore-all lint/suspicious/noTemplateCurlyInString: `${Name}` placeholders are filled by `substitute`.
import type { StateMachine, Workflow } from "./asl.ts";
import {
  catchToFailure,
  DEPLOYMENT_REF,
  failurePath,
  finalizeAndRelease,
  invoke,
  loadDeployment,
  waitForDeployment,
} from "./states.ts";

/**
 * The deploy workflow. Input: `{ deploymentId, stack, service, action: "deploy", images? }`
 * (the API's `WorkflowInput`). load-deployment answers `{ waitTimeoutSeconds, build: { needed,
 * environmentVariables? } }`; prepare-resources answers the task definition; apply-service the
 * ECS deployment the wait is for.
 */
export const definition: StateMachine = {
  Comment:
    "Berth deploy: build when needed, register, update the ECS service, wait on its events, end truthfully",
  StartAt: "Load deployment",
  TimeoutSeconds: 4 * 60 * 60,
  States: {
    "Load deployment": loadDeployment("Preflight"),
    Preflight: invoke("preflight", {
      payload: { ...DEPLOYMENT_REF, "deployment.$": "$.deployment.Payload" },
      timeoutSeconds: 120,
      resultPath: null,
      next: "Build needed?",
    }),
    "Build needed?": {
      Type: "Choice",
      Choices: [
        {
          And: [
            { Variable: "$.deployment.Payload.build.needed", IsPresent: true },
            { Variable: "$.deployment.Payload.build.needed", BooleanEquals: true },
          ],
          Next: "Build",
        },
      ],
      Default: "No build",
    },
    Build: {
      Type: "Task",
      Resource: "arn:aws:states:::codebuild:startBuild.sync",
      Parameters: {
        ProjectName: "${CodeBuildProject}",
        "EnvironmentVariablesOverride.$": "$.deployment.Payload.build.environmentVariables",
      },
      ResultSelector: { "id.$": "$.Build.Id" },
      ResultPath: "$.build",
      TimeoutSeconds: 60 * 60,
      Catch: catchToFailure(),
      Next: "Prepare resources",
    },
    "No build": { Type: "Pass", Result: null, ResultPath: "$.build", Next: "Prepare resources" },
    "Prepare resources": invoke("prepare-resources", {
      payload: { ...DEPLOYMENT_REF, "build.$": "$.build" },
      timeoutSeconds: 120,
      resultPath: "$.resources",
      next: "Apply service",
    }),
    "Apply service": invoke("apply-service", {
      payload: { ...DEPLOYMENT_REF, "resources.$": "$.resources.Payload" },
      timeoutSeconds: 120,
      resultPath: "$.applied",
      next: "Wait for deployment",
    }),
    ...waitForDeployment("$.applied.Payload"),
    ...finalizeAndRelease("fail"),
    ...failurePath("fail"),
  },
};

export const deploy: Workflow = {
  name: "deploy",
  description:
    "Builds when the packaging needs it, registers the task definition, updates the service, waits for ECS",
  functions: [
    "load-deployment",
    "preflight",
    "prepare-resources",
    "apply-service",
    "wait-for-deployment",
    "reconcile",
    "finalize",
    "release-service",
  ],
  placeholders: ["CodeBuildProject"],
  definition,
};

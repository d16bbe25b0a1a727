// biome-ignore-all lint/suspicious/noTemplateCurlyInString: `${Name}` placeholders are filled by `substitute`.
import { STEP_ERRORS } from "../deployments/rollout/errors.ts";
import type { StateMachine, Workflow } from "./asl.ts";
import {
  APPLY_AND_WAIT_FUNCTIONS,
  applyAndWait,
  catchToFailure,
  DEPLOYMENT_REF,
  invoke,
  loadDeployment,
  WAIT_START,
} from "./states.ts";

/**
 * The deploy workflow (also scale and refresh). Input: the API's `WorkflowInput`
 * (`{ deploymentId, stack, service, action, … }`). load-deployment runs the preflight checks and
 * answers `{ waitTimeoutSeconds, build: { needed, items }, reuse?, applied? }`; each build item is
 * one CodeBuild build, after which prepare-resources answers the task definition; a deploy that
 * builds nothing is applied by load-deployment itself (`apply`: it registers the revision and
 * updates ECS in the same step, with one read of the deployment and its stack) and answers
 * `applied`, the ECS deployment the wait is for. "No build" (apply-service registers,
 * `resources: { register: true }`) remains for a load-deployment that answered without applying.
 */
export const definition: StateMachine = {
  Comment:
    "Berth deploy: build when needed, register, update the ECS service, wait on its events, end truthfully",
  StartAt: "Load deployment",
  TimeoutSeconds: 4 * 60 * 60,
  States: {
    // load-deployment also runs the preflight checks here and, when nothing is built, registers
    // the revision and updates the service: one step, one read of the deployment and its stack.
    "Load deployment": loadDeployment("Build needed?", {
      payload: { preflight: true, apply: true },
      timeoutSeconds: 120,
      // A service it connects to is being created: wait for it (3 s apart, up to 5 minutes).
      retry: [
        {
          ErrorEquals: [STEP_ERRORS.dependencyPending],
          IntervalSeconds: 3,
          MaxAttempts: 100,
          BackoffRate: 1,
        },
      ],
    }),
    "Build needed?": {
      Type: "Choice",
      Choices: [
        { Variable: "$.deployment.Payload.reuse", IsPresent: true, Next: "Reuse revision" },
        {
          And: [
            { Variable: "$.deployment.Payload.build.needed", IsPresent: true },
            { Variable: "$.deployment.Payload.build.needed", BooleanEquals: true },
          ],
          Next: "Build",
        },
        { Variable: "$.deployment.Payload.applied", IsPresent: true, Next: "Applied" },
      ],
      Default: "No build",
    },
    // load-deployment applied it: its answer is apply-service's, where the wait reads it.
    Applied: {
      Type: "Pass",
      Parameters: { "Payload.$": "$.deployment.Payload.applied" },
      ResultPath: "$.applied",
      Next: WAIT_START,
    },
    // Scaling and refreshing run the revision ECS runs now: nothing to build or register.
    "Reuse revision": {
      Type: "Pass",
      Parameters: { "Payload.$": "$.deployment.Payload.reuse" },
      ResultPath: "$.resources",
      Next: "Apply service",
    },
    // One CodeBuild build per container built from source, two at a time.
    Build: {
      Type: "Map",
      ItemsPath: "$.deployment.Payload.build.items",
      MaxConcurrency: 2,
      ItemProcessor: {
        ProcessorConfig: { Mode: "INLINE" },
        StartAt: "Build image",
        States: {
          "Build image": {
            Type: "Task",
            Resource: "arn:aws:states:::codebuild:startBuild.sync",
            Parameters: {
              ProjectName: "${CodeBuildProject}",
              "EnvironmentVariablesOverride.$": "$.environmentVariables",
              "BuildspecOverride.$": "$.buildspec",
            },
            ResultSelector: { "id.$": "$.Build.Id", "exported.$": "$.Build.ExportedEnvironmentVariables" },
            ResultPath: "$.result",
            TimeoutSeconds: 60 * 60,
            End: true,
          },
        },
      },
      ResultPath: "$.build",
      Catch: catchToFailure(),
      Next: "Prepare resources",
    },
    // Nothing built and not applied by load-deployment: apply-service registers the revision
    // itself, then updates the service.
    "No build": {
      Type: "Pass",
      Result: { Payload: { register: true } },
      ResultPath: "$.resources",
      Next: "Apply service",
    },
    "Prepare resources": invoke("prepare-resources", {
      payload: { ...DEPLOYMENT_REF, "builds.$": "$.build" },
      timeoutSeconds: 120,
      resultPath: "$.resources",
      next: "Apply service",
    }),
    ...applyAndWait({ "resources.$": "$.resources.Payload" }, "fail"),
  },
};

export const deploy: Workflow = {
  name: "deploy",
  description:
    "Builds when the packaging needs it, registers the task definition, updates the service, waits for ECS",
  functions: ["load-deployment", "prepare-resources", ...APPLY_AND_WAIT_FUNCTIONS],
  placeholders: ["CodeBuildProject"],
  definition,
};

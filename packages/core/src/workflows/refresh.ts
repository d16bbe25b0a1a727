import type { Workflow } from "./asl.ts";
import {
  DEPLOYMENT_REF,
  failurePath,
  finalizeAndRelease,
  invoke,
  loadDeployment,
  WAIT_START,
  waitForDeployment,
} from "./states.ts";

/**
 * Input: `{ stack, deployments: [{ deploymentId, service }] }`, one refresh deployment per
 * service, each holding its service's active slot. Each service gets a forced new ECS
 * deployment of its current task definition (so tags are pulled again, patched base images
 * included), waited on and ended like any deployment; one failing does not stop the others.
 */
export const refresh: Workflow = {
  name: "refresh",
  description: "Forces a new deployment of every service of a stack and waits for each",
  functions: [
    "load-deployment",
    "apply-service",
    "wait-for-deployment",
    "reconcile",
    "finalize",
    "release-service",
  ],
  placeholders: [],
  definition: {
    Comment: "Berth refresh: force a new deployment of every service of a stack",
    StartAt: "Refresh services",
    TimeoutSeconds: 4 * 60 * 60,
    States: {
      "Refresh services": {
        Type: "Map",
        ItemsPath: "$.deployments",
        ItemSelector: {
          "stack.$": "$.stack",
          "deploymentId.$": "$$.Map.Item.Value.deploymentId",
          "service.$": "$$.Map.Item.Value.service",
        },
        MaxConcurrency: 5,
        ItemProcessor: {
          ProcessorConfig: { Mode: "INLINE" },
          StartAt: "Load deployment",
          States: {
            "Load deployment": loadDeployment("Apply service"),
            "Apply service": invoke("apply-service", {
              payload: { ...DEPLOYMENT_REF, forceNewDeployment: true },
              timeoutSeconds: 120,
              resultPath: "$.applied",
              next: WAIT_START,
            }),
            ...waitForDeployment("$.applied.Payload"),
            ...finalizeAndRelease("pass"),
            ...failurePath("pass"),
          },
        },
        ResultPath: "$.results",
        Catch: [{ ErrorEquals: ["States.ALL"], ResultPath: "$.error", Next: "Refresh incomplete" }],
        Next: "Services refreshed",
      },
      "Services refreshed": { Type: "Succeed" },
      "Refresh incomplete": {
        Type: "Fail",
        Error: "Berth.RefreshIncomplete",
        Cause: "the services of the stack could not all be visited",
      },
    },
  },
};

import { STEP_ERRORS } from "../deployments/rollout/errors.ts";
import type { State, StateMachine, Workflow } from "./asl.ts";
import {
  DEPLOYMENT_REF,
  type Ending,
  failurePath,
  finalizeAndRelease,
  forEachService,
  invoke,
  loadDeployment,
} from "./states.ts";

/**
 * The states deleting one service: scale to 0, delete the service, its scaling and its task
 * role; log groups stay, per their retention. delete-service is idempotent and throws
 * `Berth.ServiceDraining` until ECS has drained the service, so the wait is a bounded Retry
 * (5 s apart, about 10 minutes) and needs no loop.
 */
function deleteServiceStates(end: Ending): Record<string, State> {
  return {
    "Load deployment": loadDeployment("Delete service"),
    "Delete service": invoke("delete-service", {
      payload: DEPLOYMENT_REF,
      timeoutSeconds: 120,
      resultPath: "$.outcome",
      next: "Finalize",
      retry: [{ ErrorEquals: [STEP_ERRORS.draining], IntervalSeconds: 5, MaxAttempts: 120, BackoffRate: 1 }],
    }),
    ...finalizeAndRelease(end),
    ...failurePath(end),
  };
}

/** Input: `{ deploymentId, stack, service, action: "delete" }`. */
export const deleteService: Workflow = {
  name: "delete-service",
  description: "Scales a service to 0 and deletes it, its scaling and its task role; keeps its logs",
  functions: ["load-deployment", "delete-service", "finalize", "release-service"],
  placeholders: [],
  definition: {
    Comment: "Berth delete-service: scale to 0, delete the service, its scaling and its role",
    StartAt: "Load deployment",
    TimeoutSeconds: 60 * 60,
    States: deleteServiceStates("fail"),
  },
};

/**
 * Input: `{ stack, deployments: [{ deploymentId, service }] }`, one delete deployment per
 * service, each holding its service's active slot. A service that cannot be deleted ends its
 * own deployment FAILED without stopping the others; the output lists every service's result.
 */
const deleteStackDefinition: StateMachine = {
  Comment: "Berth delete-stack: delete every service of a stack",
  StartAt: "Delete services",
  TimeoutSeconds: 2 * 60 * 60,
  States: forEachService({
    name: "Delete services",
    states: deleteServiceStates("pass"),
    succeeded: "Services deleted",
    incomplete: "Stack not deleted",
    failure: {
      error: "Berth.StackNotDeleted",
      cause: "the services of the stack could not all be visited",
    },
  }),
};

export const deleteStack: Workflow = {
  name: "delete-stack",
  description: "Deletes every service of a stack, each through its own delete deployment",
  functions: ["load-deployment", "delete-service", "finalize", "release-service"],
  placeholders: [],
  definition: deleteStackDefinition,
};

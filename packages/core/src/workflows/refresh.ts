import type { Workflow } from "./asl.ts";
import { APPLY_AND_WAIT_FUNCTIONS, applyAndWait, forEachService, loadDeployment } from "./states.ts";

/**
 * Input: `{ stack, deployments: [{ deploymentId, service }] }`, one refresh deployment per
 * service, each holding its service's active slot. Each service gets a forced new ECS
 * deployment of its current task definition (so tags are pulled again, patched base images
 * included), waited on and ended like any deployment; one failing does not stop the others.
 */
export const refresh: Workflow = {
  name: "refresh",
  description: "Forces a new deployment of every service of a stack and waits for each",
  functions: ["load-deployment", ...APPLY_AND_WAIT_FUNCTIONS],
  placeholders: [],
  definition: {
    Comment: "Berth refresh: force a new deployment of every service of a stack",
    StartAt: "Refresh services",
    TimeoutSeconds: 4 * 60 * 60,
    States: forEachService({
      name: "Refresh services",
      states: {
        "Load deployment": loadDeployment("Apply service"),
        ...applyAndWait({ forceNewDeployment: true }, "pass"),
      },
      succeeded: "Services refreshed",
      incomplete: "Refresh incomplete",
      failure: {
        error: "Berth.RefreshIncomplete",
        cause: "the services of the stack could not all be visited",
      },
    }),
  },
};

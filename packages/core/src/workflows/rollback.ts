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
 * Input: `{ deploymentId, stack, service, action: "rollback", rollbackTo? }`. load-deployment
 * resolves the target, the named revision or else the service's last good one, and answers it
 * as `rollback: { taskDefinitionArn }` (and `waitTimeoutSeconds`); nothing is built or
 * registered, the service is pointed back at a revision that ran before.
 */
export const rollback: Workflow = {
  name: "rollback",
  description: "Returns a service to its last good revision, or a named one, and waits for ECS",
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
    Comment: "Berth rollback: update the service to an earlier task definition and wait on its events",
    StartAt: "Load deployment",
    TimeoutSeconds: 2 * 60 * 60,
    States: {
      "Load deployment": loadDeployment("Apply service"),
      "Apply service": invoke("apply-service", {
        payload: { ...DEPLOYMENT_REF, "resources.$": "$.deployment.Payload.rollback" },
        timeoutSeconds: 120,
        resultPath: "$.applied",
        next: WAIT_START,
      }),
      ...waitForDeployment("$.applied.Payload"),
      ...finalizeAndRelease("fail"),
      ...failurePath("fail"),
    },
  },
};

import type { Workflow } from "./asl.ts";
import { APPLY_AND_WAIT_FUNCTIONS, applyAndWait, loadDeployment } from "./states.ts";

/**
 * Input: `{ deploymentId, stack, service, action: "rollback", rollbackTo? }`. load-deployment
 * resolves the target, the named revision or else the service's last good one, and answers it
 * as `rollback: { taskDefinitionArn }` (and `waitTimeoutSeconds`); nothing is built or
 * registered, the service is pointed back at a revision that ran before.
 */
export const rollback: Workflow = {
  name: "rollback",
  description: "Returns a service to its last good revision, or a named one, and waits for ECS",
  functions: ["load-deployment", ...APPLY_AND_WAIT_FUNCTIONS],
  placeholders: [],
  definition: {
    Comment: "Berth rollback: update the service to an earlier task definition and wait on its events",
    StartAt: "Load deployment",
    TimeoutSeconds: 2 * 60 * 60,
    States: {
      "Load deployment": loadDeployment("Apply service"),
      ...applyAndWait({ "resources.$": "$.deployment.Payload.rollback" }, "fail"),
    },
  },
};

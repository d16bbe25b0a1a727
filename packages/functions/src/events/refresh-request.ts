import type { ServiceRecord } from "@berth/core/store";
import { specHash } from "../api/plan.ts";
import { requestDeployment } from "../api/workflow.ts";
import type { Runtime } from "../steps/runtime.ts";

/**
 * Requests a refresh of a running service: a forced new ECS deployment of the revision it runs,
 * queued behind whatever deployment it has, like any other request.
 */
export async function requestRefresh(
  runtime: Runtime,
  stack: string,
  service: ServiceRecord.Info,
  trigger: "webhook" | "schedule",
  reason: string,
): Promise<void> {
  await requestDeployment(runtime.workflowContext(), {
    stack,
    service: service.name,
    trigger,
    specHash: specHash(service.spec),
    reason,
    parameters: { action: "refresh" },
  });
}

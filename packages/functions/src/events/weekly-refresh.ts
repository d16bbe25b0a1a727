import { Service } from "@berth/core/deployments";
import { loadRuntime } from "../steps/runtime.ts";

const runtime = loadRuntime();

/**
 * The weekly schedule: every running service gets a refresh deployment (a forced new ECS
 * deployment of its current revision, trigger `schedule`), so tags are pulled again and
 * patched base images reach running services. Each is queued like any deployment: a service
 * in the middle of a deploy is refreshed after it. Stacks whose refresh is off, or whose
 * maintenance window is closed, are left alone.
 */
export async function handler(): Promise<Service.ScheduledRefresh> {
  return Service.refreshAll(
    runtime.workflowContext(),
    "weekly refresh: a new ECS deployment of the current revision",
  );
}

import { Service } from "@berth/core/deployments";
import { ServiceRecord, StackRecord } from "@berth/core/store";
import { loadRuntime } from "../steps/runtime.ts";

const runtime = loadRuntime();

/**
 * The weekly schedule: every running service gets a refresh deployment (a forced new ECS
 * deployment of its current revision, trigger `schedule`), so tags are pulled again and
 * patched base images reach running services. Each is queued like any deployment: a service
 * in the middle of a deploy is refreshed after it.
 */
export async function handler(): Promise<{ requested: string[] }> {
  const requested: string[] = [];
  for (const stack of await StackRecord.list(runtime.store)) {
    for (const service of await ServiceRecord.list(runtime.store, stack.name)) {
      if (!service.liveTaskDefinitionArn) continue;
      await Service.refresh(
        runtime.workflowContext(),
        service,
        "schedule",
        "weekly refresh: a new ECS deployment of the current revision",
      );
      requested.push(`${stack.name}/${service.name}`);
    }
  }
  return { requested };
}

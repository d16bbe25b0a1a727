import { HostRefresh, type RefreshSchedule, Service } from "@berth/core/deployments";
import { StackRecord } from "@berth/core/store";
import { loadRuntime } from "../steps/runtime.ts";

const runtime = loadRuntime();

/**
 * A stack's own refresh schedule fired (EventBridge Scheduler, with the input the API gave the
 * schedule): each of the stack's running services gets a refresh deployment, unless the stack
 * is gone, its refresh is now off, or its maintenance window is closed. A stack that was
 * refreshed also moves the cluster's EC2 hosts (where there are any) onto the newest
 * ECS-optimized AMI; hosts already on it are kept, so a second refresh the same week replaces none.
 * The refresh is recorded: `GET /v1/refreshes/{id}` (`berth refreshes`) lists the services whose
 * refresh deployments later failed.
 */
export async function handler(
  event: RefreshSchedule.ScheduledRefreshInput,
): Promise<Service.ScheduledRefresh & { refreshId?: string }> {
  const stack = StackRecord.Name.safeParse(event?.stack);
  if (!stack.success)
    throw new Error(`scheduled-refresh: the event names no stack: ${JSON.stringify(event)}`);
  const startedAt = runtime.store.clock();
  const result = await Service.refreshStack(
    runtime.workflowContext(),
    stack.data,
    "scheduled refresh: a new ECS deployment of the current revision",
  );
  if (runtime.hosts && result.skipped.length === 0) {
    result.hosts = await HostRefresh.refreshHostsReported(
      runtime.hosts.clients,
      runtime.hosts.fleet,
      runtime.logger,
    );
  }
  const refreshId = await Service.recordRefresh(
    runtime.workflowContext(),
    "stack",
    result,
    startedAt,
    stack.data,
  );
  runtime.logger.info("scheduled refresh", { refreshId, stack: stack.data, ...result });
  return { ...result, ...(refreshId ? { refreshId } : {}) };
}

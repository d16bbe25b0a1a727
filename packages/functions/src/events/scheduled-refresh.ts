import { type RefreshSchedule, Service } from "@berth/core/deployments";
import { StackRecord } from "@berth/core/store";
import { loadRuntime } from "../steps/runtime.ts";

const runtime = loadRuntime();

/**
 * A stack's own refresh schedule fired (EventBridge Scheduler, with the input the API gave the
 * schedule): each of the stack's running services gets a refresh deployment, unless the stack
 * is gone, its refresh is now off, or its maintenance window is closed.
 */
export async function handler(
  event: RefreshSchedule.ScheduledRefreshInput,
): Promise<Service.ScheduledRefresh> {
  const stack = StackRecord.Name.safeParse(event?.stack);
  if (!stack.success)
    throw new Error(`scheduled-refresh: the event names no stack: ${JSON.stringify(event)}`);
  const result = await Service.refreshStack(
    runtime.workflowContext(),
    stack.data,
    "scheduled refresh: a new ECS deployment of the current revision",
  );
  runtime.logger.info("scheduled refresh", { stack: stack.data, ...result });
  return result;
}

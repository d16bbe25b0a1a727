import { HostRefresh, Service } from "@berth/core/deployments";
import { loadRuntime } from "../steps/runtime.ts";

const runtime = loadRuntime();

/**
 * The weekly schedule: every running service gets a refresh deployment (a forced new ECS
 * deployment of its current revision, trigger `schedule`), so tags are pulled again and
 * patched base images reach running services. Each is queued like any deployment: a service
 * in the middle of a deploy is refreshed after it. Stacks whose refresh is off, or whose
 * maintenance window is closed, are left alone. Where the cluster has EC2 hosts, they are
 * moved onto the newest ECS-optimized AMI too (an Auto Scaling instance refresh).
 * The refresh is recorded: `GET /v1/refreshes/{id}` (`berth refreshes`) lists the services whose
 * refresh deployments later failed.
 */
export async function handler(): Promise<Service.ScheduledRefresh & { refreshId?: string }> {
  const startedAt = runtime.store.clock();
  const result = await Service.refreshAll(
    runtime.workflowContext(),
    "weekly refresh: a new ECS deployment of the current revision",
  );
  if (runtime.hosts) {
    result.hosts = await HostRefresh.refreshHostsReported(
      runtime.hosts.clients,
      runtime.hosts.fleet,
      runtime.logger,
    );
  }
  const refreshId = await Service.recordRefresh(runtime.workflowContext(), "weekly", result, startedAt);
  runtime.logger.info("weekly refresh", { refreshId, ...result });
  return { ...result, ...(refreshId ? { refreshId } : {}) };
}

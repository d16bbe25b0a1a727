import type { Service } from "@berth/core/deployments";
import { ApiClient, encode } from "./api.ts";
import { type Context, parseOptions, UsageError } from "./command.ts";

/** One scheduled refresh as `GET /v1/refreshes[/{id}]` answers it. */
export type Refresh = Service.RefreshView;

/** What a user reads of a refresh: what it covered, and each service whose refresh failed, with why. */
export function refreshLines(refresh: Refresh): string[] {
  const what = refresh.trigger === "weekly" ? "weekly refresh" : `refresh of stack ${refresh.stack}`;
  const lines = [
    `${refresh.id}  ${refresh.startedAt}  ${what}: ${refresh.status.toUpperCase()} ` +
      `(${refresh.services.length} service${refresh.services.length === 1 ? "" : "s"}, ${refresh.failed.length} failed)`,
  ];
  for (const failed of refresh.failed)
    lines.push(
      `  FAILED ${failed.stack}/${failed.service} (deployment ${failed.deploymentId}, ${failed.status}): ${failed.reason}`,
    );
  for (const item of refresh.notRequested) lines.push(`  not requested ${item}`);
  for (const item of refresh.skipped) lines.push(`  skipped ${item}`);
  if (refresh.hosts) {
    const hosts = refresh.hosts;
    lines.push(
      hosts.started === true
        ? `  EC2 hosts: instance refresh ${String(hosts.instanceRefreshId)} onto ${String(hosts.imageId)}`
        : `  EC2 hosts: not refreshed: ${String(hosts.reason ?? hosts.error)}`,
    );
  }
  return lines;
}

/** `berth refreshes [ID] [--json]`: the scheduled refreshes, newest first, or one of them. */
export async function refreshes(args: string[], context: Context): Promise<number> {
  const { values, positionals } = parseOptions(args, { json: { type: "boolean" } }, true);
  const [id, ...extra] = positionals;
  if (extra.length > 0) throw new UsageError("refreshes takes at most one refresh id");
  const api = ApiClient.fromEnv(context.env, context.cwd);
  const found = id
    ? [(await api.request<Refresh>("GET", `/v1/refreshes/${encode(id)}`)).body]
    : (await api.request<{ refreshes: Refresh[] }>("GET", "/v1/refreshes", { query: { limit: 10 } })).body
        .refreshes;
  if (values.json) {
    context.out(JSON.stringify(id ? found[0] : { refreshes: found }, null, 2));
  } else if (found.length === 0) {
    context.out("No scheduled refresh has run yet.");
  } else {
    for (const refresh of found) for (const line of refreshLines(refresh)) context.out(line);
  }
  // A refresh whose services failed is a failure to a script too.
  return found.some((refresh) => refresh.status === "failed") && id ? 1 : 0;
}

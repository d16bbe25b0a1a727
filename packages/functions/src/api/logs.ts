import { type CloudWatchLogsClient, FilterLogEventsCommand } from "@aws-sdk/client-cloudwatch-logs";
import { Logs } from "@berth/core/aws";
import type { z } from "zod";
import { ApiError } from "./errors.ts";
import type { LogsQuery, LogsResponse } from "./schemas.ts";

const DEFAULT_SINCE_MS = 60 * 60 * 1000;
const DEFAULT_LIMIT = 100;
const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** The log group of a service's containers; the same name `Render.logGroupName` gives it. */
export function serviceLogGroup(stack: string, service: string): string {
  return `/berth/${stack}/${service}`;
}

/** `15m` → fifteen minutes before `now`; a timestamp → itself. */
function sinceTime(since: string | undefined, now: Date): number {
  if (since === undefined) return now.getTime() - DEFAULT_SINCE_MS;
  const relative = /^(\d+)([smhd])$/.exec(since);
  if (relative) return now.getTime() - Number(relative[1]) * UNIT_MS[relative[2] as keyof typeof UNIT_MS];
  const time = Date.parse(since);
  if (Number.isNaN(time)) {
    throw new ApiError("INVALID_INPUT", `since ${since} is not a valid time`, [
      { path: "query.since", message: "is not a valid time" },
    ]);
  }
  return time;
}

export async function readLogs(
  client: Pick<CloudWatchLogsClient, "send">,
  now: Date,
  stack: string,
  service: string,
  query: z.output<typeof LogsQuery>,
): Promise<z.input<typeof LogsResponse>> {
  const logGroupName = serviceLogGroup(stack, service);
  try {
    const result = await client.send(
      new FilterLogEventsCommand({
        logGroupName,
        startTime: Math.max(0, sinceTime(query.since, now)),
        limit: query.limit ?? DEFAULT_LIMIT,
        ...(query.nextToken ? { nextToken: query.nextToken } : {}),
      }),
    );
    return {
      logGroupName,
      events: (result.events ?? []).map((event) => ({
        timestamp: new Date(event.timestamp ?? 0).toISOString(),
        logStream: event.logStreamName ?? "",
        message: event.message ?? "",
      })),
      ...(result.nextToken ? { nextToken: result.nextToken } : {}),
    };
  } catch (error) {
    // A service that has not logged anything yet has no group: that is an empty log, not an error.
    if (Logs.isNotFound(error)) return { logGroupName, events: [] };
    if (Logs.isInvalidParameter(error)) {
      throw new ApiError(
        "INVALID_INPUT",
        "CloudWatch Logs refused the query; is nextToken from this listing?",
        [{ path: "query.nextToken", message: "was not accepted by CloudWatch Logs" }],
        {},
        { cause: error },
      );
    }
    throw error;
  }
}

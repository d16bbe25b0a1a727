import { ApiClient, encode, type LogsPage } from "./api.ts";
import type { Context } from "./command.ts";
import {
  DEFAULT_SINCE,
  parseDuration,
  parseOptions,
  pause,
  serviceOption,
  stringOption,
  UsageError,
} from "./command.ts";
import { type Paint, painter } from "./format.ts";

/** The API's largest page: fewer round trips through a long backlog. */
const PAGE_SIZE = 1000;
/**
 * Each later read starts this far before the newest line shown, so that a line stamped a
 * little earlier but ingested later (another task, a delayed flush) still appears; the
 * de-duplication keeps the overlap from printing anything twice.
 */
const FOLLOW_OVERLAP_MS = 10_000;

type LogEvent = LogsPage["events"][number];

/**
 * Which lines were printed. CloudWatch Logs gives no event id through the API, so a line is
 * its timestamp, stream and text, counted: two identical lines in the same millisecond are two.
 */
export class PrintedLines {
  private readonly printed = new Map<string, number>();
  private readonly thisPass = new Map<string, number>();
  newest: string | undefined;

  /** True the first time a line is met; a pass that re-reads a window meets them again. */
  isNew(event: LogEvent): boolean {
    const key = `${event.timestamp}\u0000${event.logStream}\u0000${event.message}`;
    const seen = (this.thisPass.get(key) ?? 0) + 1;
    this.thisPass.set(key, seen);
    if (seen <= (this.printed.get(key) ?? 0)) return false;
    this.printed.set(key, seen);
    // The API writes every timestamp with toISOString, so the strings order as the times do.
    if (this.newest === undefined || event.timestamp > this.newest) this.newest = event.timestamp;
    return true;
  }

  /** Starts a read from `since`: lines before it will not come again and are forgotten. */
  startPass(since: string): void {
    this.thisPass.clear();
    for (const key of this.printed.keys()) {
      if (key.slice(0, key.indexOf("\u0000")) < since) this.printed.delete(key);
    }
  }
}

export function lineOf(event: LogEvent, paint: Paint): string {
  return `${paint("dim", event.timestamp)} ${paint("cyan", `[${event.logStream}]`)} ${event.message.replace(/\n$/, "")}`;
}

export async function logs(args: string[], context: Context): Promise<number> {
  const { values } = parseOptions(args, {
    stack: { type: "string" },
    service: { type: "string" },
    since: { type: "string" },
    follow: { type: "boolean" },
    limit: { type: "string" },
  });
  const { stack, service } = serviceOption(values);
  const limitText = stringOption(values, "limit");
  const limit = limitText === undefined ? undefined : Number(limitText);
  if (limit !== undefined && !(Number.isInteger(limit) && limit > 0)) {
    throw new UsageError(`--limit ${limitText}: give a whole number of lines, at least 1`);
  }
  const follow = values.follow === true;
  const paint = painter(context.color);
  const api = ApiClient.fromEnv(context.env, context.cwd);
  const path = `/v1/stacks/${encode(stack)}/services/${encode(service)}/logs`;

  const printed = new PrintedLines();
  // With --limit, the backlog is held back so only its newest lines print, as `tail -n` does.
  let held: string[] | undefined = limit === undefined ? undefined : [];
  const emit = (line: string) => {
    if (!held) return context.out(line);
    held.push(line);
    if (held.length > (limit ?? 0)) held.shift();
  };
  const sinceOption = stringOption(values, "since") ?? DEFAULT_SINCE;
  // One fixed cutoff for the whole command: later reads start earlier than the newest line (the
  // overlap) and must not reach back past what the person asked for.
  const cutoff = cutoffOf(sinceOption, Date.now());
  let since = cutoff ?? sinceOption;
  let nextToken: string | undefined;
  try {
    for (;;) {
      const { body } = await api.request<LogsPage>("GET", path, {
        query: { since, limit: PAGE_SIZE, nextToken },
        signal: context.signal,
      });
      // Streams interleave: a page is printed in time order, and nothing older than the cutoff.
      const inOrder = [...body.events].sort((a, b) =>
        a.timestamp < b.timestamp ? -1 : a.timestamp > b.timestamp ? 1 : 0,
      );
      for (const event of inOrder) {
        if (cutoff !== undefined && event.timestamp < cutoff) continue;
        if (printed.isNew(event)) emit(lineOf(event, paint));
      }
      if (body.nextToken) {
        nextToken = body.nextToken;
        continue;
      }
      if (held) for (const line of held) context.out(line);
      held = undefined;
      if (!follow) return 0;
      // The listing is exhausted: read again from just before the newest line, not from a token,
      // because CloudWatch Logs gives no token once a listing reaches its end.
      nextToken = undefined;
      if (printed.newest !== undefined) {
        const overlapped = new Date(Date.parse(printed.newest) - FOLLOW_OVERLAP_MS).toISOString();
        since = cutoff !== undefined && cutoff > overlapped ? cutoff : overlapped;
        printed.startPass(since);
      } else {
        printed.startPass("");
      }
      if (!(await pause(context.pollIntervalMs, context.signal))) return 0;
    }
  } catch (error) {
    // Ctrl-C is how a follow ends.
    if ((error as Error).name === "AbortError") return 0;
    throw error;
  }
}

/**
 * `--since` as an ISO timestamp: a duration (`5s`, `15m`, `1h30m`) counts back from `now`.
 * Undefined for text that is neither, which goes to the API as given for it to refuse.
 */
function cutoffOf(since: string, now: number): string | undefined {
  let ms: number | undefined;
  try {
    ms = parseDuration(since, "since");
  } catch {
    const time = Date.parse(since);
    return Number.isNaN(time) ? undefined : new Date(time).toISOString();
  }
  return new Date(now - ms).toISOString();
}

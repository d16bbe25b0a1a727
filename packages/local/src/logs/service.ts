import { z } from "zod";
import { AwsError, type AwsJsonService, operation } from "../protocol.ts";
import { compileFilterPattern } from "./filter-pattern.ts";
import {
  compareNames,
  type LogGroupDescription,
  type LogStore,
  type LogStreamDescription,
  type StoredLogEvent,
} from "./store.ts";

/** The values PutRetentionPolicy accepts; anything else is an InvalidParameterException on AWS too. */
export const RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
] as const;

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
/** PutLogEvents' limits, as documented for the real service. */
const MAX_BATCH_BYTES = 1_048_576;
const EVENT_OVERHEAD_BYTES = 26;
const MAX_EVENT_AGE_MS = 14 * DAY_MS;
const MAX_EVENT_LEAD_MS = 2 * HOUR_MS;
const MAX_BATCH_SPAN_MS = DAY_MS;

// --- input members, with the constraints of the CloudWatch Logs model ---

const LogGroupName = z
  .string()
  .min(1)
  .max(512)
  .regex(/^[.\-_/#A-Za-z0-9]+$/, "must contain only letters, digits and . - _ / #");
const LogGroupIdentifier = z.string().min(1).max(2048);
const LogStreamName = z
  .string()
  .min(1)
  .max(512)
  .regex(/^[^:*]*$/, "must not contain ':' or '*'");
const Timestamp = z.number().int().nonnegative();
const NextToken = z.string().min(1);
const TagKey = z.string().min(1).max(128);
const Tags = z.record(TagKey, z.string().max(256));
const ResourceArn = z.string().min(1).max(1011);
const limitUpTo = (max: number) => z.number().int().min(1).max(max).optional();

/** Operations that name a group by `logGroupName` or by `logGroupIdentifier` (a name or an ARN). */
const GroupSelector = {
  logGroupName: LogGroupName.optional(),
  logGroupIdentifier: LogGroupIdentifier.optional(),
};
const exactlyOneGroupSelector = [
  (input: { logGroupName?: string | undefined; logGroupIdentifier?: string | undefined }) =>
    (input.logGroupName === undefined) !== (input.logGroupIdentifier === undefined),
  { message: "Exactly one of logGroupName and logGroupIdentifier must be given." },
] as const;

const CreateLogGroupInput = z.object({
  logGroupName: LogGroupName,
  tags: Tags.optional(),
  kmsKeyId: z.string().max(256).optional(),
  logGroupClass: z.enum(["STANDARD", "INFREQUENT_ACCESS", "DELIVERY"]).optional(),
});
const LogGroupNameInput = z.object({ logGroupName: LogGroupName });
const DescribeLogGroupsInput = z
  .object({
    logGroupNamePrefix: LogGroupName.optional(),
    logGroupNamePattern: z
      .string()
      .max(512)
      .regex(/^[.\-_/#A-Za-z0-9]*$/)
      .optional(),
    logGroupIdentifiers: z.array(LogGroupIdentifier).min(1).max(50).optional(),
    nextToken: NextToken.optional(),
    limit: limitUpTo(50),
  })
  .refine((input) => input.logGroupNamePrefix === undefined || input.logGroupNamePattern === undefined, {
    message: "logGroupNamePrefix and logGroupNamePattern cannot be used together.",
  });
const PutRetentionPolicyInput = z.object({
  logGroupName: LogGroupName,
  retentionInDays: z
    .number()
    .int()
    .refine((days) => (RETENTION_DAYS as readonly number[]).includes(days), {
      message: `must be one of ${RETENTION_DAYS.join(", ")}`,
    }),
});
const LogStreamInput = z.object({ logGroupName: LogGroupName, logStreamName: LogStreamName });
const DescribeLogStreamsInput = z
  .object({
    ...GroupSelector,
    logStreamNamePrefix: LogStreamName.optional(),
    orderBy: z.enum(["LogStreamName", "LastEventTime"]).optional(),
    descending: z.boolean().optional(),
    nextToken: NextToken.optional(),
    limit: limitUpTo(50),
  })
  .refine(...exactlyOneGroupSelector)
  .refine((input) => !(input.orderBy === "LastEventTime" && input.logStreamNamePrefix !== undefined), {
    message: "Cannot order by LastEventTime with a logStreamNamePrefix.",
  });
const PutLogEventsInput = z.object({
  logGroupName: LogGroupName,
  logStreamName: LogStreamName,
  logEvents: z
    .array(z.object({ timestamp: Timestamp, message: z.string().min(1) }))
    .min(1)
    .max(10_000),
  sequenceToken: z.string().optional(),
});
const GetLogEventsInput = z
  .object({
    ...GroupSelector,
    logStreamName: LogStreamName,
    startTime: Timestamp.optional(),
    endTime: Timestamp.optional(),
    nextToken: NextToken.optional(),
    limit: limitUpTo(10_000),
    startFromHead: z.boolean().optional(),
    unmask: z.boolean().optional(),
  })
  .refine(...exactlyOneGroupSelector);
const FilterLogEventsInput = z
  .object({
    ...GroupSelector,
    logStreamNames: z.array(LogStreamName).min(1).max(100).optional(),
    logStreamNamePrefix: LogStreamName.optional(),
    startTime: Timestamp.optional(),
    endTime: Timestamp.optional(),
    filterPattern: z.string().max(1024).optional(),
    nextToken: NextToken.optional(),
    limit: limitUpTo(10_000),
    startFromHead: z.boolean().optional(),
    interleaved: z.boolean().optional(),
    unmask: z.boolean().optional(),
  })
  .refine(...exactlyOneGroupSelector)
  .refine((input) => input.logStreamNames === undefined || input.logStreamNamePrefix === undefined, {
    message: "logStreamNames and logStreamNamePrefix cannot both be specified.",
  });
const TagResourceInput = z.object({ resourceArn: ResourceArn, tags: Tags });
const UntagResourceInput = z.object({ resourceArn: ResourceArn, tagKeys: z.array(TagKey).min(1).max(50) });
const ResourceArnInput = z.object({ resourceArn: ResourceArn });

// --- pagination tokens ---

function invalidToken(): AwsError {
  return new AwsError("InvalidParameterException", "The specified nextToken is invalid.");
}

/** Describe tokens are opaque: the sort key of the last item returned, so inserts do not shift pages. */
function encodeToken(cursor: unknown): string {
  return Buffer.from(JSON.stringify(cursor), "utf8").toString("base64url");
}

function decodeToken<Cursor>(schema: z.ZodType<Cursor>, token: string): Cursor {
  try {
    return schema.parse(JSON.parse(Buffer.from(token, "base64url").toString("utf8")));
  } catch {
    throw invalidToken();
  }
}

/** First index in [0, length) for which `isBefore` is false; `isBefore` must be true then false. */
function partitionPoint(length: number, isBefore: (index: number) => boolean): number {
  let low = 0;
  let high = length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (isBefore(middle)) low = middle + 1;
    else high = middle;
  }
  return low;
}

/** Items after `cursor` in `sorted` (sorted by `compare`), at most `limit`, and the token for the rest. */
function pageAfter<Item, Key>(
  sorted: readonly Item[],
  keyOf: (item: Item) => Key,
  compare: (a: Key, b: Key) => number,
  cursor: Key | undefined,
  limit: number,
): { page: Item[]; nextToken?: string } {
  const start =
    cursor === undefined
      ? 0
      : partitionPoint(sorted.length, (index) => compare(keyOf(sorted[index] as Item), cursor) <= 0);
  const page = sorted.slice(start, start + limit);
  const last = page.at(-1);
  return start + limit < sorted.length && last !== undefined
    ? { page, nextToken: encodeToken(keyOf(last)) }
    : { page };
}

/**
 * GetLogEvents tokens mark a boundary between events, whose key is (timestamp, sequence):
 * `f/<t>/<s>` reads the events after (t, s), `b/<t>/<s>` the events before it. Keys are integers,
 * so "at or after (t, s)" is "after (t, s - 1)": an empty page can hand back the opposite
 * direction's token without skipping an event.
 */
interface StreamBoundary {
  direction: "f" | "b";
  timestamp: number;
  sequence: number;
}

const BEFORE_EVERY_EVENT = { timestamp: Number.MIN_SAFE_INTEGER, sequence: 0 };

function streamToken(boundary: StreamBoundary): string {
  return `${boundary.direction}/${boundary.timestamp}/${boundary.sequence}`;
}

function parseStreamToken(token: string): StreamBoundary {
  const match = /^([fb])\/(-?\d+)\/(-?\d+)$/.exec(token);
  const [, direction, timestamp, sequence] = match ?? [];
  if ((direction !== "f" && direction !== "b") || timestamp === undefined || sequence === undefined) {
    throw invalidToken();
  }
  const boundary = { direction, timestamp: Number(timestamp), sequence: Number(sequence) } as const;
  if (!Number.isSafeInteger(boundary.timestamp) || !Number.isSafeInteger(boundary.sequence))
    throw invalidToken();
  return boundary;
}

/** The same boundary, read the other way. */
function reversed(boundary: StreamBoundary): StreamBoundary {
  return boundary.direction === "f"
    ? { direction: "b", timestamp: boundary.timestamp, sequence: boundary.sequence + 1 }
    : { direction: "f", timestamp: boundary.timestamp, sequence: boundary.sequence - 1 };
}

function compareToKey(event: StoredLogEvent, key: { timestamp: number; sequence: number }): number {
  return event.timestamp - key.timestamp || event.sequence - key.sequence;
}

/** FilterLogEvents interleaves streams, so its order (and its token) also carries the stream name. */
const FilterCursor = z.object({
  ascending: z.boolean(),
  timestamp: z.number(),
  stream: z.string(),
  sequence: z.number(),
});
type FilterCursor = z.infer<typeof FilterCursor>;

interface FilterMatch {
  stream: string;
  event: StoredLogEvent;
}

function compareMatches(
  a: FilterMatch,
  b: { stream: string; event: { timestamp: number; sequence: number } },
): number {
  return (
    a.event.timestamp - b.event.timestamp ||
    compareNames(a.stream, b.stream) ||
    a.event.sequence - b.event.sequence
  );
}

// --- response shapes ---

function logGroupShape(group: LogGroupDescription) {
  return {
    logGroupName: group.name,
    creationTime: group.creationTime,
    ...(group.retentionInDays === undefined ? {} : { retentionInDays: group.retentionInDays }),
    metricFilterCount: 0,
    arn: group.arn,
    storedBytes: group.storedBytes,
    logGroupClass: "STANDARD",
    logGroupArn: group.arn.replace(/:\*$/, ""),
  };
}

function logStreamShape(stream: LogStreamDescription) {
  return {
    logStreamName: stream.name,
    creationTime: stream.creationTime,
    ...(stream.firstEventTimestamp === undefined ? {} : { firstEventTimestamp: stream.firstEventTimestamp }),
    ...(stream.lastEventTimestamp === undefined ? {} : { lastEventTimestamp: stream.lastEventTimestamp }),
    ...(stream.lastIngestionTime === undefined ? {} : { lastIngestionTime: stream.lastIngestionTime }),
    uploadSequenceToken: stream.uploadSequenceToken,
    arn: stream.arn,
    storedBytes: stream.storedBytes,
  };
}

// --- names and ARNs ---

const LOG_GROUP_ARN = /^arn:[^:]+:logs:[^:]*:[^:]*:log-group:([^:]+)(?::\*)?$/;

/** A `logGroupIdentifier` is a group name or its ARN (with or without the trailing `:*`). */
function groupNameOfIdentifier(identifier: string): string {
  if (!identifier.startsWith("arn:")) return identifier;
  const name = LOG_GROUP_ARN.exec(identifier)?.[1];
  if (name === undefined)
    throw new AwsError("InvalidParameterException", `${identifier} is not a log group ARN.`);
  return name;
}

function selectedGroupName(input: {
  logGroupName?: string | undefined;
  logGroupIdentifier?: string | undefined;
}) {
  return input.logGroupName ?? groupNameOfIdentifier(input.logGroupIdentifier ?? "");
}

function groupNameOfResourceArn(resourceArn: string): string {
  const name = LOG_GROUP_ARN.exec(resourceArn)?.[1];
  if (name === undefined) {
    throw new AwsError(
      "InvalidParameterException",
      "Berth Local can tag log groups only; give a log group ARN.",
    );
  }
  return name;
}

/**
 * Berth Local's CloudWatch Logs API over a LogStore, with AWS's request and response shapes
 * (timestamps in epoch milliseconds). Filter patterns: see `compileFilterPattern` for the
 * supported subset; JSON and metric filter syntax are refused.
 */
export function logsService(store: LogStore): AwsJsonService {
  return {
    name: "logs",
    targetPrefix: "Logs_20140328",
    validationError: "InvalidParameterException",
    operations: {
      CreateLogGroup: operation(CreateLogGroupInput, (input) => {
        store.createGroup(input.logGroupName, input.tags ?? {});
        return {};
      }),

      DeleteLogGroup: operation(LogGroupNameInput, (input) => {
        store.deleteGroup(input.logGroupName);
        return {};
      }),

      DescribeLogGroups: operation(DescribeLogGroupsInput, (input) => {
        const wanted =
          input.logGroupIdentifiers && new Set(input.logGroupIdentifiers.map(groupNameOfIdentifier));
        const pattern = input.logGroupNamePattern?.toLowerCase();
        const groups = store
          .listGroups()
          .filter(
            (group) =>
              (input.logGroupNamePrefix === undefined || group.name.startsWith(input.logGroupNamePrefix)) &&
              (pattern === undefined || group.name.toLowerCase().includes(pattern)) &&
              (wanted === undefined || wanted.has(group.name)),
          );
        const cursor = input.nextToken === undefined ? undefined : decodeToken(z.string(), input.nextToken);
        const { page, nextToken } = pageAfter(
          groups,
          (group) => group.name,
          compareNames,
          cursor,
          input.limit ?? 50,
        );
        return { logGroups: page.map(logGroupShape), ...(nextToken ? { nextToken } : {}) };
      }),

      PutRetentionPolicy: operation(PutRetentionPolicyInput, (input) => {
        store.putRetention(input.logGroupName, input.retentionInDays);
        return {};
      }),

      DeleteRetentionPolicy: operation(LogGroupNameInput, (input) => {
        store.deleteRetention(input.logGroupName);
        return {};
      }),

      ListTagsLogGroup: operation(LogGroupNameInput, (input) => ({
        tags: store.describeGroup(input.logGroupName).tags,
      })),

      ListTagsForResource: operation(ResourceArnInput, (input) => ({
        tags: store.describeGroup(groupNameOfResourceArn(input.resourceArn)).tags,
      })),

      TagResource: operation(TagResourceInput, (input) => {
        store.tagGroup(groupNameOfResourceArn(input.resourceArn), input.tags);
        return {};
      }),

      UntagResource: operation(UntagResourceInput, (input) => {
        store.untagGroup(groupNameOfResourceArn(input.resourceArn), input.tagKeys);
        return {};
      }),

      CreateLogStream: operation(LogStreamInput, (input) => {
        store.createStream(input.logGroupName, input.logStreamName);
        return {};
      }),

      DeleteLogStream: operation(LogStreamInput, (input) => {
        store.deleteStream(input.logGroupName, input.logStreamName);
        return {};
      }),

      DescribeLogStreams: operation(DescribeLogStreamsInput, (input) => {
        const byLastEventTime = input.orderBy === "LastEventTime";
        const direction = input.descending ? -1 : 1;
        const keyOf = (stream: LogStreamDescription) => ({
          time: byLastEventTime ? (stream.lastEventTimestamp ?? 0) : 0,
          name: stream.name,
        });
        const compare = (a: { time: number; name: string }, b: { time: number; name: string }) =>
          direction * (a.time - b.time || compareNames(a.name, b.name));
        const streams = store
          .listStreams(selectedGroupName(input))
          .filter(
            (stream) =>
              input.logStreamNamePrefix === undefined || stream.name.startsWith(input.logStreamNamePrefix),
          )
          .sort((a, b) => compare(keyOf(a), keyOf(b)));
        const cursor =
          input.nextToken === undefined
            ? undefined
            : decodeToken(z.object({ time: z.number(), name: z.string() }), input.nextToken);
        const { page, nextToken } = pageAfter(streams, keyOf, compare, cursor, input.limit ?? 50);
        return { logStreams: page.map(logStreamShape), ...(nextToken ? { nextToken } : {}) };
      }),

      PutLogEvents: operation(PutLogEventsInput, (input) => {
        const group = store.describeGroup(input.logGroupName);
        store.describeStream(input.logGroupName, input.logStreamName);
        const events = input.logEvents;
        let batchBytes = 0;
        for (const [index, event] of events.entries()) {
          const previous = events[index - 1];
          if (previous && event.timestamp < previous.timestamp) {
            throw new AwsError(
              "InvalidParameterException",
              "Log events in a single PutLogEvents request must be in chronological order.",
            );
          }
          batchBytes += Buffer.byteLength(event.message, "utf8") + EVENT_OVERHEAD_BYTES;
        }
        if (batchBytes > MAX_BATCH_BYTES) {
          throw new AwsError(
            "InvalidParameterException",
            `Upload too large: ${batchBytes} bytes exceeds limit of ${MAX_BATCH_BYTES}`,
          );
        }
        // The batch is chronological, so each kind of rejection is a run at one end of it.
        const now = store.now();
        const countBefore = (bound: number) => events.filter((event) => event.timestamp < bound).length;
        const tooOldEnd = countBefore(now - MAX_EVENT_AGE_MS);
        const expiredEnd = countBefore(store.retentionCutoff(group));
        const tooNewStart = countBefore(now + MAX_EVENT_LEAD_MS + 1);
        const accepted = events.slice(Math.max(tooOldEnd, expiredEnd), tooNewStart);
        const first = accepted[0];
        const last = accepted.at(-1);
        if (first && last && last.timestamp - first.timestamp > MAX_BATCH_SPAN_MS) {
          throw new AwsError(
            "InvalidParameterException",
            "The batch of log events in a single PutLogEvents request cannot span more than 24 hours.",
          );
        }
        const nextSequenceToken = store.putEvents(input.logGroupName, input.logStreamName, accepted);
        const rejected = {
          ...(tooNewStart < events.length ? { tooNewLogEventStartIndex: tooNewStart } : {}),
          ...(tooOldEnd > 0 ? { tooOldLogEventEndIndex: tooOldEnd } : {}),
          ...(expiredEnd > 0 ? { expiredLogEventEndIndex: expiredEnd } : {}),
        };
        return {
          nextSequenceToken,
          ...(Object.keys(rejected).length > 0 ? { rejectedLogEventsInfo: rejected } : {}),
        };
      }),

      GetLogEvents: operation(GetLogEventsInput, (input) => {
        const events = store.readEvents(selectedGroupName(input), input.logStreamName, {
          startTime: input.startTime,
          endTime: input.endTime,
        });
        const limit = input.limit ?? 10_000;
        const boundary = input.nextToken === undefined ? undefined : parseStreamToken(input.nextToken);
        let start: number;
        let end: number;
        if (boundary?.direction === "f") {
          start = partitionPoint(
            events.length,
            (index) => compareToKey(events[index] as StoredLogEvent, boundary) <= 0,
          );
          end = Math.min(events.length, start + limit);
        } else if (boundary?.direction === "b") {
          end = partitionPoint(
            events.length,
            (index) => compareToKey(events[index] as StoredLogEvent, boundary) < 0,
          );
          start = Math.max(0, end - limit);
        } else if (input.startFromHead) {
          start = 0;
          end = Math.min(events.length, limit);
        } else {
          // AWS's default: the newest page, so `aws logs get-log-events` shows the latest output.
          end = events.length;
          start = Math.max(0, end - limit);
        }
        const page = events.slice(start, end);
        const first = page[0];
        const last = page.at(-1);
        const empty: StreamBoundary = boundary ?? { direction: "f", ...BEFORE_EVERY_EVENT };
        let nextForwardToken: string;
        let nextBackwardToken: string;
        if (first && last) {
          nextForwardToken = streamToken({
            direction: "f",
            timestamp: last.timestamp,
            sequence: last.sequence,
          });
          nextBackwardToken = streamToken({
            direction: "b",
            timestamp: first.timestamp,
            sequence: first.sequence,
          });
        } else {
          // Nothing more this way: AWS hands back the token it was given, which is how callers see the end.
          const same = input.nextToken ?? streamToken(empty);
          nextForwardToken = empty.direction === "f" ? same : streamToken(reversed(empty));
          nextBackwardToken = empty.direction === "b" ? same : streamToken(reversed(empty));
        }
        return {
          events: page.map((event) => ({
            timestamp: event.timestamp,
            message: event.message,
            ingestionTime: event.ingestionTime,
          })),
          nextForwardToken,
          nextBackwardToken,
        };
      }),

      FilterLogEvents: operation(FilterLogEventsInput, (input) => {
        const groupName = selectedGroupName(input);
        const wanted = input.logStreamNames && new Set(input.logStreamNames);
        const streams = store
          .listStreams(groupName)
          .filter(
            (stream) =>
              (wanted === undefined || wanted.has(stream.name)) &&
              (input.logStreamNamePrefix === undefined || stream.name.startsWith(input.logStreamNamePrefix)),
          );
        const matches = compileFilterPattern(input.filterPattern);
        const cursor = input.nextToken === undefined ? undefined : decodeToken(FilterCursor, input.nextToken);
        // The first request's startFromHead sets the direction; its tokens keep it (as on AWS).
        const ascending = cursor?.ascending ?? input.startFromHead !== false;
        const limit = input.limit ?? 10_000;
        const cursorMatch = cursor && { stream: cursor.stream, event: cursor };

        // Each stream contributes at most limit + 1 matches: enough for the page and to know whether more follow.
        const candidates: FilterMatch[] = [];
        for (const stream of streams) {
          const events = store.readEvents(groupName, stream.name, {
            startTime: input.startTime,
            // FilterLogEvents' endTime is inclusive, unlike GetLogEvents'.
            endTime: input.endTime === undefined ? undefined : input.endTime + 1,
          });
          const keyAt = (index: number): FilterMatch => ({
            stream: stream.name,
            event: events[index] as StoredLogEvent,
          });
          const firstAfterCursor = cursorMatch
            ? partitionPoint(events.length, (index) => compareMatches(keyAt(index), cursorMatch) <= 0)
            : 0;
          const lastBeforeCursor = cursorMatch
            ? partitionPoint(events.length, (index) => compareMatches(keyAt(index), cursorMatch) < 0) - 1
            : events.length - 1;
          let taken = 0;
          const step = ascending ? 1 : -1;
          for (
            let index = ascending ? firstAfterCursor : lastBeforeCursor;
            index >= 0 && index < events.length && taken <= limit;
            index += step
          ) {
            const event = events[index] as StoredLogEvent;
            if (!matches(event.message)) continue;
            candidates.push({ stream: stream.name, event });
            taken++;
          }
        }
        candidates.sort((a, b) => (ascending ? 1 : -1) * compareMatches(a, b));
        const page = candidates.slice(0, limit);
        const last = page.at(-1);
        const nextCursor: FilterCursor | undefined =
          candidates.length > limit && last
            ? {
                ascending,
                timestamp: last.event.timestamp,
                stream: last.stream,
                sequence: last.event.sequence,
              }
            : undefined;
        return {
          events: page.map(({ stream, event }) => ({
            logStreamName: stream,
            timestamp: event.timestamp,
            message: event.message,
            ingestionTime: event.ingestionTime,
            eventId: store.eventId(groupName, stream, event.sequence),
          })),
          searchedLogStreams: streams.map((stream) => ({
            logStreamName: stream.name,
            searchedCompletely: true,
          })),
          ...(nextCursor ? { nextToken: encodeToken(nextCursor) } : {}),
        };
      }),
    },
  };
}

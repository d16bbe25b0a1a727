import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  CloudWatchLogsClient,
  CreateLogGroupCommand,
  CreateLogStreamCommand,
  DeleteLogGroupCommand,
  DeleteRetentionPolicyCommand,
  DescribeLogGroupsCommand,
  DescribeLogStreamsCommand,
  FilterLogEventsCommand,
  type FilterLogEventsCommandInput,
  GetLogEventsCommand,
  type GetLogEventsCommandInput,
  InvalidParameterException,
  ListTagsForResourceCommand,
  PutLogEventsCommand,
  PutRetentionPolicyCommand,
  ResourceAlreadyExistsException,
  ResourceNotFoundException,
} from "@aws-sdk/client-cloudwatch-logs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { dispatch } from "../protocol.ts";
import { failure, serve } from "../test-support.ts";
import { logsService } from "./service.ts";
import { LogStore } from "./store.ts";

function clientFor(url: string): CloudWatchLogsClient {
  return new CloudWatchLogsClient({
    endpoint: url,
    region: "us-east-1",
    credentials: { accessKeyId: "berth", secretAccessKey: "berth" },
    maxAttempts: 1,
  });
}

const DAY_MS = 86_400_000;

let dir: string;
let store: LogStore;
let endpoint: { url: string; close: () => Promise<void> };
let logs: CloudWatchLogsClient;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "berth-logs-"));
  store = new LogStore(dir);
  endpoint = await serve(logsService(store));
  logs = clientFor(endpoint.url);
});

afterEach(async () => {
  logs.destroy();
  await endpoint.close();
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Reopens the store on the same directory, as a restart of Berth Local would. */
async function restart(): Promise<void> {
  logs.destroy();
  await endpoint.close();
  store.close();
  store = new LogStore(dir);
  endpoint = await serve(logsService(store));
  logs = clientFor(endpoint.url);
}

async function getMessages(input: GetLogEventsCommandInput) {
  const output = await logs.send(new GetLogEventsCommand(input));
  return {
    messages: (output.events ?? []).map((event) => event.message),
    forward: output.nextForwardToken,
    backward: output.nextBackwardToken,
  };
}

describe("log groups", () => {
  it("creates, describes with a prefix and pages, and deletes groups", async () => {
    for (const name of ["/berth/shop/api", "/berth/shop/worker", "/berth/blog/web", "/other"]) {
      await logs.send(new CreateLogGroupCommand({ logGroupName: name, tags: { stack: "shop" } }));
    }

    const firstPage = await logs.send(
      new DescribeLogGroupsCommand({ logGroupNamePrefix: "/berth/", limit: 2 }),
    );
    expect(firstPage.logGroups?.map((group) => group.logGroupName)).toEqual([
      "/berth/blog/web",
      "/berth/shop/api",
    ]);
    expect(firstPage.nextToken).toBeDefined();
    const secondPage = await logs.send(
      new DescribeLogGroupsCommand({
        logGroupNamePrefix: "/berth/",
        limit: 2,
        nextToken: firstPage.nextToken,
      }),
    );
    expect(secondPage.logGroups?.map((group) => group.logGroupName)).toEqual(["/berth/shop/worker"]);
    expect(secondPage.nextToken).toBeUndefined();

    const api = firstPage.logGroups?.[1];
    expect(api).toMatchObject({
      arn: "arn:aws:logs:us-east-1:000000000000:log-group:/berth/shop/api:*",
      logGroupArn: "arn:aws:logs:us-east-1:000000000000:log-group:/berth/shop/api",
      storedBytes: 0,
    });
    expect(api?.creationTime).toBeGreaterThan(Date.now() - 60_000);
    expect(api?.retentionInDays).toBeUndefined();
    const { tags } = await logs.send(new ListTagsForResourceCommand({ resourceArn: api?.logGroupArn }));
    expect(tags).toEqual({ stack: "shop" });

    await logs.send(new DeleteLogGroupCommand({ logGroupName: "/berth/shop/api" }));
    const after = await logs.send(new DescribeLogGroupsCommand({}));
    expect(after.logGroups?.map((group) => group.logGroupName)).toEqual([
      "/berth/blog/web",
      "/berth/shop/worker",
      "/other",
    ]);
  });

  it("answers with the SDK's exception classes for an existing or a missing group", async () => {
    await logs.send(new CreateLogGroupCommand({ logGroupName: "/berth/api" }));

    const exists = await failure(logs.send(new CreateLogGroupCommand({ logGroupName: "/berth/api" })));
    expect(exists).toBeInstanceOf(ResourceAlreadyExistsException);
    expect(exists.name).toBe("ResourceAlreadyExistsException");

    const missing = await failure(logs.send(new DeleteLogGroupCommand({ logGroupName: "/berth/nope" })));
    expect(missing).toBeInstanceOf(ResourceNotFoundException);
    expect(missing.name).toBe("ResourceNotFoundException");
    expect(missing.message).toBe("The specified log group does not exist.");

    const missingStream = await failure(
      logs.send(new GetLogEventsCommand({ logGroupName: "/berth/api", logStreamName: "nope" })),
    );
    expect(missingStream.name).toBe("ResourceNotFoundException");
    expect(missingStream.message).toBe("The specified log stream does not exist.");
  });

  it("validates every input against the model: required members, names and types", async () => {
    const noName = await failure(logs.send(new CreateLogGroupCommand({} as never)));
    expect(noName).toBeInstanceOf(InvalidParameterException);
    expect(noName.message).toContain("logGroupName");

    const badName = await failure(logs.send(new CreateLogGroupCommand({ logGroupName: "has space" })));
    expect(badName.name).toBe("InvalidParameterException");

    const bothSelectors = await failure(
      logs.send(new DescribeLogStreamsCommand({ logGroupName: "/a", logGroupIdentifier: "/a" })),
    );
    expect(bothSelectors.name).toBe("InvalidParameterException");

    expect(await dispatch(logsService(store), "DescribeLogGroups", { limit: 5 })).toEqual({ logGroups: [] });
    await expect(dispatch(logsService(store), "DescribeLogGroups", { limit: "5" })).rejects.toMatchObject({
      type: "InvalidParameterException",
    });
    expect((await logs.send(new DescribeLogGroupsCommand({}))).logGroups).toEqual([]);
  });

  it("accepts only CloudWatch's retention values, and removes a retention policy", async () => {
    await logs.send(new CreateLogGroupCommand({ logGroupName: "/berth/api" }));

    const invalid = await failure(
      logs.send(new PutRetentionPolicyCommand({ logGroupName: "/berth/api", retentionInDays: 8 })),
    );
    expect(invalid).toBeInstanceOf(InvalidParameterException);
    expect(invalid.message).toContain("retentionInDays");

    const missing = await failure(
      logs.send(new PutRetentionPolicyCommand({ logGroupName: "/berth/nope", retentionInDays: 7 })),
    );
    expect(missing.name).toBe("ResourceNotFoundException");

    await logs.send(new PutRetentionPolicyCommand({ logGroupName: "/berth/api", retentionInDays: 7 }));
    let [group] = (await logs.send(new DescribeLogGroupsCommand({}))).logGroups ?? [];
    expect(group?.retentionInDays).toBe(7);

    await logs.send(new DeleteRetentionPolicyCommand({ logGroupName: "/berth/api" }));
    [group] = (await logs.send(new DescribeLogGroupsCommand({}))).logGroups ?? [];
    expect(group?.retentionInDays).toBeUndefined();
  });
});

describe("GetLogEvents", () => {
  const base = Date.now() - 60_000;
  const group = "/berth/shop/api";
  const stream = "api/api/task-1";
  const read = (input: Omit<GetLogEventsCommandInput, "logGroupName" | "logStreamName">) =>
    getMessages({ logGroupName: group, logStreamName: stream, ...input });

  beforeEach(() => {
    // Through the LogSink, as the process runtime writes, in batches; the group comes into being on the way.
    for (let batch = 0; batch < 5; batch++) {
      store.append(
        group,
        stream,
        Array.from({ length: 5 }, (_, index) => ({
          timestamp: base + batch * 5 + index,
          message: `line ${batch * 5 + index}`,
        })),
      );
    }
  });

  it("pages forward from the head until the same token comes back", async () => {
    const first = await read({ startFromHead: true, limit: 10 });
    expect(first.messages).toEqual(Array.from({ length: 10 }, (_, index) => `line ${index}`));
    const second = await read({ nextToken: first.forward, limit: 10 });
    expect(second.messages).toEqual(Array.from({ length: 10 }, (_, index) => `line ${index + 10}`));
    const third = await read({ nextToken: second.forward, limit: 10 });
    expect(third.messages).toEqual(Array.from({ length: 5 }, (_, index) => `line ${index + 20}`));
    const end = await read({ nextToken: third.forward, limit: 10 });
    expect(end.messages).toEqual([]);
    expect(end.forward).toBe(third.forward);

    // Events appended after the end are picked up by the token the end returned.
    store.append(group, stream, [{ timestamp: base + 100, message: "late line" }]);
    const tail = await read({ nextToken: end.forward });
    expect(tail.messages).toEqual(["late line"]);
  });

  it("starts from the newest page by default and pages backward to the head", async () => {
    const newest = await read({ limit: 10 });
    expect(newest.messages).toEqual(Array.from({ length: 10 }, (_, index) => `line ${index + 15}`));
    const older = await read({ nextToken: newest.backward, limit: 10 });
    expect(older.messages).toEqual(Array.from({ length: 10 }, (_, index) => `line ${index + 5}`));
    const oldest = await read({ nextToken: older.backward, limit: 10 });
    expect(oldest.messages).toEqual(Array.from({ length: 5 }, (_, index) => `line ${index}`));
    const head = await read({ nextToken: oldest.backward, limit: 10 });
    expect(head.messages).toEqual([]);
    expect(head.backward).toBe(oldest.backward);

    // Turning around at the head does not skip the first event.
    const again = await read({ nextToken: head.forward, limit: 3 });
    expect(again.messages).toEqual(["line 0", "line 1", "line 2"]);
  });

  it("returns every event with the default limit, in both directions", async () => {
    const fromHead = await read({ startFromHead: true });
    const fromTail = await read({ startFromHead: false });
    const all = Array.from({ length: 25 }, (_, index) => `line ${index}`);
    expect(fromHead.messages).toEqual(all);
    expect(fromTail.messages).toEqual(all);
  });

  it("limits to the time range, startTime inclusive and endTime exclusive", async () => {
    const range = await read({ startTime: base + 5, endTime: base + 8, startFromHead: true });
    expect(range.messages).toEqual(["line 5", "line 6", "line 7"]);
    const output = await logs.send(
      new GetLogEventsCommand({
        logGroupName: group,
        logStreamName: stream,
        startTime: base,
        endTime: base + 1,
      }),
    );
    expect(output.events).toEqual([
      { timestamp: base, message: "line 0", ingestionTime: expect.any(Number) },
    ]);
  });

  it("finds the group by its ARN as logGroupIdentifier", async () => {
    const byArn = await logs.send(
      new GetLogEventsCommand({
        logGroupIdentifier: `arn:aws:logs:us-east-1:000000000000:log-group:${group}`,
        logStreamName: stream,
        limit: 1,
        startFromHead: true,
      }),
    );
    expect(byArn.events?.map((event) => event.message)).toEqual(["line 0"]);
  });

  it("refuses a token it did not issue", async () => {
    const error = await failure(read({ nextToken: "not-a-token" }));
    expect(error).toBeInstanceOf(InvalidParameterException);
  });

  it("reads back 10,000 appended lines in order", async () => {
    const many = "/berth/shop/chatty";
    const start = Date.now() - 20_000;
    for (let batch = 0; batch < 100; batch++) {
      store.append(
        many,
        "chatty/chatty/task",
        Array.from({ length: 100 }, (_, index) => {
          const line = batch * 100 + index;
          return { timestamp: start + line, message: `message number ${line}` };
        }),
      );
    }
    const output = await logs.send(
      new GetLogEventsCommand({
        logGroupName: many,
        logStreamName: "chatty/chatty/task",
        startFromHead: true,
      }),
    );
    const messages = (output.events ?? []).map((event) => event.message);
    expect(messages).toHaveLength(10_000);
    expect(messages.every((message, line) => message === `message number ${line}`)).toBe(true);

    const [described] =
      (await logs.send(new DescribeLogStreamsCommand({ logGroupName: many }))).logStreams ?? [];
    expect(described).toMatchObject({ firstEventTimestamp: start, lastEventTimestamp: start + 9_999 });
    expect(described?.storedBytes).toBeGreaterThan(10_000 * "message number 0".length);
  });
});

describe("PutLogEvents", () => {
  const group = "/berth/api";
  const stream = "web";

  beforeEach(async () => {
    await logs.send(new CreateLogGroupCommand({ logGroupName: group }));
    await logs.send(new CreateLogStreamCommand({ logGroupName: group, logStreamName: stream }));
  });

  it("stores a batch and returns the next sequence token", async () => {
    const now = Date.now();
    const put = await logs.send(
      new PutLogEventsCommand({
        logGroupName: group,
        logStreamName: stream,
        logEvents: [
          { timestamp: now - 2, message: "one" },
          { timestamp: now - 1, message: "two" },
        ],
      }),
    );
    expect(put.nextSequenceToken).toBeDefined();
    expect(put.rejectedLogEventsInfo).toBeUndefined();
    expect((await getMessages({ logGroupName: group, logStreamName: stream })).messages).toEqual([
      "one",
      "two",
    ]);

    const exists = await failure(
      logs.send(new CreateLogStreamCommand({ logGroupName: group, logStreamName: stream })),
    );
    expect(exists).toBeInstanceOf(ResourceAlreadyExistsException);
  });

  it("refuses a batch out of chronological order, and a stream that does not exist", async () => {
    const now = Date.now();
    const unordered = await failure(
      logs.send(
        new PutLogEventsCommand({
          logGroupName: group,
          logStreamName: stream,
          logEvents: [
            { timestamp: now, message: "two" },
            { timestamp: now - 1, message: "one" },
          ],
        }),
      ),
    );
    expect(unordered).toBeInstanceOf(InvalidParameterException);
    const missing = await failure(
      logs.send(
        new PutLogEventsCommand({
          logGroupName: group,
          logStreamName: "nope",
          logEvents: [{ timestamp: now, message: "x" }],
        }),
      ),
    );
    expect(missing).toBeInstanceOf(ResourceNotFoundException);
    expect((await getMessages({ logGroupName: group, logStreamName: stream })).messages).toEqual([]);
  });

  it("rejects events too old, expired or too new, and keeps the rest", async () => {
    await logs.send(new PutRetentionPolicyCommand({ logGroupName: group, retentionInDays: 1 }));
    const now = Date.now();
    const put = await logs.send(
      new PutLogEventsCommand({
        logGroupName: group,
        logStreamName: stream,
        logEvents: [
          { timestamp: now - 20 * DAY_MS, message: "too old" },
          { timestamp: now - 2 * DAY_MS, message: "expired" },
          { timestamp: now - 1000, message: "kept" },
          { timestamp: now + 3 * 3_600_000, message: "too new" },
        ],
      }),
    );
    expect(put.rejectedLogEventsInfo).toEqual({
      tooOldLogEventEndIndex: 1,
      expiredLogEventEndIndex: 2,
      tooNewLogEventStartIndex: 3,
    });
    expect((await getMessages({ logGroupName: group, logStreamName: stream })).messages).toEqual(["kept"]);
  });
});

describe("DescribeLogStreams", () => {
  it("orders by last event time either way, and by name with a prefix", async () => {
    const now = Date.now();
    store.append("/berth/api", "api/b", [{ timestamp: now - 3000, message: "b" }]);
    store.append("/berth/api", "api/c", [{ timestamp: now - 1000, message: "c" }]);
    store.append("/berth/api", "api/a", [{ timestamp: now - 2000, message: "a" }]);
    store.append("/berth/api", "sidecar/x", [{ timestamp: now - 4000, message: "x" }]);
    const names = async (
      input: Omit<ConstructorParameters<typeof DescribeLogStreamsCommand>[0], "logGroupName">,
    ) =>
      (
        (await logs.send(new DescribeLogStreamsCommand({ logGroupName: "/berth/api", ...input })))
          .logStreams ?? []
      ).map((stream) => stream.logStreamName);

    expect(await names({ orderBy: "LastEventTime" })).toEqual(["sidecar/x", "api/b", "api/a", "api/c"]);
    expect(await names({ orderBy: "LastEventTime", descending: true })).toEqual([
      "api/c",
      "api/a",
      "api/b",
      "sidecar/x",
    ]);
    expect(await names({ logStreamNamePrefix: "api/" })).toEqual(["api/a", "api/b", "api/c"]);

    const newest = await logs.send(
      new DescribeLogStreamsCommand({
        logGroupName: "/berth/api",
        orderBy: "LastEventTime",
        descending: true,
        limit: 3,
      }),
    );
    expect(newest.logStreams?.[0]).toMatchObject({
      logStreamName: "api/c",
      firstEventTimestamp: now - 1000,
      lastEventTimestamp: now - 1000,
      arn: "arn:aws:logs:us-east-1:000000000000:log-group:/berth/api:log-stream:api/c",
    });
    const rest = await logs.send(
      new DescribeLogStreamsCommand({
        logGroupName: "/berth/api",
        orderBy: "LastEventTime",
        descending: true,
        limit: 3,
        nextToken: newest.nextToken,
      }),
    );
    expect(rest.logStreams?.map((stream) => stream.logStreamName)).toEqual(["sidecar/x"]);
    expect(rest.nextToken).toBeUndefined();

    const prefixAndTime = await failure(
      logs.send(
        new DescribeLogStreamsCommand({
          logGroupName: "/berth/api",
          logStreamNamePrefix: "api/",
          orderBy: "LastEventTime",
        }),
      ),
    );
    expect(prefixAndTime).toBeInstanceOf(InvalidParameterException);
  });
});

describe("FilterLogEvents", () => {
  const group = "/berth/shop";
  const now = Date.now() - 10_000;

  beforeEach(() => {
    store.append(group, "web/web/1", [
      { timestamp: now + 1, message: "ERROR connection refused by db" },
      { timestamp: now + 4, message: "INFO GET /orders 200" },
      { timestamp: now + 6, message: "WARN slow query on db" },
    ]);
    store.append(group, "web/web/2", [
      { timestamp: now + 2, message: "ERROR timeout calling payments" },
      { timestamp: now + 5, message: "WARN retrying payments" },
    ]);
    store.append(group, "worker/worker/1", [{ timestamp: now + 3, message: "ERROR job failed" }]);
  });

  async function filter(input: Omit<FilterLogEventsCommandInput, "logGroupName">) {
    const output = await logs.send(new FilterLogEventsCommand({ logGroupName: group, ...input }));
    return {
      found: (output.events ?? []).map((event) => `${event.logStreamName}: ${event.message}`),
      output,
    };
  }

  it("requires every term, interleaving streams by time", async () => {
    const { found, output } = await filter({ filterPattern: "ERROR" });
    expect(found).toEqual([
      "web/web/1: ERROR connection refused by db",
      "web/web/2: ERROR timeout calling payments",
      "worker/worker/1: ERROR job failed",
    ]);
    expect(output.searchedLogStreams?.map((stream) => stream.logStreamName)).toEqual([
      "web/web/1",
      "web/web/2",
      "worker/worker/1",
    ]);
    expect((await filter({ filterPattern: "ERROR db" })).found).toEqual([
      "web/web/1: ERROR connection refused by db",
    ]);
  });

  it("matches quoted phrases and ? alternatives within a stream prefix", async () => {
    expect((await filter({ filterPattern: '"connection refused"' })).found).toEqual([
      "web/web/1: ERROR connection refused by db",
    ]);
    expect((await filter({ filterPattern: '"refused connection"' })).found).toEqual([]);
    const alternatives = await filter({ filterPattern: "?WARN ?ERROR", logStreamNamePrefix: "web/" });
    expect(alternatives.found).toEqual([
      "web/web/1: ERROR connection refused by db",
      "web/web/2: ERROR timeout calling payments",
      "web/web/2: WARN retrying payments",
      "web/web/1: WARN slow query on db",
    ]);
    expect(alternatives.output.searchedLogStreams?.map((stream) => stream.logStreamName)).toEqual([
      "web/web/1",
      "web/web/2",
    ]);
    expect((await filter({ filterPattern: "payments ?WARN ?INFO" })).found).toEqual([
      "web/web/2: WARN retrying payments",
    ]);
  });

  it("filters by stream names and an inclusive time range", async () => {
    const { found } = await filter({
      logStreamNames: ["web/web/1", "worker/worker/1"],
      startTime: now + 3,
      endTime: now + 4,
    });
    expect(found).toEqual(["worker/worker/1: ERROR job failed", "web/web/1: INFO GET /orders 200"]);
  });

  it("pages with nextToken, newest first when not from the head, with stable event ids", async () => {
    const first = await filter({ limit: 4 });
    expect(first.found).toHaveLength(4);
    expect(first.output.nextToken).toBeDefined();
    const second = await filter({ limit: 4, nextToken: first.output.nextToken });
    expect(second.found).toEqual(["web/web/2: WARN retrying payments", "web/web/1: WARN slow query on db"]);
    expect(second.output.nextToken).toBeUndefined();

    const ids = [...(first.output.events ?? []), ...(second.output.events ?? [])].map(
      (event) => event.eventId,
    );
    expect(new Set(ids).size).toBe(6);
    const again = await filter({});
    expect(again.output.events?.map((event) => event.eventId)).toEqual(ids);

    const newestFirst = await filter({ startFromHead: false, limit: 2 });
    expect(newestFirst.found).toEqual([
      "web/web/1: WARN slow query on db",
      "web/web/2: WARN retrying payments",
    ]);
    const older = await filter({ limit: 2, nextToken: newestFirst.output.nextToken });
    expect(older.found).toEqual(["web/web/1: INFO GET /orders 200", "worker/worker/1: ERROR job failed"]);
  });

  it("refuses JSON filter patterns as an InvalidParameterException", async () => {
    const error = await failure(filter({ filterPattern: '{ $.level = "error" }' }));
    expect(error).toBeInstanceOf(InvalidParameterException);
    expect(error.message).toContain("not supported");
  });
});

describe("persistence and retention", () => {
  it("keeps groups, retention, tags, streams and events across a restart", async () => {
    await logs.send(new CreateLogGroupCommand({ logGroupName: "/berth/api", tags: { team: "shop" } }));
    await logs.send(new PutRetentionPolicyCommand({ logGroupName: "/berth/api", retentionInDays: 30 }));
    const now = Date.now();
    store.append("/berth/api", "api/api/1", [
      { timestamp: now - 2, message: "before restart" },
      { timestamp: now - 1, message: "still there" },
    ]);
    const before = (await logs.send(new DescribeLogStreamsCommand({ logGroupName: "/berth/api" })))
      .logStreams;

    await restart();

    const [group] = (await logs.send(new DescribeLogGroupsCommand({}))).logGroups ?? [];
    expect(group).toMatchObject({ logGroupName: "/berth/api", retentionInDays: 30 });
    const { tags } = await logs.send(new ListTagsForResourceCommand({ resourceArn: group?.logGroupArn }));
    expect(tags).toEqual({ team: "shop" });
    const after = (await logs.send(new DescribeLogStreamsCommand({ logGroupName: "/berth/api" }))).logStreams;
    expect(after).toEqual(before);
    const { messages } = await getMessages({ logGroupName: "/berth/api", logStreamName: "api/api/1" });
    expect(messages).toEqual(["before restart", "still there"]);
  });

  it("hides events older than the group's retention", async () => {
    const now = Date.now();
    store.append("/berth/api", "api", [
      { timestamp: now - 3 * DAY_MS, message: "three days old" },
      { timestamp: now - 1000, message: "fresh" },
    ]);
    const read = () => getMessages({ logGroupName: "/berth/api", logStreamName: "api", startFromHead: true });
    expect((await read()).messages).toEqual(["three days old", "fresh"]);

    await logs.send(new PutRetentionPolicyCommand({ logGroupName: "/berth/api", retentionInDays: 1 }));
    expect((await read()).messages).toEqual(["fresh"]);
    const filtered = await logs.send(new FilterLogEventsCommand({ logGroupName: "/berth/api" }));
    expect(filtered.events?.map((event) => event.message)).toEqual(["fresh"]);

    await logs.send(new DeleteRetentionPolicyCommand({ logGroupName: "/berth/api" }));
    expect((await read()).messages).toEqual(["three days old", "fresh"]);
  });
});

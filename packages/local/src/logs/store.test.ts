import {
  appendFileSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { fileSafeName, LogStore } from "./store.ts";

const DAY_MS = 86_400_000;

let dir: string;
const opened: LogStore[] = [];

/** A store on the shared directory; `flushDelayMs` is long so that only close() or a structural change writes. */
function open(options: ConstructorParameters<typeof LogStore>[1] = {}): LogStore {
  const store = new LogStore(dir, { flushDelayMs: 60_000, ...options });
  opened.push(store);
  return store;
}

function streamFiles(): string[] {
  const root = join(dir, "streams");
  return readdirSync(root).flatMap((group) =>
    readdirSync(join(root, group)).map((file) => join(root, group, file)),
  );
}

function messages(store: LogStore, group: string, stream: string): string[] {
  return store.readEvents(group, stream).map((event) => event.message);
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "berth-log-store-"));
});

afterEach(() => {
  for (const store of opened.splice(0)) store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("file names", () => {
  it("keep names with slashes, differing only in case, or very long, apart and within file-name limits", () => {
    const store = open();
    const long = `/berth/${"x".repeat(500)}`;
    store.append("/berth/shop/api", "api/api/1", [{ timestamp: 1, message: "slash" }]);
    store.append("/berth/shop/api", "API/api/1", [{ timestamp: 1, message: "upper" }]);
    store.append(long, "s", [{ timestamp: 1, message: "long" }]);

    expect(messages(store, "/berth/shop/api", "api/api/1")).toEqual(["slash"]);
    expect(messages(store, "/berth/shop/api", "API/api/1")).toEqual(["upper"]);
    const files = streamFiles();
    expect(files).toHaveLength(3);
    for (const file of files) expect(file.startsWith(join(dir, "streams"))).toBe(true);
    expect(fileSafeName(long).length).toBeLessThan(100);
    expect(fileSafeName("api/x")).not.toBe(fileSafeName("api_x"));
  });

  it("accept group and stream names that are Object.prototype members", () => {
    const store = open();
    store.append("__proto__", "constructor", [{ timestamp: 1, message: "odd but valid" }]);
    store.close();
    const reopened = open();
    expect(reopened.listGroups().map((group) => group.name)).toEqual(["__proto__"]);
    expect(messages(reopened, "__proto__", "constructor")).toEqual(["odd but valid"]);
  });
});

describe("appends", () => {
  it("create the group and stream on demand, write one line per event, and defer statistics", () => {
    const store = open();
    store.append("/berth/api", "web", [
      { timestamp: 20, message: "second" },
      { timestamp: 10, message: "first" },
    ]);
    const [file] = streamFiles();
    expect(
      readFileSync(file ?? "", "utf8")
        .trimEnd()
        .split("\n"),
    ).toHaveLength(2);
    // Events come back in timestamp order whatever order they arrived in.
    expect(messages(store, "/berth/api", "web")).toEqual(["first", "second"]);
    expect(store.describeStream("/berth/api", "web")).toMatchObject({
      firstEventTimestamp: 10,
      lastEventTimestamp: 20,
      storedBytes: statSync(file ?? "").size,
    });

    const persisted = JSON.parse(readFileSync(join(dir, "metadata.json"), "utf8"));
    expect(persisted.groups[0].streams[0].storedBytes).toBe(0);
    store.flush();
    const flushed = JSON.parse(readFileSync(join(dir, "metadata.json"), "utf8"));
    expect(flushed.groups[0].streams[0].storedBytes).toBe(statSync(file ?? "").size);
    expect(existsSync(join(dir, "metadata.json.tmp"))).toBe(false);
  });

  it("flush statistics on their own shortly after", async () => {
    const store = open({ flushDelayMs: 10 });
    store.append("/berth/api", "web", [{ timestamp: 1, message: "x" }]);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const persisted = JSON.parse(readFileSync(join(dir, "metadata.json"), "utf8"));
    expect(persisted.groups[0].streams[0]).toMatchObject({ firstEventTimestamp: 1, lastEventTimestamp: 1 });
  });
});

describe("restarts", () => {
  it("recompute statistics from the files when the last flush never happened", () => {
    const crashed = open();
    crashed.append("/berth/api", "web", [{ timestamp: 100, message: "flushed" }]);
    crashed.flush();
    crashed.append("/berth/api", "web", [
      { timestamp: 50, message: "unflushed early" },
      { timestamp: 300, message: "unflushed late" },
    ]);
    const expected = crashed.describeStream("/berth/api", "web");

    const restarted = open();
    expect(restarted.describeStream("/berth/api", "web")).toEqual(expected);
    expect(messages(restarted, "/berth/api", "web")).toEqual([
      "unflushed early",
      "flushed",
      "unflushed late",
    ]);
    restarted.append("/berth/api", "web", [{ timestamp: 400, message: "after restart" }]);
    const sequences = restarted.readEvents("/berth/api", "web").map((event) => event.sequence);
    expect(new Set(sequences).size).toBe(4);
  });

  it("cut off a torn last line so the next append starts on a line of its own", () => {
    const first = open();
    first.append("/berth/api", "web", [{ timestamp: 1, message: "whole" }]);
    first.close();
    const [file] = streamFiles();
    appendFileSync(file ?? "", '{"s":1,"t":2,"i":2,"m":"tor');

    const restarted = open();
    expect(messages(restarted, "/berth/api", "web")).toEqual(["whole"]);
    restarted.append("/berth/api", "web", [{ timestamp: 3, message: "next" }]);
    expect(messages(restarted, "/berth/api", "web")).toEqual(["whole", "next"]);
    restarted.close();
    expect(messages(open(), "/berth/api", "web")).toEqual(["whole", "next"]);
  });

  it("refuse a damaged metadata file loudly instead of starting empty", () => {
    writeFileSync(join(dir, "metadata.json"), '{"version": 1, "groups": "nope"}');
    expect(() => open()).toThrow(/metadata\.json is not a Berth Local log metadata file/);
  });
});

describe("groups", () => {
  it("deleting a group removes its files, and a group created again starts empty", () => {
    const store = open();
    store.append("/berth/api", "web", [{ timestamp: 1, message: "old life" }]);
    store.deleteGroup("/berth/api");
    expect(streamFiles()).toEqual([]);
    expect(() => store.describeGroup("/berth/api")).toThrow("The specified log group does not exist.");

    store.createGroup("/berth/api");
    store.createStream("/berth/api", "web");
    expect(messages(store, "/berth/api", "web")).toEqual([]);
  });
});

describe("retention", () => {
  it("prunes expired events from the files on open, keeping sequence numbers unique", () => {
    let now = 100 * DAY_MS;
    const clock = () => now;
    const store = open({ now: clock });
    store.createGroup("/berth/api");
    store.putRetention("/berth/api", 1);
    store.append("/berth/api", "web", [
      { timestamp: now - 2 * DAY_MS, message: "expired" },
      { timestamp: now - 1000, message: "kept" },
    ]);
    expect(messages(store, "/berth/api", "web")).toEqual(["kept"]);
    const sizeBefore = store.describeStream("/berth/api", "web").storedBytes;
    store.close();

    now += 1000;
    const reopened = open({ now: clock });
    const stream = reopened.describeStream("/berth/api", "web");
    expect(stream.storedBytes).toBeLessThan(sizeBefore);
    expect(stream.storedBytes).toBe(statSync(streamFiles()[0] ?? "").size);
    expect(stream.firstEventTimestamp).toBe(now - 2000);
    reopened.append("/berth/api", "web", [{ timestamp: now, message: "new" }]);
    expect(reopened.readEvents("/berth/api", "web").map((event) => event.sequence)).toEqual([1, 2]);
  });
});

import { createHash } from "node:crypto";
import {
  closeSync,
  fstatSync,
  fsyncSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { AwsError } from "../protocol.ts";
import type { LogSink } from "../runtime/types.ts";

const DAY_MS = 86_400_000;

export interface LogStoreOptions {
  region?: string;
  account?: string;
  /** How long appended stream statistics may stay in memory only; they are recomputed from the files after a crash. */
  flushDelayMs?: number;
  /** Budget for parsed events kept in memory (measured in file bytes), so tailing a stream does not re-read it. */
  cacheBytes?: number;
  /** The clock for ingestion times and retention. */
  now?: () => number;
}

export interface LogGroupDescription {
  name: string;
  /** `arn:aws:logs:<region>:<account>:log-group:<name>:*`, as DescribeLogGroups' `arn`. */
  arn: string;
  creationTime: number;
  retentionInDays?: number;
  tags: Record<string, string>;
  storedBytes: number;
}

export interface LogStreamDescription {
  name: string;
  arn: string;
  creationTime: number;
  firstEventTimestamp?: number;
  lastEventTimestamp?: number;
  lastIngestionTime?: number;
  storedBytes: number;
  uploadSequenceToken: string;
}

/** An event as stored. `sequence` numbers a stream's events in arrival order and never repeats. */
export interface StoredLogEvent {
  readonly sequence: number;
  readonly timestamp: number;
  readonly ingestionTime: number;
  readonly message: string;
}

export interface InputLogEvent {
  timestamp: number;
  message: string;
}

/**
 * One line of a stream file. Short keys because the message dominates each line and every line is
 * paid for again on each cold read.
 */
interface EventLine {
  s: number;
  t: number;
  i: number;
  m: string;
}

interface StreamState {
  name: string;
  creationTime: number;
  firstEventTimestamp?: number;
  lastEventTimestamp?: number;
  lastIngestionTime?: number;
  nextSequence: number;
  /** Bytes of the stream file that the statistics above account for; always at a line boundary. */
  storedBytes: number;
}

interface GroupState {
  name: string;
  creationTime: number;
  retentionInDays?: number;
  tags: Map<string, string>;
  streams: Map<string, StreamState>;
}

interface CachedEvents {
  events: StoredLogEvent[];
  sorted: boolean;
  bytes: number;
}

// Groups, streams and tags are arrays, not records: `__proto__` is a valid log group name.
const PersistedStream = z.object({
  name: z.string(),
  creationTime: z.number(),
  firstEventTimestamp: z.number().optional(),
  lastEventTimestamp: z.number().optional(),
  lastIngestionTime: z.number().optional(),
  nextSequence: z.number().int().nonnegative(),
  storedBytes: z.number().int().nonnegative(),
});
const PersistedGroup = z.object({
  name: z.string(),
  creationTime: z.number(),
  retentionInDays: z.number().int().positive().optional(),
  tags: z.array(z.tuple([z.string(), z.string()])),
  streams: z.array(PersistedStream),
});
const PersistedMetadata = z.object({ version: z.literal(1), groups: z.array(PersistedGroup) });
type PersistedMetadata = z.infer<typeof PersistedMetadata>;

const METADATA_FILE = "metadata.json";
const STREAMS_DIR = "streams";
const MAX_OPEN_FILES = 64;

function logGroupNotFound(): AwsError {
  return new AwsError("ResourceNotFoundException", "The specified log group does not exist.");
}

function logStreamNotFound(): AwsError {
  return new AwsError("ResourceNotFoundException", "The specified log stream does not exist.");
}

function sha256Hex(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/**
 * A file name for a group or stream name. Names contain `/` and may differ only in case (which
 * macOS file systems fold) or be up to 512 characters (file names stop at 255 bytes), so the name
 * is reduced to a readable prefix and made unique by a hash of the full name. Names are kept in
 * the metadata, so the file name never has to be decoded.
 */
export function fileSafeName(name: string): string {
  return `${name.replace(/[^A-Za-z0-9._-]/g, "_").slice(0, 64)}.${sha256Hex(name).slice(0, 16)}`;
}

function compareEvents(a: StoredLogEvent, b: StoredLogEvent): number {
  return a.timestamp - b.timestamp || a.sequence - b.sequence;
}

/** Index of the first event with `timestamp >= bound` in events sorted by timestamp. */
function firstAtOrAfter(events: readonly StoredLogEvent[], bound: number): number {
  let low = 0;
  let high = events.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if ((events[middle]?.timestamp ?? 0) < bound) low = middle + 1;
    else high = middle;
  }
  return low;
}

function parseEventLines(text: string): StoredLogEvent[] {
  const events: StoredLogEvent[] = [];
  for (const line of text.split("\n")) {
    if (line === "") continue;
    try {
      const { s, t, i, m } = JSON.parse(line) as EventLine;
      if (typeof s === "number" && typeof t === "number" && typeof i === "number" && typeof m === "string") {
        events.push({ sequence: s, timestamp: t, ingestionTime: i, message: m });
      }
    } catch {
      // A line damaged outside Berth Local is skipped rather than hiding the rest of the stream.
    }
  }
  return events;
}

function serializeEvents(events: readonly StoredLogEvent[]): Buffer {
  let text = "";
  for (const event of events) {
    const line: EventLine = {
      s: event.sequence,
      t: event.timestamp,
      i: event.ingestionTime,
      m: event.message,
    };
    text += `${JSON.stringify(line)}\n`;
  }
  return Buffer.from(text, "utf8");
}

function writeFully(fd: number, bytes: Buffer): void {
  let written = 0;
  while (written < bytes.length) written += writeSync(fd, bytes, written, bytes.length - written);
}

function writeFileAtomically(path: string, contents: string | Buffer): void {
  const temporary = `${path}.tmp`;
  const fd = openSync(temporary, "w");
  try {
    writeFully(fd, typeof contents === "string" ? Buffer.from(contents, "utf8") : contents);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temporary, path);
}

function recordEvents(stream: StreamState, events: readonly StoredLogEvent[]): void {
  for (const event of events) {
    stream.firstEventTimestamp = Math.min(stream.firstEventTimestamp ?? event.timestamp, event.timestamp);
    stream.lastEventTimestamp = Math.max(stream.lastEventTimestamp ?? event.timestamp, event.timestamp);
    stream.lastIngestionTime = Math.max(stream.lastIngestionTime ?? event.ingestionTime, event.ingestionTime);
    stream.nextSequence = Math.max(stream.nextSequence, event.sequence + 1);
  }
}

function resetStatistics(stream: StreamState): void {
  delete stream.firstEventTimestamp;
  delete stream.lastEventTimestamp;
  delete stream.lastIngestionTime;
  stream.storedBytes = 0;
}

/**
 * Berth Local's CloudWatch Logs store: groups and streams, with each stream's events in a
 * JSON-lines file under `<dir>/streams/` and everything else in `<dir>/metadata.json`.
 *
 * Structural changes (groups, streams, retention, tags) are written to the metadata at once.
 * Appends only write their lines to the stream file; the stream statistics they change are
 * flushed at most every `flushDelayMs` and on `close()`, and after a crash they are recomputed
 * from the part of each file the metadata does not yet account for.
 *
 * All I/O is synchronous: `LogSink.append` returns nothing to wait on, and a read right after an
 * append must see it. One LogStore per directory at a time.
 */
export class LogStore implements LogSink {
  readonly dir: string;
  readonly region: string;
  readonly account: string;
  private readonly flushDelayMs: number;
  private readonly cacheBytes: number;
  /** The store's clock: ingestion times and retention are measured by it. */
  readonly now: () => number;
  private readonly groups = new Map<string, GroupState>();
  /** Parsed events by stream file path, least recently used first. */
  private readonly cache = new Map<string, CachedEvents>();
  private cachedBytes = 0;
  /** Append-mode descriptors by stream file path, least recently used first. */
  private readonly openFiles = new Map<string, number>();
  private readonly eventIdPrefixes = new Map<string, string>();
  private flushTimer: NodeJS.Timeout | undefined;
  private dirty = false;

  constructor(dir: string, options: LogStoreOptions = {}) {
    this.dir = dir;
    this.region = options.region ?? "us-east-1";
    this.account = options.account ?? "000000000000";
    this.flushDelayMs = options.flushDelayMs ?? 200;
    this.cacheBytes = options.cacheBytes ?? 64 * 1024 * 1024;
    this.now = options.now ?? Date.now;
    mkdirSync(join(dir, STREAMS_DIR), { recursive: true });
    this.load();
    this.reconcileWithFiles();
    this.pruneExpired();
  }

  groupArn(groupName: string): string {
    return `arn:aws:logs:${this.region}:${this.account}:log-group:${groupName}:*`;
  }

  streamArn(groupName: string, streamName: string): string {
    return `arn:aws:logs:${this.region}:${this.account}:log-group:${groupName}:log-stream:${streamName}`;
  }

  // --- groups ---

  createGroup(groupName: string, tags: Record<string, string> = {}): LogGroupDescription {
    if (this.groups.has(groupName)) {
      throw new AwsError("ResourceAlreadyExistsException", "The specified log group already exists.");
    }
    return this.describeGroupState(this.addGroup(groupName, tags));
  }

  hasGroup(groupName: string): boolean {
    return this.groups.has(groupName);
  }

  deleteGroup(groupName: string): void {
    const group = this.requireGroup(groupName);
    for (const stream of group.streams.values()) this.forgetStreamFile(group, stream);
    this.groups.delete(groupName);
    this.writeMetadata();
    rmSync(this.groupDir(groupName), { recursive: true, force: true });
  }

  describeGroup(groupName: string): LogGroupDescription {
    return this.describeGroupState(this.requireGroup(groupName));
  }

  /** Every group, sorted by name as DescribeLogGroups returns them. */
  listGroups(): LogGroupDescription[] {
    return [...this.groups.keys()].sort(compareNames).map((name) => this.describeGroup(name));
  }

  putRetention(groupName: string, retentionInDays: number): void {
    this.requireGroup(groupName).retentionInDays = retentionInDays;
    this.writeMetadata();
  }

  deleteRetention(groupName: string): void {
    delete this.requireGroup(groupName).retentionInDays;
    this.writeMetadata();
  }

  tagGroup(groupName: string, tags: Record<string, string>): void {
    const group = this.requireGroup(groupName);
    for (const [key, value] of Object.entries(tags)) group.tags.set(key, value);
    this.writeMetadata();
  }

  untagGroup(groupName: string, keys: readonly string[]): void {
    const group = this.requireGroup(groupName);
    for (const key of keys) group.tags.delete(key);
    this.writeMetadata();
  }

  // --- streams ---

  createStream(groupName: string, streamName: string): LogStreamDescription {
    const group = this.requireGroup(groupName);
    if (group.streams.has(streamName)) {
      throw new AwsError("ResourceAlreadyExistsException", "The specified log stream already exists.");
    }
    const stream = this.addStream(group, streamName);
    return this.describeStreamState(group, stream);
  }

  deleteStream(groupName: string, streamName: string): void {
    const group = this.requireGroup(groupName);
    const stream = this.requireStream(group, streamName);
    this.forgetStreamFile(group, stream);
    group.streams.delete(streamName);
    this.writeMetadata();
    rmSync(this.streamPath(group.name, stream.name), { force: true });
  }

  describeStream(groupName: string, streamName: string): LogStreamDescription {
    const group = this.requireGroup(groupName);
    return this.describeStreamState(group, this.requireStream(group, streamName));
  }

  /** Every stream of a group, sorted by name. */
  listStreams(groupName: string): LogStreamDescription[] {
    const group = this.requireGroup(groupName);
    return [...group.streams.values()]
      .sort((a, b) => compareNames(a.name, b.name))
      .map((stream) => this.describeStreamState(group, stream));
  }

  // --- events ---

  /**
   * PutLogEvents' write: the group and stream must exist. Returns the stream's next upload
   * sequence token (which AWS no longer checks, and neither does Berth Local).
   */
  putEvents(groupName: string, streamName: string, events: readonly InputLogEvent[]): string {
    const group = this.requireGroup(groupName);
    const stream = this.requireStream(group, streamName);
    this.writeEvents(group, stream, events);
    return String(stream.nextSequence);
  }

  /**
   * The LogSink side, used by the process runtime for container output. A missing stream is
   * created, as the awslogs driver creates its stream; so is a missing group, as the driver does
   * with `awslogs-create-group: true` — a container's output is never dropped for want of a group.
   */
  append(groupName: string, streamName: string, events: readonly InputLogEvent[]): void {
    if (events.length === 0) return;
    const group = this.groups.get(groupName) ?? this.addGroup(groupName);
    const stream = group.streams.get(streamName) ?? this.addStream(group, streamName);
    this.writeEvents(group, stream, events);
  }

  /**
   * A stream's events sorted by timestamp (then arrival), from `startTime` (inclusive) to
   * `endTime` (exclusive), without the events the group's retention has expired.
   */
  readEvents(
    groupName: string,
    streamName: string,
    range: { startTime?: number | undefined; endTime?: number | undefined } = {},
  ): readonly StoredLogEvent[] {
    const group = this.requireGroup(groupName);
    const stream = this.requireStream(group, streamName);
    const events = this.cachedEvents(group, stream);
    const from = Math.max(range.startTime ?? Number.NEGATIVE_INFINITY, this.retentionCutoff(group));
    const start = from === Number.NEGATIVE_INFINITY ? 0 : firstAtOrAfter(events, from);
    const end = range.endTime === undefined ? events.length : firstAtOrAfter(events, range.endTime);
    return events.slice(start, Math.max(start, end));
  }

  /** A stable id for FilterLogEvents, unique within the store: a digest of the stream, then the sequence. */
  eventId(groupName: string, streamName: string, sequence: number): string {
    const key = `${groupName}\u0000${streamName}`;
    let prefix = this.eventIdPrefixes.get(key);
    if (prefix === undefined) {
      prefix = BigInt(`0x${sha256Hex(key).slice(0, 16)}`)
        .toString()
        .padStart(20, "0");
      this.eventIdPrefixes.set(key, prefix);
    }
    return `${prefix}${String(sequence).padStart(16, "0")}`;
  }

  /** Events older than this (by timestamp) are expired in the group; -Infinity without retention. */
  retentionCutoff(group: { retentionInDays?: number | undefined }): number {
    return group.retentionInDays === undefined
      ? Number.NEGATIVE_INFINITY
      : this.now() - group.retentionInDays * DAY_MS;
  }

  /**
   * Rewrites the streams that hold expired events without them. Reads already hide expired
   * events; this reclaims the disk. Runs on open; the host may call it on a schedule.
   */
  pruneExpired(): void {
    let pruned = false;
    for (const group of this.groups.values()) {
      const cutoff = this.retentionCutoff(group);
      for (const stream of group.streams.values()) {
        if (stream.firstEventTimestamp === undefined || stream.firstEventTimestamp >= cutoff) continue;
        const path = this.streamPath(group.name, stream.name);
        const kept = this.cachedEvents(group, stream).filter((event) => event.timestamp >= cutoff);
        this.forgetStreamFile(group, stream);
        const bytes = serializeEvents(kept);
        writeFileAtomically(path, bytes);
        const nextSequence = stream.nextSequence;
        resetStatistics(stream);
        recordEvents(stream, kept);
        stream.nextSequence = nextSequence;
        stream.storedBytes = bytes.length;
        pruned = true;
      }
    }
    // At once: a later append must not grow a pruned file back to the size the old metadata recorded.
    if (pruned) this.writeMetadata();
  }

  /** Writes pending stream statistics now. */
  flush(): void {
    if (this.dirty) this.writeMetadata();
  }

  /**
   * Flushes and releases open files and memory. Safe to call more than once; the store stays
   * usable and reopens what a later call needs.
   */
  close(): void {
    this.flush();
    for (const fd of this.openFiles.values()) closeSync(fd);
    this.openFiles.clear();
    this.cache.clear();
    this.cachedBytes = 0;
  }

  // --- internals ---

  private requireGroup(groupName: string): GroupState {
    const group = this.groups.get(groupName);
    if (!group) throw logGroupNotFound();
    return group;
  }

  private requireStream(group: GroupState, streamName: string): StreamState {
    const stream = group.streams.get(streamName);
    if (!stream) throw logStreamNotFound();
    return stream;
  }

  private groupDir(groupName: string): string {
    return join(this.dir, STREAMS_DIR, fileSafeName(groupName));
  }

  private streamPath(groupName: string, streamName: string): string {
    return join(this.groupDir(groupName), `${fileSafeName(streamName)}.jsonl`);
  }

  private addGroup(groupName: string, tags: Record<string, string> = {}): GroupState {
    // Files left by a deletion interrupted before its cleanup must not reappear in the new group.
    rmSync(this.groupDir(groupName), { recursive: true, force: true });
    const group: GroupState = {
      name: groupName,
      creationTime: this.now(),
      tags: new Map(Object.entries(tags)),
      streams: new Map(),
    };
    this.groups.set(groupName, group);
    this.writeMetadata();
    return group;
  }

  private addStream(group: GroupState, streamName: string): StreamState {
    // The empty file exists before the metadata names it, so a crash in between cannot leave
    // the stream pointing at stale lines.
    mkdirSync(this.groupDir(group.name), { recursive: true });
    writeFileSync(this.streamPath(group.name, streamName), "");
    const stream: StreamState = {
      name: streamName,
      creationTime: this.now(),
      nextSequence: 0,
      storedBytes: 0,
    };
    group.streams.set(streamName, stream);
    this.writeMetadata();
    return stream;
  }

  private writeEvents(group: GroupState, stream: StreamState, inputs: readonly InputLogEvent[]): void {
    if (inputs.length === 0) return;
    const ingestionTime = this.now();
    const events = inputs.map(
      (input, index): StoredLogEvent => ({
        sequence: stream.nextSequence + index,
        timestamp: input.timestamp,
        ingestionTime,
        message: input.message,
      }),
    );
    const bytes = serializeEvents(events);
    const path = this.streamPath(group.name, stream.name);
    writeFully(this.appendDescriptor(path), bytes);
    stream.storedBytes += bytes.length;
    recordEvents(stream, events);

    const cached = this.cache.get(path);
    if (cached) {
      const last = cached.events.at(-1);
      for (const event of events) cached.events.push(event);
      if (cached.sorted && !isSorted(events, last)) cached.sorted = false;
      cached.bytes += bytes.length;
      this.cachedBytes += bytes.length;
      this.evictCache(path);
    }
    this.scheduleFlush();
  }

  private appendDescriptor(path: string): number {
    const open = this.openFiles.get(path);
    if (open !== undefined) {
      this.openFiles.delete(path);
      this.openFiles.set(path, open);
      return open;
    }
    const fd = openSync(path, "a");
    this.openFiles.set(path, fd);
    for (const [oldPath, oldFd] of this.openFiles) {
      if (this.openFiles.size <= MAX_OPEN_FILES) break;
      closeSync(oldFd);
      this.openFiles.delete(oldPath);
    }
    return fd;
  }

  private cachedEvents(group: GroupState, stream: StreamState): StoredLogEvent[] {
    const path = this.streamPath(group.name, stream.name);
    let cached = this.cache.get(path);
    if (cached) {
      this.cache.delete(path);
      this.cache.set(path, cached);
    } else {
      cached = { events: parseEventLines(readTextIfExists(path)), sorted: false, bytes: stream.storedBytes };
      this.cache.set(path, cached);
      this.cachedBytes += cached.bytes;
      this.evictCache(path);
    }
    if (!cached.sorted) {
      cached.events.sort(compareEvents);
      cached.sorted = true;
    }
    return cached.events;
  }

  /** Drops least recently used streams until the budget holds; `keep` is in use and stays. */
  private evictCache(keep: string): void {
    for (const [path, cached] of this.cache) {
      if (this.cachedBytes <= this.cacheBytes) return;
      if (path === keep) continue;
      this.cache.delete(path);
      this.cachedBytes -= cached.bytes;
    }
  }

  private forgetStreamFile(group: GroupState, stream: StreamState): void {
    const path = this.streamPath(group.name, stream.name);
    const fd = this.openFiles.get(path);
    if (fd !== undefined) {
      closeSync(fd);
      this.openFiles.delete(path);
    }
    const cached = this.cache.get(path);
    if (cached) {
      this.cache.delete(path);
      this.cachedBytes -= cached.bytes;
    }
  }

  private scheduleFlush(): void {
    this.dirty = true;
    if (this.flushTimer) return;
    this.flushTimer = setTimeout(() => {
      this.flushTimer = undefined;
      try {
        this.flush();
      } catch {
        // The metadata stays dirty: the next append schedules another attempt and close() reports the failure.
      }
    }, this.flushDelayMs);
    this.flushTimer.unref();
  }

  private writeMetadata(): void {
    if (this.flushTimer) {
      clearTimeout(this.flushTimer);
      this.flushTimer = undefined;
    }
    const metadata: PersistedMetadata = {
      version: 1,
      groups: [...this.groups.values()].map((group) => ({
        name: group.name,
        creationTime: group.creationTime,
        ...(group.retentionInDays === undefined ? {} : { retentionInDays: group.retentionInDays }),
        tags: [...group.tags],
        streams: [...group.streams.values()].map((stream) => ({ ...stream })),
      })),
    };
    writeFileAtomically(join(this.dir, METADATA_FILE), JSON.stringify(metadata));
    this.dirty = false;
  }

  private load(): void {
    const path = join(this.dir, METADATA_FILE);
    const text = readTextIfExists(path);
    if (text === "") return;
    let metadata: PersistedMetadata;
    try {
      metadata = PersistedMetadata.parse(JSON.parse(text));
    } catch (error) {
      throw new Error(`${path} is not a Berth Local log metadata file: ${(error as Error).message}`);
    }
    for (const persisted of metadata.groups) {
      const group: GroupState = {
        name: persisted.name,
        creationTime: persisted.creationTime,
        tags: new Map(persisted.tags),
        streams: new Map(persisted.streams.map((stream) => [stream.name, { ...stream }])),
      };
      if (persisted.retentionInDays !== undefined) group.retentionInDays = persisted.retentionInDays;
      this.groups.set(group.name, group);
    }
  }

  /**
   * Brings stream statistics up to date with the files after a stop without a flush: lines past
   * the recorded size are folded in, a torn last line is cut off (so the next append does not
   * extend it), and a file shorter than recorded is recounted from the start.
   */
  private reconcileWithFiles(): void {
    let changed = false;
    for (const group of this.groups.values()) {
      for (const stream of group.streams.values()) {
        const path = this.streamPath(group.name, stream.name);
        let fd: number;
        try {
          fd = openSync(path, "r+");
        } catch {
          if (stream.storedBytes > 0) {
            resetStatistics(stream);
            changed = true;
          }
          continue;
        }
        try {
          const size = fstatSync(fd).size;
          if (size === stream.storedBytes) continue;
          const from = size > stream.storedBytes ? stream.storedBytes : 0;
          if (from === 0) resetStatistics(stream);
          const unaccounted = Buffer.alloc(size - from);
          let read = 0;
          while (read < unaccounted.length) {
            const chunk = readSync(fd, unaccounted, read, unaccounted.length - read, from + read);
            if (chunk === 0) break;
            read += chunk;
          }
          const completeLength = unaccounted.lastIndexOf(0x0a) + 1;
          if (from + completeLength < size) ftruncateSync(fd, from + completeLength);
          recordEvents(stream, parseEventLines(unaccounted.subarray(0, completeLength).toString("utf8")));
          stream.storedBytes = from + completeLength;
          changed = true;
        } finally {
          closeSync(fd);
        }
      }
    }
    if (changed) this.writeMetadata();
  }

  private describeGroupState(group: GroupState): LogGroupDescription {
    let storedBytes = 0;
    for (const stream of group.streams.values()) storedBytes += stream.storedBytes;
    return {
      name: group.name,
      arn: this.groupArn(group.name),
      creationTime: group.creationTime,
      ...(group.retentionInDays === undefined ? {} : { retentionInDays: group.retentionInDays }),
      tags: Object.fromEntries(group.tags),
      storedBytes,
    };
  }

  private describeStreamState(group: GroupState, stream: StreamState): LogStreamDescription {
    return {
      name: stream.name,
      arn: this.streamArn(group.name, stream.name),
      creationTime: stream.creationTime,
      ...(stream.firstEventTimestamp === undefined
        ? {}
        : { firstEventTimestamp: stream.firstEventTimestamp }),
      ...(stream.lastEventTimestamp === undefined ? {} : { lastEventTimestamp: stream.lastEventTimestamp }),
      ...(stream.lastIngestionTime === undefined ? {} : { lastIngestionTime: stream.lastIngestionTime }),
      storedBytes: stream.storedBytes,
      uploadSequenceToken: String(stream.nextSequence),
    };
  }
}

/** Code-unit order, as AWS sorts names (not the locale's). */
export function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function isSorted(events: readonly StoredLogEvent[], previous: StoredLogEvent | undefined): boolean {
  let last = previous;
  for (const event of events) {
    if (last && compareEvents(last, event) > 0) return false;
    last = event;
  }
  return true;
}

function readTextIfExists(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return "";
    throw error;
  }
}

import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";

/**
 * A read cache for Berth Local's API host, in front of its own dynalite.
 *
 * Correct only because Berth Local has one dynalite, in this process, and every writer (the API,
 * the step and event Lambdas, a test or a CLI on the endpoint) reaches the table through its HTTP
 * server. The watcher sees each request as it arrives: any operation that is not a known read
 * bumps a generation and counts as in flight until dynalite ends its answer (by then the write
 * is applied). A read's answer is kept only if no write was in flight when it was sent and none
 * arrived before it came back; it is served only while no write has arrived since. So a cached
 * answer is always the answer dynalite would give at that moment. For the same reason a read
 * may share the answer of the same read already on its way, when that one was sent with no write
 * in flight and none has arrived since: dynalite would answer both alike (a burst of requests
 * for one service reads its item once, not once per request).
 *
 * On AWS the API runs as many Lambda instances over DynamoDB, where no instance sees the others'
 * writes: nothing like this is used there (`apiDependencies` builds a plain client).
 */
export interface WriteWatch {
  /** Bumped by every write as it arrives. */
  readonly generation: number;
  /** Writes arrived and not yet answered. */
  readonly inFlight: number;
}

/** DynamoDB operations that change nothing; every other one is treated as a write. */
const READ_OPERATIONS = new Set([
  "GetItem",
  "BatchGetItem",
  "Query",
  "Scan",
  "DescribeTable",
  "ListTables",
  "DescribeTimeToLive",
  "ListTagsOfResource",
]);

export function watchWrites(server: Server): WriteWatch {
  const watch = { generation: 0, inFlight: 0 };
  // Added before dynalite's own listener runs its handler (listeners run in order, synchronously).
  server.prependListener("request", (request: IncomingMessage, response: ServerResponse) => {
    const target = request.headers["x-amz-target"];
    const operation = typeof target === "string" ? target.slice(target.indexOf(".") + 1) : "";
    if (READ_OPERATIONS.has(operation)) return;
    watch.generation++;
    watch.inFlight++;
    // dynalite ends its answer once the write is applied (also when the client has gone away,
    // which 'close' would report early); a request it never answers keeps the cache off.
    const end = response.end;
    let ended = false;
    response.end = function (this: ServerResponse, ...args: Parameters<typeof end>) {
      if (!ended) {
        ended = true;
        watch.inFlight--;
        watch.generation++;
      }
      return end.apply(this, args);
    } as typeof end;
  });
  return watch;
}

const CACHED_COMMANDS = new Set(["GetCommand", "QueryCommand"]);

export interface ReadCacheOptions {
  /** Answers kept at most (the oldest go first); every write empties the cache anyway. */
  maxEntries?: number;
}

/**
 * Makes `client` answer repeated GetItem and Query commands from memory while `watch` says
 * nothing was written since. Callers get their own copy of each answer.
 */
export function cacheReads(
  client: DynamoDBDocumentClient,
  watch: WriteWatch,
  options: ReadCacheOptions = {},
): { hits: () => number; misses: () => number; shared: () => number } {
  const maxEntries = options.maxEntries ?? 2000;
  const entries = new Map<string, { generation: number; output: unknown }>();
  /** Reads on their way that were sent with no write in flight, by key: their answer, untouched by callers. */
  const pending = new Map<string, { generation: number; answer: Promise<unknown> }>();
  let shared = 0;
  let cachedGeneration = watch.generation;
  let hits = 0;
  let misses = 0;
  const send = client.send.bind(client) as (command: unknown, ...rest: unknown[]) => Promise<unknown>;
  const cachingSend = async (
    command: { constructor: { name: string }; input: unknown },
    ...rest: unknown[]
  ) => {
    // Callbacks or abort signals: passed through untouched.
    if (rest.length > 0 || !CACHED_COMMANDS.has(command.constructor.name)) return send(command, ...rest);
    if (watch.generation !== cachedGeneration) {
      entries.clear();
      cachedGeneration = watch.generation;
    }
    const key = `${command.constructor.name}:${JSON.stringify(command.input)}`;
    const entry = entries.get(key);
    if (entry && entry.generation === watch.generation && watch.inFlight === 0) {
      hits++;
      return structuredClone(entry.output);
    }
    const onItsWay = pending.get(key);
    if (onItsWay && onItsWay.generation === watch.generation && watch.inFlight === 0) {
      shared++;
      return structuredClone(await onItsWay.answer);
    }
    misses++;
    const generation = watch.generation;
    const quiet = watch.inFlight === 0;
    const sent = send(command);
    let mine: { generation: number; answer: Promise<unknown> } | undefined;
    if (quiet) {
      // A copy taken before the first caller gets the answer (and may change it).
      mine = { generation, answer: sent.then((output) => structuredClone(output)) };
      mine.answer.catch(() => {}); // a failed read fails its callers; nothing is kept
      pending.set(key, mine);
    }
    try {
      const output = await sent;
      if (mine && watch.generation === generation) {
        if (entries.size >= maxEntries) entries.delete(entries.keys().next().value as string);
        // The copy taken for the callers sharing this read serves later hits too.
        entries.set(key, { generation, output: await mine.answer });
      }
      return output;
    } finally {
      if (mine && pending.get(key) === mine) pending.delete(key);
    }
  };
  (client as unknown as { send: typeof cachingSend }).send = cachingSend;
  return { hits: () => hits, misses: () => misses, shared: () => shared };
}

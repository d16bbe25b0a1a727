import { setTimeout as delay } from "node:timers/promises";

/**
 * Client load for the end-to-end tests that roll a service while requests keep coming: several
 * clients send one request after another until the rollout is over, and every failure is kept.
 */

/** An HTTP answer, read whole. */
export interface HttpAnswer {
  status: number;
  body: string;
}

/** GETs `url` and reads its body; gives up after `timeoutMs`. */
export async function ask(url: string, timeoutMs = 10_000): Promise<HttpAnswer> {
  const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  return { status: response.status, body: await response.text() };
}

/** What one request under load got: the greeting it is counted under, or what was wrong with it. */
export type LoadAnswer = { greeting: string } | { failure: string };

export interface LoadResult {
  /** How often each greeting answered. */
  greetings: Map<string, number>;
  /** Each wrong answer and each error, as it came. */
  failures: string[];
  /** How many requests were answered (rightly or wrongly; an error is not an answer). */
  total: number;
}

/**
 * How long each client pauses between its requests. Back to back, four clients and the proxy
 * and task processes answering them take every spare cycle of a 2-core machine for the whole
 * rollout (the image build included), which the test files running beside them then wait for.
 * With the pause the four still send a request every few milliseconds between them, through
 * every step of a rollout, each step lasting a second or more.
 */
export const LOAD_PAUSE_MS = 10;

/**
 * Runs `clients` loops, each sending `request` (given the loop's number) one after another,
 * `LOAD_PAUSE_MS` apart, until `until` settles; then answers what they got. An error thrown by
 * `request` counts as a failure.
 */
export async function underLoad(
  request: (client: number) => Promise<LoadAnswer>,
  until: () => Promise<unknown>,
  clients = 4,
): Promise<LoadResult> {
  const result: LoadResult = { greetings: new Map(), failures: [], total: 0 };
  let running = true;
  const loops = Array.from({ length: clients }, async (_, client) => {
    while (running) {
      try {
        const answer = await request(client);
        result.total += 1;
        if ("failure" in answer) result.failures.push(answer.failure);
        else result.greetings.set(answer.greeting, (result.greetings.get(answer.greeting) ?? 0) + 1);
      } catch (error) {
        result.failures.push(String(error));
      }
      await delay(LOAD_PAUSE_MS); // a pace, not a wait: the test waits on `until`
    }
  });
  try {
    await until();
  } finally {
    running = false;
    await Promise.all(loops);
  }
  return result;
}

/** An HTTP 200's body as the greeting, anything else as a failure. */
export function okBody(answer: HttpAnswer): LoadAnswer {
  return answer.status === 200 ? { greeting: answer.body } : { failure: `${answer.status} ${answer.body}` };
}

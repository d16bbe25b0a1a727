/**
 * The API under contention on Berth Local: 50 redeploys of one service sent at once (each with
 * a new image), then 50 applies of one stack sent at once (each with a changed file). Prints,
 * for each burst, how every request was answered (status codes) and how long the answers took
 * (p50, p99, max), measured by the client from sending to the end of the answer: a request that
 * must wait is queued (202 with its deployment id, and for a redeploy its placement: active,
 * queued or superseded) or refused at once (409 with Retry-After), never held. Goal: p99 ≤ 1 s
 * for both bursts. Berth Local runs every part of the control plane (API, Step Functions, the
 * steps, dynalite) on one event loop, so the figures move with the machine's load, which is
 * printed beside each. With `--baseline COMMIT`, the same bursts on that commit's Berth Local first.
 *
 *   npm run bench -- contention       (or: npx tsx bench/contention.ts [--baseline 49578ff] [--requests 50])
 */
import { loadavg } from "node:os";
import { parseArgs } from "node:util";
import { machine, percentile } from "./machine.ts";
import { type ServedLocal, serveLocal, treesToCompare } from "./support/baseline.ts";

const { values: args } = parseArgs({
  options: { baseline: { type: "string" }, requests: { type: "string", default: "50" } },
});
const REQUESTS = Number(args.requests);

/** One service from an image that is never pulled: the burst measures the API, not the rollouts. */
const stackFile = (value: string) =>
  JSON.stringify({
    resources: {
      api: {
        type: "private-service",
        properties: {
          packaging: { type: "prebuilt-image", properties: { image: "berth.local/bench/contention:1" } },
          resources: { cpu: 0.25, memory: 512 },
          environment: [{ name: "VALUE", value }],
        },
      },
    },
  });

interface Answer {
  status: number;
  ms: number;
  retryAfter: string | null;
  /** A redeploy's `placement` (active, queued, superseded): what a 202 said of its deployment. */
  placement?: string;
}

async function call(local: ServedLocal, method: string, path: string, body: string, type: string) {
  const started = performance.now();
  const response = await fetch(`${local.url}${path}`, {
    method,
    body,
    headers: { authorization: `Bearer ${local.token}`, "content-type": type },
  });
  const text = await response.text();
  const ms = performance.now() - started;
  let placement: string | undefined;
  try {
    placement = (JSON.parse(text) as { placement?: unknown }).placement as string | undefined;
  } catch {}
  return {
    status: response.status,
    ms,
    retryAfter: response.headers.get("retry-after"),
    ...(typeof placement === "string" ? { placement } : {}),
  } satisfies Answer;
}

function report(name: string, answers: Answer[]): string {
  const statuses = new Map<string, number>();
  for (const { status, retryAfter, placement } of answers) {
    const key =
      retryAfter !== null
        ? `${status} (Retry-After ${retryAfter})`
        : placement
          ? `${status} ${placement}`
          : String(status);
    statuses.set(key, (statuses.get(key) ?? 0) + 1);
  }
  const times = answers.map((answer) => answer.ms);
  const counted = [...statuses].map(([status, count]) => `${count}× ${status}`).join(", ");
  return `  ${name}: ${counted}; answered in p50 ${percentile(times, 50).toFixed(0)} ms, p99 ${percentile(times, 99).toFixed(0)} ms, max ${Math.max(...times).toFixed(0)} ms (load ${loadavg()[0]?.toFixed(2)})`;
}

console.log(`Berth Local API under contention — ${machine()}`);
console.log(`${REQUESTS} requests sent at once per burst; Berth Local in its own process`);
console.log(
  "Goal (issue 17): every answer within 1 s at p99; 202 = taken (placement said), 409 = refused at once",
);
for (const tree of treesToCompare(args.baseline)) {
  const local = await serveLocal(tree);
  try {
    const first = await call(local, "PUT", "/v1/stacks/burst", stackFile("initial"), "application/json");
    if (first.status !== 202) throw new Error(`the first apply was answered ${first.status}`);
    const redeploys = await Promise.all(
      Array.from({ length: REQUESTS }, (_, index) =>
        call(
          local,
          "POST",
          "/v1/stacks/burst/services/api/deployments",
          JSON.stringify({ image: { api: `berth.local/bench/contention:${index + 2}` } }),
          "application/json",
        ),
      ),
    );
    const applies = await Promise.all(
      Array.from({ length: REQUESTS }, (_, index) =>
        call(local, "PUT", "/v1/stacks/burst", stackFile(`apply-${index}`), "application/json"),
      ),
    );
    console.log(`\n${tree.label}:`);
    console.log(report(`${REQUESTS} redeploys of one service`, redeploys));
    console.log(report(`${REQUESTS} applies of one stack`, applies));
  } finally {
    await local.stop();
    tree.remove();
  }
}

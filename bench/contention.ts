/**
 * The API under contention on Berth Local: 50 redeploys of one service sent at once (each with
 * a new image), then 50 applies of one stack sent at once (each with a changed file). Prints,
 * for each burst, how every request was answered (status codes) and how long the answers took
 * (p50, p99, max): a request that must wait is queued (202 with its deployment id) or refused at
 * once (409 with Retry-After), never held. With `--baseline COMMIT`, the same bursts on that
 * commit's Berth Local first.
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
const stackFile = (value: string) => `resources:
  api:
    type: private-service
    properties:
      packaging:
        type: prebuilt-image
        properties:
          image: berth.local/bench/contention:1
      resources: { cpu: 0.25, memory: 512 }
      environment:
        - name: VALUE
          value: "${value}"
`;

interface Answer {
  status: number;
  ms: number;
  retryAfter: string | null;
}

async function call(local: ServedLocal, method: string, path: string, body: string, type: string) {
  const started = performance.now();
  const response = await fetch(`${local.url}${path}`, {
    method,
    body,
    headers: { authorization: `Bearer ${local.token}`, "content-type": type },
  });
  await response.text();
  return {
    status: response.status,
    ms: performance.now() - started,
    retryAfter: response.headers.get("retry-after"),
  } satisfies Answer;
}

function report(name: string, answers: Answer[]): string {
  const statuses = new Map<string, number>();
  for (const { status, retryAfter } of answers) {
    const key = retryAfter === null ? String(status) : `${status} (Retry-After ${retryAfter})`;
    statuses.set(key, (statuses.get(key) ?? 0) + 1);
  }
  const times = answers.map((answer) => answer.ms);
  const counted = [...statuses].map(([status, count]) => `${count}× ${status}`).join(", ");
  return `  ${name}: ${counted}; answered in p50 ${percentile(times, 50).toFixed(0)} ms, p99 ${percentile(times, 99).toFixed(0)} ms, max ${Math.max(...times).toFixed(0)} ms (load ${loadavg()[0]?.toFixed(2)})`;
}

console.log(`Berth Local API under contention — ${machine()}`);
console.log(`${REQUESTS} requests sent at once per burst; Berth Local in its own process`);
for (const tree of treesToCompare(args.baseline)) {
  const local = await serveLocal(tree);
  try {
    const first = await call(local, "PUT", "/v1/stacks/burst", stackFile("initial"), "application/yaml");
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
        call(local, "PUT", "/v1/stacks/burst", stackFile(`apply-${index}`), "application/yaml"),
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

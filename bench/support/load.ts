/**
 * A load generator, run as its own process: GET <url> at a fixed rate over keep-alive
 * connections, until SIGTERM, `--seconds` or `--max` requests, whichever comes first. Prints one
 * JSON line with what it saw. Loopback targets only.
 *
 *   tsx bench/support/load.ts --url http://127.0.0.1:4000/ --rps 250 --seconds 120 --max 40000
 */
import { Agent, request } from "node:http";
import { parseArgs } from "node:util";

const { values } = parseArgs({
  options: {
    url: { type: "string" },
    rps: { type: "string" },
    seconds: { type: "string" },
    max: { type: "string" },
  },
});
const url = new URL(values.url ?? "");
if (!["127.0.0.1", "localhost", "[::1]"].includes(url.hostname)) {
  console.error("the load generator only targets loopback addresses");
  process.exit(2);
}
const rps = Number(values.rps ?? 250);
const seconds = Number(values.seconds ?? 60);
const max = Number(values.max ?? rps * seconds);
const agent = new Agent({ keepAlive: true, maxSockets: 64 });

const latencies: number[] = [];
const failures: string[] = [];
let sent = 0;
let inFlight = 0;
let stopping = false;
const started = Date.now();

function fire(): void {
  sent += 1;
  inFlight += 1;
  const begin = performance.now();
  const finish = (problem?: string) => {
    inFlight -= 1;
    if (problem) failures.push(problem);
    else latencies.push(performance.now() - begin);
  };
  const req = request(url, { agent, timeout: 10_000 }, (response) => {
    const chunks: Buffer[] = [];
    response.on("data", (chunk: Buffer) => chunks.push(chunk));
    response.on("end", () =>
      finish(
        response.statusCode === 200
          ? undefined
          : `HTTP ${response.statusCode}: ${Buffer.concat(chunks).toString().slice(0, 120)}`,
      ),
    );
    response.on("error", (error) => finish(String(error)));
  });
  req.on("timeout", () => req.destroy(new Error("timeout after 10 s")));
  req.on("error", (error) => finish(String(error)));
  req.end();
}

// Requests are scheduled against the clock, so a slow response does not lower the rate.
const tick = setInterval(() => {
  const due = Math.min(Math.floor(((Date.now() - started) / 1000) * rps), max);
  while (sent < due && !stopping) fire();
  if (sent >= max || Date.now() - started > seconds * 1000) stop();
}, 5);

function stop(): void {
  if (stopping) return;
  stopping = true;
  clearInterval(tick);
  const sendingSeconds = (Date.now() - started) / 1000;
  const wait = setInterval(() => {
    if (inFlight > 0) return;
    clearInterval(wait);
    latencies.sort((a, b) => a - b);
    const at = (p: number) =>
      latencies[Math.min(latencies.length - 1, Math.ceil((p / 100) * latencies.length) - 1)] ?? Number.NaN;
    // The rate is over the sending window; waiting for the last responses is not part of it.
    const elapsed = sendingSeconds;
    console.log(
      JSON.stringify({
        sent,
        failed: failures.length,
        failures: failures.slice(0, 5),
        seconds: elapsed,
        rate: sent / elapsed,
        p50: at(50),
        p99: at(99),
      }),
    );
    agent.destroy();
    process.exit(0);
  }, 10);
}
process.on("SIGTERM", stop);
process.on("SIGINT", stop);

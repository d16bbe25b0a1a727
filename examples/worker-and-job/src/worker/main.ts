import { setTimeout as sleep } from "node:timers/promises";

const HEARTBEAT_MS = 5_000;

// Injected by `connectTo: [report]`: what the mailer would submit runs of the report job with.
const reportJob = process.env.STP_REPORT_JOB_DEFINITION_ARN;

const stop = new AbortController();
const onSignal = (signal: NodeJS.Signals) => {
  if (stop.signal.aborted) return;
  console.info(`mailer: ${signal} received, stopping`);
  stop.abort();
};
process.on("SIGTERM", onSignal);
process.on("SIGINT", onSignal);

console.info(`mailer: ready (report job: ${reportJob ?? "not connected"})`);

let beats = 0;
while (!stop.signal.aborted) {
  beats += 1;
  console.info(`mailer: heartbeat ${beats}`);
  try {
    await sleep(HEARTBEAT_MS, undefined, { signal: stop.signal });
  } catch (error) {
    // The sleep rejects with an AbortError when a signal arrives; anything else is a real error.
    if (!stop.signal.aborted) throw error;
  }
}

console.info(`mailer: stopped after ${beats} heartbeats`);

import { setTimeout as sleep } from "node:timers/promises";
import { startExecution } from "./start-run.ts";

const HEARTBEAT_MS = 5_000;

// Injected by `connectTo: [report]`: the job's definition, and the run state machine the mailer
// starts runs of the report job with (connectTo also grants states:StartExecution on it).
const reportJob = process.env.STP_REPORT_JOB_DEFINITION_ARN;
const reportRuns = process.env.STP_REPORT_STATE_MACHINE_ARN;
// How often the mailer asks for a report; 0 turns it off. It asks once as soon as it starts.
const reportEveryMs = Number(process.env.REPORT_EVERY_HOURS ?? "24") * 60 * 60 * 1000;

const stop = new AbortController();
const onSignal = (signal: NodeJS.Signals) => {
  if (stop.signal.aborted) return;
  console.info(`mailer: ${signal} received, stopping`);
  stop.abort();
};
process.on("SIGTERM", onSignal);
process.on("SIGINT", onSignal);

console.info(`mailer: ready (report job: ${reportJob ?? "not connected"})`);

/** Starts one run of the report job; a failure is logged and tried again at the next report time. */
async function requestReport(): Promise<void> {
  if (!reportRuns) return;
  // An execution name is unique per state machine: the time makes each request a new run.
  const name = `mailer-${Date.now()}`;
  try {
    const executionArn = await startExecution(reportRuns, name, {});
    console.info(`mailer: started report run ${name} (${executionArn})`);
  } catch (error) {
    console.error(`mailer: could not start a report run: ${(error as Error).message}`);
  }
}

let beats = 0;
let nextReportAt = reportRuns && reportEveryMs > 0 ? Date.now() : Number.POSITIVE_INFINITY;
while (!stop.signal.aborted) {
  beats += 1;
  console.info(`mailer: heartbeat ${beats}`);
  if (Date.now() >= nextReportAt) {
    nextReportAt = Date.now() + reportEveryMs;
    await requestReport();
  }
  try {
    await sleep(HEARTBEAT_MS, undefined, { signal: stop.signal });
  } catch (error) {
    // The sleep rejects with an AbortError when a signal arrives; anything else is a real error.
    if (!stop.signal.aborted) throw error;
  }
}

console.info(`mailer: stopped after ${beats} heartbeats`);

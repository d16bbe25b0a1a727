import { randomUUID } from "node:crypto";
import { ApiClient, encode, type JobRun, type JobRunAttempt, type LogsPage } from "./api.ts";
import { type Context, parseOptions, pause, requiredOption, UsageError } from "./command.ts";
import { type Paint, painter, statusStyle } from "./format.ts";
import { lineOf, PrintedLines } from "./logs.ts";

/** Exit status after Ctrl-C, as shells report a command ended by SIGINT. */
const INTERRUPTED = 130;
const LOG_PAGE_SIZE = 1000;

/** `--command` takes every argument after it: the run's command, as the container's CMD. */
function splitCommand(args: string[]): { options: string[]; command: string[] | undefined } {
  const at = args.indexOf("--command");
  if (at < 0) return { options: args, command: undefined };
  const command = args.slice(at + 1);
  if (command.length === 0) throw new UsageError("--command needs the command to run after it");
  return { options: args.slice(0, at), command };
}

function environmentOf(pairs: string[]): Record<string, string> | undefined {
  if (pairs.length === 0) return undefined;
  const environment: Record<string, string> = {};
  for (const pair of pairs) {
    const at = pair.indexOf("=");
    if (at <= 0) throw new UsageError(`--env ${pair}: give NAME=VALUE`);
    environment[pair.slice(0, at)] = pair.slice(at + 1);
  }
  return environment;
}

function attemptLine(attempt: JobRunAttempt, paint: Paint): string {
  const task = attempt.taskArn ? ` task ${attempt.taskArn.split("/").pop()}` : "";
  if (attempt.status === "RUNNING") return `attempt ${attempt.number}:${task} ${paint("yellow", "RUNNING")}`;
  const codes = attempt.exitCodes
    .map((code) => `${code.container} exited ${code.exitCode ?? "?"}`)
    .join(", ");
  const why = [codes, attempt.stoppedReason, attempt.error].filter(Boolean).join("; ");
  return `attempt ${attempt.number}:${task} ${paint(statusStyle(attempt.status), attempt.status)}${why ? ` (${why})` : ""}`;
}

/**
 * `berth run-job`: starts a run of a batch job; with --follow, prints its attempts and the job's
 * log lines until the run ends, and exits 0 only when it SUCCEEDED.
 */
export async function runJob(args: string[], context: Context): Promise<number> {
  const { options, command } = splitCommand(args);
  const { values } = parseOptions(options, {
    stack: { type: "string" },
    job: { type: "string" },
    follow: { type: "boolean" },
    env: { type: "string", multiple: true },
  });
  const stack = requiredOption(values, "stack");
  const job = requiredOption(values, "job");
  const environment = environmentOf((values.env as string[] | undefined) ?? []);
  const paint = painter(context.color);
  const api = ApiClient.fromEnv(context.env, context.cwd);
  const runs = `/v1/stacks/${encode(stack)}/jobs/${encode(job)}/runs`;
  const { body: started } = await api.request<JobRun>("POST", runs, {
    headers: { "content-type": "application/json", "idempotency-key": randomUUID() },
    body: JSON.stringify({ ...(command ? { command } : {}), ...(environment ? { environment } : {}) }),
  });
  context.out(`run ${started.id} of ${stack}/${job} started (${started.executionArn})`);
  if (values.follow !== true) return 0;

  const printed = new PrintedLines();
  const shown = new Map<number, string>();
  const printLogs = async () => {
    let nextToken: string | undefined;
    printed.startPass(started.startedAt);
    do {
      const { body } = await api.request<LogsPage>(
        "GET",
        `/v1/stacks/${encode(stack)}/services/${encode(job)}/logs`,
        {
          query: { since: started.startedAt, limit: LOG_PAGE_SIZE, nextToken },
          signal: context.signal,
        },
      );
      for (const event of body.events) if (printed.isNew(event)) context.out(lineOf(event, paint));
      nextToken = body.nextToken;
    } while (nextToken);
  };
  try {
    for (;;) {
      const { body: run } = await api.request<JobRun>("GET", `${runs}/${encode(started.id)}`, {
        signal: context.signal,
      });
      for (const attempt of run.attempts ?? []) {
        const line = attemptLine(attempt, paint);
        if (shown.get(attempt.number) === line) continue;
        // The job's lines come before the attempt's end, which they explain.
        if (attempt.status !== "RUNNING") await printLogs();
        shown.set(attempt.number, line);
        context.out(line);
      }
      await printLogs();
      if (run.status !== "RUNNING") {
        context.out(`run ${run.id}: ${paint(statusStyle(run.status), run.status)}`);
        return run.status === "SUCCEEDED" ? 0 : 1;
      }
      if (!(await pause(context.pollIntervalMs, context.signal))) return INTERRUPTED;
    }
  } catch (error) {
    if ((error as Error).name === "AbortError") return INTERRUPTED;
    throw error;
  }
}

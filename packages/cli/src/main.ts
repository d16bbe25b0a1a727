import { ApiRequestError, ApiUnreachableError, DEFAULT_URL } from "./api.ts";
import { type Context, DEFAULT_SINCE, DEFAULT_TIMEOUT, type Io, UsageError } from "./command.ts";
import { apiErrorLines, wantsColor } from "./format.ts";

export type { Io, Output } from "./command.ts";

/** The usage text (its default stack file name is the spec module's, loaded here when needed). */
async function usage(): Promise<string> {
  const { Spec } = await import("@berth/core/spec");
  return `Usage: berth <command> [options]

Commands:
  init [DIR] [--ts] [--type web-service|worker-service] [--name NAME] [--force]
                                   write a first berth.yml (--ts: berth.ts) for the app in DIR
                                   (default: here): language and entry file, or its Dockerfile;
                                   web-service when it listens on a port, with its port and health
                                   check; never replaces an existing file without --force
  validate -f FILE                 check a stack file (berth.yml, or a berth.ts module); print every
                                   problem as FILE:LINE:COL path: message
  render -f FILE [--resource NAME] [--stack NAME] [--env FILE] [--update]
                                   print the AWS requests the stack becomes, as JSON
  deploy -f FILE --stack NAME [--force] [--no-wait] [--timeout ${DEFAULT_TIMEOUT}]
                                   validate, apply the file to the stack, and follow every deployment
                                   it requests until it is final, then print a summary; a change to
                                   the file or to the source a container is built from is deployed
  redeploy --stack NAME --service SVC [--image [CONTAINER=]REF] [--no-wait] [--timeout ${DEFAULT_TIMEOUT}]
                                   deploy a service again as stored (with --image: that image from
                                   now on) and follow the deployment until it is final
  status [--stack NAME] [--json]   list the stacks, or one stack's services and their last deployments
  logs --stack NAME --service SVC [--since ${DEFAULT_SINCE}] [--follow] [--limit N]
                                   print a service's log lines (--limit N: only the newest N)
  run-job --stack NAME --job JOB [--env NAME=VALUE]... [--follow] [--command CMD ARG...]
                                   start a run of a deployed batch job (--command: everything after
                                   it is the run's command; --env: add or replace a variable); with
                                   --follow print its attempts and log lines until it ends
  cancel DEPLOYMENT_ID [--reason TEXT] [--no-wait] [--timeout ${DEFAULT_TIMEOUT}]
                                   cancel a deployment that has not finished; one already changing
                                   ECS is stopped and its service returned to the revision it ran
                                   before: waits until it has ended
  push DIR --image berth.local/REPO:TAG [--command "CMD ARG..."]
                                   Berth Local only: store DIR as an image under that tag (the same
                                   content gives the same digest); services that follow the tag
                                   are deployed (--command: the image's start command, when DIR
                                   has no manifest.json)
  refreshes [ID] [--json]          the scheduled refreshes (weekly, and stacks' own schedules), newest
                                   first, or one: each lists the services whose refresh deployment
                                   ended FAILED or ROLLED_BACK, with the reason (exit 1 when one
                                   named by ID failed)
  help                             show this text

Options:
  -f, --file FILE    stack file: YAML, JSON or a berth.ts module (default: ${Spec.DEFAULT_FILE_NAME})
  --ts               init: write berth.ts (defineStack from @berth/config) instead of berth.yml
  --type TYPE        init: web-service or worker-service, instead of what the source suggests
  --name NAME        init: the resource's name (default: from package.json, go.mod, pom.xml or DIR)
  --resource NAME    render one resource only
  --stack NAME       stack name (render: used in AWS names, default demo)
  --env FILE         environment (YAML or JSON): account, region, cluster, network, roles...
                     (default: Berth Local's)
  --update           render UpdateService instead of CreateService
  --force            deploy: build and deploy every service again, changed or not;
                     init: replace an existing berth.yml or berth.ts
  --no-wait          deploy, redeploy: print the plan and return without following the deployments;
                     cancel: return once the cancellation is requested
  --timeout DURATION deploy, redeploy, cancel: stop following after this long (90s, 30m, 1h30m)
  --since WHEN       logs: a duration (15m, 2h, 7d) or an ISO 8601 timestamp
  --follow           logs: keep printing new lines until Ctrl-C; run-job: follow the run to its end

Environment (deploy, redeploy, status, logs, run-job, cancel):
  BERTH_URL          the Berth API (default: ${DEFAULT_URL}, Berth Local's)
  BERTH_TOKEN        bearer token; when unset, the admin token Berth Local keeps in
                     \${BERTH_DATA_DIR:-.berth}/admin-token (a relative data dir is looked up
                     under the current directory, then under the Berth repository)
  AWS_ENDPOINT_URL   push: Berth Local's AWS-compatible endpoint (default: http://127.0.0.1:4566)
  NO_COLOR           no colors even on a terminal

Exit status:
  init: 0 when it wrote the file; 1 when the file exists (without --force) or no app was found;
  2 on usage errors.
  validate, render: 0 valid, 1 the stack file has problems, 2 usage or I/O errors.
  deploy: 0 when every deployment SUCCEEDED (unchanged services count as fine); 1 when one
  ended otherwise, on a timeout, an API or connection failure; 2 on usage errors, an invalid
  stack file (nothing is sent) or a request the API refused as invalid (4xx); 130 after Ctrl-C.
  redeploy: as deploy, for its one deployment.
  cancel: 0 when the deployment ended CANCELLED (or --no-wait), else 1 and 2 as for deploy.
  status, logs: 0, or 1 and 2 as for deploy.
  push: 0 once stored and announced; 1 when Berth Local cannot be reached; 2 on usage errors or
  a push it refused (no such directory, a bad manifest.json).
  run-job: 0 once the run started (with --follow: when it SUCCEEDED), else 1 and 2 as for deploy.`;
}

const processOutput: Io = {
  out: (text) => process.stdout.write(`${text}\n`),
  err: (text) => process.stderr.write(`${text}\n`),
  ...(process.stdin.isTTY ? { prompt: askOnTerminal } : {}),
};

async function askOnTerminal(question: string): Promise<string> {
  const { createInterface } = await import("node:readline/promises");
  const terminal = createInterface({ input: process.stdin, output: process.stdout });
  try {
    return await terminal.question(question);
  } finally {
    terminal.close();
  }
}

/** The first Ctrl-C stops following; a second one ends the process as usual. */
function interruptSignal(): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  const onInterrupt = () => controller.abort();
  process.once("SIGINT", onInterrupt);
  return { signal: controller.signal, dispose: () => process.off("SIGINT", onInterrupt) };
}

/**
 * Runs one command and returns its exit status. Tests call it with their own Io (output,
 * environment, directory, abort signal) instead of spawning the binary.
 */
export async function main(argv: string[], io: Io = processOutput): Promise<number> {
  const startedAt = Date.now();
  const [command, ...rest] = argv;
  const env = io.env ?? process.env;
  const follows = ["deploy", "redeploy", "logs", "run-job"].includes(command ?? "");
  const interrupt = io.signal || !follows ? undefined : interruptSignal();
  const context: Context = {
    out: io.out,
    err: io.err,
    env,
    cwd: io.cwd ?? process.cwd(),
    signal: io.signal ?? interrupt?.signal ?? new AbortController().signal,
    color: wantsColor(io.color, env),
    pollIntervalMs: io.pollIntervalMs ?? 1000,
    progressIntervalMs: io.progressIntervalMs ?? 10_000,
  };
  try {
    switch (command) {
      case "init":
        return await (await import("./init-command.ts")).init(rest, context, io.prompt);
      // Loaded on demand: validate and render pull in core's spec and render code, the API
      // commands core's deployment code; neither needs the other's to start up.
      case "validate":
        return await (await import("./stack-commands.ts")).validate(rest, context);
      case "render":
        return await (await import("./stack-commands.ts")).render(rest, context);
      case "deploy":
        return await (await import("./deploy.ts")).deploy(rest, context, startedAt);
      case "status":
        return await (await import("./status.ts")).status(rest, context);
      case "logs":
        return await (await import("./logs.ts")).logs(rest, context);
      case "redeploy":
        return await (await import("./deploy.ts")).redeploy(rest, context, startedAt);
      case "run-job":
        return await (await import("./run-job.ts")).runJob(rest, context);
      case "cancel":
        return await (await import("./deploy.ts")).cancel(rest, context);
      case "push":
        return await (await import("./push.ts")).push(rest, context);
      case "refreshes":
        return await (await import("./refreshes.ts")).refreshes(rest, context);
      case undefined:
      case "help":
      case "--help":
      case "-h":
        io.out(await usage());
        return command === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command "${command}"`);
    }
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(`berth: ${error.message}\n\n${await usage()}`);
      return 2;
    }
    if (error instanceof ApiUnreachableError) {
      io.err(`berth: ${error.message}`);
      io.err(
        "  Berth Local must be running (start it with `npm start` in the Berth repository), " +
          `or BERTH_URL must name a running Berth API (default ${DEFAULT_URL}).`,
      );
      return 1;
    }
    if (error instanceof ApiRequestError) {
      for (const line of apiErrorLines(error)) io.err(line);
      return error.isInputError ? 2 : 1;
    }
    throw error;
  } finally {
    interrupt?.dispose();
  }
}

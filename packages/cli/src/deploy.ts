import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { Buildpack } from "@berth/core/buildpacks";
import { DeploymentStatus } from "@berth/core/deployments";
import { Spec } from "@berth/core/spec";
import {
  ApiClient,
  ApiRequestError,
  ApiUnreachableError,
  type ApplyResponse,
  type CancelResponse,
  type CreatedSource,
  type Deployment,
  type DeploymentEvent,
  type DeploymentWithEvents,
  encode,
  type PlanEntry,
  type RequestedDeployment,
  type ServiceView,
  SOURCES_UNSUPPORTED,
  type StackDetail,
  urlLines,
} from "./api.ts";
import {
  type Context,
  DEFAULT_TIMEOUT,
  FILE_OPTION,
  type Output,
  parseDuration,
  parseOptions,
  pause,
  requiredOption,
  serviceOption,
  stringOption,
  UsageError,
} from "./command.ts";
import {
  apiErrorLines,
  duration,
  elapsed,
  type Paint,
  painter,
  plainLines,
  plainText,
  statusStyle,
  table,
} from "./format.ts";
import { loadStackSource } from "./stack-source.ts";

/** Exit status after Ctrl-C, as shells report a command ended by SIGINT. */
const INTERRUPTED = 130;
/** Polls a final status may arrive before its `status` event; after that the record alone is shown. */
const FINAL_EVENT_GRACE_POLLS = 3;
const MAX_BLOCK_LINES = 20;
const MAX_VALUE_CHARS = 120;

export async function deploy(args: string[], context: Context, startedAt: number): Promise<number> {
  const { values } = parseOptions(args, {
    ...FILE_OPTION,
    stack: { type: "string" },
    "no-wait": { type: "boolean" },
    timeout: { type: "string" },
    force: { type: "boolean" },
  });
  const fileName = stringOption(values, "file") ?? Spec.DEFAULT_FILE_NAME;
  const stack = requiredOption(values, "stack");
  const timeoutMs = parseDuration(stringOption(values, "timeout") ?? DEFAULT_TIMEOUT, "timeout");
  // Bad input never reaches the API: the same checks it would run, with the file's own line numbers.
  const loaded = await loadStackSource(fileName, context.cwd, context);
  if (!loaded) return 2;
  const { text, contentType, stack: parsed } = loaded;

  const path = resolve(context.cwd, fileName);
  // Before anything is sent: a source the build would refuse is refused here, and what each
  // built container is built from is summed up so that an edit to it alone is a change.
  const sourceDigests = await sourceDigestsOf(parsed, dirname(path), fileName, context);
  if (!sourceDigests) return 2;
  const api = ApiClient.fromEnv(context.env, context.cwd);
  context.out(`Deploying ${fileName} as stack ${stack} to ${api.baseUrl}`);
  // Where buildpack and Dockerfile packaging find their source: relative paths in the file are
  // relative to the file, wherever the CLI runs.
  const source = await sourceOf(api, dirname(path), context);
  if (source === undefined) return 1;
  let applied: ApplyResponse;
  try {
    ({ body: applied } = await api.request<ApplyResponse>("PUT", `/v1/stacks/${encode(stack)}`, {
      query: {
        source,
        ...(Object.keys(sourceDigests).length > 0 ? { sourceDigests: JSON.stringify(sourceDigests) } : {}),
        ...(values.force ? { force: "true" } : {}),
      },
      headers: { "content-type": contentType, "idempotency-key": randomUUID() },
      body: text,
    }));
  } catch (error) {
    if (!(error instanceof ApiRequestError)) throw error;
    for (const line of apiErrorLines(error, fileName)) context.err(line);
    return error.isInputError ? 2 : 1;
  }

  const paint = painter(context.color);
  for (const line of planLines(applied.plan, paint)) context.out(line);
  const followed = applied.plan.filter(
    (entry): entry is PlanEntry & { deployment: NonNullable<PlanEntry["deployment"]> } =>
      entry.deployment !== undefined,
  );
  if (followed.length === 0) {
    context.out("Nothing to deploy: every service is as the file describes it.");
    return 0;
  }
  const statusHint = `berth status --stack ${stack}`;
  if (values["no-wait"]) {
    context.out(`Not waiting. Follow the deployments with: ${statusHint}`);
    return 0;
  }

  const count = followed.length === 1 ? "1 deployment" : `${followed.length} deployments`;
  context.out(`Following ${count} (Ctrl-C stops following; the deployments continue)`);
  const width = Math.max(...followed.map((entry) => entry.service.length));
  const trackers = followed.map(
    (entry) => new Tracker(entry.service, width, entry.deployment.deployment, context, paint, startedAt),
  );
  const ending = await followAll(api, trackers, context, startedAt + timeoutMs);

  context.out("");
  for (const line of summaryLines(applied.plan, trackers, paint)) context.out(line);
  for (const line of await stackUrlLines(api, stack)) context.out(line);
  if (ending === "timeout") {
    const running = trackers.filter((tracker) => !tracker.done).length;
    context.err(
      `berth: timed out after ${duration(timeoutMs)} with ${running} of ${trackers.length} deployments not ` +
        `final; they keep running without the CLI. Follow them with: ${statusHint}`,
    );
    return 1;
  }
  if (ending === "interrupted") {
    context.err(`Stopped following; the deployments continue. Follow them with: ${statusHint}`);
    return INTERRUPTED;
  }
  return trackers.every((tracker) => tracker.deployment.status === "SUCCEEDED") ? 0 : 1;
}

/** Directories that are never part of a build: history, installed dependencies, Berth Local's data. */
const NOT_UPLOADED = [...Buildpack.NEVER_INPUTS];

/**
 * Service → container → digest of its build inputs in `dir`, for every container built from
 * source; undefined when a build would be refused, which has been reported.
 */
async function sourceDigestsOf(
  stack: Spec.Stack,
  dir: string,
  fileName: string,
  context: Context,
): Promise<Record<string, Record<string, string>> | undefined> {
  const digests: Record<string, Record<string, string>> = {};
  let refused = false;
  for (const [service, resource] of Object.entries(stack.resources)) {
    if (!Spec.isCompute(resource)) continue;
    for (const container of Spec.containersOf(service, resource)) {
      if (container.packaging.type === "prebuilt-image") continue;
      const problems = await Buildpack.sourceProblems(dir, container.packaging);
      for (const problem of problems) {
        context.err(`${fileName}: resources.${service} (container ${container.name}): ${problem.message}`);
      }
      if (problems.length > 0) {
        refused = true;
        continue;
      }
      digests[service] = {
        ...digests[service],
        [container.name]: await Buildpack.sourceDigest(dir, container.packaging),
      };
    }
  }
  if (refused) {
    context.err(`berth: the source in ${dir} cannot be built as the file says; nothing was applied`);
    return undefined;
  }
  return digests;
}

/**
 * The source to apply with: the directory itself where the API's builder can read it (Berth
 * Local), else the directory packed and uploaded to the installation's bucket. Undefined when
 * the upload failed, which has been reported.
 */
async function sourceOf(api: ApiClient, dir: string, context: Context): Promise<string | undefined> {
  let created: CreatedSource;
  try {
    ({ body: created } = await api.request<CreatedSource>("POST", "/v1/sources", { signal: context.signal }));
  } catch (error) {
    if (error instanceof ApiRequestError && error.code === SOURCES_UNSUPPORTED)
      return pathToFileURL(dir).href;
    throw error;
  }
  let archive: Buffer;
  try {
    archive = await pack(dir);
  } catch (error) {
    const stderr = String((error as { stderr?: unknown }).stderr ?? "").trim();
    context.err(
      `berth: could not pack ${dir} with tar (${stderr || (error as Error).message}); nothing was applied`,
    );
    return undefined;
  }
  context.out(`uploading source (${Math.max(1, Math.ceil(archive.length / 1024))} KiB)`);
  const failed = (reason: string) => {
    context.err(`berth: could not upload the source of ${dir} (${reason}); nothing was applied`);
    return undefined;
  };
  let response: Response;
  try {
    response = await fetch(created.upload.url, {
      method: created.upload.method,
      headers: created.upload.headers,
      body: archive,
      signal: context.signal,
    });
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    return failed(cause?.code ?? cause?.message ?? (error as Error).message);
  }
  if (!response.ok) {
    // S3 explains a refusal in an XML body (an expired URL, a signature that does not match).
    const text = (await response.text()).replace(/\s+/g, " ").trim();
    return failed(`HTTP ${response.status}${text ? `: ${text.slice(0, 300)}` : ""}`);
  }
  return created.source;
}

/** A gzipped tar of the directory, made by the system's tar (GNU tar and bsdtar take these options). */
async function pack(dir: string): Promise<Buffer> {
  const scratch = await mkdtemp(join(tmpdir(), "berth-source-"));
  try {
    const archive = join(scratch, "source.tar.gz");
    const excludes = NOT_UPLOADED.map((name) => `--exclude=${name}`);
    await promisify(execFile)("tar", ["-czf", archive, ...excludes, "-C", dir, "."]);
    return await readFile(archive);
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

function planLines(plan: PlanEntry[], paint: Paint): string[] {
  if (plan.length === 0) return ["The stack has no services."];
  const rows = plan.map((entry) => {
    const requested = entry.deployment;
    const notes: string[] = [];
    if (entry.changes?.length) notes.push(entry.changes.map((change) => change.path).join(", "));
    if (entry.reason) notes.push(entry.reason);
    if (entry.pendingDeletion) notes.push("its deletion is already under way");
    if (requested && !requested.workflow.started && requested.workflow.reason) {
      notes.push(requested.workflow.reason);
    }
    return [
      entry.service,
      entry.change,
      requested?.deployment.id ?? "",
      requested?.placement ?? "",
      notes.join("; "),
    ];
  });
  return [
    "Plan:",
    ...table(["SERVICE", "CHANGE", "DEPLOYMENT", "PLACEMENT", "DETAILS"], rows, (_row, column, text) =>
      column === 1 ? paint(statusStyle(text.trim()), text) : text,
    ).map((line) => `  ${line}`),
  ];
}

/** One followed deployment: what has been shown of it, so each event appears once. */
class Tracker {
  done = false;
  private readonly shown = new Set<number>();
  /** The status the printed `status` events have reached; deployments start PENDING. */
  private shownStatus: string = "PENDING";
  private grace = FINAL_EVENT_GRACE_POLLS;
  private unreachable = false;
  /** When this service last got a line: a quiet one gets a progress line (`progressDue`). */
  private lastLineAt = Date.now();

  constructor(
    readonly service: string,
    /** The longest followed service name, so the lines of all services align. */
    private readonly width: number,
    public deployment: Deployment,
    private readonly output: Output,
    private readonly paint: Paint,
    private readonly startedAt: number,
  ) {}

  get id(): string {
    return this.deployment.id;
  }

  private line(text: string, detail: string[] = []): void {
    this.lastLineAt = Date.now();
    const time = elapsed(Date.now() - this.startedAt).padStart(5);
    const name = this.service.padEnd(this.width);
    this.output.out(`${this.paint("dim", time)} ${name}  ${text}`);
    const indent = " ".repeat(time.length + 1 + name.length + 4);
    for (const line of detail) this.output.out(`${indent}${this.paint("dim", line)}`);
  }

  /** Tasks only run (and wait on health checks) while a deployment or its rollback is under way. */
  progressDue(intervalMs: number): boolean {
    const { status } = this.deployment;
    const waiting = status === "DEPLOYING" || status === "ROLLING_BACK";
    return !this.done && waiting && Date.now() - this.lastLineAt >= intervalMs;
  }

  /** What ECS says of the service's newest revision, and its latest service event. */
  progress(view: ServiceView): void {
    const { rollout, latestEvent } = view;
    const detail = latestEvent ? [`ECS: ${plainText(latestEvent.message)}`] : [];
    if (!rollout) {
      this.line(
        `${this.deployment.status.toLowerCase()}: ECS reports no deployment of the service yet`,
        detail,
      );
      return;
    }
    const revision = /:(\d+)$/.exec(rollout.taskDefinitionArn ?? "")?.[1];
    this.line(
      `${this.deployment.status.toLowerCase()}: ${revision ? `revision ${revision}` : "new revision"}: ` +
        `${rollout.running} of ${rollout.desired} running, ${rollout.healthy} healthy, ${rollout.stopped} stopped`,
      detail,
    );
  }

  /** Once per outage, so a restarting API does not flood the terminal. */
  warnUnreachable(reason: string): void {
    if (this.unreachable) return;
    this.unreachable = true;
    this.line(this.paint("yellow", `cannot read deployment ${this.id} (${reason}); retrying`));
  }

  update({ deployment, events }: DeploymentWithEvents): void {
    this.unreachable = false;
    this.deployment = deployment;
    for (const event of [...events].sort((a, b) => a.sequence - b.sequence)) {
      if (this.shown.has(event.sequence)) continue;
      this.shown.add(event.sequence);
      this.show(event);
    }
    if (!DeploymentStatus.isTerminal(deployment.status)) return;
    // The status is written a moment before its event; wait a few polls for the event so the
    // change shows with its own words, then settle for the record.
    if (this.shownStatus !== deployment.status && --this.grace > 0) return;
    if (this.shownStatus !== deployment.status) {
      this.line(this.statusChange(this.shownStatus, deployment.status, deployment.reason));
    }
    this.done = true;
  }

  private statusChange(from: string, to: string, reason: string): string {
    const target = this.paint(statusStyle(to), to);
    const text = plainText(reason);
    return `${from === to ? target : `${from} → ${target}`}${text ? `: ${text}` : ""}`;
  }

  private show(event: DeploymentEvent): void {
    const data = event.data ?? {};
    if (event.type === "status" && typeof data.to === "string") {
      const from = typeof data.from === "string" ? data.from : this.shownStatus;
      this.shownStatus = data.to;
      this.line(this.statusChange(from, data.to, typeof data.reason === "string" ? data.reason : ""));
      return;
    }
    // A request's trigger and spec hash identify it; only what it asks for (its parameters) is news.
    const { parameters } = data;
    const asked = typeof parameters === "object" && parameters !== null ? parameters : {};
    const detail = dataLines(event.type === "requested" ? (asked as Record<string, unknown>) : data);
    this.line(`${this.paint("cyan", event.type)}: ${event.message}`, detail);
  }
}

function inlineValue(value: unknown): string {
  const text = typeof value === "string" ? plainText(value) : JSON.stringify(value);
  const short = text.length > MAX_VALUE_CHARS ? `${text.slice(0, MAX_VALUE_CHARS - 1)}…` : text;
  return typeof value === "string" && /[\s="]/.test(short) ? JSON.stringify(short) : short;
}

/**
 * An event's data, compactly: scalars and small objects on one `key=value` line; text with
 * several lines and lists of strings (log lines, health-check output) as a block, newest last.
 */
function dataLines(data: Record<string, unknown>): string[] {
  const inline: string[] = [];
  const blocks: string[] = [];
  for (const [key, value] of Object.entries(data)) {
    if (value === undefined || value === null) continue;
    const lines =
      Array.isArray(value) && value.length > 0 && value.every((item) => typeof item === "string")
        ? (value as string[]).flatMap(plainLines)
        : typeof value === "string" && value.includes("\n")
          ? plainLines(value)
          : undefined;
    if (!lines) {
      inline.push(`${key}=${inlineValue(value)}`);
      continue;
    }
    const hidden = lines.length - MAX_BLOCK_LINES;
    blocks.push(`${key}:${hidden > 0 ? ` (last ${MAX_BLOCK_LINES} of ${lines.length})` : ""}`);
    for (const line of lines.slice(Math.max(0, hidden))) blocks.push(`| ${line}`);
  }
  return [...(inline.length > 0 ? [inline.join(" ")] : []), ...blocks];
}

type Ending = "finished" | "timeout" | "interrupted";

async function followAll(
  api: ApiClient,
  trackers: Tracker[],
  context: Context,
  deadline: number,
): Promise<Ending> {
  for (;;) {
    await Promise.all(
      trackers.filter((tracker) => !tracker.done).map((tracker) => poll(api, tracker, context.signal)),
    );
    await Promise.all(
      trackers
        .filter((tracker) => tracker.progressDue(context.progressIntervalMs))
        .map((tracker) => showProgress(api, tracker, context.signal)),
    );
    if (trackers.every((tracker) => tracker.done)) return "finished";
    if (context.signal.aborted) return "interrupted";
    const left = deadline - Date.now();
    if (left <= 0) return "timeout";
    if (!(await pause(Math.min(context.pollIntervalMs, left), context.signal))) return "interrupted";
  }
}

async function poll(api: ApiClient, tracker: Tracker, signal: AbortSignal): Promise<void> {
  try {
    const { body } = await api.request<DeploymentWithEvents>("GET", `/v1/deployments/${encode(tracker.id)}`, {
      signal,
    });
    tracker.update(body);
  } catch (error) {
    if ((error as Error).name === "AbortError") return;
    // The deployments run on without the CLI: an API that is briefly away (a restart of Berth
    // Local, a 5xx) is waited out until the timeout; an answer that the request is wrong is not.
    if (error instanceof ApiUnreachableError) return tracker.warnUnreachable(error.reason);
    if (error instanceof ApiRequestError && !error.isInputError) {
      return tracker.warnUnreachable(`${error.code}: ${error.message}`);
    }
    throw error;
  }
}

/** The stack's URLs after a deploy; none when the stack view cannot be read (the deploy's outcome stands). */
async function stackUrlLines(api: ApiClient, stack: string): Promise<string[]> {
  try {
    const { body } = await api.request<StackDetail>("GET", `/v1/stacks/${encode(stack)}`);
    return urlLines(body);
  } catch (error) {
    if (error instanceof ApiUnreachableError || error instanceof ApiRequestError) return [];
    throw error;
  }
}

/** A progress line from the service view; none when it cannot be read (the next poll tries again). */
async function showProgress(api: ApiClient, tracker: Tracker, signal: AbortSignal): Promise<void> {
  const { stack, service } = tracker.deployment;
  try {
    const { body } = await api.request<ServiceView>(
      "GET",
      `/v1/stacks/${encode(stack)}/services/${encode(service)}`,
      { signal },
    );
    tracker.progress(body);
  } catch (error) {
    if ((error as Error).name === "AbortError") return;
    if (error instanceof ApiUnreachableError || error instanceof ApiRequestError) return;
    throw error;
  }
}

function summaryLines(plan: PlanEntry[], trackers: Tracker[], paint: Paint): string[] {
  const byService = new Map(trackers.map((tracker) => [tracker.service, tracker.deployment]));
  const rows = plan.map((entry) => {
    const deployment = byService.get(entry.service);
    if (!deployment) {
      const note = entry.pendingDeletion ? "its deletion was already under way" : "";
      return [entry.service, entry.change, "-", note];
    }
    const took = deployment.finishedAt
      ? duration(Date.parse(deployment.finishedAt) - Date.parse(deployment.createdAt))
      : "-";
    return [entry.service, deployment.status, took, plainText(deployment.reason)];
  });
  return [
    "Summary:",
    ...table(["SERVICE", "STATUS", "DURATION", "REASON"], rows, (_row, column, text) =>
      column === 1 ? paint(statusStyle(text.trim()), text) : text,
    ).map((line) => `  ${line}`),
  ];
}

/**
 * `--image REF` or `--image CONTAINER=REF`: a bare reference is for the container
 * named after the service, which is the only one of every kind of service but a multi-container
 * workload.
 */
function imagesOf(service: string, given: string[]): Record<string, string> {
  const images: Record<string, string> = {};
  for (const text of given) {
    const equals = text.indexOf("=");
    // `=` before any `/` or `:` names a container; image references have neither before it.
    const named = equals > 0 && !/[/:@]/.test(text.slice(0, equals));
    const container = named ? text.slice(0, equals) : service;
    const image = named ? text.slice(equals + 1) : text;
    if (image === "") throw new UsageError(`--image ${text}: give an image reference`);
    images[container] = image;
  }
  return images;
}

/** `berth redeploy`: the service deployed again, as stored (optionally with new images), followed to its end. */
export async function redeploy(args: string[], context: Context, startedAt: number): Promise<number> {
  const { values } = parseOptions(args, {
    stack: { type: "string" },
    service: { type: "string" },
    image: { type: "string" },
    "no-wait": { type: "boolean" },
    timeout: { type: "string" },
  });
  const { stack, service } = serviceOption(values);
  const timeoutMs = parseDuration(stringOption(values, "timeout") ?? DEFAULT_TIMEOUT, "timeout");
  const image = stringOption(values, "image");
  const images = imagesOf(service, image === undefined ? [] : [image]);
  const api = ApiClient.fromEnv(context.env, context.cwd);
  let requested: RequestedDeployment;
  try {
    ({ body: requested } = await api.request<RequestedDeployment>(
      "POST",
      `/v1/stacks/${encode(stack)}/services/${encode(service)}/deployments`,
      {
        headers: { "content-type": "application/json", "idempotency-key": randomUUID() },
        body: JSON.stringify(Object.keys(images).length > 0 ? { image: images } : {}),
      },
    ));
  } catch (error) {
    if (!(error instanceof ApiRequestError)) throw error;
    for (const line of apiErrorLines(error, `${stack}/${service}`)) context.err(line);
    return error.isInputError ? 2 : 1;
  }
  const { deployment } = requested;
  context.out(`Redeploying ${stack}/${service}: deployment ${deployment.id} (${requested.placement})`);
  if (values["no-wait"]) {
    context.out(`Not waiting. Follow the deployment with: berth status --stack ${stack}`);
    return 0;
  }
  const paint = painter(context.color);
  const tracker = new Tracker(service, service.length, deployment, context, paint, startedAt);
  const ending = await followAll(api, [tracker], context, startedAt + timeoutMs);
  if (ending === "timeout") {
    context.err(`berth: timed out after ${duration(timeoutMs)}; the deployment ${deployment.id} continues`);
    return 1;
  }
  if (ending === "interrupted") {
    context.err(`Stopped following; the deployment continues. Follow it with: berth status --stack ${stack}`);
    return INTERRUPTED;
  }
  const final = tracker.deployment;
  context.out(
    `${service}: ${paint(statusStyle(final.status), final.status)}${final.reason ? ` (${final.reason})` : ""}`,
  );
  return final.status === "SUCCEEDED" ? 0 : 1;
}

export async function cancel(args: string[], context: Context): Promise<number> {
  const { values, positionals } = parseOptions(
    args,
    { reason: { type: "string" }, "no-wait": { type: "boolean" }, timeout: { type: "string" } },
    true,
  );
  const [id, ...extra] = positionals;
  if (!id || extra.length > 0) throw new UsageError("cancel takes one deployment id");
  const reason = stringOption(values, "reason");
  const timeoutMs = parseDuration(stringOption(values, "timeout") ?? DEFAULT_TIMEOUT, "timeout");
  const api = ApiClient.fromEnv(context.env, context.cwd);
  const { body } = await api.request<CancelResponse>("POST", `/v1/deployments/${encode(id)}/cancel`, {
    ...(reason === undefined
      ? {}
      : { headers: { "content-type": "application/json" }, body: JSON.stringify({ reason }) }),
  });
  const { deployment } = body;
  const name = `${deployment.id} (${deployment.stack}/${deployment.service})`;
  if (body.outcome === "cancelled") {
    context.out(`Deployment ${name} is CANCELLED.`);
  } else if (values["no-wait"] === true) {
    context.out(
      `Cancellation of ${name} requested: it is ${deployment.status}, and its workflow stops it, ` +
        "undoes what it changed in ECS and ends it as CANCELLED.",
    );
  } else {
    context.out(
      `Cancellation of ${name} requested: it is ${deployment.status}; waiting while its workflow stops it ` +
        "and undoes what it changed in ECS…",
    );
    const ended = await untilFinal(api, deployment.id, context, Date.now() + timeoutMs);
    if (ended === "interrupted") return INTERRUPTED;
    if (ended === "timeout") {
      context.err(`berth: timed out after ${duration(timeoutMs)}; ${name} has not ended yet`);
      return 1;
    }
    context.out(`Deployment ${name} is ${ended.status}: ${ended.reason}`);
    if (ended.status !== "CANCELLED") return 1;
  }
  if (body.promoted) {
    context.out(
      `Deployment ${body.promoted.deployment.id} took its place and is ${body.promoted.deployment.status}.`,
    );
  }
  return 0;
}

/** Polls one deployment until it is final. */
async function untilFinal(
  api: ApiClient,
  id: string,
  context: Context,
  deadline: number,
): Promise<Deployment | "timeout" | "interrupted"> {
  for (;;) {
    const { body } = await api.request<DeploymentWithEvents>("GET", `/v1/deployments/${encode(id)}`, {
      signal: context.signal,
    });
    if (DeploymentStatus.isTerminal(body.deployment.status)) return body.deployment;
    const left = deadline - Date.now();
    if (left <= 0) return "timeout";
    if (!(await pause(Math.min(context.pollIntervalMs, left), context.signal))) return "interrupted";
  }
}

import { BerthError, isConflict } from "../errors.ts";
import { Spec } from "../spec/index.ts";
import { IngressRecord, ServiceRecord, StackRecord } from "../store/index.ts";
import {
  desiredServices,
  type PlannedService,
  read as readPlan,
  type SourceDigests,
  type SpecJson,
  specHash,
} from "./plan.ts";
import { type RefreshScheduler, reconcile, type ScheduleOutcome } from "./refresh-schedule.ts";
import {
  type PlacedDeployment,
  placeDeployment,
  type RequestedDeployment,
  startPlaced,
  type WorkflowContext,
} from "./request.ts";
import {
  describe as describeService,
  type LiveContext,
  type LiveCounts,
  liveCounts,
  updateSpec,
} from "./service.ts";
import { checkSources } from "./source-check.ts";
import { withStackLease } from "./stack-lease.ts";

/** Applying a stack file and deleting a stack: the verbs behind `PUT` and `DELETE /v1/stacks/{stack}`. */

export interface StackContext extends WorkflowContext {
  /** Recorded on every stack applied. */
  stage: string;
  /** How long an apply or delete waits for another one of the same stack to finish before CONFLICT. */
  leaseWaitMs: number;
  /**
   * The installation can run tasks on EC2 instances (its cluster has an EC2 capacity provider).
   * Without it a stack file with `instanceTypes` is refused before anything is written or built.
   */
  ec2Capacity?: boolean;
  /**
   * Where stacks' own refresh schedules are kept (EventBridge Scheduler). Without it a stack file
   * with a refresh cron is refused before anything is written.
   */
  refreshScheduler?: RefreshScheduler;
}

/**
 * DynamoDB items hold 400 KB and the stack item holds the file verbatim; the services' specs
 * (defaults filled in, as JSON) are larger than the YAML they came from, so this leaves room.
 */
const MAX_STACK_FILE_BYTES = 256 * 1024;
const MAX_SPEC_JSON_BYTES = 350 * 1024;

function parseStackFile(text: string, options: Spec.ParseOptions): Spec.Stack {
  if (Buffer.byteLength(text) > MAX_STACK_FILE_BYTES) {
    throw new BerthError("PAYLOAD_TOO_LARGE", `a stack file is at most ${MAX_STACK_FILE_BYTES} bytes`);
  }
  const parsed = Spec.parse(text, options);
  if (!parsed.ok) {
    const details = parsed.issues.map((issue) => ({
      path: issue.path,
      ...(issue.line === undefined ? {} : { line: issue.line }),
      ...(issue.column === undefined ? {} : { column: issue.column }),
      message: issue.suggestion ? `${issue.message} (did you mean "${issue.suggestion}"?)` : issue.message,
    }));
    const count = details.length === 1 ? "1 problem" : `${details.length} problems`;
    throw new BerthError("INVALID_STACK_FILE", `the stack file has ${count}`, details);
  }
  return parsed.stack;
}

/** The compute resources of a stack file, each small enough to store. */
function desiredOf(stack: Spec.Stack): Map<string, SpecJson> {
  const desired = desiredServices(stack);
  for (const [service, spec] of desired) {
    if (Buffer.byteLength(JSON.stringify(spec)) > MAX_SPEC_JSON_BYTES) {
      throw new BerthError("PAYLOAD_TOO_LARGE", `resource ${service} is too large to store`, [
        { path: `resources.${service}`, message: `its spec is over ${MAX_SPEC_JSON_BYTES} bytes as JSON` },
      ]);
    }
  }
  return desired;
}

/** How many parsed stack files a process keeps (each at most MAX_STACK_FILE_BYTES of text). */
const PARSED_FILES_KEPT = 16;
const parsedFiles = new Map<string, { stack: Spec.Stack; desired: Map<string, SpecJson> }>();

/**
 * A stack file parsed, validated and turned into service specs: a pure function of the text and
 * the options, so a file applied again (a dry run in a loop, a retried CI job) is not parsed
 * again; that is most of a dry run's work. Only valid files are kept, and each caller gets its
 * own copy.
 */
function readStackFile(text: string, options: Spec.ParseOptions) {
  const key = `${options.ec2 !== false}\n${text}`;
  let parsed = parsedFiles.get(key);
  if (parsed) {
    // The most recently used go last; the first is evicted.
    parsedFiles.delete(key);
  } else {
    const stack = parseStackFile(text, options);
    parsed = { stack, desired: desiredOf(stack) };
    if (parsedFiles.size >= PARSED_FILES_KEPT) parsedFiles.delete(parsedFiles.keys().next().value as string);
  }
  parsedFiles.set(key, parsed);
  return structuredClone(parsed);
}

/**
 * Stores the service's spec and, when the apply names a source, where its source is and the
 * digests of its build inputs (cleared when the client sent none: the source is then unknown).
 */
async function writeSpec(
  context: StackContext,
  stack: string,
  planned: PlannedService,
  spec: SpecJson,
  source: string | undefined,
) {
  const sourceDigests = planned.sourceDigests;
  if (!planned.current) {
    try {
      await ServiceRecord.create(context.store, {
        stack,
        name: planned.service,
        spec,
        ...(sourceDigests ? { sourceDigests } : {}),
        ...(source ? { source } : {}),
      });
      return;
    } catch (error) {
      if (!isConflict(error)) throw error;
    }
  }
  await updateSpec(
    context.store,
    stack,
    planned.service,
    () => spec,
    source ? { sourceDigests: sourceDigests ?? null, source } : {},
  );
}

function describeChange(planned: PlannedService): string {
  if (planned.change === "created") return "stack file applied: service added";
  if (planned.change === "forced") return "stack file applied: deployed again on request (--force)";
  if (planned.change === "retry")
    return `stack file applied: retried, as ${planned.reason ?? "it does not run it"}`;
  const count = planned.changes?.length ?? 0;
  return `stack file applied: ${count} field${count === 1 ? "" : "s"} changed`;
}

function requestDeletion(context: StackContext, stack: string, planned: PlannedService, reason: string) {
  return placeDeployment(context, {
    stack,
    service: planned.service,
    trigger: "api",
    specHash: specHash((planned.current as ServiceRecord.Info).spec),
    reason,
    parameters: { action: "delete" },
  });
}

/** Carries out one service's part of an apply: its spec, then its deployment (placed, not started). */
async function applyService(
  context: StackContext,
  stack: string,
  planned: PlannedService,
  source: string | undefined,
): Promise<PlacedDeployment | undefined> {
  if (planned.change === "unchanged") return undefined;
  if (planned.change === "deleted") {
    if (planned.pendingDeletion || !planned.current) return undefined;
    return requestDeletion(context, stack, planned, "stack file applied: service removed from the file");
  }
  const spec = planned.spec as SpecJson;
  await writeSpec(context, stack, planned, spec, source);
  return placeDeployment(context, {
    stack,
    service: planned.service,
    trigger: "api",
    specHash: specHash(spec),
    reason: describeChange(planned),
    parameters: { action: "deploy", ...(source ? { source } : {}) },
  });
}

export interface ApplyInput {
  stack: string;
  /** The file as sent, YAML or JSON. */
  stackFile: string;
  /** Plan only: nothing is written. */
  dryRun: boolean;
  /** Where built packaging's source lives, passed on to each deployment. */
  source?: string;
  /** Service → container → digest of its build inputs, as the client computed them. */
  sourceDigests?: Record<string, SourceDigests>;
  /** Deploy every service of the file, changed or not. */
  force?: boolean;
}

/** One service's part of an apply or a deletion: what was planned, and the deployment it asked for. */
export interface ServiceOutcome {
  planned: PlannedService;
  requested?: RequestedDeployment;
}

export interface Applied {
  stackFileHash: string;
  services: ServiceOutcome[];
  /** What the apply did to the stack's refresh schedule; absent on dry runs. */
  refreshSchedule?: ScheduleOutcome;
}

/**
 * Applies a stack file: compares each compute resource with the stored service and, unless a dry
 * run, stores the services, requests one deployment per changed service, then stores the file.
 * Applies and deletions of one stack run one at a time (`withStackLease`).
 */
export async function apply(context: StackContext, input: ApplyInput): Promise<Applied> {
  // The file is checked before the lease: a bad file gets its 422 at once, even while another
  // apply holds the stack (parsing an identical file again is a cache hit).
  const { desired, options } = await checkedFile(context, input);
  if (input.dryRun) {
    const { plan } = await readPlan(context.store, input.stack, desired, options);
    return {
      stackFileHash: StackRecord.hashStackFile(input.stackFile),
      services: plan.map((planned) => ({ planned })),
    };
  }
  const placed = await withStackLease(context.store, input.stack, context.leaseWaitMs, async () => {
    const { stored, plan } = await readPlan(context.store, input.stack, desired, options);
    const services: PlacedOutcome[] = [];
    for (const planned of plan) {
      const deployment = await applyService(context, input.stack, planned, input.source);
      services.push({ planned, ...(deployment ? { deployment } : {}) });
    }
    // Written last, so the stored file is the last one whose services were all written.
    await StackRecord.put(context.store, {
      name: input.stack,
      stage: context.stage,
      stackFile: input.stackFile,
      expectedHash: stored?.stackFileHash ?? null,
    });
    // After the file, under the lease so two applies cannot interleave their schedule writes.
    const refreshSchedule = context.refreshScheduler
      ? await reconcile(context.refreshScheduler, context.logger, input.stack, input.stackFile)
      : undefined;
    return { services, refreshSchedule };
  });
  return {
    stackFileHash: StackRecord.hashStackFile(input.stackFile),
    services: await startWorkflows(context, placed.services),
    ...(placed.refreshSchedule ? { refreshSchedule: placed.refreshSchedule } : {}),
  };
}

/** The stack file parsed and checked as an apply needs it, dry run or not. */
async function checkedFile(context: StackContext, input: ApplyInput) {
  const { stack, desired } = readStackFile(input.stackFile, { ec2: context.ec2Capacity === true });
  // Refused now, dry run or not, rather than by the build once the deployment runs.
  await checkSources(stack, input.source);
  const options = {
    ...(input.sourceDigests ? { sourceDigests: new Map(Object.entries(input.sourceDigests)) } : {}),
    ...(input.force ? { force: true } : {}),
  };
  const refreshCron = stack.berth?.refresh && stack.berth.refresh.schedule !== "off";
  if (refreshCron && !context.refreshScheduler) {
    throw new BerthError("INVALID_STACK_FILE", "the stack file has 1 problem", [
      {
        path: "berth.refresh.schedule",
        message:
          "this installation has no refresh scheduler (EventBridge Scheduler): use off, or leave it out for the weekly refresh",
      },
    ]);
  }
  return { desired, options };
}

interface PlacedOutcome {
  planned: PlannedService;
  deployment?: PlacedDeployment;
}

/**
 * Starts the workflows of the deployments an apply or a deletion placed, once its lease is
 * released: StartExecution is a network call the next apply of the stack need not wait for, and
 * a deployment that holds its service's active slot is the only one that can run meanwhile.
 */
function startWorkflows(context: StackContext, placed: PlacedOutcome[]): Promise<ServiceOutcome[]> {
  return Promise.all(
    placed.map(async ({ planned, deployment }) =>
      deployment ? { planned, requested: await startPlaced(context, deployment) } : { planned },
    ),
  );
}

/**
 * Deletes a stack: requests a deletion deployment for each of its services (each service record
 * stays until its deletion has run), then removes the stack record.
 */
export async function remove(context: StackContext, stack: string): Promise<ServiceOutcome[]> {
  const placed = await withStackLease(context.store, stack, context.leaseWaitMs, async () => {
    const { stored, plan } = await readPlan(context.store, stack, new Map());
    if (!stored) throw new BerthError("NOT_FOUND", `stack ${stack} does not exist`);
    const services: PlacedOutcome[] = [];
    for (const planned of plan) {
      const deployment = planned.pendingDeletion
        ? undefined
        : await requestDeletion(context, stack, planned, `stack ${stack} deleted`);
      services.push({ planned, ...(deployment ? { deployment } : {}) });
    }
    await StackRecord.remove(context.store, stack);
    if (context.refreshScheduler) await reconcile(context.refreshScheduler, context.logger, stack, undefined);
    return services;
  });
  return startWorkflows(context, placed);
}

/** A stack as applied, with its services and the deployments in their slots. */
export async function describe(context: Pick<StackContext, "store">, stack: string) {
  const [{ stack: found, services }, ingress] = await Promise.all([
    StackRecord.getWithServices(context.store, stack),
    IngressRecord.list(context.store, stack),
  ]);
  if (!found) throw new BerthError("NOT_FOUND", `stack ${stack} does not exist`);
  return {
    stack: found,
    services: await Promise.all(services.map((service) => describeService(context.store, service, ingress))),
    ingress,
  };
}

/** One service as the stack list shows it: what the store says, and ECS's task counts. */
export interface ListedService {
  name: string;
  type: string;
  /** DEPLOYING while a deployment holds its active slot; LIVE once one has run; else NOT_DEPLOYED. */
  status: "DEPLOYING" | "LIVE" | "NOT_DEPLOYED";
  tasks: LiveCounts;
}

/** How many stacks' services are read from the store at once. */
const STACK_READS_AT_ONCE = 8;

/**
 * Every stack with each of its services' status and task counts: one store query per stack and
 * one DescribeServices per ten services, where asking per service would take one request each.
 */
export async function listWithServices(
  context: LiveContext,
): Promise<{ stack: StackRecord.Info; services: ListedService[] }[]> {
  const stacks = await StackRecord.list(context.store);
  const services: ServiceRecord.Info[][] = new Array(stacks.length);
  let next = 0;
  const reader = async () => {
    while (next < stacks.length) {
      const index = next++;
      services[index] = (
        await StackRecord.getWithServices(context.store, (stacks[index] as StackRecord.Info).name)
      ).services;
    }
  };
  await Promise.all(Array.from({ length: Math.min(STACK_READS_AT_ONCE, stacks.length) }, reader));
  const flat = services.flat();
  const counts = await liveCounts(
    context,
    flat.map((service) => ({ stack: service.stack, service: service.name })),
  );
  const countOf = new Map(flat.map((service, index) => [`${service.stack}/${service.name}`, counts[index]]));
  return stacks.map((stack, index) => ({
    stack,
    services: (services[index] ?? []).map((service) => ({
      name: service.name,
      type: typeof service.spec.type === "string" ? service.spec.type : "unknown",
      status: service.activeDeploymentId
        ? "DEPLOYING"
        : service.liveTaskDefinitionArn
          ? "LIVE"
          : "NOT_DEPLOYED",
      tasks: countOf.get(`${service.stack}/${service.name}`) ?? { desired: null, running: null },
    })),
  }));
}

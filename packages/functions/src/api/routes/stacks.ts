import { BerthError } from "@berth/core/errors";
import { Spec } from "@berth/core/spec";
import { ServiceRecord, StackRecord, type Store } from "@berth/core/store";
import type { z } from "zod";
import { ApiError } from "../errors.ts";
import { desiredServices, type PlannedService, planStack, type SpecJson, specHash } from "../plan.ts";
import { defineRoute, type RouteContext, reply } from "../route.ts";
import {
  ApplyQuery,
  ApplyResponse,
  DeleteStackResponse,
  NoQuery,
  type PlanEntry,
  StackDetail,
  StackList,
  StackParams,
} from "../schemas.ts";
import { withStackLease } from "../stack-lease.ts";
import { isBeingDeleted, requestedBody, serviceSummary, updateServiceSpec } from "../views.ts";
import { type RequestedDeployment, requestDeployment, workflowContextOf } from "../workflow.ts";

/**
 * DynamoDB items hold 400 KB and the stack item holds the file verbatim; the services' specs
 * (defaults filled in, as JSON) are larger than the YAML they came from, so this leaves room.
 */
const MAX_STACK_FILE_BYTES = 256 * 1024;
const MAX_SPEC_JSON_BYTES = 350 * 1024;

function parseStackFile(text: string): Spec.Stack {
  if (Buffer.byteLength(text) > MAX_STACK_FILE_BYTES) {
    throw new ApiError("PAYLOAD_TOO_LARGE", `a stack file is at most ${MAX_STACK_FILE_BYTES} bytes`);
  }
  const parsed = Spec.parse(text);
  if (!parsed.ok) {
    const details = parsed.issues.map((issue) => ({
      path: issue.path,
      ...(issue.line === undefined ? {} : { line: issue.line }),
      ...(issue.column === undefined ? {} : { column: issue.column }),
      message: issue.suggestion ? `${issue.message} (did you mean "${issue.suggestion}"?)` : issue.message,
    }));
    const count = details.length === 1 ? "1 problem" : `${details.length} problems`;
    throw new ApiError("INVALID_STACK_FILE", `the stack file has ${count}`, details);
  }
  return parsed.stack;
}

async function readPlan(store: Store, stack: string, desired: ReadonlyMap<string, SpecJson>) {
  const [stored, services] = await Promise.all([
    StackRecord.get(store, stack),
    ServiceRecord.list(store, stack),
  ]);
  const deleting = await Promise.all(services.map((service) => isBeingDeleted(store, service)));
  const pendingDeletions = new Set(
    services.filter((_, index) => deleting[index]).map((service) => service.name),
  );
  return { stored, plan: planStack(desired, services, pendingDeletions) };
}

function planEntry(planned: PlannedService): z.input<typeof PlanEntry> {
  return {
    service: planned.service,
    type: planned.type,
    change: planned.change,
    ...(planned.changes ? { changes: planned.changes } : {}),
    ...(planned.pendingDeletion ? { pendingDeletion: true } : {}),
  };
}

async function writeSpec(
  store: Store,
  stack: string,
  planned: PlannedService,
  spec: SpecJson,
): Promise<void> {
  if (!planned.current) {
    try {
      await ServiceRecord.create(store, { stack, name: planned.service, spec });
      return;
    } catch (error) {
      if (!(error instanceof BerthError && error.code === "CONFLICT")) throw error;
    }
  }
  await updateServiceSpec(store, stack, planned.service, () => spec);
}

function describeChange(planned: PlannedService): string {
  if (planned.change === "created") return "stack file applied: service added";
  const count = planned.changes?.length ?? 0;
  return `stack file applied: ${count} field${count === 1 ? "" : "s"} changed`;
}

/** Carries out one service's part of an apply: its spec, then its deployment. */
async function applyService(
  context: RouteContext,
  stack: string,
  planned: PlannedService,
  source: string | undefined,
): Promise<RequestedDeployment | undefined> {
  const { store } = context.dependencies;
  if (planned.change === "unchanged") return undefined;
  if (planned.change === "deleted") {
    if (planned.pendingDeletion || !planned.current) return undefined;
    return requestDeployment(workflowContextOf(context), {
      stack,
      service: planned.service,
      trigger: "api",
      specHash: specHash(planned.current.spec),
      reason: "stack file applied: service removed from the file",
      parameters: { action: "delete" },
    });
  }
  const spec = planned.spec as SpecJson;
  await writeSpec(store, stack, planned, spec);
  return requestDeployment(workflowContextOf(context), {
    stack,
    service: planned.service,
    trigger: "api",
    specHash: specHash(spec),
    reason: describeChange(planned),
    parameters: { action: "deploy", ...(source ? { source } : {}) },
  });
}

const applyStack = defineRoute({
  method: "PUT",
  path: "/v1/stacks/{stack}",
  operationId: "applyStack",
  summary: "Apply a stack file",
  description:
    "Parses the stack file (YAML or JSON), compares each compute resource with the stored service and, unless " +
    "`dryRun=true`, stores the file and the services and requests one deployment per changed service. " +
    "Applies of one stack run one at a time.",
  access: "deploy",
  params: StackParams,
  query: ApplyQuery,
  body: { kind: "stack-file" },
  responses: {
    200: { description: "Nothing to deploy, or a dry run: the plan", schema: ApplyResponse },
    202: { description: "Stored; deployments requested for the changed services", schema: ApplyResponse },
  },
  usesIdempotencyKey: (query) => !query.dryRun,
  async handle({ params, query, body, context }) {
    const { store, stage, stackLeaseWaitMs } = context.dependencies;
    const desired = desiredServices(parseStackFile(body));
    for (const [service, spec] of desired) {
      if (Buffer.byteLength(JSON.stringify(spec)) > MAX_SPEC_JSON_BYTES) {
        throw new ApiError("PAYLOAD_TOO_LARGE", `resource ${service} is too large to store`, [
          { path: `resources.${service}`, message: `its spec is over ${MAX_SPEC_JSON_BYTES} bytes as JSON` },
        ]);
      }
    }
    const stackFileHash = StackRecord.hashStackFile(body);
    if (query.dryRun) {
      const { plan } = await readPlan(store, params.stack, desired);
      return reply(200, ApplyResponse, {
        stack: params.stack,
        dryRun: true,
        stackFileHash,
        plan: plan.map(planEntry),
      });
    }
    return withStackLease(store, params.stack, stackLeaseWaitMs, async () => {
      const { stored, plan } = await readPlan(store, params.stack, desired);
      const entries: z.input<typeof PlanEntry>[] = [];
      for (const planned of plan) {
        const requested = await applyService(context, params.stack, planned, query.source);
        entries.push({
          ...planEntry(planned),
          ...(requested ? { deployment: requestedBody(requested) } : {}),
        });
      }
      // Written last, so the stored file is the last one whose services were all written.
      await StackRecord.put(store, {
        name: params.stack,
        stage,
        stackFile: body,
        expectedHash: stored?.stackFileHash ?? null,
      });
      const deployed = entries.some((entry) => entry.deployment !== undefined);
      return reply(deployed ? 202 : 200, ApplyResponse, {
        stack: params.stack,
        dryRun: false,
        stackFileHash,
        plan: entries,
      });
    });
  },
});

const listStacks = defineRoute({
  method: "GET",
  path: "/v1/stacks",
  operationId: "listStacks",
  summary: "List stacks",
  access: "read",
  query: NoQuery,
  responses: { 200: { description: "Every stack, by name", schema: StackList } },
  async handle({ context }) {
    const stacks = await StackRecord.list(context.dependencies.store);
    return reply(200, StackList, { stacks: stacks.map(({ stackFile: _, ...stack }) => stack) });
  },
});

const getStack = defineRoute({
  method: "GET",
  path: "/v1/stacks/{stack}",
  operationId: "getStack",
  summary: "Get a stack: its applied file and its services",
  access: "read",
  params: StackParams,
  query: NoQuery,
  responses: { 200: { description: "The stack", schema: StackDetail } },
  async handle({ params, context }) {
    const { store } = context.dependencies;
    const stack = await StackRecord.get(store, params.stack);
    if (!stack) throw new ApiError("NOT_FOUND", `stack ${params.stack} does not exist`);
    const services = await ServiceRecord.list(store, params.stack);
    return reply(200, StackDetail, {
      stack,
      services: await Promise.all(services.map((service) => serviceSummary(store, service))),
    });
  },
});

const deleteStack = defineRoute({
  method: "DELETE",
  path: "/v1/stacks/{stack}",
  operationId: "deleteStack",
  summary: "Delete a stack",
  description:
    "Removes the stack and requests a deletion deployment for each of its services; each service record " +
    "stays until its deletion has run, and shows that deployment meanwhile.",
  access: "deploy",
  params: StackParams,
  query: NoQuery,
  responses: { 202: { description: "Deletion requested", schema: DeleteStackResponse } },
  async handle({ params, context }) {
    const { store, stackLeaseWaitMs } = context.dependencies;
    return withStackLease(store, params.stack, stackLeaseWaitMs, async () => {
      const stack = await StackRecord.get(store, params.stack);
      if (!stack) throw new ApiError("NOT_FOUND", `stack ${params.stack} does not exist`);
      const { plan } = await readPlan(store, params.stack, new Map());
      const services: z.input<typeof DeleteStackResponse>["services"] = [];
      for (const planned of plan) {
        const requested = planned.pendingDeletion
          ? undefined
          : await requestDeployment(workflowContextOf(context), {
              stack: params.stack,
              service: planned.service,
              trigger: "api",
              specHash: specHash((planned.current as ServiceRecord.Info).spec),
              reason: `stack ${params.stack} deleted`,
              parameters: { action: "delete" },
            });
        services.push({
          service: planned.service,
          ...(planned.pendingDeletion ? { pendingDeletion: true } : {}),
          ...(requested ? { deployment: requestedBody(requested) } : {}),
        });
      }
      await StackRecord.remove(store, params.stack);
      return reply(202, DeleteStackResponse, { stack: params.stack, services });
    });
  },
});

export const stackRoutes = [listStacks, applyStack, getStack, deleteStack];

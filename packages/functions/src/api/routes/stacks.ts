import { Stack } from "@berth/core/deployments";
import { IngressRecord, StackRecord } from "@berth/core/store";
import type { z } from "zod";
import { readRoute, writeRoute } from "../one-answer.ts";
import { coreContext, defineRoute, reply } from "../route.ts";
import {
  ApplyQuery,
  ApplyResponse,
  DeleteStackResponse,
  type PlanEntry,
  StackDetail,
  StackList,
  StackListQuery,
  StackParams,
} from "../schemas.ts";
import { requestedBody, serviceSummary } from "../views.ts";

function planEntry({ planned, requested }: Stack.ServiceOutcome): z.input<typeof PlanEntry> {
  return {
    service: planned.service,
    type: planned.type,
    change: planned.change,
    ...(planned.changes ? { changes: planned.changes } : {}),
    ...(planned.reason ? { reason: planned.reason } : {}),
    ...(planned.pendingDeletion ? { pendingDeletion: true } : {}),
    ...(requested ? { deployment: requestedBody(requested) } : {}),
  };
}

const applyStack = defineRoute({
  method: "PUT",
  path: "/v1/stacks/{stack}",
  operationId: "applyStack",
  summary: "Apply a stack file",
  description:
    "Parses the stack file (YAML or JSON), compares each compute resource with the stored service and, unless " +
    "`dryRun=true`, stores the file and the services and requests one deployment per changed service. " +
    "A service counts as changed when its spec or (given `sourceDigests`) its source differs, when it does " +
    "not run its stored spec (never deployed, or its last deployment failed: `retry`), or with `force=true`. " +
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
    const applied = await Stack.apply(coreContext(context), {
      stack: params.stack,
      stackFile: body,
      dryRun: query.dryRun,
      ...(query.source ? { source: query.source } : {}),
      ...(query.sourceDigests ? { sourceDigests: query.sourceDigests } : {}),
      ...(query.force ? { force: true } : {}),
    });
    const deployed = applied.services.some((service) => service.requested !== undefined);
    return reply(deployed ? 202 : 200, ApplyResponse, {
      stack: params.stack,
      dryRun: query.dryRun,
      stackFileHash: applied.stackFileHash,
      plan: applied.services.map(planEntry),
      ...(applied.refreshSchedule ? { refreshSchedule: applied.refreshSchedule } : {}),
    });
  },
});

const listStacks = readRoute({
  path: "/v1/stacks",
  operationId: "listStacks",
  summary: "List stacks",
  description:
    "Every stack, by name, without its file. With `services=true` each stack also lists its services with " +
    "their status and running/desired task counts (null where ECS cannot say), read in one request.",
  query: StackListQuery,
  answer: "Every stack, by name",
  schema: StackList,
  async read({ query, context }) {
    if (!query.services) {
      const stacks = await StackRecord.list(context.dependencies.store);
      return { stacks: stacks.map(({ stackFile: _, ...stack }) => stack) };
    }
    const listed = await Stack.listWithServices(coreContext(context));
    return {
      stacks: listed.map(({ stack: { stackFile: _, ...stack }, services }) => ({ ...stack, services })),
    };
  },
});

const getStack = readRoute({
  path: "/v1/stacks/{stack}",
  operationId: "getStack",
  summary: "Get a stack: its applied file and its services",
  params: StackParams,
  answer: "The stack",
  schema: StackDetail,
  async read({ params, context }) {
    const described = await Stack.describe(coreContext(context), params.stack);
    return {
      stack: described.stack,
      services: described.services.map(serviceSummary),
      ingress: described.ingress.map((resource) => ({
        name: resource.name,
        type: resource.type,
        url: IngressRecord.publicUrl(resource),
        endpoint: resource.url,
        domains: resource.domains.map(({ name, url, target, dns }) => ({ name, url, target, dns })),
      })),
    };
  },
});

const deleteStack = writeRoute({
  method: "DELETE",
  path: "/v1/stacks/{stack}",
  operationId: "deleteStack",
  summary: "Delete a stack",
  description:
    "Removes the stack and requests a deletion deployment for each of its services; each service record " +
    "stays until its deletion has run, and shows that deployment meanwhile.",
  access: "deploy",
  params: StackParams,
  status: 202,
  answer: "Deletion requested",
  schema: DeleteStackResponse,
  async write({ params, context }) {
    const services = await Stack.remove(coreContext(context), params.stack);
    return {
      stack: params.stack,
      services: services.map(({ planned, requested }) => ({
        service: planned.service,
        ...(planned.pendingDeletion ? { pendingDeletion: true } : {}),
        ...(requested ? { deployment: requestedBody(requested) } : {}),
      })),
    };
  },
});

export const stackRoutes = [listStacks, applyStack, getStack, deleteStack];

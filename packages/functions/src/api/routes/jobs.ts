import { JobRun } from "@berth/core/deployments";
import { defineRoute, type RouteContext, reply } from "../route.ts";
import {
  JobParams,
  NoQuery,
  PageQuery,
  RunDetail,
  RunPage,
  RunParams,
  RunView,
  StartRunBody,
} from "../schemas.ts";

/** What the job-run verbs need from the route's dependencies. */
function jobRunContext({ dependencies }: RouteContext): JobRun.JobRunContext {
  return { store: dependencies.store, sfn: dependencies.sfn, clock: dependencies.clock };
}

const startRun = defineRoute({
  method: "POST",
  path: "/v1/stacks/{stack}/jobs/{job}/runs",
  operationId: "startJobRun",
  summary: "Start a run of a deployed batch job, optionally with another command or more environment",
  access: "deploy",
  params: JobParams,
  query: NoQuery,
  body: { kind: "json", schema: StartRunBody, optional: true },
  responses: { 202: { description: "Run started", schema: RunView } },
  async handle({ params, body, context }) {
    return reply(202, RunView, await JobRun.start(jobRunContext(context), { ...params, ...body }));
  },
});

const listRuns = defineRoute({
  method: "GET",
  path: "/v1/stacks/{stack}/jobs/{job}/runs",
  operationId: "listJobRuns",
  summary: "List a batch job's runs, newest first, wherever they were started from",
  access: "read",
  params: JobParams,
  query: PageQuery,
  responses: { 200: { description: "One page of runs", schema: RunPage } },
  async handle({ params, query, context }) {
    return reply(200, RunPage, await JobRun.list(jobRunContext(context), { ...params, ...query }));
  },
});

const getRun = defineRoute({
  method: "GET",
  path: "/v1/stacks/{stack}/jobs/{job}/runs/{id}",
  operationId: "getJobRun",
  summary: "Get a run of a batch job with its attempts: exit codes, stopped reasons, times",
  access: "read",
  params: RunParams,
  query: NoQuery,
  responses: { 200: { description: "The run", schema: RunDetail } },
  async handle({ params, context }) {
    return reply(200, RunDetail, await JobRun.describe(jobRunContext(context), params));
  },
});

export const jobRoutes = [startRun, listRuns, getRun];

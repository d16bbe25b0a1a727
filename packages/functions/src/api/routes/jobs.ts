import { JobRun } from "@berth/core/deployments";
import { readRoute, writeRoute } from "../one-answer.ts";
import type { RouteContext } from "../route.ts";
import { JobParams, PageQuery, RunDetail, RunPage, RunParams, RunView, StartRunBody } from "../schemas.ts";

/** What the job-run verbs need from the route's dependencies. */
function jobRunContext({ dependencies }: RouteContext): JobRun.JobRunContext {
  return { store: dependencies.store, sfn: dependencies.sfn, clock: dependencies.clock };
}

const startRun = writeRoute({
  method: "POST",
  path: "/v1/stacks/{stack}/jobs/{job}/runs",
  operationId: "startJobRun",
  summary: "Start a run of a deployed batch job, optionally with another command or more environment",
  access: "deploy",
  params: JobParams,
  body: { kind: "json", schema: StartRunBody, optional: true },
  status: 202,
  answer: "Run started",
  schema: RunView,
  write: ({ params, body, context }) => JobRun.start(jobRunContext(context), { ...params, ...body }),
});

const listRuns = readRoute({
  path: "/v1/stacks/{stack}/jobs/{job}/runs",
  operationId: "listJobRuns",
  summary: "List a batch job's runs, newest first, wherever they were started from",
  params: JobParams,
  query: PageQuery,
  answer: "One page of runs",
  schema: RunPage,
  read: ({ params, query, context }) => JobRun.list(jobRunContext(context), { ...params, ...query }),
});

const getRun = readRoute({
  path: "/v1/stacks/{stack}/jobs/{job}/runs/{id}",
  operationId: "getJobRun",
  summary: "Get a run of a batch job with its attempts: exit codes, stopped reasons, times",
  params: RunParams,
  answer: "The run",
  schema: RunDetail,
  read: ({ params, context }) => JobRun.describe(jobRunContext(context), params),
});

export const jobRoutes = [startRun, listRuns, getRun];

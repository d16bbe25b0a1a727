import { GetLogEventsCommand } from "@aws-sdk/client-cloudwatch-logs";
import { z } from "zod";
import { BerthError, isConflict } from "../../errors.ts";
import { Render } from "../../render/index.ts";
import { DeploymentEventRecord, DeploymentRecord, WaitRecord } from "../../store/index.ts";
import { transition } from "../deployment.ts";
import { isTerminal, type Status } from "../status.ts";
import type { StepContext } from "./context.ts";
import { STEP_ERRORS } from "./errors.ts";
import type { StepInput } from "./load.ts";
import { Outcome } from "./outcome.ts";
import { recordLive } from "./service-state.ts";
import { renderEnvironment } from "./target.ts";

/** A caught error as Step Functions hands it on: `{ Error, Cause }`. */
export const CaughtError = z.object({ Error: z.string(), Cause: z.string().optional() });
export type CaughtError = z.infer<typeof CaughtError>;

export interface Finalized {
  status: Status;
  reason: string;
}

const MAX_REASON = 1000;

/** What went wrong, in words, from the error a step threw or an integration reported. */
export function describeError(error: CaughtError): { reason: string; build?: BuildFailure } {
  let cause: unknown = error.Cause;
  try {
    cause = error.Cause ? JSON.parse(error.Cause) : undefined;
  } catch {
    // A plain-text cause is shown as it is.
  }
  const build = BuildFailure.safeParse(cause);
  if (build.success) {
    const phase = build.data.Phases?.find(
      (candidate) => candidate.PhaseStatus && candidate.PhaseStatus !== "SUCCEEDED",
    );
    const context = phase?.Contexts?.map((item) => item.Message)
      .filter(Boolean)
      .join("; ");
    return {
      reason: `the build ${build.data.Id ?? ""} ${build.data.BuildStatus?.toLowerCase() ?? "failed"}${phase ? ` in its ${phase.PhaseType} phase` : ""}${context ? `: ${context}` : ""}`,
      build: build.data,
    };
  }
  const lambda = z.object({ errorMessage: z.string(), errorType: z.string().optional() }).safeParse(cause);
  if (lambda.success) return { reason: lambda.data.errorMessage };
  if (typeof cause === "string" && cause.length > 0) return { reason: `${error.Error}: ${cause}` };
  if (error.Error === "States.Timeout") return { reason: "a step of the workflow timed out" };
  return { reason: error.Error };
}

const BuildFailure = z.looseObject({
  Id: z.string().optional(),
  BuildStatus: z.string(),
  Phases: z
    .array(
      z.looseObject({
        PhaseType: z.string(),
        PhaseStatus: z.string().optional(),
        Contexts: z.array(z.looseObject({ Message: z.string().optional() })).optional(),
      }),
    )
    .optional(),
  Logs: z.looseObject({ GroupName: z.string().optional(), StreamName: z.string().optional() }).optional(),
});
type BuildFailure = z.infer<typeof BuildFailure>;

async function buildLogTail(context: StepContext, build: BuildFailure): Promise<string[]> {
  const group = build.Logs?.GroupName;
  const stream = build.Logs?.StreamName;
  if (!group || !stream) return [];
  try {
    const result = await context.clients.logs.send(
      new GetLogEventsCommand({
        logGroupName: group,
        logStreamName: stream,
        limit: 30,
        startFromHead: false,
      }),
    );
    return (result.events ?? []).map((event) => event.message ?? "");
  } catch {
    return [];
  }
}

/**
 * Moves a deployment to its final status through the statuses the lifecycle requires (a
 * rollback passes through ROLLING_BACK). A deployment someone else moved meanwhile is re-read.
 */
async function moveTo(
  context: StepContext,
  id: string,
  final: Status,
  reason: string,
): Promise<DeploymentRecord.Info> {
  for (let attempt = 0; attempt < 10; attempt += 1) {
    const current = await DeploymentRecord.get(context.store, id);
    if (!current) throw new BerthError("NOT_FOUND", `deployment ${id} does not exist`);
    if (isTerminal(current.status)) return current;
    let to: Status = final;
    if (final === "FAILED" && current.status === "ROLLING_BACK") to = "ROLLBACK_FAILED";
    if ((final === "ROLLED_BACK" || final === "ROLLBACK_FAILED") && current.status !== "ROLLING_BACK") {
      to = current.status === "DEPLOYING" ? "ROLLING_BACK" : "FAILED";
    }
    try {
      await transition(context.store, id, current.status, to, reason.slice(0, MAX_REASON));
    } catch (error) {
      if (!isConflict(error)) throw error;
    }
  }
  throw new BerthError("CONFLICT", `deployment ${id} could not be ended`);
}

/**
 * finalize: ends the deployment truthfully, with the outcome of its wait or the error that
 * stopped its workflow, and records the service's new live and last-good revisions.
 */
export async function finalize(
  context: StepContext,
  input: StepInput & { outcome?: unknown; error?: unknown },
): Promise<Finalized> {
  const { store, settings } = context;
  const deployment = await DeploymentRecord.get(store, input.deploymentId);
  if (!deployment) throw new BerthError("NOT_FOUND", `deployment ${input.deploymentId} does not exist`);
  const ecsService = Render.serviceName(renderEnvironment(settings, input.stack), input.service);
  let ended: DeploymentRecord.Info;
  const outcome = input.outcome === undefined ? undefined : Outcome.safeParse(input.outcome);
  if (isTerminal(deployment.status)) {
    ended = deployment;
  } else if (outcome?.success) {
    ended = await moveTo(context, deployment.id, outcome.data.status, outcome.data.reason);
    if (outcome.data.taskDefinitionArn) {
      await recordLive(store, input.stack, input.service, {
        liveTaskDefinitionArn: outcome.data.taskDefinitionArn,
        ...(outcome.data.status === "SUCCEEDED"
          ? { lastGoodTaskDefinitionArn: outcome.data.taskDefinitionArn }
          : {}),
      });
    }
  } else {
    const caught = CaughtError.safeParse(input.error);
    const error = caught.success
      ? caught.data
      : { Error: "Berth.Unknown", Cause: "the workflow ended without an outcome" };
    const described = describeError(error);
    if (described.build) {
      await DeploymentEventRecord.append(store, deployment.id, {
        type: "build-failed",
        message: described.reason,
        data: { buildId: described.build.Id ?? null, logLines: await buildLogTail(context, described.build) },
      });
    }
    const cancelled = error.Error === STEP_ERRORS.cancelled;
    ended = await moveTo(context, deployment.id, cancelled ? "CANCELLED" : "FAILED", described.reason);
  }
  await WaitRecord.remove(store, settings.cluster, ecsService, deployment.id);
  return { status: ended.status, reason: ended.reason };
}

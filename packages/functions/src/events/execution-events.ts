import { Rollout } from "@berth/core/rollout";
import { DeploymentRecord } from "@berth/core/store";
import { z } from "zod";
import { releaseAndStartNext } from "../steps/release-service.ts";
import { loadRuntime } from "../steps/runtime.ts";

const runtime = loadRuntime();

const ExecutionStatusChange = z.looseObject({
  detail: z.looseObject({
    executionArn: z.string(),
    name: z.string(),
    status: z.string(),
    input: z.string().nullish(),
    error: z.string().nullish(),
    cause: z.string().nullish(),
  }),
});

const PerServiceInput = z.looseObject({ deploymentId: z.string(), stack: z.string(), service: z.string() });

/**
 * A workflow that ended without ending its deployment (an execution stopped, timed out, failed
 * outside every Catch, or lost when Berth Local restarted) leaves the deployment running and
 * its service held. Step Functions reports every such end as an execution status change; this
 * ends the deployment truthfully (FAILED, or ROLLBACK_FAILED mid-rollback, with the reason) and
 * releases the service, starting whatever waited behind it.
 */
export async function handler(event: unknown): Promise<{ ended: boolean }> {
  const parsed = ExecutionStatusChange.safeParse(event);
  if (!parsed.success || !["FAILED", "TIMED_OUT", "ABORTED"].includes(parsed.data.detail.status)) {
    return { ended: false };
  }
  const { detail } = parsed.data;
  let input: z.infer<typeof PerServiceInput>;
  try {
    const candidate = PerServiceInput.safeParse(JSON.parse(detail.input ?? "null"));
    if (!candidate.success) return { ended: false };
    input = candidate.data;
  } catch {
    return { ended: false };
  }
  const deployment = await DeploymentRecord.get(runtime.store, input.deploymentId);
  if (!deployment || deployment.executionArn !== detail.executionArn) return { ended: false };
  const cause = detail.cause ? `: ${detail.cause}` : "";
  const finalized = await Rollout.finalize(runtime, {
    ...input,
    error: {
      Error: detail.error ?? `States.${detail.status}`,
      Cause: `its workflow execution ended ${detail.status}${detail.error ? ` (${detail.error})` : ""}${cause}`,
    },
  });
  await releaseAndStartNext(runtime, input);
  runtime.logger.info("deployment ended after its execution", {
    deploymentId: input.deploymentId,
    status: finalized.status,
  });
  return { ended: true };
}

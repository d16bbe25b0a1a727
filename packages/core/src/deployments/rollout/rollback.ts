import { type Deployment, UpdateServiceCommand } from "@aws-sdk/client-ecs";
import { DeploymentRecord, WaitRecord } from "../../store/index.ts";
import { transition } from "../deployment.ts";
import { decide } from "./answer.ts";
import { describeService } from "./apply.ts";
import type { StepContext } from "./context.ts";

/** What starting a rollback came to: "ignored" when another event had already decided the wait. */
export type RollbackStart = "ignored" | "failed" | "rolling-back" | "rolled-back" | "rollback-failed";

/**
 * The rollback ECS started itself, if it did: after a failed canary, linear or blue/green shift,
 * or a circuit breaker with rollback on, ECS makes a new primary deployment of an earlier
 * revision. A rollout ECS still runs (or a DescribeServices that fails) is none.
 */
async function ecsRollback(context: StepContext, wait: WaitRecord.Info): Promise<Deployment | undefined> {
  try {
    const service = await describeService(context, wait.ecsService);
    const primary = service?.deployments?.find((deployment) => deployment.status === "PRIMARY");
    return primary?.id &&
      primary.id !== wait.ecsDeploymentId &&
      primary.taskDefinition &&
      primary.taskDefinition !== wait.taskDefinitionArn
      ? primary
      : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Moves the wait to rolling-back, once: the claim comes before any call to ECS, so two events
 * cannot start two rollbacks. The deployment goes ROLLING_BACK, saying `why`.
 */
async function claimRollback(
  context: StepContext,
  wait: WaitRecord.Info,
  changes: Partial<WaitRecord.Info>,
  why: string,
): Promise<{ after: WaitRecord.Info } | undefined> {
  const claimed = await WaitRecord.change(context.store, wait.cluster, wait.ecsService, (current) =>
    current.deploymentId === wait.deploymentId &&
    (current.phase === "deploying" || current.phase === "stabilizing")
      ? // A STABILIZING answer still pending is stale: the wait now follows the rollback.
        { ...changes, phase: "rolling-back", pendingOutcome: undefined }
      : undefined,
  );
  if (!claimed) return undefined;
  const deployment = await DeploymentRecord.get(context.store, wait.deploymentId);
  if (deployment?.status === "DEPLOYING") {
    await transition(context.store, wait.deploymentId, "DEPLOYING", "ROLLING_BACK", why);
  }
  return claimed;
}

/**
 * ECS is already rolling the service back: the wait follows ECS's rollback deployment instead of
 * starting a second one (on a gradual service that would shift traffic to the old revision all
 * over again), and the deployment ends with how ECS's rollback ends.
 */
async function followEcsRollback(
  context: StepContext,
  wait: WaitRecord.Info,
  reason: string,
  rollback: Deployment,
): Promise<RollbackStart> {
  const target = rollback.taskDefinition ?? "";
  const claimed = await claimRollback(
    context,
    wait,
    { rollbackReason: reason, rollbackTaskDefinitionArn: target, rollbackEcsDeploymentId: rollback.id },
    `${reason}; ECS is rolling back to ${target} itself (ECS deployment ${rollback.id}), which Berth follows`,
  );
  if (!claimed) return "ignored";
  // ECS's rollback may have ended before the wait followed it, its event then unmatched: look again.
  const now = (await ecsRollback(context, claimed.after)) ?? rollback;
  if (now.id !== rollback.id || (now.rolloutState !== "COMPLETED" && now.rolloutState !== "FAILED")) {
    return "rolling-back";
  }
  const completed = now.rolloutState === "COMPLETED";
  const decided = await decide(
    context,
    claimed.after,
    completed
      ? { status: "ROLLED_BACK", reason: `${reason}; back on ${target}`, taskDefinitionArn: target }
      : {
          status: "ROLLBACK_FAILED",
          reason: `${reason}; ECS's rollback to ${target} failed too: ${now.rolloutStateReason ?? "no reason given"}`,
        },
    ["rolling-back"],
  );
  if (!decided) return "rolling-back";
  return completed ? "rolled-back" : "rollback-failed";
}

/**
 * Rolls the service back at once: ECS is pointed at the last good revision and the wait now
 * follows that rollback. A service without one (its first deployment) is scaled to 0 instead,
 * so a crash loop stops, and the deployment fails. A refresh or a scale runs the revision the
 * service already ran: there is nothing to go back to, but its earlier tasks still serve (ECS
 * keeps them until new ones are healthy), so the deployment fails and the service is left be.
 * When ECS already rolls the service back itself, Berth follows that rollback and starts none.
 */
export async function rollBack(
  context: StepContext,
  wait: WaitRecord.Info,
  reason: string,
): Promise<RollbackStart> {
  const target = wait.rollbackTaskDefinitionArn;
  if (!target && wait.previousTaskDefinitionArn === wait.taskDefinitionArn && wait.previousDesiredCount) {
    const decided = await decide(
      context,
      wait,
      {
        status: "FAILED",
        reason: `${reason}; the new tasks run the same revision as the ones before them, which keep running: nothing was rolled back (fix what makes them fail, then redeploy)`,
      },
      ["deploying", "stabilizing"],
    );
    return decided ? "failed" : "ignored";
  }
  if (!target) {
    const decided = await decide(
      context,
      wait,
      {
        status: "FAILED",
        reason: `${reason}; no earlier revision to return to, so the service was scaled to 0`,
      },
      ["deploying", "stabilizing"],
    );
    if (!decided) return "ignored";
    await context.clients.ecs.send(
      new UpdateServiceCommand({ cluster: wait.cluster, service: wait.ecsService, desiredCount: 0 }),
    );
    return "failed";
  }
  const started = await ecsRollback(context, wait);
  if (started) return followEcsRollback(context, wait, reason, started);
  // Claim the rollback before calling ECS, so two events cannot start two.
  const claimed = await claimRollback(
    context,
    wait,
    { rollbackReason: reason },
    `${reason}; returning to ${target}`,
  );
  if (!claimed) return "ignored";
  try {
    const updated = await context.clients.ecs.send(
      new UpdateServiceCommand({
        cluster: wait.cluster,
        service: wait.ecsService,
        taskDefinition: target,
        forceNewDeployment: true,
      }),
    );
    const primary = updated.service?.deployments?.find((candidate) => candidate.status === "PRIMARY");
    if (!primary?.id) throw new Error("ECS answered no primary deployment for the rollback");
    await WaitRecord.change(context.store, wait.cluster, wait.ecsService, (current) =>
      current.deploymentId === wait.deploymentId && current.phase === "rolling-back"
        ? { rollbackEcsDeploymentId: primary.id }
        : undefined,
    );
    return "rolling-back";
  } catch (error) {
    await decide(
      context,
      claimed.after,
      {
        status: "ROLLBACK_FAILED",
        reason: `${reason}; the rollback to ${target} could not start: ${(error as Error).message}`,
      },
      ["rolling-back"],
    );
    return "rollback-failed";
  }
}

import {
  type Deployment,
  DescribeServiceDeploymentsCommand,
  ListServiceDeploymentsCommand,
  type Service,
  StopServiceDeploymentCommand,
  UpdateServiceCommand,
} from "@aws-sdk/client-ecs";
import { Ecs } from "../../aws/index.ts";
import { DeploymentRecord, WaitRecord } from "../../store/index.ts";
import { transition } from "../deployment.ts";
import { decide } from "./answer.ts";
import type { StepContext } from "./context.ts";
import { describeService } from "./service-state.ts";

/** What starting a rollback came to: "ignored" when another event had already decided the wait. */
export type RollbackStart = "ignored" | "failed" | "rolling-back" | "rolled-back" | "rollback-failed";

/** The strategies with which ECS shifts production traffic between two target groups. */
const GRADUAL = ["CANARY", "LINEAR", "BLUE_GREEN"];
/** Service deployment statuses of a rollback, ECS's own or one StopServiceDeployment asked for. */
const ROLLING_BACK = ["ROLLBACK_REQUESTED", "ROLLBACK_IN_PROGRESS"];
const ROLLED_BACK = ["ROLLBACK_SUCCESSFUL", "ROLLBACK_FAILED"];
/** Statuses StopServiceDeployment rolls back from; ECS refuses the others (a conflict). */
const STOPPABLE = ["PENDING", "IN_PROGRESS"];

/** A service deployment as DescribeServiceDeployments gives it: its ARN, status and why. */
export interface ServiceDeploymentState {
  arn: string;
  status: string;
  reason: string;
  /** When ECS created it, in epoch milliseconds. */
  createdAt?: number;
}

/** What ECS is doing with the wait's rollout, from DescribeServices and its service deployments. */
interface Rollout {
  service: Service | undefined;
  /** ECS's rollback as a new primary deployment of an earlier revision, when DescribeServices shows one. */
  rollback?: Deployment;
  /** A gradual service's current service deployment, which carries a rollback's status. */
  serviceDeployment?: ServiceDeploymentState;
}

const isGradual = (service: Service | undefined) =>
  GRADUAL.includes(service?.deploymentConfiguration?.strategy ?? "ROLLING");

/** One service deployment's status, or undefined when ECS has none by that ARN (or cannot say). */
export async function serviceDeploymentState(
  context: StepContext,
  arn: string,
): Promise<ServiceDeploymentState | undefined> {
  try {
    const described = await context.clients.ecs.send(
      new DescribeServiceDeploymentsCommand({ serviceDeploymentArns: [arn] }),
    );
    const found = described.serviceDeployments?.[0];
    if (!found?.status) return undefined;
    const reason = found.rollback?.reason ?? found.statusReason ?? "";
    return {
      arn,
      status: found.status,
      reason,
      ...(found.createdAt ? { createdAt: new Date(found.createdAt).getTime() } : {}),
    };
  } catch {
    return undefined;
  }
}

/**
 * The gradual service's current service deployment: DescribeServices names it
 * (`currentServiceDeployment`); where it does not, the newest ListServiceDeployments gives.
 */
async function currentServiceDeployment(
  context: StepContext,
  wait: WaitRecord.Info,
  service: Service,
): Promise<ServiceDeploymentState | undefined> {
  let arn = service.currentServiceDeployment;
  if (!arn) {
    try {
      const listed = await context.clients.ecs.send(
        new ListServiceDeploymentsCommand({ cluster: wait.cluster, service: wait.ecsService, maxResults: 1 }),
      );
      arn = listed.serviceDeployments?.[0]?.serviceDeploymentArn;
    } catch {
      return undefined;
    }
  }
  const state = arn ? await serviceDeploymentState(context, arn) : undefined;
  // An earlier rollout's service deployment (the wait's own not listed yet) says nothing of this one.
  const rollout = service.deployments?.find((deployment) => deployment.id === wait.ecsDeploymentId);
  const started = rollout?.createdAt ? new Date(rollout.createdAt).getTime() : undefined;
  if (state?.createdAt !== undefined && started !== undefined && state.createdAt < started - EARLIER_MS) {
    return undefined;
  }
  return state;
}

/** How much earlier than the wait's ECS deployment its service deployment may say it was created. */
const EARLIER_MS = 60_000;

/**
 * What ECS does with the wait's rollout. The rollback ECS started itself, if it did: after a
 * failed canary, linear or blue/green shift, or a circuit breaker with rollback on, ECS may show
 * a new primary deployment of an earlier revision in DescribeServices; a gradual service's
 * service deployment says ROLLBACK_IN_PROGRESS (or how the rollback ended) even where
 * DescribeServices shows none. A rollout ECS still runs (or a DescribeServices that fails) is none.
 */
async function readRollout(context: StepContext, wait: WaitRecord.Info): Promise<Rollout> {
  let service: Service | undefined;
  try {
    service = await describeService(context, wait.ecsService);
  } catch {
    return { service: undefined };
  }
  const primary = service?.deployments?.find((deployment) => deployment.status === "PRIMARY");
  const rollback =
    primary?.id &&
    primary.id !== wait.ecsDeploymentId &&
    primary.taskDefinition &&
    primary.taskDefinition !== wait.taskDefinitionArn
      ? primary
      : undefined;
  const serviceDeployment =
    service && isGradual(service) ? await currentServiceDeployment(context, wait, service) : undefined;
  return {
    service,
    ...(rollback ? { rollback } : {}),
    ...(serviceDeployment ? { serviceDeployment } : {}),
  };
}

/** Whether ECS is rolling the rollout back itself: a new primary, or a service deployment rolling back. */
function ecsRollingBack(rollout: Rollout): boolean {
  const status = rollout.serviceDeployment?.status ?? "";
  return rollout.rollback !== undefined || ROLLING_BACK.includes(status) || ROLLED_BACK.includes(status);
}

/**
 * How ECS's rollback ended, once it did: the service deployment's ROLLBACK_SUCCESSFUL or
 * ROLLBACK_FAILED where there is one, else the rollback deployment's rollout state.
 */
function rollbackEnd(rollout: Rollout): { completed: boolean; why: string } | undefined {
  const followed = rollout.serviceDeployment;
  if (followed && ROLLED_BACK.includes(followed.status)) {
    return { completed: followed.status === "ROLLBACK_SUCCESSFUL", why: followed.reason };
  }
  if (followed && ROLLING_BACK.includes(followed.status)) return undefined;
  const state = rollout.rollback?.rolloutState;
  if (state !== "COMPLETED" && state !== "FAILED") return undefined;
  return { completed: state === "COMPLETED", why: rollout.rollback?.rolloutStateReason ?? "" };
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
 * Ends the rolling-back wait with how ECS's rollback ended, once it did: ROLLED_BACK onto the
 * rollback's revision, or ROLLBACK_FAILED with ECS's reason. Answers undefined while it runs.
 */
async function settleRollback(
  context: StepContext,
  wait: WaitRecord.Info,
  reason: string,
  rollout: Rollout,
): Promise<"rolled-back" | "rollback-failed" | undefined> {
  const end = rollbackEnd(rollout);
  if (!end) return undefined;
  const target = wait.rollbackTaskDefinitionArn ?? rollout.rollback?.taskDefinition ?? "";
  const decided = await decide(
    context,
    wait,
    end.completed
      ? { status: "ROLLED_BACK", reason: `${reason}; back on ${target}`, taskDefinitionArn: target }
      : {
          status: "ROLLBACK_FAILED",
          reason: `${reason}; ECS's rollback to ${target} failed too: ${end.why || "no reason given"}`,
        },
    ["rolling-back"],
  );
  if (!decided) return undefined;
  return end.completed ? "rolled-back" : "rollback-failed";
}

/** What a rolling-back wait records about the ECS rollback it follows. */
function followed(rollout: Rollout): Partial<WaitRecord.Info> {
  return {
    ...(rollout.rollback?.id ? { rollbackEcsDeploymentId: rollout.rollback.id } : {}),
    ...(rollout.serviceDeployment ? { rollbackServiceDeploymentArn: rollout.serviceDeployment.arn } : {}),
  };
}

/**
 * ECS is already rolling the service back: the wait follows ECS's rollback instead of starting a
 * second one (on a gradual service that would shift traffic to the old revision all over again),
 * and the deployment ends with how ECS's rollback ends.
 */
async function followEcsRollback(
  context: StepContext,
  wait: WaitRecord.Info,
  reason: string,
  rollout: Rollout,
): Promise<RollbackStart> {
  const target = wait.rollbackTaskDefinitionArn ?? rollout.rollback?.taskDefinition ?? "";
  const how = rollout.rollback?.id
    ? `ECS deployment ${rollout.rollback.id}`
    : `service deployment ${rollout.serviceDeployment?.arn} ${rollout.serviceDeployment?.status}`;
  const claimed = await claimRollback(
    context,
    wait,
    {
      rollbackReason: reason,
      ...(target ? { rollbackTaskDefinitionArn: target } : {}),
      ...followed(rollout),
    },
    `${reason}; ECS is rolling back to ${target} itself (${how}), which Berth follows`,
  );
  if (!claimed) return "ignored";
  // ECS's rollback may have ended before the wait followed it, its event then unmatched: look again.
  return (
    (await settleRollback(context, claimed.after, reason, await readRollout(context, claimed.after))) ??
    "rolling-back"
  );
}

/**
 * A rolling-back wait that follows a service deployment hears of its end from any deployment
 * event of the service (ECS's events name ECS deployments, not service deployments), from the
 * wait step, or from the reconcile after a timeout: each reads the status again.
 */
export async function followRollback(
  context: StepContext,
  wait: WaitRecord.Info,
): Promise<"rolled-back" | "rollback-failed" | undefined> {
  if (wait.phase !== "rolling-back" || !wait.rollbackServiceDeploymentArn) return undefined;
  const state = await serviceDeploymentState(context, wait.rollbackServiceDeploymentArn);
  if (!state) return undefined;
  return settleRollback(context, wait, wait.rollbackReason ?? "the new revision failed", {
    service: undefined,
    serviceDeployment: state,
  });
}

/**
 * Stops a gradual rollout mid-shift with ECS's own StopServiceDeployment (ROLLBACK): ECS moves
 * production traffic back to the old target group and ends the service deployment
 * ROLLBACK_SUCCESSFUL, which the wait follows. Answers undefined when ECS says the service
 * deployment is no longer stoppable (it completed meanwhile): the caller rolls back by
 * UpdateService instead.
 */
async function stopServiceDeployment(
  context: StepContext,
  wait: WaitRecord.Info,
  reason: string,
  arn: string,
): Promise<RollbackStart | undefined> {
  try {
    await context.clients.ecs.send(
      new StopServiceDeploymentCommand({ serviceDeploymentArn: arn, stopType: "ROLLBACK" }),
    );
  } catch (error) {
    if (Ecs.isConflict(error)) return undefined;
    throw error;
  }
  const rollout = await readRollout(context, wait);
  const recorded = await WaitRecord.change(context.store, wait.cluster, wait.ecsService, (current) =>
    current.deploymentId === wait.deploymentId && current.phase === "rolling-back"
      ? { rollbackServiceDeploymentArn: arn, ...followed(rollout) }
      : undefined,
  );
  if (!recorded) return "rolling-back";
  return (await settleRollback(context, recorded.after, reason, rollout)) ?? "rolling-back";
}

/**
 * Rolls the service back at once. A gradual rollout still shifting traffic is stopped with ECS's
 * StopServiceDeployment (ROLLBACK); otherwise ECS is pointed at the last good revision. Either
 * way the wait then follows that rollback. A service without one (its first deployment) is
 * scaled to 0 instead, so a crash loop stops, and the deployment fails. A refresh or a scale
 * runs the revision the service already ran: there is nothing to go back to, but its earlier
 * tasks still serve (ECS keeps them until new ones are healthy), so the deployment fails and
 * the service is left be. When ECS already rolls the service back itself, Berth follows that
 * rollback and starts none.
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
  const rollout = await readRollout(context, wait);
  if (ecsRollingBack(rollout)) return followEcsRollback(context, wait, reason, rollout);
  const shifting = rollout.serviceDeployment && STOPPABLE.includes(rollout.serviceDeployment.status);
  // Claim the rollback before calling ECS, so two events cannot start two.
  const claimed = await claimRollback(
    context,
    wait,
    { rollbackReason: reason },
    shifting
      ? `${reason}; stopping the gradual rollout so that ECS moves production traffic back to ${target}`
      : `${reason}; returning to ${target}`,
  );
  if (!claimed) return "ignored";
  try {
    if (shifting && rollout.serviceDeployment) {
      const stopped = await stopServiceDeployment(
        context,
        claimed.after,
        reason,
        rollout.serviceDeployment.arn,
      );
      if (stopped) return stopped;
    }
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

import { DescribeServicesCommand, type Service } from "@aws-sdk/client-ecs";
import { BerthError, isConflict } from "../../errors.ts";
import { backOff } from "../../retry.ts";
import { ServiceRecord, type Store } from "../../store/index.ts";
import type { StepContext } from "./context.ts";

// What the steps after apply-service (wait, advance, reconcile, rollback, finalize, delete) read
// and write of the ECS service: the service as ECS has it, and the revision the store records live.

export interface AppliedService {
  ecsService: string;
  serviceArn: string;
  /** The ECS deployment the workflow waits for. */
  ecsDeploymentId: string;
  taskDefinitionArn: string;
  created: boolean;
}

/** The ECS service as DescribeServices sees it, or undefined when it does not run (missing or INACTIVE). */
export async function describeService(
  context: StepContext,
  ecsService: string,
): Promise<Service | undefined> {
  const described = await context.clients.ecs.send(
    new DescribeServicesCommand({ cluster: context.settings.cluster, services: [ecsService] }),
  );
  const service = described.services?.[0];
  return service && service.status !== "INACTIVE" ? service : undefined;
}

/** Sets the service's live task definition (or job run state machine), however often other writers get in between. */
export async function recordLive(
  store: Store,
  stack: string,
  service: string,
  changes: Pick<
    ServiceRecord.Changes,
    "liveTaskDefinitionArn" | "lastGoodTaskDefinitionArn" | "jobStateMachineArn"
  >,
): Promise<void> {
  for (let attempt = 0; attempt < 50; attempt += 1) {
    const current = await ServiceRecord.get(store, stack, service);
    if (!current) return;
    try {
      await ServiceRecord.update(store, { stack, name: service, expectedVersion: current.version }, changes);
      return;
    } catch (error) {
      if (!isConflict(error)) throw error;
      await backOff(attempt, { baseMs: 5, capMs: 50 });
    }
  }
  throw new BerthError("CONFLICT", `service ${stack}/${service} kept changing`);
}

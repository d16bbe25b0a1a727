import { DeregisterScalableTargetCommand } from "@aws-sdk/client-application-auto-scaling";
import { DeleteServiceCommand, UpdateServiceCommand } from "@aws-sdk/client-ecs";
import { DeleteRoleCommand, DeleteRolePolicyCommand } from "@aws-sdk/client-iam";
import { DeleteStateMachineCommand } from "@aws-sdk/client-sfn";
import { AutoScaling, Ecs, Iam, StepFunctions } from "../../aws/index.ts";
import { detachHttpApis, detachLoadBalancers } from "../../ingress/index.ts";
import { Render } from "../../render/index.ts";
import type { StepContext } from "./context.ts";
import { STEP_ERRORS, StepError } from "./errors.ts";
import type { StepInput } from "./load.ts";
import type { Outcome } from "./outcome.ts";
import { describeService } from "./service-state.ts";
import { renderEnvironment } from "./target.ts";

/** Runs the request; the service's answer that its object is already gone counts as done. */
async function ignoringMissing(
  isMissing: (error: unknown) => boolean,
  action: () => Promise<unknown>,
): Promise<void> {
  try {
    await action();
  } catch (error) {
    if (!isMissing(error)) throw error;
  }
}

/**
 * delete-service: scales the ECS service to 0, waits (by failing with Berth.ServiceDraining,
 * which the workflow retries) until its tasks are gone, deletes it, its scaling and its task
 * role. The log group stays, for its retention. Every call tolerates what is already gone.
 */
export async function deleteService(context: StepContext, input: StepInput): Promise<Outcome> {
  const { clients, settings } = context;
  const env = renderEnvironment(settings, input.stack);
  const ecsService = Render.serviceName(env, input.service);
  const service = await describeService(context, ecsService);
  await ignoringMissing(AutoScaling.isNotFound, () =>
    clients.autoscaling.send(
      new DeregisterScalableTargetCommand({
        ServiceNamespace: "ecs",
        ResourceId: Render.scalingResourceId(env, input.service),
        ScalableDimension: "ecs:service:DesiredCount",
      }),
    ),
  );
  if (service && service.status === "ACTIVE") {
    if ((service.desiredCount ?? 0) > 0) {
      await clients.ecs.send(
        new UpdateServiceCommand({ cluster: settings.cluster, service: ecsService, desiredCount: 0 }),
      );
    }
    if ((service.runningCount ?? 0) > 0 || (service.pendingCount ?? 0) > 0) {
      throw new StepError(
        STEP_ERRORS.draining,
        `${ecsService} still has ${service.runningCount ?? 0} running and ${service.pendingCount ?? 0} pending tasks`,
      );
    }
    await ignoringMissing(Ecs.isServiceNotFound, () =>
      clients.ecs.send(
        new DeleteServiceCommand({ cluster: settings.cluster, service: ecsService, force: true }),
      ),
    );
  }
  // A batch job has a run state machine; any other resource has none, and that answer counts as done.
  // Its tasks are gone: the gateways stop routing to it, and a gateway nothing else uses goes.
  const ingress = { store: context.store, clients, env, domainLookups: settings.domainLookups };
  await detachHttpApis(ingress, input.service);
  await detachLoadBalancers(ingress, input.service);
  await ignoringMissing(StepFunctions.isStateMachineMissing, () =>
    clients.sfn.send(
      new DeleteStateMachineCommand({ stateMachineArn: Render.jobStateMachineArn(env, input.service) }),
    ),
  );
  const roleName = Render.taskRoleName(env, input.service);
  let policies: string[] = [];
  try {
    // Every page: a policy left behind keeps the role from being deleted.
    policies = await Iam.listAllRolePolicies(clients.iam, roleName);
  } catch (error) {
    if (!Iam.isNotFound(error)) throw error;
  }
  for (const policy of policies) {
    await ignoringMissing(Iam.isNotFound, () =>
      clients.iam.send(new DeleteRolePolicyCommand({ RoleName: roleName, PolicyName: policy })),
    );
  }
  await ignoringMissing(Iam.isNotFound, () =>
    clients.iam.send(new DeleteRoleCommand({ RoleName: roleName })),
  );
  return {
    status: "SUCCEEDED",
    reason: `${service ? `ECS service ${ecsService} deleted` : `ECS service ${ecsService} was not running`}, with its scaling and task role; its log group ${Render.logGroupName(env, input.service)} is kept for its retention`,
  };
}

import {
  PutScalingPolicyCommand,
  RegisterScalableTargetCommand,
} from "@aws-sdk/client-application-auto-scaling";
import { CreateServiceCommand, type Service, UpdateServiceCommand } from "@aws-sdk/client-ecs";
import { CreateStateMachineCommand, UpdateStateMachineCommand } from "@aws-sdk/client-sfn";
import { StepFunctions } from "../../aws/index.ts";
import {
  albAttachments,
  detachHttpApis,
  detachLoadBalancers,
  ensureHttpApis,
  ensureLoadBalancers,
  ensureNetworkLoadBalancers,
  httpApiAttachments,
  nlbAttachments,
} from "../../ingress/index.ts";
import { Render } from "../../render/index.ts";
import { Spec } from "../../spec/index.ts";
import { DeploymentEventRecord, DeploymentRecord, IngressRecord, WaitRecord } from "../../store/index.ts";
import type { StepContext } from "./context.ts";
import { STEP_ERRORS, StepError } from "./errors.ts";
import type { StepInput } from "./load.ts";
import type { Outcome } from "./outcome.ts";
import { type PlannedRevision, planRevision, recordRegistered, registerPlanned } from "./prepare.ts";
import { type AppliedService, describeService, recordLive } from "./service-state.ts";
import { loadTarget, renderEnvironment, type Target, urlsOf } from "./target.ts";

/** A batch job's deployment: nothing runs until a run is started, so there is nothing to wait for. */
export interface RegisteredJob {
  taskDefinitionArn: string;
  outcome: Outcome;
}

export function failFastThreshold(resource: Spec.ComputeResource): number {
  const failFast = "failFast" in resource.properties ? resource.properties.failFast : undefined;
  return failFast?.threshold ?? Spec.DEFAULT_FAIL_FAST_THRESHOLD;
}

/**
 * The stability window: `failFast.stabilitySeconds`, else 10 s, or the longest health-check
 * interval of its containers when that is longer (one more check must pass in the window).
 */
export function stabilitySeconds(serviceName: string, resource: Spec.ComputeResource): number {
  const failFast = "failFast" in resource.properties ? resource.properties.failFast : undefined;
  if (failFast?.stabilitySeconds !== undefined) return failFast.stabilitySeconds;
  const intervals = Spec.containersOf(serviceName, resource).map(
    (container) => container.internalHealthCheck?.intervalSeconds ?? 0,
  );
  return Math.max(Spec.DEFAULT_STABILITY_SECONDS, ...intervals);
}

/** What apply-service is told: the deployment, and the revision to run or that it registers one itself. */
export interface ApplyInput extends StepInput {
  resources?: { taskDefinitionArn?: string; register?: boolean } | null;
  forceNewDeployment?: boolean;
}

/**
 * apply-service: creates or updates the ECS service (and its scaling) to run the new task
 * definition, and starts waiting for the ECS deployment that results. Nothing has changed in ECS
 * before this step, so a cancellation asked for until now still ends the deployment cleanly.
 */
export async function applyService(
  context: StepContext,
  input: ApplyInput,
): Promise<AppliedService | RegisteredJob> {
  const { store } = context;
  // The stack's ingress is read beside the deployment and its stack: one round of reads.
  const [deployment, target, listed] = await Promise.all([
    DeploymentRecord.get(store, input.deploymentId),
    loadTarget(store, input.stack, input.service),
    IngressRecord.list(store, input.stack),
  ]);
  return applyLoaded(context, input, { deployment, target, listed });
}

/** What the reads before a change of ECS found (`readForApply`); `error` when one of them failed. */
export type ApplyReads =
  | {
      ok: true;
      ingress: IngressEnvironment;
      plan: Render.ResourcePlan;
      ecsService?: string;
      existing?: Service;
      revision?: PlannedRevision;
    }
  | { ok: false; error: unknown };

/**
 * The reads apply-service makes before it changes anything, side by side: DescribeServices and,
 * when it registers the revision itself, the revision's own (`planRevision`). `ingress` must be
 * the service's ingress environment already in place (see `quietIngress`).
 */
export async function readForApply(
  context: StepContext,
  input: ApplyInput,
  deployment: DeploymentRecord.Info,
  target: Target,
  ingress: IngressEnvironment,
): Promise<ApplyReads> {
  try {
    const plan = Render.renderResource(target.stack, input.service, ingress.env);
    const ecsService = plan.service
      ? (plan.service.create.serviceName ?? Render.serviceName(ingress.env, input.service))
      : undefined;
    const register = input.resources?.register === true && !input.resources.taskDefinitionArn;
    const [revision, existing] = await Promise.all([
      register ? planRevision(context, deployment, target, {}, { ingressUrls: ingress.urls }) : undefined,
      ecsService ? describeService(context, ecsService) : undefined,
    ]);
    return {
      ok: true,
      ingress,
      plan,
      ...(ecsService ? { ecsService } : {}),
      ...(existing ? { existing } : {}),
      ...(revision ? { revision } : {}),
    };
  } catch (error) {
    return { ok: false, error };
  }
}

/**
 * apply-service once the deployment, its stack and the stack's ingress are read: by apply-service
 * itself, or by load-deployment when the deploy workflow has it apply a deployment that builds
 * nothing in the same step (`loadDeployment` with `apply`). `known.reads` are the reads made
 * beside the preflight checks, when the service's ingress needed no change.
 */
export async function applyLoaded(
  context: StepContext,
  input: ApplyInput,
  known: {
    deployment: DeploymentRecord.Info | undefined;
    target: Target;
    listed: IngressRecord.Info[];
    reads?: Promise<ApplyReads>;
  },
): Promise<AppliedService | RegisteredJob> {
  const { store, clients, settings } = context;
  const { deployment, target } = known;
  if (deployment?.status !== "DEPLOYING") {
    throw new StepError(
      STEP_ERRORS.notRunnable,
      `deployment ${input.deploymentId} is ${deployment?.status ?? "missing"}`,
    );
  }
  if (deployment.cancelRequestedAt)
    throw new StepError(STEP_ERRORS.cancelled, "cancelled before ECS was changed");
  const { parameters } = deployment;
  // Gateways first: the revision registered below may name their URLs ($ResourceParam).
  const reads =
    (await known.reads) ??
    (await readForApply(
      context,
      input,
      deployment,
      target,
      await ingressEnvironment(context, deployment.id, input, target, known.listed),
    ));
  if (!reads.ok) throw reads.error;
  const { plan, ecsService, existing } = reads;
  const env = reads.ingress.env;
  // A deploy that builds nothing registers its revision here: one step and one read of the
  // deployment and its stack instead of two. Its `task-definition` event is written after
  // UpdateService, beside the wait record, and still before `service-updated`.
  const registered = reads.revision ? await registerPlanned(context, reads.revision) : undefined;
  const recordRegistration = () =>
    registered ? recordRegistered(context, deployment.id, registered) : Promise.resolve();
  const taskDefinitionArn =
    registered ?? input.resources?.taskDefinitionArn ?? target.record.liveTaskDefinitionArn;
  if (!taskDefinitionArn) {
    throw new StepError(
      STEP_ERRORS.notRunnable,
      `${input.stack}/${input.service} has no task definition to run`,
    );
  }
  if (!plan.service || !ecsService) {
    await recordRegistration();
    return registerJob(
      context,
      deployment.id,
      input,
      Render.renderJobRun(target.stack, input.service, env, taskDefinitionArn),
    );
  }
  const forceNewDeployment = input.forceNewDeployment === true || parameters.action === "refresh";
  const desired = parameters.scale?.desired;

  let service: Service | undefined;
  try {
    if (existing) {
      const updated = await clients.ecs.send(
        new UpdateServiceCommand({
          ...plan.service.update,
          taskDefinition: taskDefinitionArn,
          forceNewDeployment,
          ...(desired !== undefined ? { desiredCount: desired } : {}),
        }),
      );
      service = updated.service;
    } else {
      const created = await clients.ecs.send(
        new CreateServiceCommand({
          ...plan.service.create,
          taskDefinition: taskDefinitionArn,
          ...(desired !== undefined ? { desiredCount: desired } : {}),
        }),
      );
      service = created.service;
    }
    if (plan.scaling) {
      await clients.autoscaling.send(new RegisterScalableTargetCommand(plan.scaling.target));
      for (const policy of plan.scaling.policies)
        await clients.autoscaling.send(new PutScalingPolicyCommand(policy));
    }
  } catch (error) {
    // The revision was registered all the same: its event says so when ECS refused it.
    await recordRegistration().catch(() => undefined);
    throw error;
  }
  const primary = service?.deployments?.find((candidate) => candidate.status === "PRIMARY");
  if (!service?.serviceArn || !primary?.id) {
    throw new StepError(STEP_ERRORS.ecs, `ECS answered no primary deployment for ${ecsService}`);
  }
  const lastGood = target.record.lastGoodTaskDefinitionArn;
  const waitFor = WaitRecord.create(store, {
    stack: input.stack,
    service: input.service,
    deploymentId: deployment.id,
    cluster: settings.cluster,
    ecsService,
    ecsDeploymentId: primary.id,
    taskDefinitionArn,
    // A rollback has nowhere further back to go; a first deployment has no earlier revision.
    ...(parameters.action !== "rollback" && lastGood && lastGood !== taskDefinitionArn
      ? { rollbackTaskDefinitionArn: lastGood }
      : {}),
    failFastThreshold: failFastThreshold(target.resource),
    stabilitySeconds: stabilitySeconds(input.service, target.resource),
    healthChecked: Spec.containersOf(input.service, target.resource).some(
      (container) => container.internalHealthCheck !== undefined,
    ),
    ...(existing?.taskDefinition
      ? {
          previousTaskDefinitionArn: existing.taskDefinition,
          previousDesiredCount: existing.desiredCount ?? 0,
        }
      : {}),
  });
  // Three different items, written side by side once ECS has the revision; then the event that
  // says so, numbered after the registration's.
  await Promise.all([
    waitFor,
    recordRegistration(),
    recordLive(store, input.stack, input.service, { liveTaskDefinitionArn: taskDefinitionArn }),
  ]);
  await DeploymentEventRecord.append(store, deployment.id, {
    type: "service-updated",
    message: `${existing ? "updated" : "created"} ECS service ${ecsService}: deployment ${primary.id} runs ${taskDefinitionArn}`,
    data: {
      ecsService,
      ecsDeploymentId: primary.id,
      taskDefinitionArn,
      desiredCount: service.desiredCount ?? null,
    },
  });
  return {
    ecsService,
    serviceArn: service.serviceArn,
    ecsDeploymentId: primary.id,
    taskDefinitionArn,
    created: !existing,
  };
}

/**
 * A batch job is deployed once its run state machine runs the new revision: nothing runs until
 * a run is started, so there is nothing to wait for. Finalize records the revision as live and
 * last good from the outcome.
 */
async function registerJob(
  context: StepContext,
  deploymentId: string,
  input: StepInput,
  machine: Render.JobRunMachine,
): Promise<RegisteredJob> {
  const { sfn } = context.clients;
  const taskDefinitionArn = String(
    machine.definition.States[Render.JOB_RUN_STATE]?.Parameters?.TaskDefinition,
  );
  const definition = JSON.stringify(machine.definition);
  let stateMachineArn: string | undefined;
  try {
    const created = await sfn.send(
      new CreateStateMachineCommand({
        name: machine.name,
        definition,
        roleArn: machine.roleArn,
        type: "STANDARD",
        tags: machine.tags,
      }),
    );
    stateMachineArn = created.stateMachineArn;
  } catch (error) {
    if (!StepFunctions.isStateMachineAlreadyExists(error)) throw error;
  }
  if (!stateMachineArn) {
    stateMachineArn = Render.jobStateMachineArn(
      renderEnvironment(context.settings, input.stack),
      input.service,
    );
    await sfn.send(new UpdateStateMachineCommand({ stateMachineArn, definition, roleArn: machine.roleArn }));
  }
  // The API starts and reads the job's runs through it.
  await recordLive(context.store, input.stack, input.service, { jobStateMachineArn: stateMachineArn });
  await DeploymentEventRecord.append(context.store, deploymentId, {
    type: "job-registered",
    message: `batch job ${input.stack}/${input.service}: its runs (${stateMachineArn}) run ${taskDefinitionArn}`,
    data: { taskDefinitionArn, stateMachineArn },
  });
  return {
    taskDefinitionArn,
    outcome: {
      status: "SUCCEEDED",
      reason: `registered ${taskDefinitionArn}; the job runs when a run is started`,
      taskDefinitionArn,
    },
  };
}

/** A service's rendering environment with its ingress in place, and the stack's gateway URLs. */
export interface IngressEnvironment {
  env: Render.Environment;
  urls: Record<string, string>;
}

/**
 * The ingress environment of a service that declares no ingress and is attached to none, read
 * from the stack's listed ingress alone; undefined when its ingress needs work (`ingressEnvironment`).
 */
export function quietIngress(
  context: StepContext,
  input: StepInput,
  target: Target,
  listed: readonly IngressRecord.Info[],
): IngressEnvironment | undefined {
  if (
    httpApiAttachments(target.stack, input.service).length > 0 ||
    albAttachments(target.stack, input.service).length > 0 ||
    nlbAttachments(target.stack, input.service).length > 0 ||
    listed.some((resource) => resource.attachments[input.service] !== undefined)
  ) {
    return undefined;
  }
  const urls = urlsOf(listed);
  return { env: renderEnvironment(context.settings, input.stack, { ingressUrls: urls }), urls };
}

/**
 * The rendering environment with the service's public ingress in place: its HTTP API gateways
 * are created or brought up to date before ECS is changed, so the new tasks register where the
 * gateways look for them. `listed` is the stack's ingress as the caller read it.
 */
async function ingressEnvironment(
  context: StepContext,
  deploymentId: string,
  input: StepInput,
  target: Target,
  listed: readonly IngressRecord.Info[],
): Promise<IngressEnvironment> {
  // A service with none declared and none attached has nothing to create or detach, and the
  // URLs come from the same read.
  const quiet = quietIngress(context, input, target, listed);
  if (quiet) return quiet;
  const base = renderEnvironment(context.settings, input.stack);
  const attachments = httpApiAttachments(target.stack, input.service);
  const balancing = albAttachments(target.stack, input.service);
  const networkBalancing = nlbAttachments(target.stack, input.service);
  const gateways = attachments.map((attachment) => attachment.gateway);
  const changes: string[] = [];
  const ingressContext = {
    store: context.store,
    clients: context.clients,
    installation: context.settings.httpApi,
    env: base,
    domainLookups: context.settings.domainLookups,
    log: (line: string) => changes.push(line),
  };
  const registries = await ensureHttpApis(ingressContext, input.service, attachments);
  // Gateways the service no longer declares stop routing to it.
  await detachHttpApis(ingressContext, input.service, gateways);
  const balancers = [
    ...new Set([...balancing, ...networkBalancing].map((attachment) => attachment.loadBalancer)),
  ];
  const balancerContext = { ...ingressContext, installation: context.settings.loadBalancing };
  const targetGroups = await ensureLoadBalancers(balancerContext, input.service, balancing);
  const networkGroups = await ensureNetworkLoadBalancers(balancerContext, input.service, networkBalancing);
  await detachLoadBalancers(balancerContext, input.service, balancers);
  // One container port may be behind a gateway and a load balancer at once.
  const ingress: NonNullable<Parameters<typeof renderEnvironment>[2]>["ingress"] = { ...registries };
  for (const [key, group] of Object.entries(targetGroups)) ingress[key] = { ...ingress[key], ...group };
  for (const [key, group] of Object.entries(networkGroups)) ingress[key] = { ...ingress[key], ...group };
  gateways.push(...balancers);
  const urls = urlsOf(await IngressRecord.list(context.store, input.stack));
  if (
    attachments.length === 0 &&
    balancing.length === 0 &&
    networkBalancing.length === 0 &&
    changes.length === 0
  ) {
    return { env: renderEnvironment(context.settings, input.stack, { ingressUrls: urls }), urls };
  }
  await DeploymentEventRecord.append(context.store, deploymentId, {
    type: "ingress-ready",
    message:
      changes.length > 0 ? `ingress: ${changes.join("; ")}` : `ingress ${gateways.join(", ")} unchanged`,
    data: { gateways },
  });
  return { env: renderEnvironment(context.settings, input.stack, { ingress, ingressUrls: urls }), urls };
}

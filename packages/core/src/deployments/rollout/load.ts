import { Buildpack } from "../../buildpacks/index.ts";
import { Render } from "../../render/index.ts";
import { Spec } from "../../spec/index.ts";
import { DeploymentEventRecord, DeploymentRecord, IngressRecord } from "../../store/index.ts";
import { transition } from "../deployment.ts";
import { type SpecJson, specHash } from "../plan.ts";
import { updateSpec } from "../service.ts";
import { withImages } from "../service-spec.ts";
import { isTerminal } from "../status.ts";
import type { WorkflowParameters } from "../workflow-input.ts";
import { applyLoaded, quietIngress, type RegisteredJob, readForApply } from "./apply.ts";
import type { StepContext } from "./context.ts";
import { STEP_ERRORS, StepError } from "./errors.ts";
import { preflight } from "./preflight.ts";
import type { AppliedService } from "./service-state.ts";
import { loadTarget, renderEnvironment, type Target, withRecord } from "./target.ts";

export interface StepInput {
  deploymentId: string;
  stack: string;
  service: string;
}

/**
 * What load-deployment is told: the deploy workflow also has it run the preflight checks and
 * apply a deploy that builds nothing (`apply`) in the same step.
 */
export interface LoadInput extends StepInput {
  preflight?: boolean;
  apply?: boolean;
}

/** One image to build, as the Build state's CodeBuild request takes it. */
export interface BuildItem {
  container: string;
  repositoryUri: string;
  /** CodeBuild's `EnvironmentVariablesOverride`, in the PascalCase Step Functions' integration takes. */
  environmentVariables: { Name: string; Value: string; Type: "PLAINTEXT" }[];
  buildspec: string;
}

export interface LoadedDeployment {
  action: WorkflowParameters["action"];
  /** How long the workflow waits for ECS before one reconciling DescribeServices decides. */
  waitTimeoutSeconds: number;
  build: { needed: boolean; items: BuildItem[] };
  /** rollback: the revision to return to. */
  rollback?: { taskDefinitionArn: string };
  /** scale and refresh: the revision ECS runs now, run again without registering a new one. */
  reuse?: { taskDefinitionArn: string };
  /**
   * A deploy that builds nothing, when told to `apply`: what apply-service would have answered
   * (the revision is registered and ECS updated in this step), for the wait to start from.
   */
  applied?: AppliedService | RegisteredJob;
}

/** Waiting bounds, in seconds: long enough for a slow start, short enough to notice a hang. */
export const WAIT_TIMEOUT = { min: 120, max: 3600 } as const;

/**
 * How long ECS may take to call the new tasks healthy: the start period and every retry of the
 * slowest container's health check, twice over (a replacement may start after a failed first
 * try), plus two minutes for placing and pulling.
 */
export function waitTimeoutFor(serviceName: string, resource: Spec.ComputeResource): number {
  const windows = Spec.containersOf(serviceName, resource).map((container) => {
    const check = container.internalHealthCheck;
    if (!check) return 30;
    return (
      (check.startPeriodSeconds ?? 0) + (check.intervalSeconds + check.timeoutSeconds) * (check.retries + 1)
    );
  });
  const window = Math.max(30, ...windows);
  return Math.min(WAIT_TIMEOUT.max, Math.max(WAIT_TIMEOUT.min, 120 + 2 * window));
}

const STARTING_STATUS = { deploy: "BUILDING", scale: "DEPLOYING" } as const;

/**
 * load-deployment: reads the deployment, moves it out of PENDING (to BUILDING when something is
 * built, else DEPLOYING) and derives what the workflow needs. A deployment that already ended
 * (cancelled while it waited for its workflow) is not run again.
 */
export async function loadDeployment(context: StepContext, input: LoadInput): Promise<LoadedDeployment> {
  const { store } = context;
  // Told to apply, the stack's ingress is read in the same round: apply-service's first read.
  let [deployment, target, listed] = await Promise.all([
    DeploymentRecord.get(store, input.deploymentId),
    loadTarget(store, input.stack, input.service).catch((error: unknown) => error as Error),
    input.apply ? IngressRecord.list(store, input.stack) : undefined,
  ]);
  if (!deployment)
    throw new StepError(STEP_ERRORS.notRunnable, `deployment ${input.deploymentId} does not exist`);
  if (isTerminal(deployment.status)) {
    throw new StepError(
      STEP_ERRORS.notRunnable,
      `deployment ${deployment.id} is already ${deployment.status}`,
    );
  }
  if (target instanceof Error) throw target;
  const { parameters } = deployment;
  if (parameters.action === "deploy" && parameters.images && deployment.status === "PENDING") {
    target = await applyImages(context, input, target, parameters.images);
  }
  const waitTimeoutSeconds = waitTimeoutFor(input.service, target.resource);

  if (parameters.action === "delete") {
    await startWork(context, deployment, "DEPLOYING", "deleting the service");
    return { action: "delete", waitTimeoutSeconds, build: { needed: false, items: [] } };
  }
  if (parameters.action === "rollback") {
    const taskDefinitionArn = parameters.rollbackTo
      ? (parameters.rollbackTo.taskDefinitionArn ??
        (await taskDefinitionOf(context, parameters.rollbackTo.deploymentId)))
      : target.record.lastGoodTaskDefinitionArn;
    if (!taskDefinitionArn) {
      throw new StepError(
        STEP_ERRORS.preflight,
        parameters.rollbackTo
          ? `deployment ${parameters.rollbackTo.deploymentId} recorded no task definition to return to`
          : `${input.stack}/${input.service} has no earlier revision that passed its health checks to return to`,
      );
    }
    await startWork(context, deployment, "DEPLOYING", `returning to ${taskDefinitionArn}`);
    return {
      action: "rollback",
      waitTimeoutSeconds,
      build: { needed: false, items: [] },
      rollback: { taskDefinitionArn },
    };
  }

  if (parameters.action === "scale" || parameters.action === "refresh") {
    const live = target.record.liveTaskDefinitionArn;
    if (!live) {
      throw new StepError(
        STEP_ERRORS.preflight,
        `${input.stack}/${input.service} does not run yet: there is nothing to ${parameters.action}; deploy it first`,
      );
    }
    await startChecked(context, input, target, () =>
      startWork(
        context,
        deployment,
        "DEPLOYING",
        `${parameters.action === "scale" ? "scaling" : "refreshing"} ${live}`,
      ),
    );
    return {
      action: parameters.action,
      waitTimeoutSeconds,
      build: { needed: false, items: [] },
      reuse: { taskDefinitionArn: live },
    };
  }

  const items = buildItems(
    context,
    input,
    target.resource,
    parameters.source,
    target.record.liveTaskDefinitionArn,
  );
  const status = items.length > 0 ? STARTING_STATUS.deploy : STARTING_STATUS.scale;
  const start = () =>
    startWork(
      context,
      deployment,
      status,
      items.length > 0
        ? `building ${items.map((item) => item.container).join(", ")}`
        : "registering the task definition and updating the service",
    );
  if (items.length > 0 || !listed) {
    await startChecked(context, input, target, start);
    return { action: parameters.action, waitTimeoutSeconds, build: { needed: items.length > 0, items } };
  }
  const applied = await startAndApply(context, input, deployment, target, listed, start);
  return { action: parameters.action, waitTimeoutSeconds, build: { needed: false, items }, applied };
}

/**
 * A deploy that builds nothing, applied in load-deployment's own step: the deployment, its stack
 * and the stack's ingress were read once, here. apply-service's reads (DescribeServices, the
 * secrets, pinned images and task role of the new revision) run beside the move out of PENDING
 * and the preflight checks when the service's ingress needs no change; nothing is changed until
 * both have passed. Then the revision is registered and ECS updated, as apply-service does.
 */
async function startAndApply(
  context: StepContext,
  input: LoadInput,
  deployment: DeploymentRecord.Info,
  target: Target,
  listed: IngressRecord.Info[],
  start: () => Promise<DeploymentRecord.Info>,
): Promise<AppliedService | RegisteredJob> {
  const applyInput = {
    deploymentId: input.deploymentId,
    stack: input.stack,
    service: input.service,
    resources: { register: true },
  };
  const ingress = quietIngress(context, input, target, listed);
  const reads = ingress ? readForApply(context, applyInput, deployment, target, ingress) : undefined;
  let started: DeploymentRecord.Info;
  try {
    started = await startChecked(context, input, target, start);
  } catch (error) {
    await reads; // never rejects: its failure is kept in its answer
    throw error;
  }
  return applyLoaded(context, applyInput, {
    deployment: started,
    target,
    listed,
    ...(reads ? { reads } : {}),
  });
}

/**
 * A redeploy's images become the service's spec when its deployment starts (the request only
 * carried them), with the source digests cleared: the stored spec is what was last asked for.
 */
async function applyImages(
  context: StepContext,
  input: StepInput,
  target: Target,
  images: Record<string, string>,
): Promise<Target> {
  const wanted = (spec: SpecJson) => withImages(input.service, spec, images);
  const current = target.record;
  if (specHash(wanted(current.spec)) === specHash(current.spec) && !current.sourceDigests) return target;
  const record = await updateSpec(
    context.store,
    input.stack,
    input.service,
    (stored) => wanted(stored.spec),
    {
      sourceDigests: null,
    },
    SPEC_WRITE_BUDGET_MS,
    current,
  );
  // The stack as read, with the spec just written: no second read of the stack.
  return withRecord(target, record);
}

/** How long load-deployment keeps writing a spec that requests placing themselves keep changing. */
const SPEC_WRITE_BUDGET_MS = 10_000;

/** The revision a deployment ran: the task definition it registered, or reused. */
async function taskDefinitionOf(context: StepContext, deploymentId: string): Promise<string | undefined> {
  const events = await DeploymentEventRecord.all(context.store, deploymentId);
  for (const event of [...events].reverse()) {
    const arn = (event.data as { taskDefinitionArn?: unknown } | undefined)?.taskDefinitionArn;
    if (typeof arn === "string" && arn.length > 0) return arn;
  }
  return undefined;
}

/**
 * Moves the deployment out of PENDING and, when the workflow asks (`preflight`), runs the
 * preflight checks beside that write: both are settled before either's failure is thrown, so a
 * refused deployment is never finalized while its first move is still being written.
 */
async function startChecked(
  context: StepContext,
  input: LoadInput,
  target: Target,
  start: () => Promise<DeploymentRecord.Info>,
): Promise<DeploymentRecord.Info> {
  const [started, checked] = await Promise.allSettled([
    start(),
    input.preflight ? preflight(context, input, target) : undefined,
  ]);
  if (started.status === "rejected") throw started.reason;
  if (checked.status === "rejected") throw checked.reason;
  return started.value;
}

async function startWork(
  context: StepContext,
  deployment: DeploymentRecord.Info,
  to: "BUILDING" | "DEPLOYING",
  reason: string,
): Promise<DeploymentRecord.Info> {
  if (deployment.status !== "PENDING") return deployment; // a retried step finds its own earlier move
  if (deployment.cancelRequestedAt) throw new StepError(STEP_ERRORS.cancelled, "cancelled before it started");
  return transition(context.store, deployment.id, "PENDING", to, reason);
}

function buildItems(
  context: StepContext,
  input: StepInput,
  resource: Spec.ComputeResource,
  source: string | undefined,
  liveTaskDefinitionArn: string | undefined,
): BuildItem[] {
  const env = renderEnvironment(context.settings, input.stack);
  const items: BuildItem[] = [];
  for (const container of Spec.containersOf(input.service, resource)) {
    const architecture = resource.properties.resources.architecture;
    const plan = Buildpack.planForPackaging(container.packaging, architecture);
    if (!plan) continue;
    // Without a source, a service that runs keeps the images it runs (prepare-resources reads
    // them from its task definition): a change of environment or scaling needs no rebuild.
    if (!source && liveTaskDefinitionArn) continue;
    if (!source) {
      throw new StepError(
        STEP_ERRORS.preflight,
        `container ${container.name} is built from source (${container.packaging.type}), but the deployment names no source: apply the stack with ?source=…`,
      );
    }
    const planInput = Buildpack.planInputForPackaging(container.packaging, architecture);
    const repositoryUri = `${context.settings.registry}/${Render.repositoryName(env, input.service, container.name)}`;
    items.push({
      container: container.name,
      repositoryUri,
      buildspec: plan.buildspec,
      environmentVariables: [
        { Name: "BERTH_SOURCE", Value: source, Type: "PLAINTEXT" },
        { Name: "BERTH_BUILD_INPUT", Value: JSON.stringify(planInput), Type: "PLAINTEXT" },
        { Name: "REPOSITORY_URI", Value: repositoryUri, Type: "PLAINTEXT" },
        { Name: "BERTH_CONTAINER", Value: container.name, Type: "PLAINTEXT" },
        { Name: "BERTH_DEPLOYMENT_ID", Value: input.deploymentId, Type: "PLAINTEXT" },
      ],
    });
  }
  return items;
}

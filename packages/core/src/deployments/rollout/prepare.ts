import { CreateLogGroupCommand, PutRetentionPolicyCommand } from "@aws-sdk/client-cloudwatch-logs";
import { DescribeTaskDefinitionCommand, RegisterTaskDefinitionCommand } from "@aws-sdk/client-ecs";
import {
  CreateRoleCommand,
  GetRoleCommand,
  PutRolePolicyCommand,
  UpdateAssumeRolePolicyCommand,
} from "@aws-sdk/client-iam";
import { DescribeSecretCommand } from "@aws-sdk/client-secrets-manager";
import { Ecr, Iam, Logs, SecretsManager } from "../../aws/index.ts";
import { Render } from "../../render/index.ts";
import { Spec } from "../../spec/index.ts";
import { DeploymentEventRecord, DeploymentRecord } from "../../store/index.ts";
import { transition } from "../deployment.ts";
import type { StepContext } from "./context.ts";
import { STEP_ERRORS, StepError } from "./errors.ts";
import type { StepInput } from "./load.ts";
import { ingressUrls, loadTarget, renderEnvironment, secretNamesOf, type Target } from "./target.ts";

/** One finished build as the Build state hands it on. */
export interface FinishedBuild {
  container: string;
  repositoryUri: string;
  result: { id?: string; exported?: { Name?: string; Value?: string }[] | null };
}

export interface PreparedResources {
  taskDefinitionArn: string;
}

const DIGEST = /^sha256:[0-9a-f]{64}$/;

/** The images the builds pushed, by container, as `repository@sha256:…`. */
export function imagesOf(builds: readonly FinishedBuild[]): Record<string, string> {
  const images: Record<string, string> = {};
  for (const build of builds) {
    const digest = build.result.exported?.find((variable) => variable.Name === "IMAGE_DIGEST")?.Value;
    if (!digest || !DIGEST.test(digest)) {
      throw new StepError(
        STEP_ERRORS.ecs,
        `the build of ${build.container} (${build.result.id ?? "unknown build"}) exported no image digest`,
      );
    }
    images[build.container] = `${build.repositoryUri}@${digest}`;
  }
  return images;
}

/**
 * prepare-resources: the log group, the task role and a new task definition revision. Every
 * request is idempotent, so a retried step converges on the same resources.
 */
export async function prepareResources(
  context: StepContext,
  input: StepInput & { builds?: FinishedBuild[] | null },
): Promise<PreparedResources> {
  const { store } = context;
  let deployment = await DeploymentRecord.get(store, input.deploymentId);
  if (!deployment || (deployment.status !== "BUILDING" && deployment.status !== "DEPLOYING")) {
    throw new StepError(
      STEP_ERRORS.notRunnable,
      `deployment ${input.deploymentId} is ${deployment?.status ?? "missing"}`,
    );
  }
  if (deployment.cancelRequestedAt)
    throw new StepError(STEP_ERRORS.cancelled, "cancelled before ECS was changed");

  const built = imagesOf(input.builds ?? []);
  const digests = Object.fromEntries(
    Object.entries(built).map(([container, image]) => [container, image.slice(image.indexOf("@") + 1)]),
  );
  if (Object.keys(digests).length > 0) {
    // Beside the digests the request pinned, so the record says every digest this deployment runs.
    deployment = await DeploymentRecord.recordDetails(store, deployment.id, {
      imageDigests: { ...deployment.imageDigests, ...digests },
    });
    await DeploymentEventRecord.append(store, deployment.id, {
      type: "built",
      message: `built ${Object.entries(built)
        .map(([container, image]) => `${container} → ${image}`)
        .join(", ")}`,
      data: { images: built },
    });
  }
  if (deployment.status === "BUILDING") {
    await transition(store, deployment.id, "BUILDING", "DEPLOYING", "built; registering the task definition");
  }

  const target = await loadTarget(store, input.stack, input.service);
  return registerRevision(context, deployment, target, built);
}

/**
 * The log group, the task role and a new task definition revision of `target`, running the
 * images the builds pushed (`built`, by container) and, for the containers built earlier, the
 * images the live revision runs. The lookups run side by side, so do the log group and the role.
 */
export async function registerRevision(
  context: StepContext,
  deployment: DeploymentRecord.Info,
  target: Target,
  built: Record<string, string>,
): Promise<PreparedResources> {
  const taskDefinitionArn = await registerTaskDefinition(context, deployment, target, built);
  await recordRegistered(context, deployment.id, taskDefinitionArn);
  return { taskDefinitionArn };
}

/** The `task-definition` event of a registered revision. */
export async function recordRegistered(
  context: StepContext,
  deploymentId: string,
  taskDefinitionArn: string,
): Promise<void> {
  await DeploymentEventRecord.append(context.store, deploymentId, {
    type: "task-definition",
    message: `registered ${taskDefinitionArn}`,
    data: { taskDefinitionArn },
  });
}

/**
 * `registerRevision` without its event, for a step that records it later (apply-service, after
 * UpdateService); `known.ingressUrls` are the stack's gateway URLs when the caller has read them.
 */
async function registerTaskDefinition(
  context: StepContext,
  deployment: DeploymentRecord.Info,
  target: Target,
  built: Record<string, string>,
  known: { ingressUrls?: Record<string, string> } = {},
): Promise<string> {
  return registerPlanned(context, await planRevision(context, deployment, target, built, known));
}

/** A revision rendered and ready to register, with what registering it needs to know of its role. */
export interface PlannedRevision {
  plan: Render.ResourcePlan;
  /** Whether the task role exists already (GetRole): an existing one is brought up to date. */
  roleExists: boolean;
}

/**
 * The reads behind a new revision, side by side: the `$Secret` ARNs, the images the live
 * revision runs (only when a container is built from source: a prebuilt image always comes from
 * the spec), the pinned digests, the gateway URLs and whether the task role exists. Nothing is
 * changed but the digests recorded on the deployment, so it may run beside the preflight checks.
 */
export async function planRevision(
  context: StepContext,
  deployment: DeploymentRecord.Info,
  target: Target,
  built: Record<string, string>,
  known: { ingressUrls?: Record<string, string> } = {},
): Promise<PlannedRevision> {
  const { store } = context;
  const { stackName: stack, serviceName: service } = target;
  const containers = Spec.containersOf(service, target.resource);
  const prebuilt = new Set(
    containers
      .filter((container) => container.packaging.type === "prebuilt-image")
      .map((container) => `${service}/${container.name}`),
  );
  const allPrebuilt = prebuilt.size === containers.length;
  const roleName = Render.taskRoleName(renderEnvironment(context.settings, stack), service);
  const [secretArns, live, pinned, urls, roleExists] = await Promise.all([
    resolveSecrets(context, secretNamesOf(service, target.resource)),
    allPrebuilt
      ? Promise.resolve<Record<string, string>>({})
      : liveImages(context, target.record.liveTaskDefinitionArn, service),
    pinnedImages(context, deployment, target),
    known.ingressUrls ?? ingressUrls(store, stack),
    roleExistsNow(context, roleName),
  ]);
  const images = {
    // A prebuilt image comes from the spec (or this deployment's pin), never from what runs.
    ...Object.fromEntries(Object.entries(live).filter(([key]) => !prebuilt.has(key))),
    ...Object.fromEntries(
      Object.entries({ ...built, ...pinned }).map(([container, image]) => [`${service}/${container}`, image]),
    ),
  };
  const env = renderEnvironment(context.settings, stack, { images, secretArns, ingressUrls: urls });
  const plan = Render.renderResource(target.stack, service, env);
  const planned = plan.role.create.RoleName;
  if (planned && planned !== roleName) {
    // The role was looked up by another name than the plan gives it: look up the plan's.
    return { plan, roleExists: await roleExistsNow(context, planned) };
  }
  return { plan, roleExists };
}

/**
 * The log group, the task role and the task definition of a planned revision. A new role is
 * created before the revision that names it is registered; an existing role's policies are
 * written beside the log group and the registration (ECS does not read a role's policies when
 * it registers a revision, only when a task starts, after UpdateService).
 */
export async function registerPlanned(context: StepContext, planned: PlannedRevision): Promise<string> {
  const { clients } = context;
  const { plan } = planned;
  const logGroup = async () => {
    if (!plan.logGroup) return;
    try {
      await clients.logs.send(new CreateLogGroupCommand(plan.logGroup.create));
    } catch (error) {
      if (!Logs.isAlreadyExists(error)) throw error;
    }
    await clients.logs.send(new PutRetentionPolicyCommand(plan.logGroup.retention));
  };
  const register = async () => {
    const registered = await clients.ecs.send(new RegisterTaskDefinitionCommand(plan.taskDefinition));
    const taskDefinitionArn = registered.taskDefinition?.taskDefinitionArn;
    if (!taskDefinitionArn) throw new StepError(STEP_ERRORS.ecs, "RegisterTaskDefinition answered no ARN");
    return taskDefinitionArn;
  };
  if (!planned.roleExists) {
    await Promise.all([logGroup(), ensureRole(context, plan.role, false)]);
    return register();
  }
  const [, , taskDefinitionArn] = await Promise.all([
    logGroup(),
    ensureRole(context, plan.role, true),
    register(),
  ]);
  return taskDefinitionArn;
}

/**
 * Container → `repository@sha256:…` for the prebuilt images this deployment runs by digest: the
 * ones its request pinned (a followed tag, resolved when it was requested), and tags of this
 * installation's registry, resolved now (DescribeImages). Both are recorded on the deployment,
 * so the digest a service runs is known and a rollback returns to exactly it. Images of other
 * registries, which Berth cannot read without their credentials, keep their tag.
 */
async function pinnedImages(
  context: StepContext,
  deployment: DeploymentRecord.Info,
  target: Awaited<ReturnType<typeof loadTarget>>,
): Promise<Record<string, string>> {
  const pinned: Record<string, string> = { ...(deployment.parameters.pinnedImages ?? {}) };
  if (deployment.parameters.action !== "deploy") return pinned;
  for (const container of Spec.containersOf(target.serviceName, target.resource)) {
    if (container.packaging.type !== "prebuilt-image" || pinned[container.name]) continue;
    const ref = Spec.parseImageRef(container.packaging.properties.image);
    if (!ref?.tag || ref.digest || ref.registry !== context.settings.registry.toLowerCase()) continue;
    const digest = await Ecr.digestOfTag(context.clients.ecr, ref.repository, ref.tag);
    if (!digest) {
      throw new StepError(
        STEP_ERRORS.preflight,
        `image ${container.packaging.properties.image} (container ${container.name}) does not exist: push it first`,
      );
    }
    pinned[container.name] = Spec.pinnedImage(ref, digest);
  }
  const digests = Object.fromEntries(
    Object.entries(pinned).map(([container, image]) => [container, image.slice(image.indexOf("@") + 1)]),
  );
  // The API records the digests it pinned with the request: nothing to write when every one is there.
  const unrecorded = Object.entries(digests).some(
    ([container, digest]) => deployment.imageDigests[container] !== digest,
  );
  if (unrecorded) {
    const current = (await DeploymentRecord.get(context.store, deployment.id)) ?? deployment;
    await DeploymentRecord.recordDetails(context.store, deployment.id, {
      imageDigests: { ...current.imageDigests, ...digests },
    });
  }
  return pinned;
}

/**
 * The images the live revision runs, by `service/container`: what a built container keeps when
 * this deployment builds nothing (no source given).
 */
async function liveImages(
  context: StepContext,
  taskDefinitionArn: string | undefined,
  service: string,
): Promise<Record<string, string>> {
  if (!taskDefinitionArn) return {};
  const described = await context.clients.ecs.send(
    new DescribeTaskDefinitionCommand({ taskDefinition: taskDefinitionArn }),
  );
  const images: Record<string, string> = {};
  for (const container of described.taskDefinition?.containerDefinitions ?? []) {
    if (container.name && container.image?.includes("@sha256:")) {
      images[`${service}/${container.name}`] = container.image;
    }
  }
  return images;
}

async function resolveSecrets(context: StepContext, names: string[]): Promise<Record<string, string>> {
  const arns: Record<string, string> = {};
  for (const name of names) {
    try {
      const described = await context.clients.secrets.send(new DescribeSecretCommand({ SecretId: name }));
      if (described.ARN) arns[name] = described.ARN;
    } catch (error) {
      if (SecretsManager.isNotFound(error)) {
        throw new StepError(STEP_ERRORS.preflight, `$Secret('${name}') does not exist in Secrets Manager`, {
          cause: error,
        });
      }
      throw error;
    }
  }
  return arns;
}

/** Whether the task role exists (GetRole). */
async function roleExistsNow(context: StepContext, roleName: string): Promise<boolean> {
  try {
    await context.clients.iam.send(new GetRoleCommand({ RoleName: roleName }));
    return true;
  } catch (error) {
    if (!Iam.isNotFound(error)) throw error;
    return false;
  }
}

/** Creates the task role when it did not exist (`exists`, from `roleExistsNow`) and writes its policies. */
async function ensureRole(
  context: StepContext,
  role: Render.ResourcePlan["role"],
  exists: boolean,
): Promise<void> {
  const { iam } = context.clients;
  const roleName = role.create.RoleName;
  if (!exists) {
    try {
      await iam.send(new CreateRoleCommand(role.create));
    } catch (error) {
      if (!Iam.isAlreadyExists(error)) throw error;
    }
  }
  // An existing role's trust policy and its inline policy are independent writes.
  const policy = role.policy;
  await Promise.all([
    exists && role.create.AssumeRolePolicyDocument
      ? iam.send(
          new UpdateAssumeRolePolicyCommand({
            RoleName: roleName,
            PolicyDocument: role.create.AssumeRolePolicyDocument,
          }),
        )
      : undefined,
    policy ? iam.send(new PutRolePolicyCommand(policy)) : undefined,
  ]);
}

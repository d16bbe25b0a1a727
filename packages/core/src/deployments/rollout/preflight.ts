import { DescribeImagesCommand } from "@aws-sdk/client-ecr";
import { DescribeSecretCommand } from "@aws-sdk/client-secrets-manager";
import { Ecr, SecretsManager } from "../../aws/index.ts";
import { Spec } from "../../spec/index.ts";
import { DeploymentEventRecord, DeploymentRecord, ServiceRecord } from "../../store/index.ts";
import { isTerminal } from "../status.ts";
import type { StepContext } from "./context.ts";
import { STEP_ERRORS, StepError } from "./errors.ts";
import type { StepInput } from "./load.ts";
import { dependenciesOf, loadTarget, secretNamesOf, type Target } from "./target.ts";

/** Ports the Service Connect proxy takes inside every task. */
const PROXY_PORTS = new Set([15000, 15001]);

/**
 * preflight: refuses, before anything changes, a deployment that cannot work, naming every
 * reason at once: a `$Secret` that does not exist, an image in the installation's registry that
 * does not exist, a `$ResourceParam`/`connectTo` target that is neither deployed nor being
 * deployed, inconsistent ports or health checks.
 */
export async function preflight(
  context: StepContext,
  input: StepInput,
  loaded?: Target,
): Promise<{ checked: string[] }> {
  const target = loaded ?? (await loadTarget(context.store, input.stack, input.service));
  const checks = await Promise.all([
    checkSecrets(context, target),
    checkImages(context, target),
    checkDependencies(context, target),
    Promise.resolve(checkConsistency(target)),
  ]);
  const problems = checks.flatMap((check) => check.problems);
  if (problems.length > 0) {
    throw new StepError(STEP_ERRORS.preflight, problems.join("; "));
  }
  const pending = checks[2].pending;
  if (pending.length > 0) {
    const message = `waiting for ${pending.join(", ")} to be created first: a service reaches only the Service Connect endpoints that existed when its tasks started`;
    // Said once on the deployment, however often the workflow retries this step.
    const events = await DeploymentEventRecord.all(context.store, input.deploymentId).catch(() => []);
    if (!events.some((event) => event.type === "waiting" && event.message === message)) {
      await DeploymentEventRecord.append(context.store, input.deploymentId, {
        type: "waiting",
        message,
        data: { for: pending },
      }).catch(() => undefined);
    }
    throw new StepError(STEP_ERRORS.dependencyPending, message);
  }
  return { checked: checks.flatMap((check) => check.checked) };
}

interface CheckResult {
  checked: string[];
  problems: string[];
}

async function checkSecrets(context: StepContext, target: Target): Promise<CheckResult> {
  const names = secretNamesOf(target.serviceName, target.resource);
  const problems: string[] = [];
  await Promise.all(
    names.map(async (name) => {
      try {
        await context.clients.secrets.send(new DescribeSecretCommand({ SecretId: name }));
      } catch (error) {
        if (SecretsManager.isNotFound(error)) {
          problems.push(`$Secret('${name}') does not exist in Secrets Manager`);
        } else {
          problems.push(`$Secret('${name}') could not be checked (${(error as Error).message})`);
        }
      }
    }),
  );
  return { checked: names.map((name) => `secret ${name}`), problems: problems.sort() };
}

/** `registry/repository@sha256:…` or `registry/repository:tag`, for images of this installation's registry. */
function registryImage(
  registry: string,
  image: string,
): { repository: string; id: { imageDigest?: string; imageTag?: string } } | undefined {
  if (!image.startsWith(`${registry}/`)) return undefined;
  const rest = image.slice(registry.length + 1);
  const at = rest.indexOf("@");
  if (at >= 0) return { repository: rest.slice(0, at), id: { imageDigest: rest.slice(at + 1) } };
  const colon = rest.lastIndexOf(":");
  if (colon >= 0) return { repository: rest.slice(0, colon), id: { imageTag: rest.slice(colon + 1) } };
  return { repository: rest, id: { imageTag: "latest" } };
}

async function checkImages(context: StepContext, target: Target): Promise<CheckResult> {
  const checked: string[] = [];
  const problems: string[] = [];
  for (const container of Spec.containersOf(target.serviceName, target.resource)) {
    if (container.packaging.type !== "prebuilt-image") continue;
    const image = container.packaging.properties.image;
    const reference = registryImage(context.settings.registry, image);
    // Images of other registries cannot be looked up without their credentials: ECS reports
    // a pull failure, which fails the deployment fast like any task failure.
    if (!reference) continue;
    checked.push(`image ${image}`);
    try {
      const result = await context.clients.ecr.send(
        new DescribeImagesCommand({ repositoryName: reference.repository, imageIds: [reference.id] }),
      );
      if ((result.imageDetails ?? []).length === 0)
        problems.push(`image ${image} (container ${container.name}) does not exist`);
    } catch (error) {
      if (Ecr.isImageNotFound(error)) {
        problems.push(`image ${image} (container ${container.name}) does not exist`);
      } else {
        problems.push(
          `image ${image} (container ${container.name}) could not be checked (${(error as Error).message})`,
        );
      }
    }
  }
  return { checked, problems };
}

/**
 * A target must run, or be on its way: one whose deployment is under way but whose ECS service
 * does not exist yet is waited for (Service Connect clients resolve only the endpoints that
 * existed when their task started), unless it connects back to this service, which would wait
 * forever.
 */
async function checkDependencies(
  context: StepContext,
  target: Target,
): Promise<CheckResult & { pending: string[] }> {
  const names = dependenciesOf(target.serviceName, target.resource).filter((name) => {
    const resource = target.stack.resources[name];
    return resource !== undefined && Spec.isCompute(resource);
  });
  const problems: string[] = [];
  const pending: string[] = [];
  await Promise.all(
    names.map(async (name) => {
      const record = await ServiceRecord.get(context.store, target.stackName, name);
      if (record?.liveTaskDefinitionArn !== undefined) return;
      const underway = await isUnderway(context, record);
      if (!underway) {
        problems.push(
          `${target.serviceName} connects to ${name}, which is neither deployed nor being deployed`,
        );
        return;
      }
      const resource = target.stack.resources[name];
      const connectsBack =
        resource !== undefined &&
        Spec.isCompute(resource) &&
        dependenciesOf(name, resource).includes(target.serviceName);
      if (!connectsBack) pending.push(name);
    }),
  );
  return {
    checked: names.map((name) => `dependency ${name}`),
    problems: problems.sort(),
    pending: pending.sort(),
  };
}

async function isUnderway(context: StepContext, record: ServiceRecord.Info | undefined): Promise<boolean> {
  for (const id of [record?.activeDeploymentId, record?.queuedDeploymentId]) {
    if (!id) continue;
    const deployment = await DeploymentRecord.get(context.store, id);
    if (deployment && !isTerminal(deployment.status)) return true;
  }
  return false;
}

function checkConsistency(target: Target): CheckResult {
  const problems: string[] = [];
  const containers = Spec.containersOf(target.serviceName, target.resource);
  const owners = new Map<number, string>();
  for (const container of containers) {
    const check = container.internalHealthCheck;
    if (check && check.timeoutSeconds >= check.intervalSeconds) {
      problems.push(
        `container ${container.name}: the health check's timeoutSeconds (${check.timeoutSeconds}) must be shorter than its intervalSeconds (${check.intervalSeconds})`,
      );
    }
    for (const port of container.ports) {
      if (PROXY_PORTS.has(port)) {
        problems.push(
          `container ${container.name}: port ${port} is taken by the Service Connect proxy in every task`,
        );
      }
      const owner = owners.get(port);
      // Containers of one task share its network namespace: two cannot listen on one port.
      if (owner && owner !== container.name) {
        problems.push(
          `containers ${owner} and ${container.name} both listen on port ${port} of the same task`,
        );
      }
      owners.set(port, container.name);
    }
  }
  return { checked: ["ports and health checks"], problems };
}

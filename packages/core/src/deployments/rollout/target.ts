import { Render } from "../../render/index.ts";
import { Spec } from "../../spec/index.ts";
import { IngressRecord, type ServiceRecord, StackRecord, type Store } from "../../store/index.ts";
import type { Settings } from "./context.ts";
import { STEP_ERRORS, StepError } from "./errors.ts";

/** What a step works on: the stack as last applied, with every service's stored spec in it. */
export interface Target {
  stackName: string;
  serviceName: string;
  stack: Spec.Stack;
  resource: Spec.ComputeResource;
  record: ServiceRecord.Info;
}

/**
 * Reads the stack and its services. The stored specs win over the file's resources, because
 * redeploys with an image and scaling change the spec without a new file.
 */
export async function loadTarget(store: Store, stackName: string, serviceName: string): Promise<Target> {
  const { stack: stackRecord, services } = await StackRecord.getWithServices(store, stackName);
  const record = services.find((service) => service.name === serviceName);
  if (!record)
    throw new StepError(STEP_ERRORS.notRunnable, `service ${stackName}/${serviceName} does not exist`);
  const parsed = stackRecord ? parsedStackFile(stackRecord.stackFile) : undefined;
  const resources: Record<string, unknown> = parsed ? { ...parsed.resources } : {};
  for (const service of services) resources[service.name] = service.spec;
  const stack = { ...parsed, resources } as Spec.Stack;
  return targetOf(stackName, stack, record);
}

/** How many parsed stack files a step's process keeps (a Lambda container serves one installation). */
const PARSED_FILES_KEPT = 16;
const parsedFiles = new Map<string, Spec.Stack | undefined>();

/**
 * A stored stack file, parsed (undefined when it does not parse): every step of a deployment
 * reads the same text, and parsing it costs more than the reads of a step, so a process parses
 * each text once. Each caller gets its own copy.
 */
function parsedStackFile(text: string): Spec.Stack | undefined {
  let stack: Spec.Stack | undefined;
  if (parsedFiles.has(text)) {
    stack = parsedFiles.get(text);
    // The most recently used go last; the first is evicted.
    parsedFiles.delete(text);
  } else {
    const parsed = Spec.parse(text);
    stack = parsed.ok ? parsed.stack : undefined;
    if (parsedFiles.size >= PARSED_FILES_KEPT) parsedFiles.delete(parsedFiles.keys().next().value as string);
  }
  parsedFiles.set(text, stack);
  return structuredClone(stack);
}

/** `target` with its service's record replaced (just written): the rest of the stack as it was read. */
export function withRecord(target: Target, record: ServiceRecord.Info): Target {
  return targetOf(target.stackName, target.stack, record);
}

function targetOf(stackName: string, read: Spec.Stack, record: ServiceRecord.Info): Target {
  const serviceName = record.name;
  const stack = { ...read, resources: { ...read.resources, [serviceName]: record.spec } } as Spec.Stack;
  const resource = stack.resources[serviceName];
  if (!resource || !Spec.isCompute(resource)) {
    throw new StepError(STEP_ERRORS.notRunnable, `${stackName}/${serviceName} is not a compute resource`);
  }
  return { stackName, serviceName, stack, resource, record };
}

/** The rendering environment of a stack in this installation. */
export function renderEnvironment(
  settings: Settings,
  stackName: string,
  extra: {
    images?: Record<string, string>;
    secretArns?: Record<string, string>;
    /** Ingress Berth created for the stack (HTTP API registries, target groups), over the installation's own. */
    ingress?: Render.EnvironmentInput["ingress"];
    /** The stack's gateway URLs, for `$ResourceParam(…, 'url')` (see `ingressUrls`). */
    ingressUrls?: Record<string, string>;
  } = {},
): Render.Environment {
  return Render.Environment.parse({
    stack: stackName,
    stage: settings.stage,
    partition: settings.partition,
    region: settings.region,
    account: settings.account,
    cluster: settings.cluster,
    network: { privateSubnets: settings.subnets, securityGroups: settings.securityGroups },
    serviceConnectNamespace: settings.serviceConnectNamespace,
    executionRoleArn: settings.executionRoleArn,
    taskRolePath: settings.taskRolePath,
    ...(settings.permissionsBoundaryArn ? { permissionsBoundaryArn: settings.permissionsBoundaryArn } : {}),
    ...(settings.deploymentRoleArn ? { deploymentRoleArn: settings.deploymentRoleArn } : {}),
    registry: settings.registry,
    images: extra.images ?? {},
    secretArns: extra.secretArns ?? {},
    ingress: { ...settings.ingress, ...extra.ingress },
    ingressUrls: extra.ingressUrls ?? {},
    ingressMissing: settings.ingressMissing,
    stateMachinePrefix: settings.stateMachinePrefix,
    ...(settings.jobRunRoleArn ? { jobRunRoleArn: settings.jobRunRoleArn } : {}),
    ...(settings.ec2CapacityProvider ? { ec2CapacityProvider: settings.ec2CapacityProvider } : {}),
  });
}

/** The URLs of the stack's gateways, by name, as the store has them. */
export async function ingressUrls(store: Store, stackName: string): Promise<Record<string, string>> {
  return urlsOf(await IngressRecord.list(store, stackName));
}

/** The URLs of listed ingress resources by name, and their first custom domains by `<name>/domain`. */
export function urlsOf(resources: readonly IngressRecord.Info[]): Record<string, string> {
  const urls: Record<string, string> = {};
  for (const resource of resources) {
    urls[resource.name] = resource.url;
    const domain = resource.domains[0]?.name;
    if (domain) urls[`${resource.name}/domain`] = domain;
  }
  return urls;
}

/** The `$Secret` names a resource's containers read. */
export function secretNamesOf(serviceName: string, resource: Spec.ComputeResource): string[] {
  const names = new Set<string>();
  for (const container of Spec.containersOf(serviceName, resource)) {
    for (const variable of container.environment) {
      for (const found of Spec.findDirectives(variable.value)) {
        if (found.ok && found.directive.kind === "Secret") names.add(found.directive.secretName);
      }
    }
  }
  return [...names].sort();
}

/** The resources a resource's `$ResourceParam`s and `connectTo` name. */
export function dependenciesOf(serviceName: string, resource: Spec.ComputeResource): string[] {
  const names = new Set<string>(resource.properties.connectTo ?? []);
  for (const container of Spec.containersOf(serviceName, resource)) {
    for (const variable of container.environment) {
      for (const found of Spec.findDirectives(variable.value)) {
        if (found.ok && found.directive.kind === "ResourceParam") names.add(found.directive.resource);
      }
    }
  }
  names.delete(serviceName);
  return [...names].sort();
}

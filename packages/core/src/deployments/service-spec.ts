import { BerthError } from "../errors.ts";
import { Render } from "../render/index.ts";
import { Spec } from "../spec/index.ts";
import type { SpecJson } from "./plan.ts";

/**
 * Reading and changing a stored service spec (a compute resource as JSON). Every change is
 * validated again with the resource's own schema from core, so the API can never store a spec
 * that the stack file parser would refuse.
 */

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function propertiesOf(spec: SpecJson): Record<string, unknown> {
  return isRecord(spec.properties) ? spec.properties : {};
}

/** The spec as its resource type defines it, or undefined when the stored JSON is not one. */
export function computeResourceOf(spec: SpecJson): Spec.ComputeResource | undefined {
  const type = spec.type;
  if (typeof type !== "string" || !(Spec.COMPUTE_TYPES as readonly string[]).includes(type)) return undefined;
  const parsed = Spec.RESOURCE_SCHEMAS[type as Spec.ComputeResource["type"]].safeParse(spec);
  return parsed.success ? (parsed.data as Spec.ComputeResource) : undefined;
}

function validated(spec: SpecJson, what: string): SpecJson {
  const resource = computeResourceOf(spec);
  if (!resource) {
    throw new BerthError("INVALID_INPUT", `the service's spec would no longer be valid after ${what}`);
  }
  return JSON.parse(JSON.stringify(resource)) as SpecJson;
}

/** Addresses already worked out, by stack, service, balancer URL and spec text: every stack read shows them. */
const addresses = new Map<string, string | null>();
const ADDRESSES_KEPT = 256;

/**
 * `host:port` of private and web services: `<alias>.<stack>:port` through Service Connect, or a
 * private service's internal load balancer where `ownUrl` (the balancer's URL) says it has one.
 * Remembered for the last few hundred specs: validating a spec costs far more than writing it out.
 */
export function addressOf(
  stack: string,
  service: string,
  spec: SpecJson,
  ownUrl?: string | null,
): string | null {
  const key = `${stack}\n${service}\n${ownUrl ?? ""}\n${JSON.stringify(spec)}`;
  const known = addresses.get(key);
  if (known !== undefined) return known;
  const resource = computeResourceOf(spec);
  const address =
    !resource || (resource.type !== "private-service" && resource.type !== "web-service")
      ? null
      : Render.addressOf(
          { resources: { [service]: resource } },
          { stack, ingressUrls: ownUrl ? { [service]: ownUrl } : {} },
          service,
        );
  if (addresses.size >= ADDRESSES_KEPT) addresses.delete(addresses.keys().next().value as string);
  addresses.set(key, address);
  return address;
}

export interface ScalingBounds {
  min: number;
  max: number;
}

export function scalingOf(spec: SpecJson): ScalingBounds | null {
  const scaling = propertiesOf(spec).scaling;
  if (!isRecord(scaling)) return null;
  const { minInstances, maxInstances } = scaling;
  if (typeof minInstances !== "number" || typeof maxInstances !== "number") return null;
  return { min: minInstances, max: maxInstances };
}

export function withScaling(spec: SpecJson, bounds: ScalingBounds): SpecJson {
  const properties = propertiesOf(spec);
  const scaling = isRecord(properties.scaling) ? properties.scaling : {};
  return validated(
    {
      ...spec,
      properties: {
        ...properties,
        scaling: { ...scaling, minInstances: bounds.min, maxInstances: bounds.max },
      },
    },
    "scaling",
  );
}

/** Container name → the object holding its `packaging`, by resource type. */
function packagingHolders(service: string, spec: SpecJson): Map<string, Record<string, unknown>> {
  const properties = propertiesOf(spec);
  const holders = new Map<string, Record<string, unknown>>();
  switch (spec.type) {
    case "multi-container-workload":
      if (Array.isArray(properties.containers)) {
        for (const container of properties.containers) {
          if (isRecord(container) && typeof container.name === "string")
            holders.set(container.name, container);
        }
      }
      break;
    case "batch-job":
      if (isRecord(properties.container)) holders.set(service, properties.container);
      break;
    default:
      holders.set(service, properties);
  }
  return holders;
}

/**
 * The spec with each named container running a given image: its packaging becomes
 * `prebuilt-image`, keeping the command and entry point it had.
 */
export function withImages(
  service: string,
  spec: SpecJson,
  images: Readonly<Record<string, string>>,
): SpecJson {
  const copy = JSON.parse(JSON.stringify(spec)) as SpecJson;
  const holders = packagingHolders(service, copy);
  const unknown = Object.keys(images).filter((container) => !holders.has(container));
  if (unknown.length > 0) {
    const known = [...holders.keys()].join(", ");
    throw new BerthError(
      "INVALID_INPUT",
      `${service} has no container named ${unknown.join(", ")}; its containers: ${known}`,
      unknown.map((container) => ({
        path: `body.image.${container}`,
        message: `no such container; use one of ${known}`,
      })),
    );
  }
  for (const [container, image] of Object.entries(images)) {
    const holder = holders.get(container) as Record<string, unknown>;
    const previous =
      isRecord(holder.packaging) && isRecord(holder.packaging.properties) ? holder.packaging.properties : {};
    holder.packaging = {
      type: "prebuilt-image",
      properties: {
        image,
        ...(previous.command === undefined ? {} : { command: previous.command }),
        ...(previous.entryPoint === undefined ? {} : { entryPoint: previous.entryPoint }),
      },
    };
  }
  return validated(copy, "changing its images");
}

/** `sha256:…` of references pinned by digest, by container: what the deployment will run. */
export function pinnedDigests(images: Readonly<Record<string, string>>): Record<string, string> {
  const digests: Record<string, string> = {};
  for (const [container, image] of Object.entries(images)) {
    const digest = /@(sha256:[0-9a-f]{64})$/.exec(image)?.[1];
    if (digest) digests[container] = digest;
  }
  return digests;
}

/** The revision number at the end of a task definition ARN (`…:task-definition/family:12`). */
export function revisionOf(taskDefinitionArn: string): number | null {
  const revision = /:(\d+)$/.exec(taskDefinitionArn)?.[1];
  return revision === undefined ? null : Number(revision);
}

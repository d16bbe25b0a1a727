import type { Spec } from "@berth/core/spec";

/**
 * Writing a stack file in TypeScript: `berth.ts` default-exports `defineStack({ resources })`
 * (or a function, possibly async, that returns it). Every type here is the stack file's own
 * schema as written (zod's input types, before defaults), so a misspelled property or a wrong
 * value is a type error and editors complete the rest. Nothing is checked at run time here:
 * `berth validate`, `render` and `deploy` check the result exactly as they check berth.yml.
 */

/** A whole stack file: `{ resources: { name: resource } }`. */
export type StackDefinition = Spec.StackFileInput;
/** Any one resource, `{ type, properties }`. */
export type Resource = Spec.ResourceInput;
export type ResourceType = Resource["type"];
/** The resource of one type. */
export type ResourceOf<Type extends ResourceType> = Extract<Resource, { type: Type }>;
/** The `properties` of one resource type. */
export type PropertiesOf<Type extends ResourceType> = ResourceOf<Type>["properties"];

/** What `berth.ts` may default-export. */
export type StackModule = StackDefinition | (() => StackDefinition | Promise<StackDefinition>);

/**
 * The stack, or a function (possibly async) returning it, as typed: returns its argument, so
 * that the editor checks and completes it.
 */
export function defineStack(stack: StackModule): StackModule {
  return stack;
}

function resource<Type extends ResourceType>(type: Type) {
  return (properties: PropertiesOf<Type>): ResourceOf<Type> => ({ type, properties }) as ResourceOf<Type>;
}

/** A container reachable only inside the stack, at `<lowercased name>.<stack>:<port>`. */
export const privateService = resource("private-service");
/** A container published through an HTTP API gateway or a load balancer. */
export const webService = resource("web-service");
/** A container with no incoming traffic. */
export const workerService = resource("worker-service");
/** Several containers in one task, with events routing traffic to them. */
export const multiContainerWorkload = resource("multi-container-workload");
/** A container that runs to completion, started with `berth run-job`. */
export const batchJob = resource("batch-job");
/** An HTTP API that events and web services refer to (set up by the installation). */
export const httpApiGateway = (
  properties: PropertiesOf<"http-api-gateway"> = {},
): ResourceOf<"http-api-gateway"> => ({
  type: "http-api-gateway",
  properties,
});
/** An application load balancer that events refer to (set up by the installation). */
export const applicationLoadBalancer = (
  properties: PropertiesOf<"application-load-balancer"> = {},
): ResourceOf<"application-load-balancer"> => ({ type: "application-load-balancer", properties });
/** A network load balancer that events refer to (set up by the installation). */
export const networkLoadBalancer = resource("network-load-balancer");

/** Packaging helpers: `packaging: buildpack("src/main.ts")`. */
export const buildpack = (
  entryfilePath: string,
  options: { command?: string[] } = {},
): Extract<PropertiesOf<"worker-service">["packaging"], { type: "stacktape-image-buildpack" }> => ({
  type: "stacktape-image-buildpack",
  properties: { entryfilePath, ...options },
});
export const dockerfile = (
  properties: Extract<
    PropertiesOf<"worker-service">["packaging"],
    { type: "custom-dockerfile" }
  >["properties"],
): Extract<PropertiesOf<"worker-service">["packaging"], { type: "custom-dockerfile" }> => ({
  type: "custom-dockerfile",
  properties,
});
export const prebuiltImage = (
  image: string,
  options: Omit<
    Extract<PropertiesOf<"worker-service">["packaging"], { type: "prebuilt-image" }>["properties"],
    "image"
  > = {},
): Extract<PropertiesOf<"worker-service">["packaging"], { type: "prebuilt-image" }> => ({
  type: "prebuilt-image",
  properties: { image, ...options },
});

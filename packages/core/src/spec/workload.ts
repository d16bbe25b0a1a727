import type {
  ComputeResource,
  ContainerEvent,
  EnvironmentVar,
  HealthCheck,
  Logging,
  Packaging,
  WorkloadContainer,
} from "./schema.ts";

/**
 * Every compute resource seen as what ECS runs: a list of containers with their ports. The
 * single-container types (private/web/worker service, batch job) become one container named
 * after the resource, so rendering and checks have one shape to work on.
 */
export interface Container {
  name: string;
  packaging: Packaging;
  essential: boolean;
  environment: EnvironmentVar[];
  dependsOn: WorkloadContainer["dependsOn"];
  internalHealthCheck?: HealthCheck;
  stopTimeout: number;
  logging: Logging;
  events: ContainerEvent[];
  /** Ports the container listens on, in order of first mention. */
  ports: number[];
  /** Service Connect endpoints this container publishes to the rest of the stack. */
  serviceConnect: ServiceConnectEndpoint[];
  /** Whether Berth injects PORT (the docs' single-port services always get it). */
  injectPort: boolean;
}

export interface ServiceConnectEndpoint {
  alias: string;
  port: number;
  protocol?: "http" | "http2" | "grpc";
}

/** The Service Connect alias of a private or web service: its lowercased name. */
export function serviceAlias(resourceName: string): string {
  return resourceName.toLowerCase();
}

/** The default alias of a workload container's service-connect event: `resource-container`. */
function containerAlias(resourceName: string, containerName: string): string {
  return `${resourceName}-${containerName}`.toLowerCase();
}

type SoleContainerSource = Pick<Container, "packaging" | "environment" | "stopTimeout" | "logging"> & {
  internalHealthCheck?: HealthCheck | undefined;
};

/**
 * The one container of a single-container resource, named after it: essential, depending on
 * nothing, with no container events. Only a service listens (`listening`: its port, published
 * with Service Connect, and PORT injected).
 */
function soleContainer(
  name: string,
  source: SoleContainerSource,
  listening?: { port: number; serviceConnect: ServiceConnectEndpoint },
): Container {
  return {
    name,
    packaging: source.packaging,
    essential: true,
    environment: source.environment,
    dependsOn: [],
    ...(source.internalHealthCheck ? { internalHealthCheck: source.internalHealthCheck } : {}),
    stopTimeout: source.stopTimeout,
    logging: source.logging,
    events: [],
    ports: listening ? [listening.port] : [],
    serviceConnect: listening ? [listening.serviceConnect] : [],
    injectPort: listening !== undefined,
  };
}

export function containersOf(resourceName: string, resource: ComputeResource): Container[] {
  switch (resource.type) {
    case "private-service":
    case "web-service": {
      const { properties } = resource;
      const protocol = resource.type === "private-service" ? resource.properties.protocol : undefined;
      return [
        soleContainer(resourceName, properties, {
          port: properties.port,
          // Always published, also behind a load balancer, so `address` is reachable from every
          // service of the stack whatever the ingress.
          serviceConnect: {
            alias: serviceAlias(resourceName),
            port: properties.port,
            ...(protocol ? { protocol } : {}),
          },
        }),
      ];
    }
    case "worker-service":
      return [soleContainer(resourceName, resource.properties)];
    case "batch-job": {
      const { container, stopTimeout, logging } = resource.properties;
      // The stack file gives a batch job's container no health check; its stop timeout and
      // logging stand beside the container.
      return [
        soleContainer(resourceName, {
          packaging: container.packaging,
          environment: container.environment,
          stopTimeout,
          logging,
        }),
      ];
    }
    case "multi-container-workload":
      return resource.properties.containers.map((container) => {
        const ports = [...new Set(container.events.map((event) => event.properties.containerPort))];
        const serviceConnect = container.events.flatMap((event): ServiceConnectEndpoint[] =>
          event.type === "service-connect"
            ? [
                {
                  alias: event.properties.alias ?? containerAlias(resourceName, container.name),
                  port: event.properties.containerPort,
                  ...(event.properties.protocol ? { protocol: event.properties.protocol } : {}),
                },
              ]
            : [],
        );
        return {
          name: container.name,
          packaging: container.packaging,
          essential: container.essential,
          environment: container.environment,
          dependsOn: container.dependsOn,
          ...(container.internalHealthCheck ? { internalHealthCheck: container.internalHealthCheck } : {}),
          stopTimeout: container.stopTimeout,
          logging: container.logging,
          events: container.events,
          ports,
          serviceConnect,
          // Workload containers set PORT themselves in the docs; Berth fills it only when unambiguous.
          injectPort: ports.length === 1,
        };
      });
  }
}

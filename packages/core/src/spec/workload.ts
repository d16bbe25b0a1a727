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
export function containerAlias(resourceName: string, containerName: string): string {
  return `${resourceName}-${containerName}`.toLowerCase();
}

export function containersOf(resourceName: string, resource: ComputeResource): Container[] {
  switch (resource.type) {
    case "private-service":
    case "web-service": {
      const { properties } = resource;
      const protocol = resource.type === "private-service" ? resource.properties.protocol : undefined;
      return [
        {
          name: resourceName,
          packaging: properties.packaging,
          essential: true,
          environment: properties.environment,
          dependsOn: [],
          ...(properties.internalHealthCheck ? { internalHealthCheck: properties.internalHealthCheck } : {}),
          stopTimeout: properties.stopTimeout,
          logging: properties.logging,
          events: [],
          ports: [properties.port],
          // Always published, also behind a load balancer, so `address` is reachable from every
          // service of the stack whatever the ingress.
          serviceConnect: [
            {
              alias: serviceAlias(resourceName),
              port: properties.port,
              ...(protocol ? { protocol } : {}),
            },
          ],
          injectPort: true,
        },
      ];
    }
    case "worker-service":
      return [
        {
          name: resourceName,
          packaging: resource.properties.packaging,
          essential: true,
          environment: resource.properties.environment,
          dependsOn: [],
          ...(resource.properties.internalHealthCheck
            ? { internalHealthCheck: resource.properties.internalHealthCheck }
            : {}),
          stopTimeout: resource.properties.stopTimeout,
          logging: resource.properties.logging,
          events: [],
          ports: [],
          serviceConnect: [],
          injectPort: false,
        },
      ];
    case "batch-job":
      return [
        {
          name: resourceName,
          packaging: resource.properties.container.packaging,
          essential: true,
          environment: resource.properties.container.environment,
          dependsOn: [],
          stopTimeout: resource.properties.stopTimeout,
          logging: resource.properties.logging,
          events: [],
          ports: [],
          serviceConnect: [],
          injectPort: false,
        },
      ];
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

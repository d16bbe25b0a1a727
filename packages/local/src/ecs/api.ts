import { z } from "zod";
import { AwsError, type AwsJsonService, operation } from "../protocol.ts";
import {
  describeCapacityProvider,
  describeContainerInstance,
  FARGATE_PROVIDERS,
  instanceTypesOf,
  LOCAL_EC2_CAPACITY_PROVIDER,
} from "./capacity.ts";
import { circuitBreakerThreshold, clusterNameOf, describeTask, type EcsEngine, now } from "./engine.ts";
import type {
  ClusterRecord,
  ContainerDefinition,
  DeploymentRecord,
  ServiceRecord,
  Tag,
  TaskDefinitionRecord,
  TaskRecord,
} from "./model.ts";
import { Paging, pageOf, sortable } from "./paging.ts";
import { checkPlacement, checkTaskDefinition, type TaskDefinitionInput } from "./validation.ts";

const seconds = (millis: number | undefined) => (millis === undefined ? undefined : millis / 1000);
const TagList = z.array(z.object({ key: z.string().optional(), value: z.string().optional() })).optional();
const NAME = /^[a-zA-Z0-9_-]{1,255}$/;

const ContainerDefinitionInput = z.looseObject({
  name: z.string().regex(NAME, "container names have up to 255 letters, numbers, hyphens and underscores"),
  image: z.string().min(1),
  essential: z.boolean().optional(),
  entryPoint: z.array(z.string()).optional(),
  command: z.array(z.string()).optional(),
  environment: z.array(z.object({ name: z.string().optional(), value: z.string().optional() })).optional(),
  secrets: z.array(z.object({ name: z.string(), valueFrom: z.string() })).optional(),
  portMappings: z
    .array(
      z.looseObject({
        containerPort: z.number().int().min(1).max(65535).optional(),
        name: z.string().optional(),
      }),
    )
    .optional(),
  healthCheck: z
    .object({
      command: z.array(z.string()).min(1),
      interval: z.number().int().min(5).max(300).optional(),
      timeout: z.number().int().min(2).max(120).optional(),
      retries: z.number().int().min(1).max(10).optional(),
      startPeriod: z.number().int().min(0).max(300).optional(),
    })
    .optional(),
  dependsOn: z
    .array(
      z.object({ containerName: z.string(), condition: z.enum(["START", "COMPLETE", "SUCCESS", "HEALTHY"]) }),
    )
    .optional(),
  stopTimeout: z.number().int().min(0).max(120).optional(),
  logConfiguration: z
    .looseObject({ logDriver: z.string(), options: z.record(z.string(), z.string()).optional() })
    .optional(),
});

const DeploymentConfigurationInput = z
  .looseObject({
    maximumPercent: z.number().int().min(0).optional(),
    minimumHealthyPercent: z.number().int().min(0).max(100).optional(),
    deploymentCircuitBreaker: z.object({ enable: z.boolean(), rollback: z.boolean() }).optional(),
  })
  .optional();

/** `networkConfiguration` as ECS models it: awsvpc needs its subnets. */
const NetworkConfigurationInput = z
  .looseObject({
    awsvpcConfiguration: z
      .looseObject({
        subnets: z.array(z.string()),
        securityGroups: z.array(z.string()).optional(),
        assignPublicIp: z.enum(["ENABLED", "DISABLED"]).optional(),
      })
      .optional(),
  })
  .optional();

const LoadBalancersInput = z
  .array(
    z.looseObject({
      containerName: z.string().optional(),
      containerPort: z.number().int().optional(),
      targetGroupArn: z.string().optional(),
      loadBalancerName: z.string().optional(),
    }),
  )
  .optional();

const LaunchType = z.enum(["EC2", "FARGATE", "EXTERNAL", "MANAGED_INSTANCES"]);

function clusterView(engine: EcsEngine, cluster: ClusterRecord): Record<string, unknown> {
  const tasks = engine.liveTasks((task) => task.clusterArn === cluster.clusterArn);
  return {
    clusterArn: cluster.clusterArn,
    clusterName: cluster.clusterName,
    status: cluster.status,
    registeredContainerInstancesCount: engine.ec2.instances(cluster.clusterArn).length,
    runningTasksCount: tasks.filter((task) => task.lastStatus === "RUNNING").length,
    pendingTasksCount: tasks.filter((task) => task.lastStatus !== "RUNNING").length,
    activeServicesCount: engine.state.services.filter(
      (s) => s.clusterArn === cluster.clusterArn && s.status === "ACTIVE",
    ).length,
    statistics: [],
    tags: cluster.tags,
    settings: cluster.settings,
    capacityProviders: cluster.capacityProviders,
    defaultCapacityProviderStrategy: cluster.defaultCapacityProviderStrategy,
  };
}

/** The members ECS fills in a container definition when the request leaves them out. */
function containerDefinitionView(container: ContainerDefinition): Record<string, unknown> {
  return {
    cpu: 0,
    portMappings: [],
    essential: true,
    environment: [],
    mountPoints: [],
    volumesFrom: [],
    ...container,
    ...(container.portMappings
      ? {
          portMappings: container.portMappings.map((mapping) => ({
            protocol: "tcp",
            ...mapping,
          })),
        }
      : {}),
  };
}

function taskDefinitionView(td: TaskDefinitionRecord): Record<string, unknown> {
  const definition = td.definition as Record<string, unknown> & { networkMode?: string };
  const awsvpc = definition.networkMode === "awsvpc";
  return {
    volumes: [],
    placementConstraints: [],
    requiresAttributes: [],
    ...td.definition,
    containerDefinitions: td.definition.containerDefinitions.map(containerDefinitionView),
    // awsvpc (and ports) are Fargate's; EC2 runs every network mode.
    compatibilities: awsvpc ? ["EC2", "FARGATE"] : ["EC2"],
    taskDefinitionArn: td.taskDefinitionArn,
    family: td.family,
    revision: td.revision,
    status: td.status,
    registeredAt: seconds(td.registeredAt),
    ...(td.deregisteredAt ? { deregisteredAt: seconds(td.deregisteredAt) } : {}),
  };
}

/** The live tasks `belongs` picks, as ECS counts them: running once RUNNING, pending until then. */
function taskCounts(
  engine: EcsEngine,
  belongs: (task: TaskRecord) => boolean,
): { runningCount: number; pendingCount: number } {
  const tasks = engine.liveTasks(belongs);
  const runningCount = tasks.filter((task) => task.lastStatus === "RUNNING").length;
  return { runningCount, pendingCount: tasks.length - runningCount };
}

function deploymentView(
  engine: EcsEngine,
  service: ServiceRecord,
  deployment: DeploymentRecord,
): Record<string, unknown> {
  return {
    id: deployment.id,
    status: deployment.status,
    taskDefinition: deployment.taskDefinition,
    desiredCount: deployment.desiredCount,
    ...taskCounts(
      engine,
      (task) => task.deploymentId === deployment.id && task.serviceName === service.serviceName,
    ),
    failedTasks: deployment.failedTasks,
    createdAt: seconds(deployment.createdAt),
    updatedAt: seconds(deployment.updatedAt),
    rolloutState: deployment.rolloutState,
    rolloutStateReason: deployment.rolloutStateReason,
    launchType: launchTypeOf(service),
    platformVersion: "1.4.0",
    platformFamily: "Linux",
    // Of the service's configuration, a deployment carries the members ECS's Deployment has.
    ...pick(service.configuration, [
      "capacityProviderStrategy",
      "networkConfiguration",
      "serviceConnectConfiguration",
    ]),
  };
}

function pick(source: Record<string, unknown>, keys: string[]): Record<string, unknown> {
  return Object.fromEntries(keys.filter((key) => source[key] !== undefined).map((key) => [key, source[key]]));
}

export function serviceView(engine: EcsEngine, service: ServiceRecord): Record<string, unknown> {
  return {
    serviceArn: service.serviceArn,
    serviceName: service.serviceName,
    clusterArn: service.clusterArn,
    status: service.status,
    desiredCount: service.desiredCount,
    ...taskCounts(
      engine,
      (task) => task.serviceName === service.serviceName && task.clusterArn === service.clusterArn,
    ),
    taskDefinition: service.taskDefinition,
    deploymentConfiguration: service.deploymentConfiguration,
    ...currentServiceDeployment(engine, service),
    deployments: service.deployments
      .filter((d) => d.status !== "INACTIVE")
      .map((d) => deploymentView(engine, service, d)),
    events: service.events.map((event) => ({
      id: event.id,
      createdAt: seconds(event.createdAt),
      message: event.message,
    })),
    createdAt: seconds(service.createdAt),
    schedulingStrategy: "REPLICA",
    deploymentController: { type: "ECS" },
    tags: service.tags,
    // What ECS answers for members the request left out.
    launchType: launchTypeOf(service),
    platformVersion: "LATEST",
    platformFamily: "Linux",
    loadBalancers: [],
    serviceRegistries: [],
    placementConstraints: [],
    placementStrategy: [],
    enableECSManagedTags: false,
    propagateTags: "NONE",
    enableExecuteCommand: false,
    // The members the service was configured with; Service Connect is shown per deployment.
    ...pick(
      service.configuration,
      KEPT.filter((key) => key !== "serviceConnectConfiguration"),
    ),
  };
}

/** Members of CreateService/UpdateService that Berth Local keeps and echoes, without acting on them. */
const KEPT = [
  "capacityProviderStrategy",
  "launchType",
  "platformVersion",
  "networkConfiguration",
  "loadBalancers",
  "serviceRegistries",
  "healthCheckGracePeriodSeconds",
  "placementConstraints",
  "placementStrategy",
  "enableECSManagedTags",
  "propagateTags",
  "enableExecuteCommand",
  "serviceConnectConfiguration",
];

function deploymentConfiguration(
  input: z.infer<typeof DeploymentConfigurationInput>,
  base?: ServiceRecord["deploymentConfiguration"],
) {
  return {
    ...base,
    ...input,
    maximumPercent: input?.maximumPercent ?? base?.maximumPercent ?? 200,
    minimumHealthyPercent: input?.minimumHealthyPercent ?? base?.minimumHealthyPercent ?? 100,
    deploymentCircuitBreaker: input?.deploymentCircuitBreaker ??
      base?.deploymentCircuitBreaker ?? { enable: false, rollback: false },
  };
}

/** The `nextToken` member of a list answer, when another page follows. */
function next(page: { nextToken?: string }): { nextToken?: string } {
  return page.nextToken ? { nextToken: page.nextToken } : {};
}

/** The launch type a service was created with: its own, EC2 for an EC2 capacity provider, else FARGATE. */
function launchTypeOf(service: ServiceRecord): string {
  if (typeof service.configuration.launchType === "string") return service.configuration.launchType;
  const strategy = service.configuration.capacityProviderStrategy;
  const onEc2 =
    Array.isArray(strategy) &&
    (strategy as { capacityProvider?: string }[]).some(
      (item) => item.capacityProvider !== undefined && !FARGATE_PROVIDERS.includes(item.capacityProvider),
    );
  return onEc2 ? "EC2" : "FARGATE";
}

function requireTaskDefinition(engine: EcsEngine, reference: string): TaskDefinitionRecord {
  const td = engine.findTaskDefinition(reference);
  if (td?.status !== "ACTIVE") throw new AwsError("InvalidParameterException", "TaskDefinition not found.");
  return td;
}

function requireService(engine: EcsEngine, cluster: ClusterRecord, reference: string): ServiceRecord {
  const service = engine.findService(cluster.clusterArn, reference);
  if (!service) throw new AwsError("ServiceNotFoundException", "Service not found.");
  return service;
}

/** ECS's API over the engine: validation and response shapes; behaviour lives in the engine. */
/**
 * Refuses a Service Connect configuration ECS would: enabled without a namespace (Berth Local's
 * clusters have no default namespace), or publishing a name another service holds in the namespace.
 */
function checkServiceConnect(
  engine: EcsEngine,
  serviceArn: string,
  configuration: Record<string, unknown>,
  taskDefinition: string,
): void {
  const config = configuration.serviceConnectConfiguration as
    | { enabled?: boolean; namespace?: string }
    | undefined;
  if (config?.enabled && !config.namespace) {
    throw new AwsError(
      "InvalidParameterException",
      "Service Connect namespace must be specified: the cluster has no default Service Connect namespace.",
    );
  }
  const conflict = engine.serviceConnectConflict(serviceArn, configuration, taskDefinition);
  if (conflict) throw new AwsError("InvalidParameterException", conflict);
}

export function ecsService(engine: EcsEngine): AwsJsonService {
  return {
    name: "ecs",
    targetPrefix: "AmazonEC2ContainerServiceV20141113",
    validationError: "InvalidParameterException",
    operations: {
      CreateCluster: operation(
        z.looseObject({
          clusterName: z.string().regex(NAME).optional(),
          tags: TagList,
          capacityProviders: z.array(z.string()).optional(),
          defaultCapacityProviderStrategy: z.array(z.unknown()).optional(),
          settings: z.array(z.unknown()).optional(),
        }),
        (input) => {
          const name = input.clusterName ?? "default";
          for (const provider of input.capacityProviders ?? []) {
            if (!KNOWN_PROVIDERS.includes(provider)) {
              throw new AwsError(
                "InvalidParameterException",
                `The specified capacity provider '${provider}' does not exist. Specify a valid capacity provider and try again.`,
              );
            }
          }
          let cluster = engine.findCluster(name);
          if (!cluster) {
            cluster = {
              clusterArn: engine.arn(`cluster/${name}`),
              clusterName: name,
              status: "ACTIVE",
              tags: input.tags ?? [],
              settings: input.settings ?? [],
              capacityProviders: input.capacityProviders ?? [],
              defaultCapacityProviderStrategy: input.defaultCapacityProviderStrategy ?? [],
              createdAt: now(),
            };
            engine.state.clusters = engine.state.clusters.filter((c) => c.clusterName !== name);
            engine.state.clusters.push(cluster);
            engine.save();
          }
          return { cluster: clusterView(engine, cluster) };
        },
      ),
      ListClusters: operation(z.looseObject({ ...Paging }), (input) => {
        const active = engine.state.clusters.filter((c) => c.status === "ACTIVE");
        const page = pageOf(active, (c) => c.clusterArn, {
          ...input,
          listing: ["ListClusters"],
          defaultSize: 100,
        });
        return { clusterArns: page.items.map((c) => c.clusterArn), ...next(page) };
      }),
      DescribeClusters: operation(z.looseObject({ clusters: z.array(z.string()).optional() }), (input) => {
        const references = input.clusters ?? ["default"];
        const clusters = references.flatMap((reference) => {
          const cluster = engine.findCluster(reference);
          return cluster ? [clusterView(engine, cluster)] : [];
        });
        const failures = references
          .filter((reference) => !engine.findCluster(reference))
          .map((reference) => ({
            arn: reference.startsWith("arn:") ? reference : engine.arn(`cluster/${reference}`),
            reason: "MISSING",
          }));
        return { clusters, failures };
      }),
      DeleteCluster: operation(z.object({ cluster: z.string() }), (input) => {
        const cluster = engine.requireCluster(input.cluster);
        if (
          engine.state.services.some((s) => s.clusterArn === cluster.clusterArn && s.status !== "INACTIVE")
        ) {
          throw new AwsError(
            "ClusterContainsServicesException",
            "The Cluster cannot be deleted while Services are active.",
          );
        }
        if (engine.liveTasks((task) => task.clusterArn === cluster.clusterArn).length > 0) {
          throw new AwsError(
            "ClusterContainsTasksException",
            "The Cluster cannot be deleted while Tasks are active.",
          );
        }
        cluster.status = "INACTIVE";
        engine.save();
        return { cluster: clusterView(engine, cluster) };
      }),

      RegisterTaskDefinition: operation(
        z.looseObject({
          family: z
            .string()
            .regex(
              NAME,
              "Family contains invalid characters: up to 255 letters, numbers, hyphens and underscores",
            ),
          containerDefinitions: z.array(ContainerDefinitionInput).min(1),
          requiresCompatibilities: z.array(z.string()).optional(),
          cpu: z.string().optional(),
          memory: z.string().optional(),
          networkMode: z.enum(["bridge", "host", "awsvpc", "none"]).optional(),
          executionRoleArn: z.string().optional(),
          tags: TagList,
        }),
        (input) => {
          checkTaskDefinition(input as TaskDefinitionInput);
          const names = input.containerDefinitions.map((c) => c.name);
          for (const container of input.containerDefinitions) {
            for (const dependency of container.dependsOn ?? []) {
              if (!names.includes(dependency.containerName)) {
                throw new AwsError(
                  "ClientException",
                  `Container ${container.name} depends on ${dependency.containerName}, which is not in the task definition.`,
                );
              }
            }
          }
          const { tags, ...definition } = input;
          const revision =
            Math.max(
              0,
              ...engine.state.taskDefinitions
                .filter((td) => td.family === input.family)
                .map((td) => td.revision),
            ) + 1;
          const record: TaskDefinitionRecord = {
            taskDefinitionArn: engine.arn(`task-definition/${input.family}:${revision}`),
            family: input.family,
            revision,
            status: "ACTIVE",
            registeredAt: now(),
            definition: definition as TaskDefinitionRecord["definition"] & {
              containerDefinitions: ContainerDefinition[];
            },
            tags: tags ?? [],
          };
          engine.state.taskDefinitions.push(record);
          engine.save();
          return { taskDefinition: taskDefinitionView(record), tags: record.tags };
        },
      ),
      DescribeTaskDefinition: operation(
        z.looseObject({ taskDefinition: z.string(), include: z.array(z.string()).optional() }),
        (input) => {
          const td = engine.findTaskDefinition(input.taskDefinition);
          if (!td) throw new AwsError("ClientException", "Unable to describe task definition.");
          return {
            taskDefinition: taskDefinitionView(td),
            ...(input.include?.includes("TAGS") ? { tags: td.tags } : {}),
          };
        },
      ),
      DeregisterTaskDefinition: operation(z.object({ taskDefinition: z.string() }), (input) => {
        if (!/:\d+$/.test(input.taskDefinition))
          throw new AwsError("ClientException", "The specified task definition does not include a revision.");
        const td = engine.findTaskDefinition(input.taskDefinition);
        if (!td) throw new AwsError("ClientException", "The specified task definition does not exist.");
        td.status = "INACTIVE";
        td.deregisteredAt = now();
        engine.save();
        return { taskDefinition: taskDefinitionView(td) };
      }),
      ListTaskDefinitions: operation(
        z.looseObject({
          familyPrefix: z.string().optional(),
          status: z.enum(["ACTIVE", "INACTIVE", "DELETE_IN_PROGRESS"]).optional(),
          sort: z.enum(["ASC", "DESC"]).optional(),
          ...Paging,
        }),
        (input) => {
          const status = input.status ?? "ACTIVE";
          const list = engine.state.taskDefinitions.filter(
            (td) => td.status === status && (!input.familyPrefix || td.family.startsWith(input.familyPrefix)),
          );
          const page = pageOf(
            list,
            (td) => `${td.family}\u0000${sortable(td.revision)}`,
            {
              ...input,
              listing: ["ListTaskDefinitions", status, input.familyPrefix ?? "", input.sort ?? "ASC"],
              defaultSize: 100,
            },
            input.sort === "DESC",
          );
          return { taskDefinitionArns: page.items.map((td) => td.taskDefinitionArn), ...next(page) };
        },
      ),
      ListTaskDefinitionFamilies: operation(
        z.looseObject({
          familyPrefix: z.string().optional(),
          status: z.enum(["ACTIVE", "INACTIVE", "ALL"]).optional(),
          ...Paging,
        }),
        (input) => {
          const status = input.status ?? "ALL";
          const families = new Map<string, boolean>();
          for (const td of engine.state.taskDefinitions) {
            if (input.familyPrefix && !td.family.startsWith(input.familyPrefix)) continue;
            families.set(td.family, (families.get(td.family) ?? false) || td.status === "ACTIVE");
          }
          // ACTIVE: a family with an ACTIVE revision; INACTIVE: one without any.
          const matching = [...families]
            .filter(([, active]) => status === "ALL" || active === (status === "ACTIVE"))
            .map(([family]) => family);
          const page = pageOf(matching, (family) => family, {
            ...input,
            listing: ["ListTaskDefinitionFamilies", status, input.familyPrefix ?? ""],
            defaultSize: 100,
          });
          return { families: page.items, ...next(page) };
        },
      ),

      CreateService: operation(
        z.looseObject({
          serviceName: z
            .string()
            .regex(NAME, "Service names have up to 255 letters, numbers, hyphens and underscores"),
          cluster: z.string().optional(),
          taskDefinition: z.string().optional(),
          desiredCount: z.number().int().min(0).optional(),
          deploymentConfiguration: DeploymentConfigurationInput,
          launchType: LaunchType.optional(),
          networkConfiguration: NetworkConfigurationInput,
          loadBalancers: LoadBalancersInput,
          tags: TagList,
        }),
        async (input) => {
          const cluster = engine.requireCluster(input.cluster);
          if (!input.taskDefinition)
            throw new AwsError("InvalidParameterException", "TaskDefinition must be specified.");
          const td = requireTaskDefinition(engine, input.taskDefinition);
          checkPlacement(td, input);
          checkCapacity(engine, cluster, input);
          if (engine.findService(cluster.clusterArn, input.serviceName)) {
            throw new AwsError("InvalidParameterException", "Creation of service was not idempotent.");
          }
          const serviceArn = engine.arn(`service/${cluster.clusterName}/${input.serviceName}`);
          checkServiceConnect(engine, serviceArn, pick(input, KEPT), td.taskDefinitionArn);
          const service: ServiceRecord = {
            serviceArn,
            serviceName: input.serviceName,
            clusterArn: cluster.clusterArn,
            status: "ACTIVE",
            desiredCount: input.desiredCount ?? 0,
            taskDefinition: td.taskDefinitionArn,
            configuration: pick(input, KEPT),
            deploymentConfiguration: deploymentConfiguration(input.deploymentConfiguration),
            deployments: [],
            events: [],
            createdAt: now(),
            tags: (input.tags ?? []) as Tag[],
            consecutiveFailures: 0,
            nextStartAt: 0,
          };
          engine.state.services = engine.state.services.filter(
            (s) => !(s.clusterArn === cluster.clusterArn && s.serviceName === input.serviceName),
          );
          engine.state.services.push(service);
          engine.newDeployment(service, td.taskDefinitionArn);
          engine.save();
          await engine.syncServiceConnect(service);
          return { service: serviceView(engine, service) };
        },
      ),
      UpdateService: operation(
        z.looseObject({
          service: z.string(),
          cluster: z.string().optional(),
          taskDefinition: z.string().optional(),
          desiredCount: z.number().int().min(0).optional(),
          forceNewDeployment: z.boolean().optional(),
          deploymentConfiguration: DeploymentConfigurationInput,
          networkConfiguration: NetworkConfigurationInput,
          loadBalancers: LoadBalancersInput,
        }),
        async (input) => {
          const cluster = engine.requireCluster(input.cluster);
          const service = requireService(engine, cluster, input.service);
          if (service.status !== "ACTIVE")
            throw new AwsError("ServiceNotActiveException", "Service was not ACTIVE.");
          const td = input.taskDefinition ? requireTaskDefinition(engine, input.taskDefinition) : undefined;
          const kept = pick(input, KEPT);
          // The service as it would be: its task definition, network and load balancers, checked together.
          const effective = { ...service.configuration, ...kept } as Parameters<typeof checkPlacement>[1];
          checkPlacement(td ?? requireTaskDefinition(engine, service.taskDefinition), effective);
          checkServiceConnect(
            engine,
            service.serviceArn,
            { ...service.configuration, ...kept },
            td?.taskDefinitionArn ?? service.taskDefinition,
          );
          checkCapacity(engine, cluster, effective);
          const configurationChanged = Object.entries(kept).some(
            ([key, value]) => JSON.stringify(service.configuration[key]) !== JSON.stringify(value),
          );
          service.configuration = { ...service.configuration, ...kept };
          if (input.deploymentConfiguration) {
            service.deploymentConfiguration = deploymentConfiguration(
              input.deploymentConfiguration,
              service.deploymentConfiguration,
            );
          }
          if (input.desiredCount !== undefined) {
            service.desiredCount = input.desiredCount;
            for (const deployment of service.deployments)
              if (deployment.status === "PRIMARY") deployment.desiredCount = input.desiredCount;
          }
          const newRevision = td !== undefined && td.taskDefinitionArn !== service.taskDefinition;
          if (newRevision || input.forceNewDeployment || configurationChanged) {
            engine.newDeployment(service, td?.taskDefinitionArn ?? service.taskDefinition);
          }
          engine.save();
          await engine.syncServiceConnect(service);
          return { service: serviceView(engine, service) };
        },
      ),
      DescribeServices: operation(
        z.looseObject({ services: z.array(z.string()).min(1).max(10), cluster: z.string().optional() }),
        (input) => {
          const cluster = engine.requireCluster(input.cluster);
          const found = input.services.map(
            (reference) =>
              engine.findService(cluster.clusterArn, reference) ?? inactive(engine, cluster, reference),
          );
          return {
            services: found.flatMap((service) => (service ? [serviceView(engine, service)] : [])),
            failures: input.services
              .filter((_, index) => !found[index])
              .map((reference) => ({
                arn: reference.startsWith("arn:")
                  ? reference
                  : engine.arn(`service/${cluster.clusterName}/${reference}`),
                reason: "MISSING",
              })),
          };
        },
      ),
      DeleteService: operation(
        z.looseObject({ service: z.string(), cluster: z.string().optional(), force: z.boolean().optional() }),
        (input) => {
          const cluster = engine.requireCluster(input.cluster);
          const service = requireService(engine, cluster, input.service);
          if (service.desiredCount > 0 && !input.force) {
            throw new AwsError(
              "InvalidParameterException",
              "The service cannot be stopped while it is scaled above 0.",
            );
          }
          service.desiredCount = 0;
          service.status = "DRAINING";
          for (const deployment of service.deployments) deployment.desiredCount = 0;
          for (const task of engine.liveTasks(
            (t) => t.serviceName === service.serviceName && t.clusterArn === cluster.clusterArn,
          )) {
            engine.stopTask(task, "Service deleted", "ServiceSchedulerInitiated");
          }
          engine.save();
          return { service: serviceView(engine, service) };
        },
      ),
      ListServices: operation(
        z.looseObject({
          cluster: z.string().optional(),
          launchType: z.enum(["EC2", "FARGATE", "EXTERNAL", "MANAGED_INSTANCES"]).optional(),
          schedulingStrategy: z.enum(["REPLICA", "DAEMON"]).optional(),
          ...Paging,
        }),
        (input) => {
          const cluster = engine.requireCluster(input.cluster);
          const services = engine.state.services.filter(
            (s) =>
              s.clusterArn === cluster.clusterArn &&
              s.status === "ACTIVE" &&
              (!input.launchType || launchTypeOf(s) === input.launchType) &&
              (!input.schedulingStrategy || input.schedulingStrategy === "REPLICA"),
          );
          const page = pageOf(services, (s) => s.serviceArn, {
            ...input,
            listing: [
              "ListServices",
              cluster.clusterArn,
              input.launchType ?? "",
              input.schedulingStrategy ?? "",
            ],
            defaultSize: 10,
          });
          return { serviceArns: page.items.map((s) => s.serviceArn), ...next(page) };
        },
      ),

      ListTasks: operation(
        z.looseObject({
          cluster: z.string().optional(),
          serviceName: z.string().optional(),
          family: z.string().optional(),
          startedBy: z.string().optional(),
          desiredStatus: z.enum(["RUNNING", "PENDING", "STOPPED"]).optional(),
          launchType: z.enum(["EC2", "FARGATE", "EXTERNAL", "MANAGED_INSTANCES"]).optional(),
          ...Paging,
        }),
        (input) => {
          const cluster = engine.requireCluster(input.cluster);
          if (input.serviceName && input.family) {
            throw new AwsError(
              "InvalidParameterException",
              "Family and serviceName cannot both be specified.",
            );
          }
          const desired = input.desiredStatus === "STOPPED" ? "STOPPED" : "RUNNING";
          const tasks = engine.state.tasks.filter(
            (task) =>
              task.clusterArn === cluster.clusterArn &&
              task.desiredStatus === desired &&
              (!input.serviceName || task.serviceName === clusterNameOf(input.serviceName)) &&
              (!input.startedBy || task.startedBy === input.startedBy) &&
              (!input.family || task.taskDefinitionArn.includes(`task-definition/${input.family}:`)) &&
              (!input.launchType || task.launchType === input.launchType),
          );
          const page = pageOf(tasks, (task) => `${sortable(task.createdAt)}/${task.taskId}`, {
            ...input,
            listing: [
              "ListTasks",
              cluster.clusterArn,
              clusterNameOf(input.serviceName ?? ""),
              input.family ?? "",
              input.startedBy ?? "",
              desired,
              input.launchType ?? "",
            ],
            defaultSize: 100,
          });
          return { taskArns: page.items.map((task) => task.taskArn), ...next(page) };
        },
      ),
      DescribeTasks: operation(
        z.looseObject({ tasks: z.array(z.string()).min(1).max(100), cluster: z.string().optional() }),
        (input) => {
          const cluster = engine.requireCluster(input.cluster);
          const found = input.tasks.map((reference) => engine.findTask(cluster.clusterArn, reference));
          return {
            tasks: found.flatMap((task) => (task ? [describeTask(task)] : [])),
            failures: input.tasks
              .filter((_, index) => !found[index])
              .map((arn) => ({ arn, reason: "MISSING" })),
          };
        },
      ),
      RunTask: operation(
        z.looseObject({
          taskDefinition: z.string(),
          cluster: z.string().optional(),
          count: z.number().int().min(1).max(10).optional(),
          startedBy: z.string().max(128).optional(),
          group: z.string().optional(),
          overrides: z
            .looseObject({
              containerOverrides: z
                .array(
                  z.looseObject({
                    name: z.string().optional(),
                    command: z.array(z.string()).optional(),
                    environment: z
                      .array(z.object({ name: z.string().optional(), value: z.string().optional() }))
                      .optional(),
                  }),
                )
                .optional(),
            })
            .optional(),
          launchType: LaunchType.optional(),
          networkConfiguration: NetworkConfigurationInput,
          tags: TagList,
        }),
        (input) => {
          const cluster = engine.requireCluster(input.cluster);
          const td = engine.findTaskDefinition(input.taskDefinition);
          if (td?.status !== "ACTIVE")
            throw new AwsError("InvalidParameterException", "TaskDefinition not found.");
          checkPlacement(td, input);
          checkCapacity(engine, cluster, input);
          const onEc2 = engine.runsOnEc2(cluster, input);
          const tasks: TaskRecord[] = [];
          const failures: { arn?: string; reason: string; detail: string }[] = [];
          for (let count = 0; count < (input.count ?? 1); count++) {
            // Each task is placed on what the ones before it left (ECS's binpack, task by task).
            const ec2 = onEc2 ? engine.placeOnEc2(cluster, td, input) : undefined;
            if (ec2 && "reason" in ec2) {
              failures.push({ ...(ec2.arn ? { arn: ec2.arn } : {}), reason: ec2.reason, detail: ec2.detail });
              continue;
            }
            tasks.push(
              engine.runTask(cluster, td, {
                group: input.group ?? `family:${td.family}`,
                ...(input.startedBy ? { startedBy: input.startedBy } : {}),
                ...(input.tags ? { tags: input.tags } : {}),
                ...(input.overrides ? { overrides: input.overrides } : {}),
                networkConfiguration: input.networkConfiguration,
                ...(ec2 ? { ec2 } : {}),
              }),
            );
          }
          engine.save();
          return { tasks: tasks.map(describeTask), failures };
        },
      ),
      StopTask: operation(
        z.looseObject({
          task: z.string(),
          cluster: z.string().optional(),
          reason: z.string().max(255).optional(),
        }),
        (input) => {
          const cluster = engine.requireCluster(input.cluster);
          const task = engine.findTask(cluster.clusterArn, input.task);
          if (!task) throw new AwsError("InvalidParameterException", "The referenced task was not found.");
          engine.stopTask(task, input.reason ?? "Task stopped by user", "UserInitiated");
          engine.save();
          return { task: describeTask(task) };
        },
      ),
      StopServiceDeployment: operation(
        z.looseObject({
          serviceDeploymentArn: z.string(),
          stopType: z.enum(["ABORT", "ROLLBACK"]).optional(),
        }),
        (input) => {
          if (!SERVICE_DEPLOYMENT_ARN.test(input.serviceDeploymentArn)) {
            throw new AwsError(
              "InvalidParameterException",
              `Invalid service deployment ARN: ${input.serviceDeploymentArn}.`,
            );
          }
          // ECS documents ROLLBACK as the one valid stop type; the model also lists ABORT.
          if (input.stopType === "ABORT") {
            throw new AwsError(
              "InvalidParameterException",
              "The stopType ABORT is not supported. The valid value is ROLLBACK.",
            );
          }
          const found = findServiceDeployment(engine, input.serviceDeploymentArn);
          if (!found)
            throw new AwsError(
              "ServiceDeploymentNotFoundException",
              `The service deployment ${input.serviceDeploymentArn} does not exist.`,
            );
          const { service, deployment } = found;
          const status = serviceDeploymentStatus(service, deployment);
          // A rollback already asked for (or started by ECS) goes on: the stop is answered again.
          if (status === "ROLLBACK_REQUESTED" || status === "ROLLBACK_IN_PROGRESS") {
            return { serviceDeploymentArn: input.serviceDeploymentArn };
          }
          if (status !== "PENDING" && status !== "IN_PROGRESS") {
            throw new AwsError(
              "ConflictException",
              `The service deployment is ${status} and cannot be stopped: only a PENDING or IN_PROGRESS service deployment can be rolled back.`,
            );
          }
          if (!service.lastCompletedTaskDefinition) {
            throw new AwsError(
              "InvalidParameterException",
              "There is no previous service revision to roll back to.",
            );
          }
          engine.failDeployment(
            service,
            deployment,
            "Service deployment rolled back by StopServiceDeployment.",
            true,
          );
          engine.save();
          return { serviceDeploymentArn: input.serviceDeploymentArn };
        },
      ),
      DescribeServiceDeployments: operation(
        z.looseObject({ serviceDeploymentArns: z.array(z.string()).min(1).max(20) }),
        (input) => {
          const found = input.serviceDeploymentArns.map((arn) => findServiceDeployment(engine, arn));
          return {
            serviceDeployments: found.flatMap((entry) =>
              entry && !entry.deployment.rollbackOf
                ? [serviceDeploymentView(engine, entry.service, entry.deployment)]
                : [],
            ),
            failures: input.serviceDeploymentArns
              .filter((_, index) => !found[index] || found[index].deployment.rollbackOf)
              .map((arn) => ({ arn, reason: "MISSING" })),
          };
        },
      ),
      ListServiceDeployments: operation(
        z.looseObject({
          service: z.string(),
          cluster: z.string().optional(),
          status: z.array(z.enum(SERVICE_DEPLOYMENT_STATUSES)).optional(),
          createdAt: z
            .looseObject({ before: z.number().optional(), after: z.number().optional() })
            .optional(),
          ...Paging,
        }),
        (input) => {
          const cluster = engine.requireCluster(input.cluster);
          const service = requireService(engine, cluster, input.service);
          const { before, after } = input.createdAt ?? {};
          const deployments = service.deployments.filter(
            (deployment) =>
              !deployment.rollbackOf &&
              (!input.status || input.status.includes(serviceDeploymentStatus(service, deployment))) &&
              (before === undefined || deployment.createdAt < before * 1000) &&
              (after === undefined || deployment.createdAt > after * 1000),
          );
          // Newest first, as ECS lists them.
          const page = pageOf(
            deployments,
            (deployment) => `${sortable(deployment.createdAt)}/${deployment.id}`,
            {
              ...input,
              listing: [
                "ListServiceDeployments",
                service.serviceArn,
                input.status ?? [],
                input.createdAt ?? {},
              ],
              defaultSize: 20,
            },
            true,
          );
          return {
            serviceDeployments: page.items.map((deployment) =>
              serviceDeploymentBrief(engine, service, deployment),
            ),
            ...next(page),
          };
        },
      ),
      DescribeCapacityProviders: operation(
        z.looseObject({
          capacityProviders: z.array(z.string()).optional(),
          include: z.array(z.string()).optional(),
          ...Paging,
        }),
        (input) => {
          const named = (input.capacityProviders ?? KNOWN_PROVIDERS).map(
            (reference) => reference.split("/").pop() ?? reference,
          );
          const known = named.filter((name) => KNOWN_PROVIDERS.includes(name));
          const page = pageOf(known, (name) => name, {
            ...input,
            listing: ["DescribeCapacityProviders", named],
            defaultSize: 10,
          });
          return {
            capacityProviders: page.items.map((name) => describeCapacityProvider((r) => engine.arn(r), name)),
            failures: named
              .filter((name) => !KNOWN_PROVIDERS.includes(name))
              .map((name) => ({ arn: engine.arn(`capacity-provider/${name}`), reason: "MISSING" })),
            ...next(page),
          };
        },
      ),
      ListContainerInstances: operation(
        z.looseObject({
          cluster: z.string().optional(),
          filter: z.string().optional(),
          status: z
            .enum(["ACTIVE", "DRAINING", "REGISTERING", "DEREGISTERING", "REGISTRATION_FAILED"])
            .optional(),
          ...Paging,
        }),
        (input) => {
          const cluster = engine.requireCluster(input.cluster);
          const types = input.filter ? instanceTypeFilter(input.filter) : undefined;
          const instances = engine.ec2
            .instances(cluster.clusterArn)
            .filter(
              (instance) =>
                (!input.status || instance.status === input.status) &&
                (!types || types.includes(instance.instanceType)),
            );
          const page = pageOf(
            instances,
            (instance) => `${sortable(instance.registeredAt)}/${instance.ec2InstanceId}`,
            {
              ...input,
              listing: ["ListContainerInstances", cluster.clusterArn, input.filter ?? "", input.status ?? ""],
              defaultSize: 100,
            },
          );
          return {
            containerInstanceArns: page.items.map((instance) => instance.containerInstanceArn),
            ...next(page),
          };
        },
      ),
      DescribeContainerInstances: operation(
        z.looseObject({
          cluster: z.string().optional(),
          containerInstances: z.array(z.string()).min(1).max(100),
          include: z.array(z.string()).optional(),
        }),
        (input) => {
          const cluster = engine.requireCluster(input.cluster);
          const found = input.containerInstances.map((reference) =>
            engine.ec2.find(cluster.clusterArn, reference),
          );
          return {
            containerInstances: found.flatMap((instance) =>
              instance ? [describeContainerInstance(instance, engine.state.tasks)] : [],
            ),
            failures: input.containerInstances
              .filter((_, index) => !found[index])
              .map((arn) => ({ arn, reason: "MISSING" })),
          };
        },
      ),
      TagResource: operation(
        z.object({
          resourceArn: z.string(),
          tags: z.array(z.object({ key: z.string(), value: z.string() })),
        }),
        (input) => {
          const target = taggable(engine, input.resourceArn);
          if (!target)
            throw new AwsError("InvalidParameterException", "The specified resource could not be found.");
          const keys = new Set(input.tags.map((tag) => tag.key));
          target.tags = [...target.tags.filter((tag) => !keys.has(tag.key ?? "")), ...input.tags];
          engine.save();
          return {};
        },
      ),
      ListTagsForResource: operation(z.object({ resourceArn: z.string() }), (input) => {
        const target = taggable(engine, input.resourceArn);
        if (!target)
          throw new AwsError("InvalidParameterException", "The specified resource could not be found.");
        return { tags: target.tags };
      }),
    },
  };
}

function inactive(engine: EcsEngine, cluster: ClusterRecord, reference: string): ServiceRecord | undefined {
  const name = reference.split("/").pop();
  return [...engine.state.services]
    .reverse()
    .find((s) => s.clusterArn === cluster.clusterArn && s.serviceName === name);
}

/** ECS's ARN of a service deployment, or of the service revision it deploys (one per deployment). */
function serviceDeploymentArn(
  engine: EcsEngine,
  service: ServiceRecord,
  deployment: DeploymentRecord,
  kind: "service-deployment" | "service-revision" = "service-deployment",
): string {
  return engine.arn(
    `${kind}/${clusterNameOf(service.clusterArn)}/${service.serviceName}/${deployment.id.replace("ecs-svc/", "")}`,
  );
}

/**
 * DescribeServices' `currentServiceDeployment`: the newest service deployment, which carries its
 * rollback (a rollback is no service deployment of its own: see serviceDeploymentStatus).
 */
function currentServiceDeployment(engine: EcsEngine, service: ServiceRecord) {
  const newest = service.deployments.find((deployment) => !deployment.rollbackOf);
  return newest ? { currentServiceDeployment: serviceDeploymentArn(engine, service, newest) } : {};
}

/** A service deployment in DescribeServiceDeployments' terms: its revisions, status and rollback. */
function serviceDeploymentView(
  engine: EcsEngine,
  service: ServiceRecord,
  deployment: DeploymentRecord,
): Record<string, unknown> {
  const status = serviceDeploymentStatus(service, deployment);
  const rollback = service.deployments.find((d) => d.rollbackOf === deployment.id);
  const tasksOf = (d: DeploymentRecord) =>
    engine.liveTasks((task) => task.deploymentId === d.id && task.serviceName === service.serviceName);
  const weights = engine.trafficWeights(service);
  const revision = (d: DeploymentRecord) => ({
    arn: serviceDeploymentArn(engine, service, d, "service-revision"),
    requestedTaskCount: d.desiredCount,
    runningTaskCount: tasksOf(d).filter((task) => task.lastStatus === "RUNNING").length,
    pendingTaskCount: tasksOf(d).filter((task) => task.lastStatus !== "RUNNING").length,
    ...(d.traffic ? { requestedProductionTrafficWeight: weights?.get(d.id) ?? d.traffic.percent } : {}),
  });
  // The revisions it replaces: those deployed before it that were still up when it started.
  const sources = service.deployments.filter(
    (d) => !d.rollbackOf && d.createdAt < deployment.createdAt && d.rolloutState === "COMPLETED",
  );
  const finished = !["PENDING", "IN_PROGRESS", "ROLLBACK_REQUESTED", "ROLLBACK_IN_PROGRESS"].includes(status);
  const breaker = service.deploymentConfiguration.deploymentCircuitBreaker;
  return {
    serviceDeploymentArn: serviceDeploymentArn(engine, service, deployment),
    serviceArn: service.serviceArn,
    clusterArn: service.clusterArn,
    createdAt: seconds(deployment.createdAt),
    startedAt: seconds(deployment.createdAt),
    updatedAt: seconds(rollback?.updatedAt ?? deployment.updatedAt),
    ...(finished ? { finishedAt: seconds(rollback?.updatedAt ?? deployment.updatedAt) } : {}),
    sourceServiceRevisions: sources.slice(0, 1).map(revision),
    targetServiceRevision: revision(deployment),
    status,
    statusReason: rollback?.rolloutStateReason ?? deployment.rolloutStateReason,
    deploymentConfiguration: service.deploymentConfiguration,
    ...(rollback
      ? {
          rollback: {
            reason: deployment.rolloutStateReason,
            startedAt: seconds(rollback.createdAt),
            serviceRevisionArn: serviceDeploymentArn(engine, service, rollback, "service-revision"),
          },
        }
      : {}),
    deploymentCircuitBreaker: {
      status: breaker.enable ? (finished ? "MONITORING_COMPLETE" : "MONITORING") : "DISABLED",
      failureCount: deployment.failedTasks,
      threshold: circuitBreakerThreshold(deployment.desiredCount),
    },
  };
}

const SERVICE_DEPLOYMENT_STATUSES = [
  "PENDING",
  "SUCCESSFUL",
  "STOPPED",
  "STOP_REQUESTED",
  "IN_PROGRESS",
  "ROLLBACK_REQUESTED",
  "ROLLBACK_IN_PROGRESS",
  "ROLLBACK_SUCCESSFUL",
  "ROLLBACK_FAILED",
] as const;

/** A ListServiceDeployments entry: the deployment's service revision is its target. */
function serviceDeploymentBrief(
  engine: EcsEngine,
  service: ServiceRecord,
  deployment: DeploymentRecord,
): Record<string, unknown> {
  const finished = deployment.rolloutState !== "IN_PROGRESS";
  return {
    serviceDeploymentArn: serviceDeploymentArn(engine, service, deployment),
    serviceArn: service.serviceArn,
    clusterArn: service.clusterArn,
    startedAt: seconds(deployment.createdAt),
    createdAt: seconds(deployment.createdAt),
    ...(finished ? { finishedAt: seconds(deployment.updatedAt) } : {}),
    targetServiceRevisionArn: serviceDeploymentArn(engine, service, deployment, "service-revision"),
    status: serviceDeploymentStatus(service, deployment),
    statusReason: deployment.rolloutStateReason,
  };
}

/**
 * A service deployment's status as ECS reports it. A rollback is not a service deployment of its
 * own: the deployment that failed carries it (ROLLBACK_IN_PROGRESS, then ROLLBACK_SUCCESSFUL or
 * ROLLBACK_FAILED); a deployment replaced before it completed was STOPPED.
 */
function serviceDeploymentStatus(
  service: ServiceRecord,
  deployment: DeploymentRecord,
): (typeof SERVICE_DEPLOYMENT_STATUSES)[number] {
  const rollback = service.deployments.find((d) => d.rollbackOf === deployment.id);
  if (rollback) {
    if (rollback.rolloutState === "COMPLETED") return "ROLLBACK_SUCCESSFUL";
    if (rollback.rolloutState === "FAILED" || rollback.status === "INACTIVE") return "ROLLBACK_FAILED";
    return "ROLLBACK_IN_PROGRESS";
  }
  if (deployment.rolloutState === "COMPLETED") return "SUCCESSFUL";
  if (deployment.rolloutState === "FAILED" || deployment.status !== "PRIMARY") return "STOPPED";
  return "IN_PROGRESS";
}

const SERVICE_DEPLOYMENT_ARN =
  /^arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:service-deployment\/[^/]+\/[^/]+\/[^/]+$/;

function findServiceDeployment(
  engine: EcsEngine,
  arn: string,
): { service: ServiceRecord; deployment: DeploymentRecord } | undefined {
  const [clusterName, serviceName, id] = (arn.split("service-deployment/")[1] ?? "").split("/");
  const cluster = engine.findCluster(clusterName ?? "");
  if (!cluster || !serviceName || !id) return undefined;
  const service = engine.findService(cluster.clusterArn, serviceName);
  const deployment = service?.deployments.find((d) => d.id === `ecs-svc/${id}`);
  return service && deployment ? { service, deployment } : undefined;
}

function taggable(engine: EcsEngine, arn: string): { tags: Tag[] } | undefined {
  return (
    engine.state.clusters.find((c) => c.clusterArn === arn) ??
    engine.state.services.find((s) => s.serviceArn === arn) ??
    engine.state.taskDefinitions.find((td) => td.taskDefinitionArn === arn) ??
    engine.state.tasks.find((t) => t.taskArn === arn)
  );
}

/** The capacity providers Berth Local has: Fargate's two and its EC2 group's. */
const KNOWN_PROVIDERS = [...FARGATE_PROVIDERS, LOCAL_EC2_CAPACITY_PROVIDER];

/** What RunTask, CreateService and UpdateService refuse about where their tasks would run. */
function checkCapacity(
  engine: EcsEngine,
  cluster: ClusterRecord,
  input: { launchType?: unknown; capacityProviderStrategy?: unknown; networkConfiguration?: unknown },
): void {
  const strategy = Array.isArray(input.capacityProviderStrategy)
    ? (input.capacityProviderStrategy as { capacityProvider?: string }[])
    : undefined;
  if (input.launchType !== undefined && strategy && strategy.length > 0) {
    throw new AwsError(
      "InvalidParameterException",
      "Specifying both a launch type and capacity provider strategy is not supported. Remove one and try again.",
    );
  }
  for (const item of strategy ?? []) {
    const provider = item.capacityProvider ?? "";
    // Fargate's providers need no association; any other must be one of the cluster's.
    if (!FARGATE_PROVIDERS.includes(provider) && !cluster.capacityProviders.includes(provider)) {
      throw new AwsError(
        "InvalidParameterException",
        "The specified capacity provider strategy cannot contain a capacity provider that is not associated with the cluster. Associate the capacity provider with the cluster or specify a valid capacity provider and try again.",
      );
    }
  }
  const network = input.networkConfiguration as
    | { awsvpcConfiguration?: { assignPublicIp?: string } }
    | undefined;
  if (engine.runsOnEc2(cluster, input) && network?.awsvpcConfiguration?.assignPublicIp === "ENABLED") {
    throw new AwsError(
      "InvalidParameterException",
      "Assign public IP is not supported for this launch type.",
    );
  }
}

/** ListContainerInstances' cluster query language, the instance-type part: `attribute:ecs.instance-type == x`. */
function instanceTypeFilter(filter: string): string[] {
  const types = instanceTypesOf([{ type: "memberOf", expression: filter }]);
  if (!types) {
    throw new AwsError(
      "InvalidParameterException",
      "Berth Local's container instance filter understands attribute:ecs.instance-type == <type> and in [<types>] only.",
    );
  }
  return types;
}

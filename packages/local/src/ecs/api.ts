import { z } from "zod";
import { AwsError, type AwsJsonService, operation } from "../protocol.ts";
import { clusterNameOf, describeTask, type EcsEngine, now } from "./engine.ts";
import type {
  ClusterRecord,
  ContainerDefinition,
  DeploymentRecord,
  ServiceRecord,
  Tag,
  TaskDefinitionRecord,
  TaskRecord,
} from "./model.ts";

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

function clusterView(engine: EcsEngine, cluster: ClusterRecord): Record<string, unknown> {
  const tasks = engine.liveTasks((task) => task.clusterArn === cluster.clusterArn);
  return {
    clusterArn: cluster.clusterArn,
    clusterName: cluster.clusterName,
    status: cluster.status,
    registeredContainerInstancesCount: 0,
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

function taskDefinitionView(td: TaskDefinitionRecord): Record<string, unknown> {
  return {
    ...td.definition,
    taskDefinitionArn: td.taskDefinitionArn,
    family: td.family,
    revision: td.revision,
    status: td.status,
    compatibilities: ["EC2", "FARGATE"],
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
    // The service shows the members it was configured with; Service Connect shows per deployment.
    ...pick(
      service.configuration,
      KEPT.filter((key) => key !== "serviceConnectConfiguration"),
    ),
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
      ListClusters: operation(z.looseObject({}), () => ({
        clusterArns: engine.state.clusters.filter((c) => c.status === "ACTIVE").map((c) => c.clusterArn),
      })),
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
          networkMode: z.string().optional(),
          tags: TagList,
        }),
        (input) => {
          const names = input.containerDefinitions.map((c) => c.name);
          const duplicate = names.find((name, index) => names.indexOf(name) !== index);
          if (duplicate)
            throw new AwsError(
              "ClientException",
              `Container names must be unique: ${duplicate} is used twice.`,
            );
          if (input.requiresCompatibilities?.includes("FARGATE")) {
            if (!input.cpu || !input.memory)
              throw new AwsError(
                "ClientException",
                "Fargate requires task definition to have cpu and memory values.",
              );
            if (input.networkMode !== "awsvpc")
              throw new AwsError("ClientException", "Fargate only supports network mode 'awsvpc'.");
          }
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
        }),
        (input) => {
          const status = input.status ?? "ACTIVE";
          const list = engine.state.taskDefinitions
            .filter(
              (td) =>
                td.status === status && (!input.familyPrefix || td.family.startsWith(input.familyPrefix)),
            )
            .sort((a, b) => a.family.localeCompare(b.family) || a.revision - b.revision);
          if (input.sort === "DESC") list.reverse();
          return { taskDefinitionArns: list.map((td) => td.taskDefinitionArn) };
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
          tags: TagList,
        }),
        async (input) => {
          const cluster = engine.requireCluster(input.cluster);
          if (!input.taskDefinition)
            throw new AwsError("InvalidParameterException", "TaskDefinition must be specified.");
          const td = requireTaskDefinition(engine, input.taskDefinition);
          if (engine.findService(cluster.clusterArn, input.serviceName)) {
            throw new AwsError("InvalidParameterException", "Creation of service was not idempotent.");
          }
          const service: ServiceRecord = {
            serviceArn: engine.arn(`service/${cluster.clusterName}/${input.serviceName}`),
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
        }),
        async (input) => {
          const cluster = engine.requireCluster(input.cluster);
          const service = requireService(engine, cluster, input.service);
          if (service.status !== "ACTIVE")
            throw new AwsError("ServiceNotActiveException", "Service was not ACTIVE.");
          const td = input.taskDefinition ? requireTaskDefinition(engine, input.taskDefinition) : undefined;
          const kept = pick(input, KEPT);
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
      ListServices: operation(z.looseObject({ cluster: z.string().optional() }), (input) => {
        const cluster = engine.requireCluster(input.cluster);
        return {
          serviceArns: engine.state.services
            .filter((s) => s.clusterArn === cluster.clusterArn && s.status === "ACTIVE")
            .map((s) => s.serviceArn),
        };
      }),

      ListTasks: operation(
        z.looseObject({
          cluster: z.string().optional(),
          serviceName: z.string().optional(),
          family: z.string().optional(),
          startedBy: z.string().optional(),
          desiredStatus: z.enum(["RUNNING", "PENDING", "STOPPED"]).optional(),
        }),
        (input) => {
          const cluster = engine.requireCluster(input.cluster);
          const desired = input.desiredStatus === "STOPPED" ? "STOPPED" : "RUNNING";
          const tasks = engine.state.tasks.filter(
            (task) =>
              task.clusterArn === cluster.clusterArn &&
              task.desiredStatus === desired &&
              (!input.serviceName || task.serviceName === clusterNameOf(input.serviceName)) &&
              (!input.startedBy || task.startedBy === input.startedBy) &&
              (!input.family || task.taskDefinitionArn.includes(`task-definition/${input.family}:`)),
          );
          return { taskArns: tasks.map((task) => task.taskArn) };
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
          tags: TagList,
        }),
        (input) => {
          const cluster = engine.requireCluster(input.cluster);
          const td = engine.findTaskDefinition(input.taskDefinition);
          if (td?.status !== "ACTIVE")
            throw new AwsError("InvalidParameterException", "TaskDefinition not found.");
          const tasks = Array.from({ length: input.count ?? 1 }, () =>
            engine.runTask(cluster, td, {
              group: input.group ?? `family:${td.family}`,
              ...(input.startedBy ? { startedBy: input.startedBy } : {}),
              ...(input.tags ? { tags: input.tags } : {}),
              ...(input.overrides?.containerOverrides
                ? { overrides: input.overrides.containerOverrides }
                : {}),
            }),
          );
          engine.save();
          return { tasks: tasks.map(describeTask), failures: [] };
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
          if ((input.stopType ?? "ABORT") !== "ROLLBACK") {
            throw new AwsError("InvalidParameterException", "Berth Local supports stopType ROLLBACK only.");
          }
          const found = findServiceDeployment(engine, input.serviceDeploymentArn);
          if (!found)
            throw new AwsError(
              "ServiceDeploymentNotFoundException",
              "The service deployment does not exist.",
            );
          const { service, deployment } = found;
          if (deployment.rolloutState !== "IN_PROGRESS" || deployment.status !== "PRIMARY") {
            throw new AwsError("ConflictException", "The service deployment is not in progress.");
          }
          if (!service.lastCompletedTaskDefinition) {
            throw new AwsError(
              "InvalidParameterException",
              "There is no completed deployment to roll back to.",
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
      ListServiceDeployments: operation(
        z.looseObject({ service: z.string(), cluster: z.string().optional() }),
        (input) => {
          const cluster = engine.requireCluster(input.cluster);
          const service = requireService(engine, cluster, input.service);
          return {
            serviceDeployments: service.deployments.map((deployment) => ({
              serviceDeploymentArn: serviceDeploymentArn(engine, cluster, service, deployment),
              serviceArn: service.serviceArn,
              clusterArn: service.clusterArn,
              targetServiceRevisionArn: deployment.taskDefinition,
              status: serviceDeploymentStatus(deployment),
              statusReason: deployment.rolloutStateReason,
              createdAt: seconds(deployment.createdAt),
            })),
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

function serviceDeploymentArn(
  engine: EcsEngine,
  cluster: ClusterRecord,
  service: ServiceRecord,
  deployment: DeploymentRecord,
): string {
  return engine.arn(
    `service-deployment/${cluster.clusterName}/${service.serviceName}/${deployment.id.replace("ecs-svc/", "")}`,
  );
}

function serviceDeploymentStatus(deployment: DeploymentRecord): string {
  if (deployment.rolloutState === "COMPLETED")
    return deployment.rollbackOf ? "ROLLBACK_SUCCESSFUL" : "SUCCESSFUL";
  if (deployment.rolloutState === "FAILED") return "STOPPED";
  return deployment.rollbackOf ? "ROLLBACK_IN_PROGRESS" : "IN_PROGRESS";
}

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

import { randomBytes, randomUUID } from "node:crypto";
import { Spec } from "@berth/core/spec";
import type { ContainerInstanceRecord, EcsState, TaskRecord } from "./model.ts";

/**
 * Berth Local's EC2 capacity: one capacity provider standing for an Auto Scaling group with
 * managed scaling. Its container instances are virtual (tasks still run as processes on this
 * machine); what they model is ECS's bookkeeping: each instance registers the CPU and memory of
 * its instance type, a task reserves its share on one instance, and a task that fits nowhere is
 * refused with ECS's reason.
 */

/** The EC2 capacity provider Berth Local's cluster has, named as the installation names it. */
export const LOCAL_EC2_CAPACITY_PROVIDER = "berth-local-ec2";
/** The capacity providers every cluster may use without creating them. */
export const FARGATE_PROVIDERS = ["FARGATE", "FARGATE_SPOT"];

/**
 * Share of an instance type's memory its ECS agent registers (the rest is the OS's and the
 * agent's): c5.large's 4 GiB registers about 3.6 GiB. Berth sizes tasks to 90 %, which fits.
 */
const REGISTERED_MEMORY_SHARE = 0.91;
/** How many instances the capacity provider's group may run at once (its maximum size). */
const DEFAULT_MAX_INSTANCES = 10;

export interface TaskNeeds {
  /** CPU units the task reserves (task-level `cpu`, else the sum of its containers'). */
  cpu: number;
  /** MiB the task reserves (task-level `memory`, else the sum of its containers'). */
  memory: number;
  /** The instance types its `memberOf` constraint allows, in order of preference; undefined: any. */
  instanceTypes?: string[];
}

export type Placement =
  | { placed: ContainerInstanceRecord }
  | {
      /** RunTask's failure reason: `RESOURCE:MEMORY`, `RESOURCE:CPU` or a constraint's. */
      reason: string;
      /** Why, in the words of the service event ECS writes. */
      detail: string;
      /** The closest matching container instance, when there is one. */
      arn?: string;
    };

/** `attribute:ecs.instance-type in [a, b]` or `== a` → the types; undefined without such a constraint. */
export function instanceTypesOf(constraints: unknown): string[] | undefined {
  if (!Array.isArray(constraints)) return undefined;
  for (const constraint of constraints as { type?: string; expression?: string }[]) {
    if (constraint.type !== "memberOf" || !constraint.expression) continue;
    const list = /attribute:ecs\.instance-type\s+in\s+\[([^\]]*)\]/i.exec(constraint.expression);
    if (list?.[1] !== undefined) {
      return list[1]
        .split(",")
        .map((name) => name.trim())
        .filter((name) => name.length > 0);
    }
    const single = /attribute:ecs\.instance-type\s*==\s*([\w.-]+)/i.exec(constraint.expression);
    if (single?.[1]) return [single[1]];
  }
  return undefined;
}

/** What an instance of a type registers with ECS: its vCPUs as units, most of its memory. */
export function registeredResources(instanceType: string): { cpu: number; memory: number } | undefined {
  const info = Spec.INSTANCE_TYPES.get(instanceType);
  if (!info) return undefined;
  return { cpu: info.vcpu * 1024, memory: Math.floor(info.memoryMiB * REGISTERED_MEMORY_SHARE) };
}

function units(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const vcpu = /^\s*([\d.]+)\s*vcpu\s*$/i.exec(value);
  const parsed = vcpu ? Number(vcpu[1]) * 1024 : Number(value);
  return Number.isFinite(parsed) ? parsed : undefined;
}

function mebibytes(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const gb = /^\s*([\d.]+)\s*gb\s*$/i.exec(value);
  const parsed = gb ? Number(gb[1]) * 1024 : Number(value);
  return Number.isFinite(parsed) ? parsed : undefined;
}

/** The CPU and memory a task definition reserves on an instance, as ECS counts them. */
export function reservationOf(definition: {
  cpu?: unknown;
  memory?: unknown;
  containerDefinitions: object[];
}): { cpu: number; memory: number } {
  type Sizes = { cpu?: unknown; memory?: unknown; memoryReservation?: unknown };
  const sum = (pick: (container: Sizes) => unknown) =>
    definition.containerDefinitions.reduce<number>((total, container) => {
      const value = pick(container as Sizes);
      return total + (typeof value === "number" ? value : 0);
    }, 0);
  const cpu = units(typeof definition.cpu === "string" ? definition.cpu : undefined) ?? sum((c) => c.cpu);
  const memory =
    mebibytes(typeof definition.memory === "string" ? definition.memory : undefined) ??
    sum((c) => c.memory ?? c.memoryReservation);
  return { cpu, memory };
}

const TROUBLESHOOTING =
  "For more information, see the Troubleshooting section of the Amazon ECS Developer Guide.";

/**
 * The container instances of Berth Local's EC2 capacity provider, kept in ECS's state. Managed
 * scaling starts an instance when a task fits none of the running ones (of the first type the
 * task's constraint allows that can hold it) and ends one as soon as its last task is gone.
 */
export class Ec2Capacity {
  constructor(
    private readonly state: EcsState,
    private readonly options: {
      arn: (resource: string) => string;
      maxInstances?: number;
      onChange: () => void;
    },
  ) {}

  get maxInstances(): number {
    return this.options.maxInstances ?? DEFAULT_MAX_INSTANCES;
  }

  instances(clusterArn?: string): ContainerInstanceRecord[] {
    this.state.containerInstances ??= [];
    return this.state.containerInstances.filter(
      (instance) => clusterArn === undefined || instance.clusterArn === clusterArn,
    );
  }

  find(clusterArn: string, reference: string): ContainerInstanceRecord | undefined {
    const id = reference.split("/").pop() ?? reference;
    return this.instances(clusterArn).find((instance) => instance.containerInstanceArn.endsWith(`/${id}`));
  }

  /** Reserves the task's CPU and memory on an instance, binpacked on memory; or says why it cannot. */
  place(clusterArn: string, clusterName: string, needs: TaskNeeds): Placement {
    const allowed = (instance: ContainerInstanceRecord) =>
      needs.instanceTypes === undefined || needs.instanceTypes.includes(instance.instanceType);
    const candidates = this.instances(clusterArn).filter(
      (instance) => instance.status === "ACTIVE" && allowed(instance),
    );
    const fits = (instance: ContainerInstanceRecord) =>
      instance.remainingCpu >= needs.cpu && instance.remainingMemory >= needs.memory;
    // Binpack on memory: the instance with the least memory left that still holds the task.
    const best = candidates
      .filter(fits)
      .sort((a, b) => a.remainingMemory - b.remainingMemory || a.remainingCpu - b.remainingCpu)[0];
    if (best) return { placed: best };

    const types = (needs.instanceTypes ?? [...Spec.INSTANCE_TYPES.keys()]).flatMap((name) => {
      const registered = registeredResources(name);
      return registered ? [{ name, ...registered }] : [];
    });
    const launchable = types.filter((type) => type.cpu >= needs.cpu && type.memory >= needs.memory);
    // Without a constraint, the smallest type that holds the task; with one, the first listed.
    const choice = needs.instanceTypes
      ? launchable[0]
      : launchable.sort((a, b) => a.memory - b.memory || a.cpu - b.cpu)[0];
    if (choice && this.instances(clusterArn).length < this.maxInstances) {
      return { placed: this.launch(clusterArn, clusterName, choice.name) };
    }

    const closest = [...candidates].sort(
      (a, b) => b.remainingMemory - a.remainingMemory || b.remainingCpu - a.remainingCpu,
    )[0];
    if (closest && choice) {
      const memory = closest.remainingMemory < needs.memory;
      return {
        reason: memory ? "RESOURCE:MEMORY" : "RESOURCE:CPU",
        arn: closest.containerInstanceArn,
        detail: `The closest matching container-instance ${closest.containerInstanceArn.split("/").pop()} has insufficient ${memory ? "memory" : "CPU units"} available. ${TROUBLESHOOTING}`,
      };
    }
    if (types.length === 0) {
      return {
        reason: "MemberOf placement constraint unsatisfied.",
        detail: `The closest matching container-instance encountered error "MemberOf placement constraint unsatisfied.": Berth Local's capacity provider ${LOCAL_EC2_CAPACITY_PROVIDER} launches none of ${needs.instanceTypes?.join(", ")} (unknown instance types). ${TROUBLESHOOTING}`,
      };
    }
    if (!choice) {
      const largest = [...types].sort((a, b) => b.memory - a.memory || b.cpu - a.cpu)[0] ?? types[0];
      const memory = types.every((type) => type.memory < needs.memory);
      const need = memory ? `${needs.memory} MiB of memory` : `${needs.cpu} CPU units`;
      const has = memory
        ? `${largest?.memory} MiB`
        : `${Math.max(...types.map((type) => type.cpu))} CPU units`;
      return {
        reason: memory ? "RESOURCE:MEMORY" : "RESOURCE:CPU",
        detail: `No instance type the capacity provider ${LOCAL_EC2_CAPACITY_PROVIDER} may launch (${types.map((type) => type.name).join(", ")}) has enough: the task needs ${need}, the largest registers ${has}. ${TROUBLESHOOTING}`,
      };
    }
    return {
      reason: "RESOURCE:MEMORY",
      detail: `Reason: No Container Instances were found in your cluster (the capacity provider ${LOCAL_EC2_CAPACITY_PROVIDER} runs at most ${this.maxInstances} instances). ${TROUBLESHOOTING}`,
    };
  }

  /** Takes the task's reservation on the instance. */
  reserve(instance: ContainerInstanceRecord, task: TaskRecord, needs: TaskNeeds): void {
    instance.remainingCpu -= needs.cpu;
    instance.remainingMemory -= needs.memory;
    instance.tasks.push({ taskId: task.taskId, cpu: needs.cpu, memory: needs.memory });
    instance.version += 1;
    this.options.onChange();
  }

  /** Gives back a stopped task's reservation; an instance left without tasks is scaled in. */
  release(task: TaskRecord): void {
    const instance = this.instances().find((candidate) =>
      candidate.tasks.some((held) => held.taskId === task.taskId),
    );
    if (!instance) return;
    const held = instance.tasks.find((entry) => entry.taskId === task.taskId);
    instance.tasks = instance.tasks.filter((entry) => entry.taskId !== task.taskId);
    instance.remainingCpu += held?.cpu ?? 0;
    instance.remainingMemory += held?.memory ?? 0;
    instance.version += 1;
    if (instance.tasks.length === 0) {
      this.state.containerInstances = this.instances().filter((candidate) => candidate !== instance);
    }
    this.options.onChange();
  }

  private launch(clusterArn: string, clusterName: string, instanceType: string): ContainerInstanceRecord {
    const registered = registeredResources(instanceType) ?? { cpu: 0, memory: 0 };
    const id = randomUUID().replaceAll("-", "");
    const instance: ContainerInstanceRecord = {
      containerInstanceArn: this.options.arn(`container-instance/${clusterName}/${id}`),
      clusterArn,
      ec2InstanceId: `i-${randomBytes(8).toString("hex").slice(0, 17)}`,
      instanceType,
      capacityProviderName: LOCAL_EC2_CAPACITY_PROVIDER,
      status: "ACTIVE",
      cpu: registered.cpu,
      memory: registered.memory,
      remainingCpu: registered.cpu,
      remainingMemory: registered.memory,
      tasks: [],
      registeredAt: Date.now(),
      version: 1,
    };
    this.state.containerInstances ??= [];
    this.state.containerInstances.push(instance);
    this.options.onChange();
    return instance;
  }
}

/** A capacity provider as DescribeCapacityProviders answers it. */
export function describeCapacityProvider(
  arn: (resource: string) => string,
  name: string,
): Record<string, unknown> {
  const base = { capacityProviderArn: arn(`capacity-provider/${name}`), name, status: "ACTIVE", tags: [] };
  if (FARGATE_PROVIDERS.includes(name)) return base;
  return {
    ...base,
    autoScalingGroupProvider: {
      autoScalingGroupArn: arn(`autoScalingGroup:berth-local:autoScalingGroupName/${name}`).replace(
        "arn:aws:ecs:",
        "arn:aws:autoscaling:",
      ),
      managedScaling: {
        status: "ENABLED",
        targetCapacity: 100,
        minimumScalingStepSize: 1,
        maximumScalingStepSize: 10000,
        instanceWarmupPeriod: 300,
      },
      managedTerminationProtection: "DISABLED",
      managedDraining: "ENABLED",
    },
    updateStatus: "UPDATE_COMPLETE",
  };
}

/** A container instance as DescribeContainerInstances answers it (timestamps in epoch seconds). */
export function describeContainerInstance(
  instance: ContainerInstanceRecord,
  tasks: TaskRecord[],
): Record<string, unknown> {
  const resources = (cpu: number, memory: number) => [
    { name: "CPU", type: "INTEGER", integerValue: cpu, doubleValue: 0, longValue: 0 },
    { name: "MEMORY", type: "INTEGER", integerValue: memory, doubleValue: 0, longValue: 0 },
    {
      name: "PORTS",
      type: "STRINGSET",
      stringSetValue: ["22", "2375", "2376", "51678", "51679"],
      doubleValue: 0,
      longValue: 0,
      integerValue: 0,
    },
    {
      name: "PORTS_UDP",
      type: "STRINGSET",
      stringSetValue: [],
      doubleValue: 0,
      longValue: 0,
      integerValue: 0,
    },
  ];
  const held = tasks.filter((task) => instance.tasks.some((entry) => entry.taskId === task.taskId));
  const info = Spec.INSTANCE_TYPES.get(instance.instanceType);
  return {
    containerInstanceArn: instance.containerInstanceArn,
    ec2InstanceId: instance.ec2InstanceId,
    capacityProviderName: instance.capacityProviderName,
    version: instance.version,
    versionInfo: {
      agentVersion: "1.89.0",
      agentHash: "berth-local",
      dockerVersion: "DockerVersion: berth-local",
    },
    remainingResources: resources(instance.remainingCpu, instance.remainingMemory),
    registeredResources: resources(instance.cpu, instance.memory),
    status: instance.status,
    agentConnected: true,
    runningTasksCount: held.filter((task) => task.lastStatus === "RUNNING").length,
    pendingTasksCount: held.filter((task) => task.lastStatus !== "RUNNING").length,
    attributes: [
      { name: "ecs.instance-type", value: instance.instanceType },
      { name: "ecs.cpu-architecture", value: info?.architecture === "arm64" ? "arm64" : "x86_64" },
      { name: "ecs.os-type", value: "linux" },
      { name: "ecs.capability.task-eni" },
      { name: "ecs.availability-zone", value: "local" },
    ],
    registeredAt: instance.registeredAt / 1000,
    attachments: [],
    tags: [],
    healthStatus: { overallStatus: "OK", details: [] },
  };
}

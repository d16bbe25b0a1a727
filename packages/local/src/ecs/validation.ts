import { Spec } from "@berth/core/spec";
import { AwsError } from "../protocol.ts";
import type { ContainerDefinition, TaskDefinitionRecord } from "./model.ts";

/**
 * The requests ECS refuses although they are well-formed, refused with ECS's exception and
 * wording: RegisterTaskDefinition answers ClientException, RunTask/CreateService/UpdateService
 * InvalidParameterException.
 */

export interface TaskDefinitionInput {
  containerDefinitions: ContainerDefinition[];
  requiresCompatibilities?: string[] | undefined;
  cpu?: string | undefined;
  memory?: string | undefined;
  networkMode?: string | undefined;
  executionRoleArn?: string | undefined;
}

const refuse = (message: string) => new AwsError("ClientException", message);

/** Task CPU as ECS reads it: units (`"256"`) or vCPUs (`"0.25 vCPU"`); NaN when unreadable. */
function cpuUnits(value: string): number {
  const vcpu = /^\s*([\d.]+)\s*vcpu\s*$/i.exec(value);
  return vcpu ? Number(vcpu[1]) * 1024 : Number(value);
}

/** Task memory as ECS reads it: MiB (`"512"`) or GB (`"0.5 GB"`); NaN when unreadable. */
function memoryMiB(value: string): number {
  const gb = /^\s*([\d.]+)\s*gb\s*$/i.exec(value);
  return gb ? Number(gb[1]) * 1024 : Number(value);
}

/** What RegisterTaskDefinition refuses beyond the shapes of its members. */
export function checkTaskDefinition(input: TaskDefinitionInput): void {
  const containers = input.containerDefinitions;
  const names = containers.map((c) => c.name);
  const duplicate = names.find((name, index) => names.indexOf(name) !== index);
  if (duplicate) throw refuse(`Container names must be unique: ${duplicate} is used twice.`);
  if (containers.every((container) => container.essential === false)) {
    throw refuse("Task definition does not have any essential container.");
  }
  for (const container of containers) {
    const log = container.logConfiguration;
    if (log?.logDriver === "awslogs") {
      const missing = ["awslogs-region", "awslogs-group"].filter((option) => !log.options?.[option]);
      if (missing.length > 0) throw refuse(`Log driver awslogs requires options: ${missing.join(", ")}`);
    }
    if (input.networkMode === "awsvpc") {
      for (const mapping of container.portMappings ?? []) {
        const hostPort = (mapping as { hostPort?: number }).hostPort;
        if (hostPort !== undefined && hostPort !== 0 && hostPort !== mapping.containerPort) {
          throw refuse(
            "When networkMode=awsvpc, the host ports and container ports in port mappings must match.",
          );
        }
      }
    }
  }
  if (input.requiresCompatibilities?.includes("FARGATE")) checkFargate(input);
}

function checkFargate(input: TaskDefinitionInput): void {
  if (!input.cpu) throw refuse("Fargate requires that 'cpu' be defined at the task level.");
  if (!input.memory) throw refuse("Fargate requires that 'memory' be defined at the task level.");
  if (input.networkMode !== "awsvpc") throw refuse("Fargate only supports network mode 'awsvpc'.");
  const vcpu = cpuUnits(input.cpu) / 1024;
  const memory = memoryMiB(input.memory);
  if (!Spec.isFargateSize(vcpu, memory)) {
    const accepted = Spec.FARGATE_SIZES.has(vcpu)
      ? ` With ${input.cpu} CPU, Fargate accepts ${Spec.describeFargateMemory(vcpu)}.`
      : ` Fargate accepts ${Spec.FARGATE_CPUS.map((cpu) => cpu * 1024).join(", ")} CPU units.`;
    throw refuse(
      `No Fargate configuration exists for given values: ${input.cpu} CPU, ${input.memory} memory.${accepted}`,
    );
  }
  const logged = input.containerDefinitions.some((c) => c.logConfiguration?.logDriver === "awslogs");
  if (logged && !input.executionRoleArn) {
    throw refuse(
      "Fargate requires task definition to have execution role ARN to support log driver awslogs.",
    );
  }
}

export interface PlacementInput {
  launchType?: string | undefined;
  networkConfiguration?: unknown;
  loadBalancers?: { containerName?: string | undefined; containerPort?: number | undefined }[] | undefined;
}

/** What RunTask, CreateService and UpdateService refuse about a task definition and its network. */
export function checkPlacement(td: TaskDefinitionRecord, input: PlacementInput): void {
  const definition = td.definition as TaskDefinitionRecord["definition"] & TaskDefinitionInput;
  const invalid = (message: string) => new AwsError("InvalidParameterException", message);
  if (input.launchType === "FARGATE" && definition.networkMode !== "awsvpc") {
    throw invalid("Task definition does not support launch_type FARGATE.");
  }
  if (definition.networkMode === "awsvpc" && !input.networkConfiguration) {
    throw invalid("Network Configuration must be provided when networkMode 'awsvpc' is specified.");
  }
  for (const balancer of input.loadBalancers ?? []) {
    if (!balancer.containerName) continue;
    const container = definition.containerDefinitions.find((c) => c.name === balancer.containerName);
    if (!container)
      throw invalid(`The container ${balancer.containerName} does not exist in the task definition.`);
    if (
      balancer.containerPort !== undefined &&
      !(container.portMappings ?? []).some((mapping) => mapping.containerPort === balancer.containerPort)
    ) {
      throw invalid(
        `The container ${balancer.containerName} did not have a container port ${balancer.containerPort} defined.`,
      );
    }
  }
}

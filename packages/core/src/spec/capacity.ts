/**
 * What AWS accepts for task sizes. Fargate only runs fixed vCPU/memory pairs; EC2 tasks are
 * sized from the instance types they are placed on.
 */

const GIB = 1024;

function range(fromGiB: number, toGiB: number, stepGiB: number): number[] {
  const values: number[] = [];
  for (let gib = fromGiB; gib <= toGiB; gib += stepGiB) values.push(gib * GIB);
  return values;
}

/** Fargate's accepted memory sizes (MiB) for each vCPU size (Linux, platform 1.4.0). */
export const FARGATE_SIZES: ReadonlyMap<number, readonly number[]> = new Map([
  [0.25, [512, 1024, 2048]],
  [0.5, range(1, 4, 1)],
  [1, range(2, 8, 1)],
  [2, range(4, 16, 1)],
  [4, range(8, 30, 1)],
  [8, range(16, 60, 4)],
  [16, range(32, 120, 8)],
]);

export const FARGATE_CPUS = [...FARGATE_SIZES.keys()];

/** Human-readable list of the memory sizes Fargate accepts for a vCPU size, e.g. "1024-4096 MiB in 1024 steps". */
export function describeFargateMemory(cpu: number): string {
  const sizes = FARGATE_SIZES.get(cpu);
  if (!sizes || sizes.length === 0) return "none";
  if (sizes.length <= 3) return `${sizes.join(", ")} MiB`;
  const first = sizes[0] ?? 0;
  const step = (sizes[1] ?? 0) - first;
  return `${first}-${sizes[sizes.length - 1]} MiB in steps of ${step}`;
}

export function isFargateSize(cpu: number, memory: number): boolean {
  return FARGATE_SIZES.get(cpu)?.includes(memory) ?? false;
}

/** The smallest memory size Fargate accepts for a vCPU size (used when only cpu is given). */
export function defaultFargateMemory(cpu: number): number | undefined {
  return FARGATE_SIZES.get(cpu)?.[0];
}

export interface InstanceType {
  vcpu: number;
  memoryMiB: number;
  architecture: "x86_64" | "arm64";
}

const SIZE_VCPUS: Record<string, number> = {
  medium: 1,
  large: 2,
  xlarge: 4,
  "2xlarge": 8,
  "4xlarge": 16,
  "8xlarge": 32,
  "12xlarge": 48,
  "16xlarge": 64,
  "24xlarge": 96,
};

/** Memory per vCPU (GiB) of the general, compute and memory optimized families. */
const FAMILY_GIB_PER_VCPU: Record<string, number> = { c: 2, m: 4, r: 8 };
const FAMILIES = [
  "c5",
  "c5a",
  "c6i",
  "c6a",
  "c7i",
  "c7a",
  "c6g",
  "c7g",
  "c8g",
  "m5",
  "m5a",
  "m6i",
  "m6a",
  "m7i",
  "m7a",
  "m6g",
  "m7g",
  "m8g",
  "r5",
  "r5a",
  "r6i",
  "r6a",
  "r7i",
  "r6g",
  "r7g",
  "r8g",
];

const BURSTABLE: Record<string, [vcpu: number, memoryGiB: number]> = {
  nano: [2, 0.5],
  micro: [2, 1],
  small: [2, 2],
  medium: [2, 4],
  large: [2, 8],
  xlarge: [4, 16],
  "2xlarge": [8, 32],
};

/** Graviton families have a `g` right after the generation digit (c6g, m7g, t4g). */
function architectureOf(family: string): "x86_64" | "arm64" {
  return /^[a-z]+\d+g/.test(family) ? "arm64" : "x86_64";
}

function buildInstanceTable(): Map<string, InstanceType> {
  const table = new Map<string, InstanceType>();
  for (const family of FAMILIES) {
    const gibPerVcpu = FAMILY_GIB_PER_VCPU[family[0] ?? ""] ?? 4;
    const architecture = architectureOf(family);
    for (const [size, vcpu] of Object.entries(SIZE_VCPUS)) {
      // Only Graviton families come in `medium`.
      if (size === "medium" && architecture !== "arm64") continue;
      table.set(`${family}.${size}`, { vcpu, memoryMiB: vcpu * gibPerVcpu * GIB, architecture });
    }
  }
  for (const family of ["t3", "t3a", "t4g"]) {
    for (const [size, [vcpu, gib]] of Object.entries(BURSTABLE)) {
      table.set(`${family}.${size}`, { vcpu, memoryMiB: gib * GIB, architecture: architectureOf(family) });
    }
  }
  return table;
}

export const INSTANCE_TYPES: ReadonlyMap<string, InstanceType> = buildInstanceTable();

/**
 * Share of an instance's memory that a task may claim: the rest is kept for the OS and the ECS
 * agent, which is why a task sized to the full nominal memory would never be placed.
 */
export const EC2_TASK_MEMORY_SHARE = 0.9;

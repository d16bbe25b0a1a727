import type { App } from "sst/constructs/App.js";

/**
 * What may differ between installations (stages). An operator edits `STAGES` below, or passes
 * overrides to `installBerth`; everything else in `stacks/` is the same for every stage.
 */
export interface StageSettings {
  /**
   * A throwaway stage: its table and buckets are deleted with the stage, the table has no
   * deletion protection, and logs are kept for a week.
   */
  dev: boolean;
  network: {
    /** Install into this VPC (looked up at deploy time) instead of creating one. */
    existingVpcId?: string;
    /** For a new VPC: how many availability zones, and how many NAT gateways serve them. */
    maxAzs: number;
    natGateways: number;
  };
  /** An EC2 Auto Scaling group as a third capacity provider, for services with `instanceTypes`. */
  ec2?: {
    /** One architecture for all: the AMI is chosen by it (e.g. ["m7g.large", "c7g.large"]). */
    instanceTypes: string[];
    minCapacity: number;
    maxCapacity: number;
  };
  /** CloudWatch Container Insights for the cluster (billed per metric). */
  containerInsights: boolean;
  api: {
    /** Steady-state requests per second, and the burst, for the whole API. */
    rateLimit: number;
    burstLimit: number;
    /** Origins allowed by CORS besides the console's own CloudFront domain (custom domains). */
    extraOrigins: string[];
  };
  console: {
    /**
     * Origins the console may call besides API Gateway's own domain in the region (its
     * Content-Security-Policy `connect-src`): a custom domain of the API.
     */
    apiOrigins: string[];
  };
  logRetentionDays: LogRetentionDays;
  registry: {
    /**
     * Whether this stage owns the account-and-region-wide ECR settings (the `berth` repository
     * creation template and the registry's scanning configuration). Exactly one stage per
     * account and region may own them; the repositories under `berth/` are shared by all.
     */
    owner: boolean;
    /** Untagged images (superseded build caches, moved tags) are deleted after this many days. */
    untaggedImageExpiryDays: number;
  };
  builder: {
    /** CodeBuild's host architecture; builds for the other one need emulation. */
    architecture: "x86_64" | "arm64";
    computeType: "BUILD_GENERAL1_SMALL" | "BUILD_GENERAL1_MEDIUM" | "BUILD_GENERAL1_LARGE";
    /** Uploaded build sources are deleted after this many days. */
    sourceExpiryDays: number;
  };
  /**
   * IAM path of the task roles the control plane creates. Per stage by default, so that one
   * stage's control plane cannot touch another's roles.
   */
  taskRolePath: string;
}

/** The retention periods CloudWatch Logs accepts (a subset: the ones worth choosing). */
export type LogRetentionDays = 1 | 3 | 5 | 7 | 14 | 30 | 60 | 90 | 120 | 180 | 365 | 731 | 1827 | 3653;

type Overrides = {
  [K in keyof StageSettings]?: StageSettings[K] extends (infer U)[]
    ? U[]
    : StageSettings[K] extends object | undefined
      ? Partial<NonNullable<StageSettings[K]>>
      : StageSettings[K];
};

/** Per-stage settings of this repository's installations; unknown stages get the defaults. */
const STAGES: Readonly<Record<string, Overrides>> = {
  dev: { dev: true },
  prod: { network: { natGateways: 2 } },
};

const DEFAULT_EC2 = {
  minCapacity: 0,
  maxCapacity: 4,
} as const;

function defaultSettings(stage: string): StageSettings {
  const dev = stage === "dev" || stage.startsWith("dev-");
  return {
    dev,
    network: { maxAzs: 2, natGateways: 1 },
    containerInsights: !dev,
    api: { rateLimit: 50, burstLimit: 100, extraOrigins: [] },
    console: { apiOrigins: [] },
    logRetentionDays: dev ? 7 : 90,
    registry: { owner: true, untaggedImageExpiryDays: 30 },
    builder: { architecture: "x86_64", computeType: "BUILD_GENERAL1_MEDIUM", sourceExpiryDays: 7 },
    taskRolePath: `/berth/${stage}/`,
  };
}

/** The defaults, then the stage's entry in `STAGES`, then `overrides`; validated. */
export function resolveSettings(stage: string, overrides: Overrides = {}): StageSettings {
  const base = defaultSettings(stage);
  const merged = merge(merge(base, STAGES[stage] ?? {}), overrides);
  if (merged.ec2) merged.ec2 = { ...DEFAULT_EC2, ...merged.ec2 };
  validate(stage, merged);
  return merged;
}

function merge(base: StageSettings, overrides: Overrides): StageSettings {
  const result: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(overrides)) {
    if (value === undefined) continue;
    const current = result[key];
    const nested = typeof value === "object" && !Array.isArray(value) && typeof current === "object";
    result[key] = nested ? { ...current, ...value } : value;
  }
  return result as unknown as StageSettings;
}

function validate(stage: string, settings: StageSettings): void {
  const problems: string[] = [];
  // Function names are `berth-<stage>-<function>`, at most 64 characters.
  if (!/^[a-z][a-z0-9-]{0,23}$/.test(stage)) {
    problems.push("the stage must be lowercase letters, digits and hyphens, at most 24 characters");
  }
  if (!/^\/([\w+=,.@-]+\/)+$/.test(settings.taskRolePath)) {
    problems.push(`taskRolePath ${settings.taskRolePath} must look like /berth/${stage}/`);
  }
  if (settings.ec2) {
    const { instanceTypes, minCapacity, maxCapacity } = settings.ec2;
    if (!instanceTypes || instanceTypes.length === 0)
      problems.push("ec2.instanceTypes must name at least one instance type");
    if (minCapacity < 0 || maxCapacity < Math.max(1, minCapacity)) {
      problems.push("ec2 needs 0 <= minCapacity <= maxCapacity and maxCapacity >= 1");
    }
  }
  if (settings.network.natGateways < 1 && !settings.network.existingVpcId) {
    problems.push("a new VPC needs at least one NAT gateway: tasks in private subnets pull images");
  }
  if (settings.api.burstLimit < 1 || settings.api.rateLimit < 1) problems.push("api limits must be >= 1");
  if (problems.length > 0) throw new Error(`stage ${stage}: ${problems.join("; ")}`);
}

const settingsByApp = new WeakMap<App, StageSettings>();

export function provideSettings(app: App, settings: StageSettings): void {
  settingsByApp.set(app, settings);
}

/** The settings `installBerth` resolved for this app. */
export function settingsOf(app: App): StageSettings {
  const settings = settingsByApp.get(app);
  if (!settings) throw new Error("no settings for this app: create its stacks with installBerth()");
  return settings;
}

import { z } from "zod";
import { normalizeRelativePath, pathSyntaxProblem } from "../buildpacks/paths.ts";
import { FARGATE_CPUS } from "./capacity.ts";
import { isTimeZone, parseCron } from "./schedule.ts";
import { TagFilterType, tagFilterProblem } from "./tag-filter.ts";

/**
 * The stack file's resource syntax (documented in docs/stack-file.md). Objects are
 * closed: an unknown property is an error that names the closest valid one. Defaults are the
 * documented ones. Cross-resource rules live in `validate.ts`.
 */

/** Marks an unknown property; `load.ts` turns it into an error with the closest valid name. */
export const UNKNOWN_PROPERTY = "BERTH_UNKNOWN_PROPERTY";

function closed<Shape extends z.ZodRawShape>(shape: Shape) {
  const known = Object.keys(shape);
  // The message carries the valid names so the error can suggest the closest one.
  return z.strictObject(shape, {
    error: (issue) =>
      issue.code === "unrecognized_keys" ? `${UNKNOWN_PROPERTY}${JSON.stringify(known)}` : undefined,
  });
}

/** A union on `type`, whose error lists the valid types. */
function byType<Options extends readonly [z.core.$ZodTypeDiscriminable, ...z.core.$ZodTypeDiscriminable[]]>(
  what: string,
  types: readonly string[],
  options: Options,
) {
  return z.discriminatedUnion("type", options, {
    error: (issue) =>
      issue.code === "invalid_union" ? `${what} type must be one of: ${types.join(", ")}` : undefined,
  });
}

const nonEmpty = z.string().min(1, "must not be empty");
const port = z.number().int("must be a whole number").min(1).max(65535);

/** Values are stringified as the docs say: numbers and booleans become their text. */
const EnvironmentValue = z.union([z.string(), z.number(), z.boolean()]).transform((value) => String(value));

export const EnvironmentVar = closed({
  name: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "must be a valid environment variable name"),
  value: EnvironmentValue,
});
export type EnvironmentVar = z.infer<typeof EnvironmentVar>;

const StringArgs = z.array(z.string());

// Packaging ------------------------------------------------------------------------------------

/**
 * A path inside the source directory, kept as written: a build sees only the source tree, so a
 * path that leaves it would fail the build later (or read the builder's own files).
 */
const sourcePath = nonEmpty.superRefine((path, ctx) => {
  const result = normalizeRelativePath(path);
  if ("problem" in result) ctx.addIssue({ code: "custom", message: result.problem });
});

export const ImageBuildpackPackaging = closed({
  type: z.literal("stacktape-image-buildpack"),
  properties: closed({
    entryfilePath: sourcePath,
    /** FlexStack's start command: replaces the buildpack's own. */
    command: StringArgs.optional(),
  }),
});

export const CustomDockerfilePackaging = closed({
  type: z.literal("custom-dockerfile"),
  properties: closed({
    buildContextPath: sourcePath,
    dockerfilePath: nonEmpty.default("Dockerfile"),
    buildArgs: z.array(closed({ argName: nonEmpty, value: EnvironmentValue })).optional(),
    command: StringArgs.optional(),
    entryPoint: StringArgs.optional(),
  }).superRefine((properties, ctx) => {
    // Relative to the build context; it may leave the context, never the source directory.
    const { buildContextPath, dockerfilePath } = properties;
    const problem =
      pathSyntaxProblem(dockerfilePath) ??
      (() => {
        const result = normalizeRelativePath(`${buildContextPath}/${dockerfilePath}`);
        return "problem" in result ? result.problem : undefined;
      })();
    if (problem) ctx.addIssue({ code: "custom", path: ["dockerfilePath"], message: problem });
  }),
});

/**
 * Berth's own: how a service follows the tag its `image` names (docs/stack-file.md, "Following an
 * image"). Without a `tagFilter`, only a push of the image's own tag deploys.
 */
export const Follow = closed({
  /** false: pushes never deploy this service on their own. */
  autoDeploy: z.boolean().default(true),
  /** Which pushed tags of the image's repository deploy; default: exactly the image's tag. */
  tagFilter: closed({ type: TagFilterType, pattern: nonEmpty.max(256) })
    .superRefine((filter, ctx) => {
      const problem = tagFilterProblem(filter);
      if (problem) ctx.addIssue({ code: "custom", path: ["pattern"], message: problem });
    })
    .optional(),
  /** true: a push waits as a PENDING deployment until someone approves it. */
  approval: z.boolean().default(false),
});
export type Follow = z.infer<typeof Follow>;

export const PrebuiltImagePackaging = closed({
  type: z.literal("prebuilt-image"),
  properties: closed({
    image: nonEmpty,
    follow: Follow.optional(),
    repositoryCredentialsSecretArn: z
      .string()
      .regex(/^arn:aws[a-z-]*:secretsmanager:/, "must be a Secrets Manager secret ARN")
      .optional(),
    command: StringArgs.optional(),
    entryPoint: StringArgs.optional(),
  }),
});

const PACKAGING_TYPES = ["stacktape-image-buildpack", "custom-dockerfile", "prebuilt-image"] as const;
export const Packaging = byType("packaging", PACKAGING_TYPES, [
  ImageBuildpackPackaging,
  CustomDockerfilePackaging,
  PrebuiltImagePackaging,
]);
export type Packaging = z.infer<typeof Packaging>;

// Shared properties ----------------------------------------------------------------------------

export const Architecture = z.enum(["x86_64", "arm64"]);

export const ComputeResources = closed({
  /** vCPUs. */
  cpu: z
    .number()
    .positive()
    .refine((cpu) => FARGATE_CPUS.includes(cpu) || Number.isInteger(cpu), {
      error: `must be a whole number of vCPUs or one of ${FARGATE_CPUS.join(", ")}`,
    })
    .optional(),
  /** MiB. */
  memory: z.number().int("must be a whole number of MiB").min(128).max(122_880).optional(),
  instanceTypes: z
    .array(z.string().regex(/^[a-z][a-z0-9-]*\.[a-z0-9]+$/, "must be an EC2 instance type such as c5.large"))
    .min(1)
    .optional(),
  enableWarmPool: z.boolean().default(false),
  architecture: Architecture.default("x86_64"),
  /** FlexStack's spot option: run on Fargate Spot. */
  spot: z.boolean().default(false),
});
export type ComputeResources = z.infer<typeof ComputeResources>;

export const DEFAULT_FAIL_FAST_THRESHOLD = 2;
/**
 * How long every task of a new revision must stay RUNNING (and HEALTHY) after ECS calls the
 * rollout complete, without a health check; with one, at least its longest interval.
 */
export const DEFAULT_STABILITY_SECONDS = 10;

export const HealthCheck = closed({
  healthCheckCommand: z
    .array(z.string())
    .min(2, "must be ['CMD', 'executable', ...args] or ['CMD-SHELL', 'shell command']")
    .refine((command) => command[0] === "CMD" || command[0] === "CMD-SHELL", {
      error: "must start with 'CMD' or 'CMD-SHELL'",
    }),
  intervalSeconds: z.number().int().min(5).max(300).default(30),
  timeoutSeconds: z.number().int().min(2).max(120).default(5),
  retries: z.number().int().min(1).max(10).default(3),
  startPeriodSeconds: z.number().int().min(0).max(300).optional(),
});
export type HealthCheck = z.infer<typeof HealthCheck>;

/** The retention periods CloudWatch Logs accepts. */
export const RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
] as const;

export const Logging = closed({
  disabled: z.boolean().default(false),
  retentionDays: z
    .number()
    .int()
    .refine((days) => (RETENTION_DAYS as readonly number[]).includes(days), {
      error: `must be one of ${RETENTION_DAYS.join(", ")}`,
    })
    .default(90),
});
export type Logging = z.infer<typeof Logging>;

const StopTimeout = z.number().int().min(2).max(120);

const ScalingPolicy = closed({
  keepAvgCpuUtilizationUnder: z.number().min(1).max(100).default(80),
  keepAvgMemoryUtilizationUnder: z.number().min(1).max(100).default(80),
});

export const Scaling = closed({
  minInstances: z.number().int().min(1).max(1000).default(1),
  maxInstances: z.number().int().min(1).max(1000).default(1),
  scalingPolicy: ScalingPolicy.optional(),
  /** Seconds between scale-outs: short, so load is met fast. */
  scaleOutCooldownSeconds: z.number().int().min(0).max(3600).default(60),
  /** Seconds between scale-ins: long, so capacity is not removed on a dip. */
  scaleInCooldownSeconds: z.number().int().min(0).max(3600).default(300),
});
export type Scaling = z.infer<typeof Scaling>;

export const IamRoleStatement = closed({
  Sid: z
    .string()
    .regex(/^[A-Za-z0-9]*$/, "must be alphanumeric")
    .optional(),
  Effect: z.enum(["Allow", "Deny"]).default("Allow"),
  Action: z.array(nonEmpty).min(1),
  Resource: z.array(nonEmpty).min(1),
  Condition: z.record(z.string(), z.record(z.string(), z.unknown())).optional(),
});
export type IamRoleStatement = z.infer<typeof IamRoleStatement>;

export const ConnectTo = z.array(nonEmpty);

const DEPLOYMENT_STRATEGIES = [
  "Canary10Percent5Minutes",
  "Canary10Percent15Minutes",
  "Linear10PercentEvery1Minute",
  "Linear10PercentEvery3Minutes",
  "AllAtOnce",
] as const;

const LambdaFunctionName = z
  .string()
  .regex(
    /^(arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:)?[A-Za-z0-9_-]{1,64}$/,
    "must be a Lambda function name or ARN",
  );

export const Deployment = closed({
  strategy: z.enum(DEPLOYMENT_STRATEGIES),
  beforeAllowTrafficFunction: LambdaFunctionName.optional(),
  afterTrafficShiftFunction: LambdaFunctionName.optional(),
  testListenerPort: port.optional(),
});
export type Deployment = z.infer<typeof Deployment>;

export const LoadBalancerHealthCheck = closed({
  healthcheckPath: z.string().startsWith("/").default("/"),
  healthcheckInterval: z.number().int().min(5).max(300).default(5),
  healthcheckTimeout: z.number().int().min(2).max(120).default(4),
  healthcheckProtocol: z.enum(["HTTP", "TCP"]).optional(),
});

const ServiceConnectProtocol = z.enum(["http", "http2", "grpc"]);

// Events ---------------------------------------------------------------------------------------

const HttpMethod = z.enum(["*", "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]);

export const HttpApiEvent = closed({
  type: z.literal("http-api-gateway"),
  properties: closed({
    containerPort: port,
    httpApiGatewayName: nonEmpty,
    method: HttpMethod,
    path: nonEmpty,
    authorizer: z.record(z.string(), z.unknown()).optional(),
    payloadFormat: z.enum(["1.0", "2.0"]).default("1.0"),
  }),
});

const LbCondition = <Key extends string>(key: Key) =>
  closed({ [key]: nonEmpty, values: z.array(z.string()).min(1) } as Record<Key, typeof nonEmpty> & {
    values: z.ZodArray<z.ZodString>;
  });

export const ApplicationLoadBalancerEvent = closed({
  type: z.literal("application-load-balancer"),
  properties: closed({
    containerPort: port,
    loadBalancerName: nonEmpty,
    priority: z.number().int().min(1).max(50_000),
    listenerPort: port.optional(),
    paths: z.array(nonEmpty).optional(),
    methods: z.array(nonEmpty).optional(),
    hosts: z.array(nonEmpty).optional(),
    headers: z.array(LbCondition("headerName")).optional(),
    queryParams: z.array(LbCondition("paramName")).optional(),
    sourceIps: z.array(nonEmpty).optional(),
  }),
});

export const NetworkLoadBalancerEvent = closed({
  type: z.literal("network-load-balancer"),
  properties: closed({
    containerPort: port,
    loadBalancerName: nonEmpty,
    listenerPort: port,
  }),
});

export const WorkloadInternalEvent = closed({
  type: z.literal("workload-internal"),
  properties: closed({ containerPort: port }),
});

export const ServiceConnectEvent = closed({
  type: z.literal("service-connect"),
  properties: closed({
    containerPort: port,
    alias: z
      .string()
      .regex(
        /^[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?$/,
        "must be a DNS label: lowercase letters, digits and hyphens",
      )
      .optional(),
    protocol: ServiceConnectProtocol.optional(),
  }),
});

const EVENT_TYPES = [
  "http-api-gateway",
  "application-load-balancer",
  "network-load-balancer",
  "workload-internal",
  "service-connect",
] as const;
export const ContainerEvent = byType("event", EVENT_TYPES, [
  HttpApiEvent,
  ApplicationLoadBalancerEvent,
  NetworkLoadBalancerEvent,
  WorkloadInternalEvent,
  ServiceConnectEvent,
]);
export type ContainerEvent = z.infer<typeof ContainerEvent>;

// Resources ------------------------------------------------------------------------------------

const DEPENDENCY_CONDITIONS = ["START", "COMPLETE", "SUCCESS", "HEALTHY"] as const;

export const WorkloadContainer = closed({
  name: z.string().regex(/^[A-Za-z0-9_-]{1,255}$/, "must be letters, digits, hyphens and underscores"),
  packaging: Packaging,
  essential: z.boolean().default(true),
  logging: Logging.prefault({}),
  dependsOn: z
    .array(closed({ containerName: nonEmpty, condition: z.enum(DEPENDENCY_CONDITIONS) }))
    .default([]),
  environment: z.array(EnvironmentVar).default([]),
  events: z.array(ContainerEvent).default([]),
  loadBalancerHealthCheck: LoadBalancerHealthCheck.optional(),
  internalHealthCheck: HealthCheck.optional(),
  stopTimeout: StopTimeout.default(2),
});
export type WorkloadContainer = z.infer<typeof WorkloadContainer>;

/** Properties shared by the single-container services. */
/**
 * Berth's own property: how many tasks of a new revision may fail (crash or fail their health
 * checks) before Berth rolls the deployment back, instead of waiting for ECS's circuit breaker;
 * and how long the new revision must then stay up before the deployment succeeds.
 */
export const FailFast = closed({
  threshold: z.number().int().min(1).max(100).default(DEFAULT_FAIL_FAST_THRESHOLD),
  stabilitySeconds: z.number().int().min(0).max(600).optional(),
});
export type FailFast = z.infer<typeof FailFast>;

const serviceProperties = {
  packaging: Packaging,
  failFast: FailFast.optional(),
  resources: ComputeResources,
  environment: z.array(EnvironmentVar).default([]),
  logging: Logging.prefault({}),
  scaling: Scaling.prefault({}),
  internalHealthCheck: HealthCheck.optional(),
  stopTimeout: StopTimeout.default(2),
  connectTo: ConnectTo.default([]),
  iamRoleStatements: z.array(IamRoleStatement).default([]),
  enableRemoteSessions: z.boolean().default(false),
  usePrivateSubnetsWithNAT: z.boolean().default(false),
};

export const PrivateService = closed({
  type: z.literal("private-service"),
  properties: closed({
    ...serviceProperties,
    port: port.default(3000),
    protocol: ServiceConnectProtocol.optional(),
    loadBalancing: closed({ type: z.enum(["service-connect", "application-load-balancer"]) }).prefault({
      type: "service-connect",
    }),
  }),
});

export const WebService = closed({
  type: z.literal("web-service"),
  properties: closed({
    ...serviceProperties,
    port: port.default(3000),
    loadBalancing: closed({
      type: z.enum(["http-api-gateway", "application-load-balancer", "network-load-balancer"]),
    }).prefault({ type: "http-api-gateway" }),
    customDomains: z.array(z.string().regex(/^[a-z0-9.-]+$/, "must be a domain name")).default([]),
    cors: closed({
      enabled: z.boolean().default(false),
      allowedOrigins: z.array(nonEmpty).optional(),
      allowedMethods: z.array(HttpMethod).optional(),
      allowedHeaders: z.array(nonEmpty).optional(),
    }).optional(),
    deployment: Deployment.optional(),
  }),
});

export const WorkerService = closed({
  type: z.literal("worker-service"),
  properties: closed(serviceProperties),
});

export const MultiContainerWorkload = closed({
  type: z.literal("multi-container-workload"),
  properties: closed({
    containers: z.array(WorkloadContainer).min(1),
    resources: ComputeResources,
    scaling: Scaling.prefault({}),
    deployment: Deployment.optional(),
    enableRemoteSessions: z.boolean().default(false),
    usePrivateSubnetsWithNAT: z.boolean().default(false),
    connectTo: ConnectTo.default([]),
    iamRoleStatements: z.array(IamRoleStatement).default([]),
    failFast: FailFast.optional(),
  }),
});

export const BatchJob = closed({
  type: z.literal("batch-job"),
  properties: closed({
    container: closed({
      packaging: Packaging,
      environment: z.array(EnvironmentVar).default([]),
    }),
    resources: ComputeResources,
    /** Seconds a run may take before it is stopped. */
    timeout: z.number().int().min(60).max(1_209_600).default(3600),
    retryConfig: closed({
      attempts: z.number().int().min(1).max(10).default(1),
      retryIntervalSeconds: z.number().int().min(0).max(86_400).default(0),
      retryIntervalMultiplier: z.number().min(1).max(10).default(1),
    }).prefault({}),
    logging: Logging.prefault({}),
    stopTimeout: StopTimeout.default(2),
    connectTo: ConnectTo.default([]),
    iamRoleStatements: z.array(IamRoleStatement).default([]),
  }),
});

export const HttpApiGateway = closed({
  type: z.literal("http-api-gateway"),
  properties: closed({
    cors: closed({
      enabled: z.boolean().default(false),
      allowedOrigins: z.array(nonEmpty).optional(),
    }).optional(),
    customDomains: z.array(nonEmpty).default([]),
  }).prefault({}),
});

const LoadBalancerInterface = z.enum(["internet", "internal"]).default("internet");

/** Both load balancers' listeners: a port, one of the balancer's protocols, and its certificates. */
function listenersOf<const Protocols extends readonly [string, ...string[]]>(protocols: Protocols) {
  return z.array(
    closed({
      port,
      protocol: z.enum(protocols),
      customCertificateArns: z.array(nonEmpty).optional(),
    }),
  );
}

export const ApplicationLoadBalancer = closed({
  type: z.literal("application-load-balancer"),
  properties: closed({
    interface: LoadBalancerInterface,
    listeners: listenersOf(["HTTP", "HTTPS"]).optional(),
    customDomains: z.array(nonEmpty).default([]),
  }).prefault({}),
});

export const NetworkLoadBalancer = closed({
  type: z.literal("network-load-balancer"),
  properties: closed({
    interface: LoadBalancerInterface,
    listeners: listenersOf(["TCP", "TLS"]).min(1),
  }),
});

export const RESOURCE_SCHEMAS = {
  "private-service": PrivateService,
  "web-service": WebService,
  "worker-service": WorkerService,
  "multi-container-workload": MultiContainerWorkload,
  "batch-job": BatchJob,
  "http-api-gateway": HttpApiGateway,
  "application-load-balancer": ApplicationLoadBalancer,
  "network-load-balancer": NetworkLoadBalancer,
} as const;

export type ResourceType = keyof typeof RESOURCE_SCHEMAS;
export const RESOURCE_TYPES = Object.keys(RESOURCE_SCHEMAS) as ResourceType[];

export type PrivateService = z.infer<typeof PrivateService>;
export type WebService = z.infer<typeof WebService>;
export type WorkerService = z.infer<typeof WorkerService>;
export type MultiContainerWorkload = z.infer<typeof MultiContainerWorkload>;
export type BatchJob = z.infer<typeof BatchJob>;
export type HttpApiGateway = z.infer<typeof HttpApiGateway>;
export type ApplicationLoadBalancer = z.infer<typeof ApplicationLoadBalancer>;
export type NetworkLoadBalancer = z.infer<typeof NetworkLoadBalancer>;

export type Resource =
  | PrivateService
  | WebService
  | WorkerService
  | MultiContainerWorkload
  | BatchJob
  | HttpApiGateway
  | ApplicationLoadBalancer
  | NetworkLoadBalancer;

export type ComputeResource = PrivateService | WebService | WorkerService | MultiContainerWorkload | BatchJob;

export const COMPUTE_TYPES = [
  "private-service",
  "web-service",
  "worker-service",
  "multi-container-workload",
  "batch-job",
] as const satisfies readonly ResourceType[];

export function isCompute(resource: Resource): resource is ComputeResource {
  return (COMPUTE_TYPES as readonly string[]).includes(resource.type);
}

const LOCAL_TIME = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, "must be a local time HH:MM");
const TimeZone = z.string().refine(isTimeZone, "must be an IANA time zone, such as Europe/Berlin or UTC");

/**
 * Berth's own stack-level settings (`berth:` at the top of the file): when the stack's services
 * are refreshed, and when automatic deployments (registry pushes, refreshes) may run.
 */
export const StackSettings = closed({
  refresh: closed({
    /** `cron(minutes hours day-of-month month day-of-week year)`, or `off`. */
    schedule: z.string().superRefine((value, context) => {
      if (value === "off") return;
      try {
        parseCron(value);
      } catch (error) {
        context.addIssue({ code: "custom", message: `is not a schedule: ${(error as Error).message}` });
      }
    }),
    timeZone: TimeZone.default("UTC"),
    /** EventBridge Scheduler may run it up to this many minutes late, spreading load. */
    flexibleWindowMinutes: z.number().int().min(1).max(1440).optional(),
  }).optional(),
  maintenanceWindow: closed({
    days: z.array(z.enum(["MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"])).min(1),
    start: LOCAL_TIME,
    end: LOCAL_TIME,
    timeZone: TimeZone.default("UTC"),
  }).optional(),
});
export type StackSettings = z.infer<typeof StackSettings>;

/** A parsed, defaulted, cross-checked stack file. */
export interface Stack {
  resources: Record<string, Resource>;
  berth?: StackSettings;
}

/** Resource names are identifiers: they become ECS, IAM and DNS names. */
export const RESOURCE_NAME_PATTERN = /^[A-Za-z][A-Za-z0-9]{0,62}$/;

/** Resource types other platforms have that Berth deliberately does not manage. */
export const UNSUPPORTED_RESOURCE_TYPES: Record<string, string> = {
  function: "Berth runs containers; use a worker-service or batch-job",
  bucket:
    "Berth manages containers only; create the bucket outside Berth and grant access with iamRoleStatements",
  "dynamo-db-table": "Berth manages containers only; grant access with iamRoleStatements",
  "relational-database": "Berth manages containers only; pass its address through environment and $Secret",
  "redis-cluster": "Berth manages containers only; pass its address through environment and $Secret",
  "event-bus": "Berth manages containers only",
  "sns-topic": "Berth manages containers only",
  "sqs-queue": "Berth manages containers only",
  "state-machine": "Berth manages containers only",
  "user-auth-pool": "Berth manages containers only",
  "hosting-bucket": "Berth manages containers only",
  "nextjs-web": "Berth manages containers only; package the app as a web-service",
};

/** Top-level keys of other platforms' files that Berth refuses, with why. */
export const UNSUPPORTED_TOP_LEVEL_KEYS: Record<string, string> = {
  cloudformationResources:
    "Berth deploys through the ECS API without CloudFormation, so it cannot create raw CloudFormation resources",
  directives:
    "custom directives run arbitrary code at deploy time; Berth supports only $ResourceParam and $Secret",
  scripts: "Berth runs no deploy-time scripts",
  hooks: "Berth runs no deploy-time scripts",
  providerConfig: "the AWS account and region come from the Berth installation, not the stack file",
  stackConfig: "stack settings come from the Berth installation",
  deploymentConfig: "rollout settings live on each resource (deployment, scaling)",
  budgetControl: "not supported by Berth",
  variables: "variables are not supported; use environment values",
  serviceName: "the stack name is given when the stack is applied (berth deploy --stack NAME)",
};

/** One resource of any type: what `resources` maps each name to. */
const ResourceDefinition = z.discriminatedUnion("type", [
  PrivateService,
  WebService,
  WorkerService,
  MultiContainerWorkload,
  BatchJob,
  HttpApiGateway,
  ApplicationLoadBalancer,
  NetworkLoadBalancer,
]);

/**
 * The whole file as one schema: what the JSON Schema for editors and the types of `berth.ts`
 * are made from. `parse` checks the same parts one resource at a time, so that it reports every
 * problem with its own wording, and adds the rules that span resources (`validate.ts`).
 */
export const StackFile = closed({
  resources: z.record(z.string().regex(RESOURCE_NAME_PATTERN), ResourceDefinition),
});

/** A stack file as written, before defaults: the type `berth.ts` files are checked against. */
export type StackFileInput = z.input<typeof StackFile>;
/** One resource as written, before defaults. */
export type ResourceInput = z.input<typeof ResourceDefinition>;

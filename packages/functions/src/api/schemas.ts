import { JobRun, StackPlan, Workflow } from "@berth/core/deployments";
import {
  DeliveryRecord,
  DeploymentEventRecord,
  DeploymentRecord,
  ReceiverRecord,
  ServiceRecord,
  StackRecord,
  TokenRecord,
} from "@berth/core/store";
import { z } from "zod";

const { Change, FieldChange } = StackPlan;

/**
 * The request and response shapes of the API. Handlers validate with these, built on core's
 * own schemas, and the OpenAPI document is generated from them, so the two cannot drift.
 */

// Path parameters: names are checked before they reach a key or an AWS name.

export const StackParams = z.strictObject({ stack: StackRecord.Name });
export const ServiceParams = z.strictObject({ stack: StackRecord.Name, service: ServiceRecord.Name });
export const JobParams = z.strictObject({ stack: StackRecord.Name, job: ServiceRecord.Name });
export const RunParams = JobParams.extend({ id: JobRun.RunId });
export const DeploymentParams = z.strictObject({ id: DeploymentRecord.Id });
export const TokenParams = z.strictObject({ id: TokenRecord.Id });

// Query strings: every value arrives as text.

const wholeNumber = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d{1,7}$/, `must be a whole number from ${min} to ${max}`)
    .transform(Number)
    .pipe(z.number().int().min(min).max(max));

export const NoQuery = z.strictObject({});

export const StackListQuery = z.strictObject({
  services: z
    .enum(["true", "false"])
    .default("false")
    .transform((value) => value === "true")
    .describe(
      "`true`: each stack also carries its services' names, types, statuses and ECS task counts, " +
        "so a list needs no request per stack",
    ),
});

export const ApplyQuery = z.strictObject({
  dryRun: z
    .enum(["true", "false"])
    .default("false")
    .transform((value) => value === "true")
    .describe("`true`: compute and return the plan, change nothing"),
  source: Workflow.WorkflowParameters.shape.source.describe(
    "where the source of built packaging lives (`file:///dir` for Berth Local, `s3://bucket/key`); " +
      "the deployments this apply requests build from it",
  ),
  force: z
    .enum(["true", "false"])
    .default("false")
    .transform((value) => value === "true")
    .describe("`true`: deploy every service of the file again (and build it anew), changed or not"),
  sourceDigests: z
    .string()
    .max(64 * 1024)
    .transform((text, ctx) => {
      try {
        return JSON.parse(text) as unknown;
      } catch {
        ctx.addIssue({ code: "custom", message: "must be JSON" });
        return z.NEVER;
      }
    })
    .pipe(z.record(ServiceRecord.Name, ServiceRecord.SourceDigests))
    .optional()
    .describe(
      "JSON: service → container → `sha256:` digest of the container's build inputs, as the client " +
        "computed them from the source; a changed digest is a change. Services left out have their " +
        "source not compared (a change to the source alone then deploys nothing).",
    ),
});

export const PageQuery = z.strictObject({
  limit: wholeNumber(1, 100).optional().describe("page size, 1 to 100 (default 20)"),
  cursor: z.string().min(1).max(2048).optional().describe("`nextCursor` of the previous page"),
});

export const Since = z
  .string()
  .regex(
    /^(\d{1,6}[smhd]|\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2}))$/,
    "must be a duration such as 15m, 2h or 7d, or an ISO 8601 timestamp",
  );

export const LogsQuery = z.strictObject({
  since: Since.optional().describe("how far back: a duration (`15m`, `2h`, `7d`) or a timestamp; default 1h"),
  limit: wholeNumber(1, 1000).optional().describe("events per page, 1 to 1000 (default 100)"),
  nextToken: z.string().min(1).max(4096).optional().describe("`nextToken` of the previous page"),
});

// Bodies.

/**
 * An image reference as Docker accepts it (`registry/repository:tag` or `…@sha256:<digest>`), or
 * a `file:///` directory, which Berth Local runs in place of an image (as the stack file allows).
 */
const ImageReference = z
  .string()
  .max(1024)
  .regex(
    /^([a-z0-9][a-z0-9._-]*(:[0-9]+)?(\/[a-z0-9._-]+)*(:[A-Za-z0-9_][A-Za-z0-9._-]{0,127})?(@sha256:[0-9a-f]{64})?|file:\/\/\/\S*)$/,
    "must be an image reference such as registry/repository:tag or registry/repository@sha256:<digest>, or a file:/// directory",
  );

const ContainerName = z
  .string()
  .regex(/^[A-Za-z0-9_-]{1,255}$/, "must be a container name: letters, digits, hyphens and underscores");

export const RedeployBody = z.strictObject({
  image: z
    .record(ContainerName, ImageReference)
    .optional()
    .describe("container name → image to run from now on (the container's packaging becomes prebuilt-image)"),
});

export const RollbackBody = z.strictObject({
  deploymentId: DeploymentRecord.Id.optional().describe(
    "a SUCCEEDED deployment of this service to return to; default: the last good one",
  ),
});

const Instances = z.number().int().min(1).max(1000);

export const ScaleBody = z
  .strictObject({
    min: Instances.optional(),
    max: Instances.optional(),
    desired: z.number().int().min(0).max(1000).optional(),
  })
  .refine((body) => body.min !== undefined || body.max !== undefined || body.desired !== undefined, {
    error: "give at least one of min, max and desired",
  })
  .refine((body) => body.min === undefined || body.max === undefined || body.min <= body.max, {
    error: "min must not exceed max",
    path: ["min"],
  });

export const CancelBody = z.strictObject({
  reason: z.string().min(1).max(1024).optional(),
});

export const CreateTokenBody = TokenRecord.CreateInput;

// Responses.

export const StackSummary = StackRecord.Info.omit({ stackFile: true });

export const WorkflowStartBody = z.object({
  started: z.boolean(),
  executionArn: z.string().optional(),
  /** Why it did not start: it is waiting its turn, or starting it failed. */
  reason: z.string().optional(),
  waiting: z.boolean().optional(),
});

export const RequestedDeploymentBody = z.object({
  deployment: DeploymentRecord.Info,
  placement: z.enum(["active", "queued", "superseded", "cancelled"]),
  workflow: WorkflowStartBody,
});

export const PlanEntry = z.object({
  service: z.string(),
  type: z.string(),
  change: Change,
  changes: z.array(FieldChange).optional(),
  /** `retry`: why the service does not run what the file says. */
  reason: z.string().optional(),
  pendingDeletion: z.boolean().optional(),
  /** The deployment requested for this change; absent on dry runs and for unchanged services. */
  deployment: RequestedDeploymentBody.optional(),
});

export const ApplyResponse = z.object({
  stack: StackRecord.Name,
  dryRun: z.boolean(),
  stackFileHash: z.string(),
  plan: z.array(PlanEntry),
  /**
   * What the apply did to the stack's own refresh schedule (EventBridge Scheduler), or why it
   * could not (the services were still applied; applying again retries). Absent on dry runs.
   */
  refreshSchedule: z
    .union([
      z.object({ change: z.enum(["created", "updated", "deleted", "unchanged"]) }),
      z.object({ error: z.string() }),
    ])
    .optional(),
});

export const DeploymentSummary = DeploymentRecord.Info.pick({
  id: true,
  status: true,
  reason: true,
  trigger: true,
  requestedBy: true,
  createdAt: true,
  updatedAt: true,
});

export const ServiceView = z.object({
  stack: StackRecord.Name,
  name: ServiceRecord.Name,
  type: z.string(),
  /** DEPLOYING while a deployment holds the active slot; else LIVE once a version runs, else NOT_DEPLOYED. */
  status: z.enum(["DEPLOYING", "LIVE", "NOT_DEPLOYED"]),
  spec: z.record(z.string(), z.unknown()),
  /** `alias:port` through Service Connect, for private and web services. */
  address: z.string().nullable(),
  /** The public URL of the gateway or load balancer in front of the service; null without one. */
  url: z.string().nullable(),
  liveRevision: z.object({ taskDefinitionArn: z.string(), revision: z.number().int().nullable() }).nullable(),
  lastGoodTaskDefinitionArn: z.string().nullable(),
  scaling: z.object({ min: z.number().int(), max: z.number().int() }).nullable(),
  /** Task counts as the store has them; null until something records them. */
  tasks: z.object({ desired: z.number().int().nullable(), running: z.number().int().nullable() }),
  /** The service's newest ECS deployment (ECS's PRIMARY) and its tasks; null when ECS has none or cannot be asked. */
  rollout: z
    .object({
      ecsDeploymentId: z.string(),
      taskDefinitionArn: z.string().nullable(),
      rolloutState: z.string().nullable(),
      desired: z.number().int(),
      running: z.number().int(),
      healthy: z.number().int(),
      stopped: z.number().int(),
    })
    .nullable(),
  /** The service's newest ECS service event. */
  latestEvent: z.object({ at: z.string(), message: z.string() }).nullable(),
  activeDeployment: DeploymentSummary.nullable(),
  queuedDeployment: DeploymentSummary.nullable(),
  updatedAt: z.string(),
});

export const ServiceSummary = ServiceView.pick({
  name: true,
  type: true,
  status: true,
  address: true,
  url: true,
  activeDeployment: true,
  queuedDeployment: true,
});

/** A service as the stack list shows it with `services=true`. */
export const ListedService = ServiceView.pick({ name: true, type: true, status: true, tasks: true });

export const StackList = z.object({
  stacks: z.array(
    StackSummary.extend({
      services: z
        .array(ListedService)
        .optional()
        .describe("with `services=true`: the stack's services, by name, with live task counts"),
    }),
  ),
});
/** An ingress resource Berth created for the stack (an HTTP API gateway, a load balancer). */
export const IngressView = z.object({
  name: z.string(),
  type: z.string(),
  url: z.string().describe("where it is reached from outside: its first custom domain's URL, else its own"),
  endpoint: z.string().describe("its own URL (API Gateway's or the load balancer's DNS name)"),
  domains: z
    .array(
      z.object({
        name: z.string(),
        url: z.string(),
        target: z.string().describe("what the domain's DNS must point at"),
        dns: z
          .enum(["route53", "manual"])
          .describe("`route53`: Berth keeps its alias record; `manual`: point a CNAME at `target`"),
      }),
    )
    .describe("its custom domains"),
});
export const StackDetail = z.object({
  stack: StackRecord.Info,
  services: z.array(ServiceSummary),
  ingress: z.array(IngressView),
});

export const DeleteStackResponse = z.object({
  stack: StackRecord.Name,
  services: z.array(
    z.object({
      service: ServiceRecord.Name,
      pendingDeletion: z.boolean().optional(),
      deployment: RequestedDeploymentBody.optional(),
    }),
  ),
});

export const DeploymentPage = z.object({
  deployments: z.array(DeploymentRecord.Info),
  nextCursor: z.string().optional(),
});

export const DeploymentWithEvents = z.object({
  deployment: DeploymentRecord.Info,
  events: z.array(DeploymentEventRecord.Info),
});

export const CancelResponse = z.object({
  outcome: z.enum(["cancelled", "cancel-requested"]),
  deployment: DeploymentRecord.Info,
  /** The queued deployment that took over the active slot, and whether its workflow started. */
  promoted: z.object({ deployment: DeploymentRecord.Info, workflow: WorkflowStartBody }).optional(),
});

export const StartRunBody = JobRun.StartInput.strict().describe(
  "RunTask overrides of the job's container for this run: its command, environment variables added or replaced",
);
export const RunView = JobRun.Run;
export const RunDetail = JobRun.RunWithAttempts;
export const RunPage = z.object({ runs: z.array(JobRun.Run), nextCursor: z.string().optional() });

export const LogsResponse = z.object({
  logGroupName: z.string(),
  events: z.array(z.object({ timestamp: z.string(), logStream: z.string(), message: z.string() })),
  nextToken: z.string().optional(),
});

export const CreatedToken = z.object({
  /** The bearer token, shown in this response only; a replay of the request leaves it out. */
  token: z.string().optional(),
  info: TokenRecord.Info,
});
export const TokenList = z.object({ tokens: z.array(TokenRecord.Info) });

export const Health = z.object({ status: z.literal("ok") });

export const CreatedSource = z.object({
  /** What to apply the stack with (`?source=`) once the upload has finished. */
  source: z.string().regex(/^s3:\/\/[^/]+\/sources\/[0-9a-f-]{36}\.tar\.gz$/),
  upload: z.object({
    url: z.url(),
    method: z.literal("PUT"),
    /** Signed into the URL: the upload must send exactly these. */
    headers: z.record(z.string(), z.string()),
  }),
  /** After this the URL no longer accepts the upload. */
  expiresAt: z.iso.datetime(),
});

// Webhook receivers and what reached them.

export const CreatedReceiver = z.object({
  id: ReceiverRecord.Info.shape.id,
  /** Where the provider sends deliveries; for Docker Hub and Quay it holds the secret. */
  url: z.string(),
  /** Shown once: the signing key (GitHub, generic), the Authorization value (Harbor, GitLab), or the URL's secret. */
  secret: z.string(),
  receiver: ReceiverRecord.Info,
});
export const ReceiverList = z.object({ receivers: z.array(ReceiverRecord.Info) });
export const CreateReceiverBody = ReceiverRecord.CreateInput;
export const DeliveryPage = z.object({
  deliveries: z.array(DeliveryRecord.Info),
  nextCursor: z.string().optional(),
});

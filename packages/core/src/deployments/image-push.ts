import { randomUUID } from "node:crypto";
import { Spec } from "../spec/index.ts";
import { DeliveryRecord, DeploymentRecord, ServiceRecord, StackRecord } from "../store/index.ts";
import * as Approval from "./approval.ts";
import { closedWindow } from "./automation.ts";
import { specHash } from "./plan.ts";
import { requestDeployment, type WorkflowContext } from "./request.ts";

/**
 * A push that reached Berth: from ECR through EventBridge, or from a webhook receiver whose
 * request was authenticated. Every push goes through `receive`, whichever door it came in by.
 */
export interface ImagePush {
  /** `ecr`, or the receiver's id. */
  source: string;
  provider: string;
  /** The provider's name for what happened, for the delivery's record. */
  event: string;
  /** The delivery's identity, for replays: the provider's delivery id, or the event id. */
  deliveryKey?: string;
  registry: string;
  repository: string;
  tag: string;
  /** The digest the payload named; used only when `trustDigest` (a signed payload). */
  digest?: string;
  trustDigest: boolean;
  /** A receiver bound to a stack (and a service) reaches only those. */
  scope?: { stack?: string; service?: string };
}

/** What a push needs beyond a deployment request: the installation's registry, and a way to resolve a tag. */
export interface PushContext extends WorkflowContext {
  /**
   * The digest `registry/repository:tag` names now, read from the registry (ECR's
   * DescribeImages for this installation's registry); undefined when it does not exist or
   * cannot be read.
   */
  resolveDigest: (ref: { registry: string; repository: string; tag: string }) => Promise<string | undefined>;
}

export interface Received {
  delivery: DeliveryRecord.Info;
  /** A replay of a delivery handled before: nothing was done. */
  replay: boolean;
}

interface Follower {
  record: ServiceRecord.Info;
  containers: { name: string; follow: Spec.Follow; ref: Spec.ImageRef; tagFilter?: Spec.TagFilter }[];
}

const DEFAULT_FOLLOW: Spec.Follow = { autoDeploy: true, approval: false };

/** The containers of a service whose prebuilt image is of the pushed repository. */
function followersOf(record: ServiceRecord.Info, push: ImagePush): Follower | undefined {
  const schema = Spec.RESOURCE_SCHEMAS[record.spec.type as Spec.ComputeResource["type"]];
  const parsed = schema?.safeParse(record.spec);
  if (!parsed?.success) return undefined;
  const containers: Follower["containers"] = [];
  for (const container of Spec.containersOf(record.name, parsed.data as Spec.ComputeResource)) {
    if (container.packaging.type !== "prebuilt-image") continue;
    const ref = Spec.parseImageRef(container.packaging.properties.image);
    if (!ref || ref.registry !== push.registry || ref.repository !== push.repository) continue;
    const follow = container.packaging.properties.follow ?? DEFAULT_FOLLOW;
    containers.push({
      name: container.name,
      follow,
      ref,
      ...(follow.tagFilter ? { tagFilter: follow.tagFilter } : {}),
    });
  }
  return containers.length > 0 ? { record, containers } : undefined;
}

/** Why a container does not take this push, or undefined when it does. */
function refusal(container: Follower["containers"][number], tag: string): string | undefined {
  if (container.ref.digest && !container.ref.tag)
    return `container ${container.name} is pinned to ${container.ref.digest}`;
  if (!container.follow.autoDeploy) return `container ${container.name} has follow.autoDeploy: false`;
  if (container.tagFilter) {
    if (!Spec.tagMatches(container.tagFilter, tag)) {
      return `tag ${tag} does not match container ${container.name}'s ${container.tagFilter.type} filter ${JSON.stringify(container.tagFilter.pattern)}`;
    }
    return undefined;
  }
  if (container.ref.tag !== tag)
    return `container ${container.name} follows tag ${container.ref.tag}, not ${tag}`;
  return undefined;
}

const WAITING: readonly string[] = ["PENDING", "BUILDING", "DEPLOYING"];
/** How far back to look for the digest a service runs: its recent deployments. */
const HISTORY = 50;

/** Whether the service runs `digest` in `container`, or has it waiting (queued, held for approval, under way). */
async function alreadyHas(
  context: PushContext,
  record: ServiceRecord.Info,
  container: string,
  digest: string,
): Promise<string | undefined> {
  const { items } = await DeploymentRecord.listForService(context.store, record.stack, record.name, {
    limit: HISTORY,
  });
  for (const deployment of items) {
    const has = deployment.imageDigests[container] ?? digestOfPinned(deployment, container);
    if (WAITING.includes(deployment.status)) {
      if (has === digest) {
        return deployment.awaitingApproval && !deployment.approvedAt
          ? `deployment ${deployment.id} of ${digest} awaits approval`
          : `deployment ${deployment.id} of ${digest} is ${deployment.status}`;
      }
      continue;
    }
    if (deployment.status === "SUCCEEDED" && has !== undefined) {
      return has === digest ? `it already runs ${digest} (deployment ${deployment.id})` : undefined;
    }
  }
  return undefined;
}

function digestOfPinned(deployment: DeploymentRecord.Info, container: string): string | undefined {
  const pinned = deployment.parameters.pinnedImages?.[container];
  return pinned?.slice(pinned.indexOf("@") + 1);
}

type ServiceOutcome = DeliveryRecord.ServiceOutcome;

async function deployFollower(
  context: PushContext,
  push: ImagePush,
  follower: Follower,
  digest: string,
  outsideWindow: string | undefined,
): Promise<ServiceOutcome> {
  const { record } = follower;
  const service = `${record.stack}/${record.name}`;
  const refusals: string[] = [];
  const taking: Follower["containers"] = [];
  for (const container of follower.containers) {
    const why = refusal(container, push.tag);
    if (why) refusals.push(why);
    else taking.push(container);
  }
  if (taking.length === 0) return { service, outcome: "ignored", reason: refusals.join("; ") };
  if (!record.liveTaskDefinitionArn) {
    return { service, outcome: "ignored", reason: "it has not been deployed yet: deploy it once first" };
  }
  if (outsideWindow) return { service, outcome: "ignored", reason: outsideWindow };
  const fresh: Follower["containers"] = [];
  for (const container of taking) {
    const has = await alreadyHas(context, record, container.name, digest);
    if (has) refusals.push(`container ${container.name}: ${has}`);
    else fresh.push(container);
  }
  if (fresh.length === 0) return { service, outcome: "ignored", reason: refusals.join("; ") };
  const pinnedImages = Object.fromEntries(fresh.map((c) => [c.name, Spec.pinnedImage(c.ref, digest)]));
  const request = {
    stack: record.stack,
    service: record.name,
    trigger: "webhook" as const,
    specHash: specHash(record.spec),
    imageDigests: Object.fromEntries(fresh.map((c) => [c.name, digest])),
    reason: `${push.registry}/${push.repository}:${push.tag} was pushed (${digest})`,
    parameters: { action: "deploy" as const, pinnedImages },
  };
  if (fresh.some((container) => container.follow.approval)) {
    const held = await Approval.hold(context, request);
    return { service, outcome: "awaiting-approval", reason: held.reason, deploymentId: held.id };
  }
  const requested = await requestDeployment(context, request);
  return {
    service,
    outcome: "deployed",
    reason: `deployment ${requested.deployment.id} (${requested.placement})`,
    deploymentId: requested.deployment.id,
  };
}

function summary(services: ServiceOutcome[]): { outcome: DeliveryRecord.Outcome; reason: string } {
  const of = (outcome: ServiceOutcome["outcome"]) => services.filter((s) => s.outcome === outcome);
  const deployed = of("deployed");
  const held = of("awaiting-approval");
  if (deployed.length > 0 || held.length > 0) {
    const parts = [
      ...(deployed.length > 0 ? [`deployed ${deployed.map((s) => s.service).join(", ")}`] : []),
      ...(held.length > 0 ? [`awaiting approval: ${held.map((s) => s.service).join(", ")}`] : []),
    ];
    return { outcome: deployed.length > 0 ? "deployed" : "awaiting-approval", reason: parts.join("; ") };
  }
  if (services.length === 0) return { outcome: "ignored", reason: "no service follows this image" };
  return { outcome: "ignored", reason: services.map((s) => `${s.service}: ${s.reason}`).join("; ") };
}

/**
 * Records a delivery that pushed nothing (a ping, a deletion, a payload that is not a push): it
 * shows among the receiver's deliveries with why nothing happened. A replay changes nothing.
 */
export async function record(
  context: Pick<PushContext, "store">,
  delivery: {
    source: string;
    provider: string;
    event: string;
    deliveryKey?: string;
    outcome: "ignored" | "refused";
    reason: string;
  },
): Promise<Received> {
  const claimed = await DeliveryRecord.claim(context.store, {
    source: delivery.source,
    key: delivery.deliveryKey ?? `unkeyed-${randomUUID()}`,
    provider: delivery.provider,
    event: delivery.event.slice(0, 200),
  });
  if (claimed.replayOf) return { delivery: claimed.replayOf, replay: true };
  const settled = await DeliveryRecord.settle(context.store, claimed.delivery, {
    outcome: delivery.outcome,
    reason: delivery.reason,
  });
  return { delivery: settled, replay: false };
}

/**
 * Handles one push: records it (a replay of a delivery handled before changes nothing), resolves
 * the pushed tag to a digest, and deploys that digest to every service that follows the tag and
 * does not run or wait for it already, or holds it for approval. The delivery's record says what
 * happened to each service that follows the repository.
 *
 * A delivery without an identity of its own (Docker Hub, Quay, Harbor) is known by the digest:
 * the one the registry names now, else the one a signed payload gave. The same digest again is
 * a replay; one that could not be resolved is recorded each time it comes.
 */
export async function receive(context: PushContext, push: ImagePush): Promise<Received> {
  const image = `${push.registry}/${push.repository}:${push.tag}`;
  // Resolved before the claim when the digest is the delivery's identity, after it otherwise
  // (a replay of a delivery id should not cost a registry read).
  let resolved = push.deliveryKey ? undefined : await context.resolveDigest(push);
  const known = resolved ?? (push.trustDigest ? push.digest : undefined);
  const claimed = await DeliveryRecord.claim(context.store, {
    source: push.source,
    key: push.deliveryKey ?? (known ? `${image}@${known}` : `${image}@unresolved@${randomUUID()}`),
    provider: push.provider,
    event: push.event,
    image,
    ...(push.digest ? { digest: push.digest } : {}),
  });
  // A delivery still `received` was interrupted: handling it again is safe, as a digest a
  // service already runs or waits for deploys nothing.
  if (claimed.replayOf && claimed.replayOf.outcome !== "received") {
    return { delivery: claimed.replayOf, replay: true };
  }
  const delivery = claimed.delivery ?? claimed.replayOf;
  if (!delivery) throw new Error("unreachable: a claim answers a delivery or a replay");

  resolved ??= push.deliveryKey ? await context.resolveDigest(push) : undefined;
  const digest = resolved ?? (push.trustDigest ? push.digest : undefined);
  if (!digest) {
    const settled = await DeliveryRecord.settle(context.store, delivery, {
      outcome: "refused",
      reason: push.trustDigest
        ? `${image} could not be resolved to a digest in its registry, and the delivery named none`
        : `${image} could not be resolved to a digest: ${push.provider} signs nothing, so Berth deploys only a digest it reads from the registry itself, and it reads only its own registry${push.digest ? ` (the payload said ${push.digest})` : ""}`,
    });
    return { delivery: settled, replay: false };
  }
  const services: ServiceOutcome[] = [];
  for (const stack of await StackRecord.list(context.store)) {
    if (push.scope?.stack && stack.name !== push.scope.stack) continue;
    const outsideWindow = closedWindow(stack.stackFile, context.store.clock());
    for (const record of await ServiceRecord.list(context.store, stack.name)) {
      if (push.scope?.service && record.name !== push.scope.service) continue;
      const follower = followersOf(record, push);
      if (follower) services.push(await deployFollower(context, push, follower, digest, outsideWindow));
    }
  }
  const settled = await DeliveryRecord.settle(context.store, delivery, {
    ...summary(services),
    services,
    digest,
  });
  return { delivery: settled, replay: false };
}

import { describe, expect, it } from "vitest";
import { DeliveryRecord, DeploymentRecord, ServiceRecord } from "../store/index.ts";
import { localTableForFile } from "../store/test-support.ts";
import { followingResource, storeFollowers } from "./__fixtures__/webhooks.ts";
import * as Approval from "./approval.ts";
import * as Deployment from "./deployment.ts";
import { type ImagePush, type PushContext, receive } from "./image-push.ts";
import type { WorkflowInput } from "./workflow-input.ts";

const local = localTableForFile();
const REGISTRY = "registry.example";
const digest = (n: number) => `sha256:${n.toString(16).padStart(64, "0")}`;
const resource = followingResource;
const stackOf = (stack: string, services: Record<string, ReturnType<typeof resource>>, deployed = true) =>
  storeFollowers(local.store, stack, services, deployed);

/** The registry as the push verb reads it: tag → digest, changed by the test. */
function context(tags: Record<string, string>) {
  const started: { deploymentId: string; input: WorkflowInput }[] = [];
  const pushContext: PushContext = {
    store: local.store,
    logger: { warn: () => {} },
    startExecution: async (deploymentId, input) => {
      started.push({ deploymentId, input });
      return { executionArn: `arn:aws:states:us-east-1:123456789012:execution:berth-deploy:${deploymentId}` };
    },
    resolveDigest: async (ref) => tags[`${ref.registry}/${ref.repository}:${ref.tag}`],
  };
  return { pushContext, started };
}

const push = (repository: string, tag: string, extra: Partial<ImagePush> = {}): ImagePush => ({
  source: "ecr",
  provider: "ecr",
  event: "ECR Image Action PUSH",
  registry: REGISTRY,
  repository,
  tag,
  trustDigest: true,
  ...extra,
});

/** What the workflow does to a deployment that ends well: SUCCEEDED, and its service's slot freed. */
async function succeed(stack: string, service: string, id: string) {
  await Deployment.transition(local.store, id, "PENDING", "DEPLOYING", "test: deploying");
  await Deployment.transition(local.store, id, "DEPLOYING", "SUCCEEDED", "test: done");
  await Deployment.releaseService(local.store, stack, service, id);
}

describe("ImagePush.receive", () => {
  it("deploys the pushed digest to the follower, and nothing when the same digest comes again", async () => {
    await stackOf("a", {
      web: resource(`${REGISTRY}/a/web:stable`),
      other: resource(`${REGISTRY}/a/other:stable`),
    });
    const tags = { [`${REGISTRY}/a/web:stable`]: digest(1) };
    const { pushContext, started } = context(tags);

    const first = await receive(pushContext, push("a/web", "stable", { deliveryKey: "event-1" }));
    expect(first.replay).toBe(false);
    expect(first.delivery.outcome).toBe("deployed");
    expect(first.delivery.digest).toBe(digest(1));
    expect(first.delivery.services).toMatchObject([{ service: "a/web", outcome: "deployed" }]);
    expect(started).toHaveLength(1);
    const deploymentId = first.delivery.services[0]?.deploymentId as string;
    const deployment = await DeploymentRecord.get(local.store, deploymentId);
    expect(deployment?.imageDigests).toEqual({ web: digest(1) });
    expect(deployment?.parameters.pinnedImages).toEqual({ web: `${REGISTRY}/a/web@${digest(1)}` });

    // The same delivery again: a replay, nothing written or started.
    const replayed = await receive(pushContext, push("a/web", "stable", { deliveryKey: "event-1" }));
    expect(replayed).toMatchObject({ replay: true, delivery: { id: first.delivery.id } });

    // Another delivery of the same digest while the first deployment runs: it waits already.
    const queued = await receive(pushContext, push("a/web", "stable", { deliveryKey: "event-2" }));
    expect(queued.delivery.outcome).toBe("ignored");
    expect(queued.delivery.reason).toContain(`deployment ${deploymentId} of ${digest(1)} is PENDING`);

    // Once it runs that digest, a push of it deploys nothing either.
    await succeed("a", "web", deploymentId);
    const running = await receive(pushContext, push("a/web", "stable", { deliveryKey: "event-3" }));
    expect(running.delivery.outcome).toBe("ignored");
    expect(running.delivery.reason).toContain(`it already runs ${digest(1)}`);
    expect(started).toHaveLength(1);

    // New content under the tag deploys again.
    tags[`${REGISTRY}/a/web:stable`] = digest(2);
    const moved = await receive(pushContext, push("a/web", "stable", { deliveryKey: "event-4" }));
    expect(moved.delivery.outcome).toBe("deployed");
    expect(started).toHaveLength(2);

    // Newest first. The other tests' deliveries may be listed too (vitest --sequence.shuffle).
    const listed = await DeliveryRecord.list(local.store, "ecr");
    expect(listed.items.map((delivery) => delivery.key).filter((key) => key.startsWith("event-"))).toEqual([
      "event-4",
      "event-3",
      "event-2",
      "event-1",
    ]);
  });

  it("ignores, saying why: another tag, a filter, autoDeploy off, a pinned digest, a service never deployed", async () => {
    await stackOf("b", {
      tagged: resource(`${REGISTRY}/b/app:stable`),
      filtered: resource(`${REGISTRY}/b/app:1.4.0`, { tagFilter: { type: "semver", pattern: "^1.4" } }),
      off: resource(`${REGISTRY}/b/app:canary`, { autoDeploy: false }),
      pinned: resource(`${REGISTRY}/b/app@${digest(9)}`),
    });
    await stackOf("b2", { fresh: resource(`${REGISTRY}/b/app:canary`) }, false);
    const { pushContext, started } = context({ [`${REGISTRY}/b/app:canary`]: digest(3) });

    const received = await receive(pushContext, push("b/app", "canary"));
    expect(received.delivery.outcome).toBe("ignored");
    const why = Object.fromEntries(received.delivery.services.map((s) => [s.service, s.reason]));
    expect(why).toEqual({
      "b/tagged": "container tagged follows tag stable, not canary",
      "b/filtered": 'tag canary does not match container filtered\'s semver filter "^1.4"',
      "b/off": "container off has follow.autoDeploy: false",
      "b/pinned": `container pinned is pinned to ${digest(9)}`,
      "b2/fresh": "it has not been deployed yet: deploy it once first",
    });
    expect(started).toHaveLength(0);
  });

  it("a filter passes other tags of the repository: 1.5.0 deploys a ^1.4 follower", async () => {
    await stackOf("c", {
      api: resource(`${REGISTRY}/c/api:1.4.0`, { tagFilter: { type: "semver", pattern: "^1.4" } }),
    });
    const { pushContext, started } = context({ [`${REGISTRY}/c/api:1.5.0`]: digest(4) });
    const received = await receive(pushContext, push("c/api", "1.5.0"));
    expect(received.delivery.outcome).toBe("deployed");
    expect(started).toHaveLength(1);
  });

  it("holds a push for approval as a PENDING deployment that starts nothing until approved", async () => {
    await stackOf("d", { api: resource(`${REGISTRY}/d/api:stable`, { approval: true }) });
    const { pushContext, started } = context({ [`${REGISTRY}/d/api:stable`]: digest(5) });
    const received = await receive(pushContext, push("d/api", "stable"));
    expect(received.delivery.outcome).toBe("awaiting-approval");
    const id = received.delivery.services[0]?.deploymentId as string;
    const held = await DeploymentRecord.get(local.store, id);
    expect(held).toMatchObject({ status: "PENDING", awaitingApproval: true });
    expect(started).toHaveLength(0);
    expect((await ServiceRecord.get(local.store, "d", "api"))?.activeDeploymentId).toBeUndefined();

    // The same digest again while it waits: nothing more is held.
    const again = await receive(pushContext, push("d/api", "stable", { deliveryKey: "again" }));
    expect(again.delivery.reason).toContain("awaits approval");

    await Approval.approve(pushContext, id, "token ops");
    expect(started.map((s) => s.deploymentId)).toEqual([id]);
  });

  it("an approval and a rejection of one held deployment: exactly one of them wins", async () => {
    const rounds = [0, 1, 2, 3, 4, 5];
    await stackOf(
      "e",
      Object.fromEntries(
        rounds.map((n) => [`api${n}`, resource(`${REGISTRY}/e/api${n}:stable`, { approval: true })]),
      ),
    );
    const { pushContext, started } = context(
      Object.fromEntries(rounds.map((n) => [`${REGISTRY}/e/api${n}:stable`, digest(60 + n)])),
    );
    for (const n of rounds) {
      const received = await receive(pushContext, push(`e/api${n}`, "stable"));
      const id = received.delivery.services[0]?.deploymentId as string;
      const [approved, rejected] = await Promise.allSettled([
        Approval.approve(pushContext, id, "token a"),
        Approval.reject(pushContext, id, "token b"),
      ]);
      expect([approved.status, rejected.status].filter((s) => s === "fulfilled")).toHaveLength(1);
      const final = await DeploymentRecord.get(local.store, id);
      const service = await ServiceRecord.get(local.store, "e", `api${n}`);
      if (approved.status === "fulfilled") {
        expect(final?.approvedAt).toBeDefined();
        expect(final?.status).toBe("PENDING");
        expect(service?.activeDeploymentId).toBe(id);
        expect(started.map((s) => s.deploymentId)).toContain(id);
      } else {
        expect(final?.status).toBe("CANCELLED");
        expect(final?.approvedAt).toBeUndefined();
        expect(service?.activeDeploymentId).toBeUndefined();
        expect(started.map((s) => s.deploymentId)).not.toContain(id);
      }
    }
  });

  it("refuses an unsigned delivery whose tag the registry cannot resolve, whatever digest it claims", async () => {
    await stackOf("f", { api: resource(`${REGISTRY}/f/api:stable`) });
    const { pushContext, started } = context({});
    const unsigned = await receive(
      pushContext,
      push("f/api", "stable", { digest: digest(7), trustDigest: false, provider: "dockerhub" }),
    );
    expect(unsigned.delivery.outcome).toBe("refused");
    expect(unsigned.delivery.reason).toContain("dockerhub signs nothing");
    const signed = await receive(
      pushContext,
      push("f/api", "stable", { digest: digest(7), deliveryKey: "signed" }),
    );
    expect(signed.delivery.outcome).toBe("deployed");
    expect(started).toHaveLength(1);
  });

  it("a stack whose maintenance window is closed takes no push, and says when the window opens", async () => {
    const day = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
    const later = day[(local.store.clock().getUTCDay() + 3) % 7];
    const file = (days: string) =>
      `resources:\n  api:\n    type: worker-service\n    properties:\n      packaging: { type: prebuilt-image, properties: { image: ${REGISTRY}/w/api:stable } }\n      resources: { cpu: 0.25, memory: 512 }\nberth:\n  maintenanceWindow: { days: [${days}], start: "00:00", end: "00:00", timeZone: UTC }\n`;
    await storeFollowers(
      local.store,
      "w1",
      { api: resource(`${REGISTRY}/w/api:stable`) },
      true,
      file(String(later)),
    );
    await storeFollowers(
      local.store,
      "w2",
      { api: resource(`${REGISTRY}/w/api:stable`) },
      true,
      file(day.join(", ")),
    );
    const { pushContext, started } = context({ [`${REGISTRY}/w/api:stable`]: digest(0x99) });
    const received = await receive(pushContext, push("w/api", "stable"));
    const outcome = Object.fromEntries(received.delivery.services.map((s) => [s.service, s]));
    expect(outcome["w1/api"]?.outcome).toBe("ignored");
    expect(outcome["w1/api"]?.reason).toMatch(
      /outside the stack's maintenance window .* which opens at \d{4}-/,
    );
    expect(outcome["w2/api"]?.outcome).toBe("deployed");
    expect(started).toHaveLength(1);
  });

  it("a receiver bound to a stack reaches only that stack", async () => {
    await stackOf("g1", { api: resource(`${REGISTRY}/g/api:stable`) });
    await stackOf("g2", { api: resource(`${REGISTRY}/g/api:stable`) });
    const { pushContext } = context({ [`${REGISTRY}/g/api:stable`]: digest(8) });
    const received = await receive(pushContext, push("g/api", "stable", { scope: { stack: "g2" } }));
    expect(received.delivery.services.map((s) => s.service)).toEqual(["g2/api"]);
  });
});

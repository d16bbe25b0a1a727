import { DeliveryRecord, DeploymentRecord } from "@berth/core/store";
import { WebhookFixtures as F } from "@berth/core/test-support";
import { describe, expect, it, onTestFinished } from "vitest";
import { harnessForFile, JSON_TYPE } from "./test-support.ts";

/**
 * Webhook receivers through the API handler, on dynalite: each provider's documented payload
 * shape, good and bad credentials, replays, and the rate limit. Step Functions is the one part
 * recorded instead of run; the registry Berth reads digests from is a table of tags the test
 * sets (on Berth Local and AWS it is ECR's DescribeImages: test/webhooks.e2e.test.ts).
 */

const registry: Record<string, string> = {};
const digest = (n: number) => `sha256:${n.toString(16).padStart(64, "0")}`;

const api = harnessForFile({
  resolveDigest: async (ref) => registry[`${ref.registry}/${ref.repository}:${ref.tag}`],
});

function requestReceiver(body: Record<string, unknown>, token = api.tokens.admin) {
  return api.call({
    method: "POST",
    path: "/v1/webhooks",
    token,
    headers: { ...JSON_TYPE, host: "berth.example", "x-forwarded-proto": "https" },
    body: JSON.stringify(body),
  });
}

async function createReceiver(body: Record<string, unknown>) {
  const created = await requestReceiver(body);
  expect(created.status).toBe(201);
  return created.json as { id: string; url: string; secret: string };
}

function post(path: string, fixture: F.Fixture, headers: Record<string, string> = {}) {
  return api.call({ method: "POST", path, headers: { ...fixture.headers, ...headers }, body: fixture.body });
}

async function deliveriesOf(id: string) {
  return (await DeliveryRecord.list(api.store, id)).items;
}

describe("receivers: created, listed, rotated, deleted by an admin", () => {
  it("shows the secret once, never in a listing, and refuses other scopes", async () => {
    expect((await requestReceiver({ provider: "github" }, api.tokens.deploy)).status).toBe(403);
    expect((await requestReceiver({ provider: "bitbucket" })).status).toBe(400);
    // A receiver bound to a service names its stack.
    expect((await requestReceiver({ provider: "generic", service: "web" })).status).toBe(400);

    const github = await createReceiver({ provider: "github", stack: "crud" });
    expect(github.url).toBe(`https://berth.example/v1/hooks/${github.id}`);
    expect(github.secret).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);
    const hub = await createReceiver({ provider: "dockerhub" });
    expect(hub.url).toBe(`https://berth.example/v1/hooks/${hub.id}/${hub.secret}`);

    const listed = await api.call({ method: "GET", path: "/v1/webhooks", token: api.tokens.admin });
    expect(listed.status).toBe(200);
    const ids = listed.json.receivers.map((r: { id: string }) => r.id);
    expect(ids).toEqual(expect.arrayContaining([github.id, hub.id]));
    expect(JSON.stringify(listed.json)).not.toContain(github.secret);
    expect(JSON.stringify(listed.json)).not.toContain(hub.secret);
    // Only a hash of a secret that is presented as it is gets stored.
    expect(JSON.stringify(await api.scan())).not.toContain(hub.secret);
  });

  it("rotating stops the old secret at once; deleting stops the URL", async () => {
    const receiver = await createReceiver({ provider: "generic" });
    const ping = F.genericPush({ image: "registry.example/crud/app:1", digest: digest(1), id: "rotate-1" });
    const rotated = await api.call({
      method: "POST",
      path: `/v1/webhooks/${receiver.id}/rotate`,
      token: api.tokens.admin,
    });
    expect(rotated.status).toBe(200);
    expect(rotated.json.secret).not.toBe(receiver.secret);
    const old = await post(`/v1/hooks/${receiver.id}`, ping, {
      "x-signature": F.hmacHeader(receiver.secret, ping.body),
    });
    expect(old.status).toBe(401);
    const fresh = await post(`/v1/hooks/${receiver.id}`, ping, {
      "x-signature": F.hmacHeader(rotated.json.secret, ping.body),
    });
    expect(fresh.status).toBe(202);

    const deleted = await api.call({
      method: "DELETE",
      path: `/v1/webhooks/${receiver.id}`,
      token: api.tokens.admin,
    });
    expect(deleted.status).toBe(204);
    const gone = await post(`/v1/hooks/${receiver.id}`, ping, {
      "x-signature": F.hmacHeader(rotated.json.secret, ping.body),
    });
    expect(gone.status).toBe(404);
    const again = await api.call({
      method: "DELETE",
      path: `/v1/webhooks/${receiver.id}`,
      token: api.tokens.admin,
    });
    expect(again.status).toBe(404);
  });
});

describe("deliveries, per provider", () => {
  it("GitHub: a signed registry_package published deploys the digest it names; a bad signature changes nothing; a redelivery is a replay", async () => {
    await F.storeFollowers(api.store, "gh", { web: F.followingResource("ghcr.io/acme-co/storefront:v2") });
    const receiver = await createReceiver({ provider: "github", stack: "gh" });
    const fixture = F.githubPackagePublished({
      owner: "acme-co",
      name: "storefront",
      tag: "v2",
      digest: digest(0x61),
      delivery: "5a0d3c80-cf1e-11f0-8a3b-2f1d6a9e0b11",
    });
    const path = `/v1/hooks/${receiver.id}`;

    const before = await api.scanWithoutTokens();
    for (const signature of [
      undefined,
      F.hmacHeader("whsec_wrong", fixture.body),
      F.hmacHeader(receiver.secret, `${fixture.body} `),
      "sha1=0000",
    ]) {
      const bad = await post(path, fixture, signature ? { "x-hub-signature-256": signature } : {});
      expect(bad.status).toBe(401);
      expect(bad.json.error.message).toContain("X-Hub-Signature-256");
    }
    expect(await api.scanWithoutTokens()).toEqual(before);

    const good = await post(path, fixture, {
      "x-hub-signature-256": F.hmacHeader(receiver.secret, fixture.body),
    });
    expect(good.status).toBe(202);
    expect(good.json.deliveries).toMatchObject([
      {
        provider: "github",
        event: "registry_package published",
        image: "ghcr.io/acme-co/storefront:v2",
        digest: digest(0x61),
        outcome: "deployed",
      },
    ]);
    const deploymentId = good.json.deliveries[0].services[0].deploymentId;
    expect((await DeploymentRecord.get(api.store, deploymentId))?.imageDigests).toEqual({
      web: digest(0x61),
    });
    const starts = api.workflows.starts.length;

    const replay = await post(path, fixture, {
      "x-hub-signature-256": F.hmacHeader(receiver.secret, fixture.body),
    });
    expect(replay.status).toBe(200);
    expect(replay.json).toMatchObject({ replay: true, deliveries: [{ id: good.json.deliveries[0].id }] });
    expect(api.workflows.starts.length).toBe(starts);

    // Another delivery id, same digest: recorded, deploys nothing.
    const redelivered = F.githubPackagePublished({
      owner: "acme-co",
      name: "storefront",
      tag: "v2",
      digest: digest(0x61),
      delivery: "6b1e4d91-cf1e-11f0-8a3b-2f1d6a9e0b11",
      event: "package",
    });
    const same = await post(path, redelivered, {
      "x-hub-signature-256": F.hmacHeader(receiver.secret, redelivered.body),
    });
    expect(same.json.deliveries[0]).toMatchObject({ outcome: "ignored", event: "package published" });
    expect(same.json.deliveries[0].reason).toContain("PENDING");
    expect(api.workflows.starts.length).toBe(starts);

    const ping = await api.call({
      method: "POST",
      path,
      headers: {
        "x-github-event": "ping",
        "x-github-delivery": "ping-1",
        ...JSON_TYPE,
        "x-hub-signature-256": F.hmacHeader(receiver.secret, "{}"),
      },
      body: "{}",
    });
    expect(ping.status).toBe(202);
    expect(ping.json.deliveries[0]).toMatchObject({ outcome: "ignored", event: "ping" });

    const listed = await api.call({
      method: "GET",
      path: `/v1/webhooks/${receiver.id}/deliveries`,
      token: api.tokens.read,
    });
    expect(listed.json.deliveries.map((d: { outcome: string }) => d.outcome)).toEqual([
      "ignored",
      "ignored",
      "deployed",
    ]);
  });

  it("GitHub: a version that is not published, or no container, deploys nothing and says why", async () => {
    const receiver = await createReceiver({ provider: "github" });
    const updated = F.githubPackagePublished({
      owner: "acme-co",
      name: "storefront",
      tag: "v3",
      digest: digest(0x62),
      delivery: "d-upd",
      action: "updated",
    });
    const answer = await post(`/v1/hooks/${receiver.id}`, updated, {
      "x-hub-signature-256": F.hmacHeader(receiver.secret, updated.body),
    });
    expect(answer.json.deliveries[0]).toMatchObject({
      outcome: "ignored",
      reason: expect.stringContaining("not updated"),
    });
  });

  it("generic: X-Signature over the raw body; a malformed body is recorded as refused and answered 400", async () => {
    await F.storeFollowers(api.store, "gen", { api: F.followingResource("registry.example/gen/api:stable") });
    const receiver = await createReceiver({ provider: "generic" });
    const path = `/v1/hooks/${receiver.id}`;
    const fixture = F.genericPush({ image: "registry.example/gen/api:stable", digest: digest(0x71) });
    const good = await post(path, fixture, { "x-signature": F.hmacHeader(receiver.secret, fixture.body) });
    expect(good.status).toBe(202);
    expect(good.json.deliveries[0]).toMatchObject({ outcome: "deployed", digest: digest(0x71) });
    // No delivery id: the same digest is the same delivery.
    const again = await post(path, fixture, { "x-signature": F.hmacHeader(receiver.secret, fixture.body) });
    expect(again.json.replay).toBe(true);

    const bad = await post(path, fixture, { "x-signature": `sha256=${"0".repeat(64)}` });
    expect(bad.status).toBe(401);

    const malformed = { body: JSON.stringify({ image: "registry.example/gen/api@" }), headers: JSON_TYPE };
    const refused = await post(path, malformed, {
      "x-signature": F.hmacHeader(receiver.secret, malformed.body),
    });
    expect(refused.status).toBe(400);
    expect((await deliveriesOf(receiver.id))[0]).toMatchObject({ outcome: "refused" });
  });

  it("Harbor: the static Authorization header; the digest it names is deployed", async () => {
    await F.storeFollowers(api.store, "hb", {
      api: F.followingResource("harbor.example.net/shop/api:1.4.0", {
        tagFilter: { type: "semver", pattern: "^1.4" },
      }),
    });
    const receiver = await createReceiver({ provider: "harbor" });
    const path = `/v1/hooks/${receiver.id}`;
    const fixture = F.harborPushArtifact({
      host: "harbor.example.net",
      project: "shop",
      name: "api",
      tag: "1.4.7",
      digest: digest(0x81),
    });
    expect((await post(path, fixture, { authorization: "whsec_nope" })).status).toBe(401);
    expect((await post(path, fixture)).status).toBe(401);
    const good = await post(path, fixture, { authorization: receiver.secret });
    expect(good.status).toBe(202);
    expect(good.json.deliveries[0]).toMatchObject({
      outcome: "deployed",
      image: "harbor.example.net/shop/api:1.4.7",
      digest: digest(0x81),
    });
    const pulled = { ...fixture, body: fixture.body.replace("PUSH_ARTIFACT", "PULL_ARTIFACT") };
    const other = await post(path, pulled, { authorization: `Bearer ${receiver.secret}` });
    expect(other.json.deliveries[0]).toMatchObject({ outcome: "ignored", event: "PULL_ARTIFACT" });
  });

  it("GitLab: the registry's notification with the Authorization (or X-Gitlab-Token) header; its event id is the delivery's", async () => {
    await F.storeFollowers(api.store, "gl", {
      web: F.followingResource("registry.gitlab.example/group/web:main"),
    });
    const receiver = await createReceiver({ provider: "gitlab" });
    const path = `/v1/hooks/${receiver.id}`;
    const fixture = F.gitlabRegistryPush({
      host: "registry.gitlab.example",
      repository: "group/web",
      tag: "main",
      digest: digest(0x91),
      id: "9f2e6b4a-1c3d-4e5f-8a7b-6c5d4e3f2a1b",
    });
    expect((await post(path, fixture, { "x-gitlab-token": "whsec_nope" })).status).toBe(401);
    const good = await post(path, fixture, { "x-gitlab-token": receiver.secret });
    expect(good.json.deliveries[0]).toMatchObject({
      outcome: "deployed",
      key: "9f2e6b4a-1c3d-4e5f-8a7b-6c5d4e3f2a1b",
    });
    const replay = await post(path, fixture, { authorization: `Bearer ${receiver.secret}` });
    expect(replay.status).toBe(200);
  });

  it("Docker Hub: the URL's secret, and the digest read from the registry, never from the payload", async () => {
    await F.storeFollowers(api.store, "dh", { web: F.followingResource("acmeco/web:prod") });
    const receiver = await createReceiver({ provider: "dockerhub" });
    const fixture = F.dockerHubPush({ repoName: "acmeco/web", tag: "prod" });
    expect((await post(`/v1/hooks/${receiver.id}/whsec_${"x".repeat(43)}`, fixture)).status).toBe(401);
    // The route without the secret is the signed providers' one: nothing signs this.
    expect((await post(`/v1/hooks/${receiver.id}`, fixture)).status).toBe(401);

    const unresolved = await post(`/v1/hooks/${receiver.id}/${receiver.secret}`, fixture);
    expect(unresolved.status).toBe(202);
    expect(unresolved.json.deliveries[0]).toMatchObject({ outcome: "refused" });
    expect(unresolved.json.deliveries[0].reason).toContain("dockerhub signs nothing");

    registry["docker.io/acmeco/web:prod"] = digest(0xa1);
    const resolved = await post(`/v1/hooks/${receiver.id}/${receiver.secret}`, fixture);
    expect(resolved.json.deliveries[0]).toMatchObject({ outcome: "deployed", digest: digest(0xa1) });
    // Docker Hub sends the same body for the next push of new content: known by the digest read now.
    const same = await post(`/v1/hooks/${receiver.id}/${receiver.secret}`, fixture);
    expect(same.json.replay).toBe(true);
  });

  it("Quay: the URL's secret; each updated tag is resolved and handled", async () => {
    await F.storeFollowers(api.store, "qy", {
      api: F.followingResource("quay.io/acme/api:latest"),
      canary: F.followingResource("quay.io/acme/api:canary"),
    });
    const receiver = await createReceiver({ provider: "quay", stack: "qy" });
    registry["quay.io/acme/api:latest"] = digest(0xb1);
    registry["quay.io/acme/api:canary"] = digest(0xb2);
    const fixture = F.quayRepoPush({ namespace: "acme", name: "api", tags: ["latest", "canary"] });
    const answer = await post(`/v1/hooks/${receiver.id}/${receiver.secret}`, fixture);
    expect(answer.status).toBe(202);
    expect(
      answer.json.deliveries.map((d: { image: string; outcome: string }) => [d.image, d.outcome]),
    ).toEqual([
      ["quay.io/acme/api:latest", "deployed"],
      ["quay.io/acme/api:canary", "deployed"],
    ]);
  });
});

describe("the rate limit", () => {
  it("answers 429 with Retry-After past the receiver's deliveries per minute, and takes them again in the next minute", async () => {
    const receiver = await createReceiver({ provider: "generic" });
    // At the start of a window, with the clock held there, so the burst below cannot straddle two
    // however slowly a busy machine sends it.
    // The store's clock (which other tests may have moved), not Date.now(): its minutes count.
    onTestFinished(api.freezeClock());
    const now = api.store.clock().getTime();
    api.advanceClock(60_000 - (now % 60_000) + 1_000);
    const send = (n: number) => {
      const fixture = F.genericPush({
        image: "registry.example/rate/app:1",
        digest: digest(0xc00 + n),
        id: `rate-${n}`,
      });
      return post(`/v1/hooks/${receiver.id}`, fixture, {
        "x-signature": F.hmacHeader(receiver.secret, fixture.body),
      });
    };
    const statuses: number[] = [];
    for (let n = 0; n < 62; n++) statuses.push((await send(n)).status);
    expect(statuses.filter((status) => status === 202)).toHaveLength(60);
    expect(statuses.slice(60)).toEqual([429, 429]);
    const limited = await send(99);
    expect(Number(limited.headers["retry-after"])).toBeGreaterThan(0);
    expect((await deliveriesOf(receiver.id)).map((d) => d.key)).not.toContain("rate-99");

    api.advanceClock(60_000);
    expect((await send(100)).status).toBe(202);
  });
});

import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DescribeTaskDefinitionCommand } from "@aws-sdk/client-ecs";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { main } from "../packages/cli/src/main.ts";
import { hmacHeader } from "../packages/core/src/deployments/__fixtures__/webhooks.ts";
import { HTTP_HEALTH_CHECK, waitFor } from "./support/apps.ts";
import type { Deployment } from "./support/berth-api.ts";
import { logTail } from "./support/berth-local-process.ts";
import { getText, localSuite, runBerth, runningTasks, TEST_STABILITY_SECONDS } from "./support/e2e.ts";

/**
 * Following an image end to end on Berth Local: `berth push` stores a directory as an image
 * under a tag, Berth Local's ECR publishes the push event, the registry-push function resolves
 * the tag to its digest and deploys the services that follow it. No mocks.
 */

const suite = localSuite("berth-push-e2e-");
const { work, logFile, adminToken } = suite;
const STACK = "shop";

interface Delivery {
  image?: string;
  digest?: string;
  outcome: string;
  reason: string;
  services: { service: string; outcome: string; reason: string; deploymentId?: string }[];
}

/** A release of the app: a directory whose server answers `release <n>`. */
function release(name: string): string {
  const dir = join(work, "releases", name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, "server.mjs"),
    `import { createServer } from "node:http";
createServer((request, response) => {
  response.end(request.url === "/health" ? "ok" : ${JSON.stringify(`release ${name}`)});
}).listen(Number(process.env.PORT), "127.0.0.1");
`,
  );
  return dir;
}

async function push(dir: string, image: string): Promise<{ code: number; output: string; digest: string }> {
  const lines: string[] = [];
  const code = await main(["push", dir, "--image", image, "--command", "node server.mjs"], {
    out: (text) => lines.push(text),
    err: (text) => lines.push(text),
    env: { AWS_ENDPOINT_URL: suite.local.awsUrl, NO_COLOR: "1" },
    cwd: work,
    signal: new AbortController().signal,
    color: false,
  });
  const output = lines.join("\n");
  return { code, output, digest: /sha256:[0-9a-f]{64}/.exec(output)?.[0] ?? "" };
}

/** The delivery of `image` with `digest`, once the registry-push function has handled it. */
async function handledDelivery(image: string, digest: string, count = 1): Promise<Delivery[]> {
  return waitFor(
    `the push of ${image} (${digest}) to be handled`,
    async () => {
      const { deliveries } = await suite.api.request<{ deliveries: Delivery[] }>(
        "GET",
        "/v1/webhooks/ecr/deliveries?limit=100",
      );
      const matching = deliveries.filter(
        (delivery) =>
          delivery.image === image && delivery.digest === digest && delivery.outcome !== "received",
      );
      return matching.length >= count ? matching : undefined;
    },
    60_000,
    250,
  );
}

async function served(service: string, stack = STACK): Promise<string> {
  const [task] = await runningTasks(suite.ecs, `${stack}-${service}`);
  if (!task?.hostPort) throw new Error(`no running task of ${service}`);
  return getText(`http://127.0.0.1:${task.hostPort}/`);
}

async function deployments(service: string, stack = STACK): Promise<Deployment[]> {
  const { deployments } = await suite.api.request<{ deployments: Deployment[] }>(
    "GET",
    `/v1/stacks/${stack}/services/${service}/deployments?limit=100`,
  );
  return deployments;
}

const stackFile = stringify({
  resources: {
    web: {
      type: "private-service",
      properties: {
        packaging: { type: "prebuilt-image", properties: { image: "berth.local/shop:stable" } },
        resources: { cpu: 0.25, memory: 512 },
        failFast: { stabilitySeconds: TEST_STABILITY_SECONDS },
        internalHealthCheck: {
          healthCheckCommand: HTTP_HEALTH_CHECK,
          intervalSeconds: 5,
          timeoutSeconds: 2,
          retries: 1,
        },
      },
    },
    canary: {
      type: "private-service",
      properties: {
        packaging: {
          type: "prebuilt-image",
          properties: {
            image: "berth.local/shop:1.4.0",
            follow: { tagFilter: { type: "semver", pattern: "^1.4" }, approval: true },
          },
        },
        resources: { cpu: 0.25, memory: 512 },
        failFast: { stabilitySeconds: TEST_STABILITY_SECONDS },
      },
    },
  },
});

writeFileSync(join(work, "berth.yml"), stackFile);

describe("following an image on Berth Local", { shuffle: false }, () => {
  const one = () => release("1");
  let stableDigest = "";

  it("refuses a push of a missing directory or to another registry, and stores nothing", async () => {
    const missing = await push(join(work, "nowhere"), "berth.local/shop:stable");
    expect(missing.code).toBe(2);
    expect(missing.output).toMatch(/does not exist/);
    const elsewhere = await push(one(), "docker.io/shop:stable");
    expect(elsewhere.code).toBe(2);
    expect(elsewhere.output).toMatch(/berth\.local\/REPO:TAG/);
  });

  it("deploys a stack whose services follow tags once those tags are pushed, by digest", async () => {
    const stable = await push(one(), "berth.local/shop:stable");
    expect(stable.code, stable.output).toBe(0);
    stableDigest = stable.digest;
    const canary = await push(one(), "berth.local/shop:1.4.0");
    expect(canary.digest).toBe(stable.digest); // content-addressed
    const { code, output } = await runBerth(
      ["deploy", "-f", join(work, "berth.yml"), "--stack", STACK, "--timeout", "5m"],
      {
        apiUrl: suite.local.apiUrl,
        token: adminToken,
        cwd: work,
      },
    );
    expect(code, `${output}\n${logTail(logFile)}`).toBe(0);
    expect(await served("web")).toBe("release 1");
    const [task] = await runningTasks(suite.ecs, `${STACK}-web`);
    const { taskDefinition } = await suite.ecs.send(
      new DescribeTaskDefinitionCommand({ taskDefinition: task?.taskDefinitionArn ?? "" }),
    );
    expect(taskDefinition?.containerDefinitions?.[0]?.image).toBe(`berth.local/shop@${stable.digest}`);
  }, 360_000);

  it("redeploys a service when its tag gets new content, and serves the new release", async () => {
    const before = (await deployments("web")).length;
    const pushed = await push(release("2"), "berth.local/shop:stable");
    expect(pushed.code, pushed.output).toBe(0);
    expect(pushed.digest).not.toBe(stableDigest);
    const [delivery] = await handledDelivery("berth.local/shop:stable", pushed.digest);
    expect(delivery?.outcome, JSON.stringify(delivery)).toBe("deployed");
    const web = delivery?.services.find((entry) => entry.service === `${STACK}/web`);
    expect(web?.outcome).toBe("deployed");
    // The canary follows ^1.4: "stable" is no version, so it was left alone, and the record says why.
    const canary = delivery?.services.find((entry) => entry.service === `${STACK}/canary`);
    expect(canary?.outcome).toBe("ignored");
    expect(canary?.reason).toMatch(/does not match .*semver filter "\^1\.4"/);
    const { deployment } = await suite.api.waitForStatus(web?.deploymentId ?? "", undefined, 180_000);
    expect(deployment.status, logTail(logFile)).toBe("SUCCEEDED");
    expect(
      await waitFor(
        "release 2 to be served",
        async () => ((await served("web")) === "release 2" ? true : undefined),
        30_000,
      ),
    ).toBe(true);
    expect(await deployments("web")).toHaveLength(before + 1);
    stableDigest = pushed.digest;
  }, 240_000);

  it("deploys nothing when the same content is pushed again, or another tag, or a filtered-out tag", async () => {
    const before = { web: (await deployments("web")).length, canary: (await deployments("canary")).length };
    const again = await push(release("2"), "berth.local/shop:stable");
    expect(again.digest).toBe(stableDigest);
    const [same] = await handledDelivery("berth.local/shop:stable", again.digest, 2);
    expect(same?.outcome).toBe("ignored");
    expect(same?.services.find((entry) => entry.service === `${STACK}/web`)?.reason).toMatch(/already runs/);

    const other = await push(release("3"), "berth.local/shop:nightly");
    const [nightly] = await handledDelivery("berth.local/shop:nightly", other.digest);
    expect(nightly?.outcome).toBe("ignored");
    expect(nightly?.services.find((entry) => entry.service === `${STACK}/web`)?.reason).toMatch(
      /follows tag stable, not nightly/,
    );

    const major = await push(release("3"), "berth.local/shop:2.0.0");
    const [filtered] = await handledDelivery("berth.local/shop:2.0.0", major.digest);
    expect(filtered?.outcome).toBe("ignored");
    expect(filtered?.services.find((entry) => entry.service === `${STACK}/canary`)?.reason).toMatch(
      /tag 2\.0\.0 does not match/,
    );
    expect((await deployments("web")).length).toBe(before.web);
    expect((await deployments("canary")).length).toBe(before.canary);
    expect(await served("web")).toBe("release 2");
  }, 180_000);

  it("holds a push that needs approval as PENDING until it is approved, then runs it", async () => {
    const pushed = await push(release("4"), "berth.local/shop:1.4.7");
    const [delivery] = await handledDelivery("berth.local/shop:1.4.7", pushed.digest);
    expect(delivery?.outcome).toBe("awaiting-approval");
    const held = delivery?.services.find((entry) => entry.service === `${STACK}/canary`);
    expect(held?.outcome).toBe("awaiting-approval");
    const id = held?.deploymentId ?? "";
    const waiting = await suite.api.deployment(id);
    expect(waiting.deployment.status).toBe("PENDING");
    expect(waiting.deployment.reason).toMatch(/awaiting approval/);
    // Held means held: the service's slots stay free, nothing starts.
    const service = await suite.api.request<{ status: string }>("GET", `/v1/stacks/${STACK}/services/canary`);
    expect(service.status).toBe("LIVE");

    await suite.api.request("POST", `/v1/deployments/${id}/approve`);
    const { deployment } = await suite.api.waitForStatus(id, undefined, 180_000);
    expect(deployment.status, logTail(logFile)).toBe("SUCCEEDED");
    expect(await served("canary")).toBe("release 4");
    const twice = await suite.api.request<{ error: { code: string } }>(
      "POST",
      `/v1/deployments/${id}/approve`,
      {
        expect: [409],
      },
    );
    expect(twice.error.code).toBe("CONFLICT");
  }, 240_000);
});

describe("a webhook receiver on Berth Local", { shuffle: false }, () => {
  const HOOKS = "hooks";
  const hooksFile = (follow?: Record<string, unknown>) =>
    stringify({
      resources: {
        app: {
          type: "private-service",
          properties: {
            packaging: {
              type: "prebuilt-image",
              properties: { image: "berth.local/hooks:v1", ...(follow ? { follow } : {}) },
            },
            resources: { cpu: 0.25, memory: 512 },
            failFast: { stabilitySeconds: TEST_STABILITY_SECONDS },
          },
        },
      },
    });

  async function deploy(yaml: string) {
    writeFileSync(join(work, "hooks.yml"), yaml);
    const { code, output } = await runBerth(
      ["deploy", "-f", join(work, "hooks.yml"), "--stack", HOOKS, "--timeout", "5m"],
      { apiUrl: suite.local.apiUrl, token: adminToken, cwd: work },
    );
    expect(code, `${output}\n${logTail(logFile)}`).toBe(0);
  }

  it("deploys a tag named by a signed generic delivery, and refuses a bad signature", async () => {
    expect((await push(release("h1"), "berth.local/hooks:v1")).code).toBe(0);
    await deploy(hooksFile());
    expect(await served("app", HOOKS)).toBe("release h1");

    // v2 is pushed while the service follows only v1: ECR's event deploys nothing.
    const v2 = await push(release("h2"), "berth.local/hooks:v2");
    const [ecrDelivery] = await handledDelivery("berth.local/hooks:v2", v2.digest);
    expect(ecrDelivery?.outcome).toBe("ignored");
    // Now it follows v*; the apply redeploys v1's digest, which it runs already.
    await deploy(hooksFile({ tagFilter: { type: "glob", pattern: "v*" } }));
    expect(await served("app", HOOKS)).toBe("release h1");
    const before = (await deployments("app", HOOKS)).length;

    const receiver = await suite.api.request<{ id: string; url: string; secret: string }>(
      "POST",
      "/v1/webhooks",
      {
        body: JSON.stringify({ provider: "generic", stack: HOOKS }),
      },
    );
    expect(receiver.url).toBe(`${suite.local.apiUrl}/v1/hooks/${receiver.id}`);
    const body = JSON.stringify({ image: "berth.local/hooks:v2", id: "ci-run-4711" });
    const send = (signature: string) =>
      fetch(receiver.url, {
        method: "POST",
        headers: { "content-type": "application/json", "x-signature": signature },
        body,
      });

    const forged = await send(hmacHeader("whsec_not-the-secret", body));
    expect(forged.status).toBe(401);
    expect((await deployments("app", HOOKS)).length).toBe(before);

    const delivered = await send(hmacHeader(receiver.secret, body));
    expect(delivered.status).toBe(202);
    const answer = (await delivered.json()) as { deliveries: Delivery[] };
    const [delivery] = answer.deliveries;
    expect(delivery).toMatchObject({ image: "berth.local/hooks:v2", digest: v2.digest, outcome: "deployed" });
    const deploymentId = delivery?.services[0]?.deploymentId ?? "";
    const { deployment } = await suite.api.waitForStatus(deploymentId, undefined, 180_000);
    expect(deployment.status, logTail(logFile)).toBe("SUCCEEDED");
    expect(
      await waitFor(
        "release h2 to be served",
        async () => ((await served("app", HOOKS)) === "release h2" ? true : undefined),
        30_000,
      ),
    ).toBe(true);

    // The CI retries its delivery: a replay, nothing more.
    const retried = await send(hmacHeader(receiver.secret, body));
    expect(retried.status).toBe(200);
    expect((await deployments("app", HOOKS)).length).toBe(before + 1);
    const listed = await suite.api.request<{ deliveries: Delivery[] }>(
      "GET",
      `/v1/webhooks/${receiver.id}/deliveries`,
    );
    expect(listed.deliveries.map((entry) => entry.outcome)).toEqual(["deployed"]);
  }, 480_000);
});

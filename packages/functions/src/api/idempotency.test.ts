import { DeploymentRecord, TokenRecord } from "@berth/core/store";
import { describe, expect, it } from "vitest";
import { type ApiRequestSpec, harnessForFile, JSON_TYPE, stackFile, YAML } from "./test-support.ts";

const harness = harnessForFile();

const redeploy = (
  stack: string,
  key: string,
  body: unknown = {},
  token = harness.tokens.deploy,
): ApiRequestSpec => ({
  method: "POST",
  path: `/v1/stacks/${stack}/services/api/deployments`,
  headers: { ...JSON_TYPE, "Idempotency-Key": key },
  body: JSON.stringify(body),
  token,
});

async function deploymentCount(stack: string): Promise<number> {
  return (await DeploymentRecord.listForService(harness.store, stack, "api", { limit: 100 })).items.length;
}

async function applied(stack: string): Promise<void> {
  const reply = await harness.call({
    method: "PUT",
    path: `/v1/stacks/${stack}`,
    headers: YAML,
    body: stackFile({ withWorker: false }),
    token: harness.tokens.deploy,
  });
  expect(reply.status).toBeLessThan(300);
}

describe("Idempotency-Key", () => {
  it("replays the first response to a retry with the same key and body, deploying once", async () => {
    await applied("retry");
    const first = await harness.call(redeploy("retry", "deploy-1"));
    const retry = await harness.call(redeploy("retry", "deploy-1"));

    expect(first.status).toBe(202);
    expect(first.headers["idempotency-replayed"]).toBeUndefined();
    expect(retry.status).toBe(202);
    expect(retry.headers["idempotency-replayed"]).toBe("true");
    expect(retry.json).toEqual(first.json);
    expect(await deploymentCount("retry")).toBe(2);
  });

  it("refuses the same key with another body or path with 409, and runs nothing", async () => {
    await applied("mismatch");
    await harness.call(redeploy("mismatch", "key-a"));
    const before = await deploymentCount("mismatch");

    const otherBody = await harness.call(redeploy("mismatch", "key-a", { image: { api: "nginx:1" } }));
    const otherPath = await harness.call({
      ...redeploy("mismatch", "key-a"),
      path: "/v1/stacks/mismatch/services/api/rollback",
    });

    for (const reply of [otherBody, otherPath]) {
      expect(reply.status).toBe(409);
      expect(reply.json.error.code).toBe("IDEMPOTENCY_KEY_REUSED");
    }
    expect(await deploymentCount("mismatch")).toBe(before);
  });

  it("scopes keys by token: another token's identical request runs on its own", async () => {
    await applied("scoped");
    const other = await TokenRecord.create(harness.store, { name: "other", scopes: ["deploy"] });
    const mine = await harness.call(redeploy("scoped", "shared-key"));
    const theirs = await harness.call(redeploy("scoped", "shared-key", {}, other.token));

    expect(theirs.status).toBe(202);
    expect(theirs.headers["idempotency-replayed"]).toBeUndefined();
    expect(theirs.json.deployment.id).not.toBe(mine.json.deployment.id);
  });

  it("keeps no refusal: a retry after a 4xx runs again, and the key is free for a corrected request", async () => {
    await applied("refused");
    const invalid = { image: { nothere: "nginx:1" } };
    const first = await harness.call(redeploy("refused", "fix-me", invalid));
    const again = await harness.call(redeploy("refused", "fix-me", invalid));
    const corrected = await harness.call(redeploy("refused", "fix-me", { image: { api: "nginx:1" } }));

    expect(first.status).toBe(400);
    expect(again.status).toBe(400);
    expect(again.headers["idempotency-replayed"]).toBeUndefined();
    expect(corrected.status).toBe(202);
  });

  it("deploys once when the same request arrives many times at once", async () => {
    await applied("storm");
    const before = await deploymentCount("storm");
    const replies = await Promise.all(
      Array.from({ length: 10 }, () => harness.call(redeploy("storm", "storm-key"))),
    );

    const ran = replies.filter((reply) => reply.status === 202 && !reply.headers["idempotency-replayed"]);
    expect(ran).toHaveLength(1);
    for (const reply of replies) {
      if (reply.status === 202) expect(reply.json.deployment.id).toBe(ran[0]?.json.deployment.id);
      else expect(reply.json.error.code).toBe("IDEMPOTENCY_KEY_IN_USE");
    }
    expect(await deploymentCount("storm")).toBe(before + 1);
  });

  it("replays a stack apply without writing again", async () => {
    const apply: ApiRequestSpec = {
      method: "PUT",
      path: "/v1/stacks/replayed",
      headers: { ...YAML, "Idempotency-Key": "apply-1" },
      body: stackFile(),
      token: harness.tokens.deploy,
    };
    const first = await harness.call(apply);
    const before = await harness.scanWithoutTokens();
    const retry = await harness.call(apply);

    expect(retry.headers["idempotency-replayed"]).toBe("true");
    expect(retry.json).toEqual(first.json);
    expect(await harness.scanWithoutTokens()).toEqual(before);
  });

  it("does not keep a new token's secret for replays", async () => {
    const create: ApiRequestSpec = {
      method: "POST",
      path: "/v1/tokens",
      headers: { ...JSON_TYPE, "Idempotency-Key": "token-1" },
      body: JSON.stringify({ name: "deployer", scopes: ["deploy"] }),
      token: harness.tokens.admin,
    };
    const first = await harness.call(create);
    const retry = await harness.call(create);

    expect(first.json.token).toEqual(expect.any(String));
    expect(retry.status).toBe(201);
    expect(retry.json).toEqual({ info: first.json.info });
    expect(JSON.stringify(await harness.scan())).not.toContain(first.json.token);
  });

  it("leaves dry runs without a record", async () => {
    await applied("dry-key");
    const before = await harness.scanWithoutTokens();
    const reply = await harness.call({
      method: "PUT",
      path: "/v1/stacks/dry-key?dryRun=true",
      headers: { ...YAML, "Idempotency-Key": "dry-1" },
      body: stackFile(),
      token: harness.tokens.deploy,
    });
    expect(reply.status).toBe(200);
    expect(await harness.scanWithoutTokens()).toEqual(before);
  });

  it.each([
    ["too long", "k".repeat(256)],
    ["with a space", "two words"],
    ["non-ASCII", "clé"],
  ])("refuses a key %s with 400 naming the header", async (_, key) => {
    await applied("badkey");
    const reply = await harness.call(redeploy("badkey", key));
    expect(reply.status).toBe(400);
    expect(reply.json.error.details[0].path).toBe("headers.idempotency-key");
  });
});

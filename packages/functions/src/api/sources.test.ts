import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  type Harness,
  harnessForFile,
  hasS3Emulator,
  type S3Emulator,
  stackFile,
  startHarness,
  startS3Emulator,
  YAML,
} from "./test-support.ts";

describe("POST /v1/sources without a source bucket (Berth Local)", () => {
  const harness = harnessForFile();

  it("answers 409 SOURCES_UNSUPPORTED and changes nothing", async () => {
    const before = await harness.scanWithoutTokens();
    const reply = await harness.call({ method: "POST", path: "/v1/sources", token: harness.tokens.deploy });
    expect(reply.status).toBe(409);
    expect(reply.json.error.code).toBe("SOURCES_UNSUPPORTED");
    expect(reply.json.error.message).toContain("file://");
    expect(await harness.scanWithoutTokens()).toEqual(before);
  });
});

describe.skipIf(!hasS3Emulator)("POST /v1/sources with a source bucket (moto's S3)", () => {
  let s3: S3Emulator;
  let harness: Harness;
  let dir: string;
  beforeAll(async () => {
    s3 = await startS3Emulator();
    harness = await startHarness({ sources: { bucket: s3.bucket, client: async () => s3.client } });
  });
  afterAll(async () => {
    await harness?.stop();
    await s3?.stop();
  });
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const create = (headers: Record<string, string> = {}) =>
    harness.call({ method: "POST", path: "/v1/sources", token: harness.tokens.deploy, headers });

  it("presigns a PUT that stores the uploaded tarball where `source` says, for 15 minutes", async () => {
    const before = Date.now();
    const reply = await create();
    expect(reply.status).toBe(201);
    const { source, upload, expiresAt } = reply.json;
    expect(source).toMatch(new RegExp(`^s3://${s3.bucket}/sources/[0-9a-f-]{36}\\.tar\\.gz$`));
    expect(upload.method).toBe("PUT");
    const url = new URL(upload.url);
    expect(url.origin).toBe(s3.url);
    expect(url.searchParams.get("X-Amz-Expires")).toBe("900");
    expect(Date.parse(expiresAt) - before).toBeGreaterThanOrEqual(15 * 60_000 - 1_000);
    expect(Date.parse(expiresAt) - Date.now()).toBeLessThanOrEqual(15 * 60_000);

    dir = mkdtempSync(join(tmpdir(), "berth-source-"));
    writeFileSync(join(dir, "berth.yml"), stackFile());
    execFileSync("tar", ["-czf", join(dir, "source.tar.gz"), "-C", dir, "berth.yml"]);
    const tarball = readFileSync(join(dir, "source.tar.gz"));
    const put = await fetch(upload.url, { method: upload.method, headers: upload.headers, body: tarball });
    expect(put.status).toBe(200);

    const stored = await s3.read(source);
    expect(stored.body).toEqual(tarball);
    expect(stored.contentType).toBe("application/gzip");

    // The answer is what an apply takes as its source.
    const applied = await harness.call({
      method: "PUT",
      path: `/v1/stacks/shop?source=${encodeURIComponent(source)}`,
      headers: YAML,
      body: stackFile(),
      token: harness.tokens.deploy,
    });
    expect(applied.status).toBe(202);
    expect(harness.workflows.starts[0]?.source).toBe(source);
  });

  it("hands out a new object on every call, even under the same Idempotency-Key", async () => {
    const first = await create({ "idempotency-key": "same" });
    const second = await create({ "idempotency-key": "same" });
    expect(second.status).toBe(201);
    expect(second.headers["idempotency-replayed"]).toBeUndefined();
    expect(second.json.source).not.toBe(first.json.source);
  });

  it("is refused to a read-only token", async () => {
    const reply = await harness.call({ method: "POST", path: "/v1/sources", token: harness.tokens.read });
    expect(reply.status).toBe(403);
  });
});

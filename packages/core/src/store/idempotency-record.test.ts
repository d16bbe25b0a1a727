import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BerthError } from "../errors.ts";
import * as IdempotencyRecord from "./idempotency-record.ts";
import { type LocalTable, startLocalTable } from "./test-support.ts";

let local: LocalTable;
beforeAll(async () => {
  local = await startLocalTable();
});
afterAll(async () => {
  await local?.stop();
});

const request = (body: string) => IdempotencyRecord.hashRequest({ method: "POST", path: "/v1/deploy", body });
const created = { status: 201, body: '{"id":"1"}' };

describe("idempotency records", () => {
  it("replay the first response for the same request and refuse a different one", async () => {
    const target = { scope: "token-a", key: "retry-1", requestHash: request("{}") };
    expect(await IdempotencyRecord.claim(local.store, target)).toEqual({ outcome: "claimed" });
    expect(await IdempotencyRecord.claim(local.store, target)).toEqual({ outcome: "in-progress" });
    const completed = await IdempotencyRecord.complete(local.store, target, created);
    expect(completed).toMatchObject({ state: "COMPLETED", response: created });
    const now = Math.floor(Date.now() / 1000);
    expect(completed.expiresAt).toBeGreaterThanOrEqual(now + IdempotencyRecord.RESPONSE_TTL_SECONDS - 5);

    expect(await IdempotencyRecord.claim(local.store, target)).toEqual({
      outcome: "replay",
      response: created,
    });
    expect(
      await IdempotencyRecord.claim(local.store, { ...target, requestHash: request('{"x":1}') }),
    ).toEqual({
      outcome: "mismatch",
    });
    // The same key from another token is another record.
    expect(await IdempotencyRecord.claim(local.store, { ...target, scope: "token-b" })).toEqual({
      outcome: "claimed",
    });
  });

  it("count as absent once expired, and may then be claimed again", async () => {
    const target = { scope: "token-a", key: "expiring", requestHash: request("a") };
    await IdempotencyRecord.claim(local.store, target);
    await IdempotencyRecord.complete(local.store, target, created);
    local.advanceClock((IdempotencyRecord.RESPONSE_TTL_SECONDS - 60) * 1000);
    expect(await IdempotencyRecord.get(local.store, "token-a", "expiring")).toMatchObject({
      state: "COMPLETED",
    });
    local.advanceClock(61 * 1000);
    expect(await IdempotencyRecord.get(local.store, "token-a", "expiring")).toBeUndefined();

    const other = { ...target, requestHash: request("b") };
    expect(await IdempotencyRecord.claim(local.store, other)).toEqual({ outcome: "claimed" });
    expect(await IdempotencyRecord.get(local.store, "token-a", "expiring")).toMatchObject({
      state: "IN_PROGRESS",
      requestHash: other.requestHash,
    });
  });

  it("let a retry run again when the first attempt released its claim or its lease ran out", async () => {
    const target = { scope: "token-a", key: "failing", requestHash: request("x") };
    await IdempotencyRecord.claim(local.store, target);
    expect(await IdempotencyRecord.release(local.store, { ...target, requestHash: request("y") })).toBe(
      false,
    );
    expect(await IdempotencyRecord.release(local.store, target)).toBe(true);
    expect(await IdempotencyRecord.claim(local.store, target)).toEqual({ outcome: "claimed" });

    local.advanceClock(IdempotencyRecord.CLAIM_LEASE_SECONDS * 1000 + 1000);
    expect(await IdempotencyRecord.claim(local.store, target)).toEqual({ outcome: "claimed" });
  });

  it("give one claim to one of many simultaneous identical requests", async () => {
    const target = { scope: "token-c", key: "burst", requestHash: request("burst") };
    const outcomes = await Promise.all(
      Array.from({ length: 10 }, () => IdempotencyRecord.claim(local.store, target)),
    );
    expect(outcomes.filter((outcome) => outcome.outcome === "claimed")).toHaveLength(1);
    expect(outcomes.filter((outcome) => outcome.outcome === "in-progress")).toHaveLength(9);
  });

  it("complete only a claim the request holds", async () => {
    const target = { scope: "token-a", key: "unclaimed", requestHash: request("z") };
    const error = await IdempotencyRecord.complete(local.store, target, created).catch((e: unknown) => e);
    expect((error as BerthError).code).toBe("CONFLICT");
  });

  it("validate keys and scopes", async () => {
    for (const target of [
      { scope: "a#b", key: "k", requestHash: request("") },
      { scope: "a", key: "has space", requestHash: request("") },
      { scope: "a", key: "k".repeat(256), requestHash: request("") },
      { scope: "a", key: "k", requestHash: "nothex" },
    ]) {
      const error = await IdempotencyRecord.claim(local.store, target).catch((e: unknown) => e);
      expect((error as BerthError).code).toBe("INVALID_INPUT");
    }
  });
});

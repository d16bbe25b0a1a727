import { TokenRecord } from "@berth/core/store";
import { type LocalTable, startLocalTable } from "@berth/core/test-support";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TokenCache } from "./security.ts";

let local: LocalTable;
beforeAll(async () => {
  local = await startLocalTable();
});
afterAll(async () => {
  await local.stop();
});

function manualClock() {
  let now = 1_000_000;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

const newToken = () => TokenRecord.create(local.store, { name: "cached", scopes: ["read"] });

describe("TokenCache", () => {
  it("trusts a verified token for its time to live after a revocation elsewhere, and not a moment longer", async () => {
    const clock = manualClock();
    const cache = new TokenCache({ ttlMs: 5_000, now: clock.now });
    const { token, info } = await newToken();
    expect((await cache.verify(local.store, token))?.id).toBe(info.id);
    await TokenRecord.revoke(local.store, info.id);
    clock.advance(4_999);
    expect((await cache.verify(local.store, token))?.id).toBe(info.id);
    clock.advance(1);
    expect(await cache.verify(local.store, token)).toBeUndefined();
  });

  it("refuses a token revoked through this instance at once", async () => {
    const cache = new TokenCache({ now: manualClock().now });
    const { token, info } = await newToken();
    expect(await cache.verify(local.store, token)).toBeDefined();
    await TokenRecord.revoke(local.store, info.id);
    await cache.forget(info.id);
    expect(await cache.verify(local.store, token)).toBeUndefined();
  });

  it("does not remember an unknown token: registered a moment later, it works at once", async () => {
    const cache = new TokenCache({ now: manualClock().now });
    const token = `berth_${"a".repeat(42)}${Math.floor(Math.random() * 10)}`;
    expect(await cache.verify(local.store, token)).toBeUndefined();
    const info = await TokenRecord.adopt(local.store, { name: "late", scopes: ["deploy"] }, token);
    expect((await cache.verify(local.store, token))?.id).toBe(info.id);
  });

  it("keeps at most maxEntries tokens, dropping the least recently used", async () => {
    const cache = new TokenCache({ maxEntries: 2, now: manualClock().now });
    const [first, second, third] = await Promise.all([newToken(), newToken(), newToken()]);
    await cache.verify(local.store, first.token);
    await cache.verify(local.store, second.token);
    await cache.verify(local.store, first.token); // first is now the most recent
    await cache.verify(local.store, third.token); // evicts second
    await Promise.all([first, second, third].map(({ info }) => TokenRecord.revoke(local.store, info.id)));
    expect(await cache.verify(local.store, first.token)).toBeDefined();
    expect(await cache.verify(local.store, third.token)).toBeDefined();
    expect(await cache.verify(local.store, second.token)).toBeUndefined();
  });
});

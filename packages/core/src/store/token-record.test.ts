import { createHash } from "node:crypto";
import { ScanCommand } from "@aws-sdk/client-dynamodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BerthError } from "../errors.ts";
import { type LocalTable, startLocalTable } from "./test-support.ts";
import * as TokenRecord from "./token-record.ts";

let local: LocalTable;
beforeAll(async () => {
  local = await startLocalTable();
});
afterAll(async () => {
  await local?.stop();
});

describe("API tokens", () => {
  it("are returned raw once, stored only as a hash, and verified by that hash", async () => {
    const { token, info } = await TokenRecord.create(local.store, {
      name: "ci",
      scopes: ["deploy", "deploy"],
    });
    expect(token).toMatch(/^berth_[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(token.slice("berth_".length), "base64url")).toHaveLength(32);
    expect(info).toEqual({ id: info.id, name: "ci", scopes: ["deploy"], createdAt: info.createdAt });
    expect(JSON.stringify(info)).not.toContain(token.slice(6));

    const { Items = [] } = await local.client.send(new ScanCommand({ TableName: local.store.tableName }));
    const stored = JSON.stringify(Items);
    expect(stored).not.toContain(token.slice(6));
    expect(stored).toContain(createHash("sha256").update(token).digest("hex"));

    const verified = await TokenRecord.verify(local.store, token);
    expect(verified).toMatchObject({ id: info.id, name: "ci", scopes: ["deploy"] });
    expect(verified?.lastUsedAt).toBeDefined();
  });

  it("reject a wrong, malformed or revoked token", async () => {
    const { token, info } = await TokenRecord.create(local.store, { name: "revoked", scopes: ["read"] });
    const lastCharacter = token.at(-1) === "A" ? "B" : "A";
    expect(await TokenRecord.verify(local.store, token.slice(0, -1) + lastCharacter)).toBeUndefined();
    expect(await TokenRecord.verify(local.store, `berth_${"A".repeat(43)}`)).toBeUndefined();
    expect(await TokenRecord.verify(local.store, token.slice(6))).toBeUndefined();
    expect(await TokenRecord.verify(local.store, `${token} `)).toBeUndefined();
    expect(await TokenRecord.verify(local.store, "")).toBeUndefined();
    expect(await TokenRecord.verify(local.store, token)).toBeDefined();

    expect(await TokenRecord.revoke(local.store, info.id)).toBe(true);
    expect(await TokenRecord.verify(local.store, token)).toBeUndefined();
    expect(await TokenRecord.revoke(local.store, info.id)).toBe(false);
  });

  it("record the last use at most once a minute", async () => {
    const { token, info } = await TokenRecord.create(local.store, { name: "usage", scopes: ["read"] });
    expect((await TokenRecord.get(local.store, info.id))?.lastUsedAt).toBeUndefined();
    const first = (await TokenRecord.verify(local.store, token))?.lastUsedAt;
    local.advanceClock(10_000);
    expect((await TokenRecord.verify(local.store, token))?.lastUsedAt).toBe(first);
    local.advanceClock(TokenRecord.LAST_USED_RESOLUTION_MS);
    const later = (await TokenRecord.verify(local.store, token))?.lastUsedAt;
    expect(later && first && later > first).toBe(true);
    expect((await TokenRecord.get(local.store, info.id))?.lastUsedAt).toBe(later);
  });

  it("are listed without their hashes", async () => {
    // Its own tokens: the test holds in any order (vitest --sequence.shuffle).
    await TokenRecord.create(local.store, { name: "listed-read", scopes: ["read"] });
    await TokenRecord.create(local.store, { name: "listed-admin", scopes: ["admin"] });
    const listed = await TokenRecord.list(local.store);
    expect(listed.map((token) => token.name)).toEqual(
      expect.arrayContaining(["listed-read", "listed-admin"]),
    );
    for (const token of listed) expect(Object.keys(token)).not.toContain("secretHash");
  });

  it("carry scopes where each includes the ones below it", () => {
    const holder = (scopes: TokenRecord.Scope[]): TokenRecord.Info => ({
      id: "01J00000000000000000000000",
      name: "x",
      scopes,
      createdAt: new Date().toISOString(),
    });
    expect(TokenRecord.allows(holder(["read"]), "read")).toBe(true);
    expect(TokenRecord.allows(holder(["read"]), "deploy")).toBe(false);
    expect(TokenRecord.allows(holder(["deploy"]), "read")).toBe(true);
    expect(TokenRecord.allows(holder(["deploy"]), "admin")).toBe(false);
    expect(TokenRecord.allows(holder(["admin"]), "deploy")).toBe(true);
  });

  it("need a name and at least one known scope", async () => {
    for (const input of [
      { name: "", scopes: ["read"] },
      { name: "x", scopes: [] },
      { name: "x", scopes: ["root"] },
    ]) {
      const error = await TokenRecord.create(local.store, input as TokenRecord.CreateInput).catch(
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(BerthError);
      expect((error as BerthError).code).toBe("INVALID_INPUT");
    }
  });
});

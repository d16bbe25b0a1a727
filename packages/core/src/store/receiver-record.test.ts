import { describe, expect, it } from "vitest";
import * as ReceiverRecord from "./receiver-record.ts";
import { localTableForFile } from "./test-support.ts";

const local = localTableForFile();

describe("receiver records", () => {
  it("keep the secret of a signing provider, and only a hash of the others'", async () => {
    const github = await ReceiverRecord.create(local.store, { provider: "github" });
    const quay = await ReceiverRecord.create(local.store, { provider: "quay" });
    expect((await ReceiverRecord.getWithSecret(local.store, github.info.id))?.secret).toBe(github.secret);
    const stored = await ReceiverRecord.getWithSecret(local.store, quay.info.id);
    expect(stored?.secret).toBeUndefined();
    expect(stored?.secretHash).toBe(ReceiverRecord.hashSecret(quay.secret));
    const rotated = await ReceiverRecord.rotate(local.store, quay.info.id);
    expect((await ReceiverRecord.getWithSecret(local.store, quay.info.id))?.secretHash).toBe(
      ReceiverRecord.hashSecret(rotated.secret),
    );
  });

  it("count deliveries in the table: of 80 sent at once by separate callers, exactly the limit pass", async () => {
    const { info } = await ReceiverRecord.create(local.store, { provider: "generic" });
    const rate = { limit: 25, windowSeconds: 3600 };
    // To the start of a window, so the burst cannot straddle two.
    const now = local.store.clock().getTime();
    local.advanceClock(rate.windowSeconds * 1000 - (now % (rate.windowSeconds * 1000)) + 1000);
    const answers = await Promise.all(
      Array.from({ length: 80 }, () => ReceiverRecord.takeRateToken(local.store, info.id, rate)),
    );
    const passed = answers.filter((wait) => wait === undefined);
    const refused = answers.filter((wait): wait is number => wait !== undefined);
    expect(passed.length + refused.length).toBe(80);
    expect(passed).toHaveLength(rate.limit);
    expect(refused.every((wait) => wait > 0 && wait <= rate.windowSeconds)).toBe(true);
    local.advanceClock(rate.windowSeconds * 1000);
    expect(await ReceiverRecord.takeRateToken(local.store, info.id, rate)).toBeUndefined();
  });
});

import { describe, expect, it } from "vitest";
import { BerthError } from "../errors.ts";
import { createStore } from "../store/store.ts";
import { countWrites, localTableForFile } from "../store/test-support.ts";
import { withStackLease } from "./stack-lease.ts";

const local = localTableForFile();

function deferred() {
  let resolve = () => {};
  const promise = new Promise<void>((done) => {
    resolve = done;
  });
  return { promise, resolve };
}

describe("the stack lease", () => {
  it("runs applies of one stack in one process one at a time; a waiter takes it once the holder is done", async () => {
    const order: string[] = [];
    const holderMayEnd = deferred();
    const first = withStackLease(local.store, "one-at-a-time", 60_000, async () => {
      order.push("first starts");
      await holderMayEnd.promise;
      order.push("first ends");
    });
    const second = withStackLease(local.store, "one-at-a-time", 60_000, async () => {
      order.push("second starts");
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    holderMayEnd.resolve();
    await Promise.all([first, second]);
    expect(order).toEqual(["first starts", "first ends", "second starts"]);
  });

  it("refuses a caller of the same process with CONFLICT and a Retry-After once its wait is over, without writing to the store meanwhile", async () => {
    const holderMayEnd = deferred();
    const holderStarted = deferred();
    const holder = withStackLease(local.store, "busy", 0, async () => {
      holderStarted.resolve();
      await holderMayEnd.promise;
    });
    await holderStarted.promise;
    const writes = countWrites(local.client);
    const refusals = await Promise.all(
      Array.from({ length: 10 }, () =>
        withStackLease(local.store, "busy", 200, async () => "ran").catch((error: unknown) => error),
      ),
    );
    // Waiting in memory: none of the ten re-tried the lease's conditional write.
    expect(writes.stop()).toBe(0);
    for (const refusal of refusals) {
      expect(refusal).toBeInstanceOf(BerthError);
      expect((refusal as BerthError).code).toBe("CONFLICT");
      expect((refusal as BerthError).retryAfterSeconds).toBeGreaterThan(0);
    }
    holderMayEnd.resolve();
    await holder;
    expect(await withStackLease(local.store, "busy", 0, async () => "ran")).toBe("ran");
  });

  it("is still decided by the store between processes: a holder through another store refuses this one", async () => {
    const other = createStore({ ...local.store });
    const holderMayEnd = deferred();
    const holderStarted = deferred();
    const holder = withStackLease(other, "shared", 0, async () => {
      holderStarted.resolve();
      await holderMayEnd.promise;
    });
    await holderStarted.promise;
    const refused = await withStackLease(local.store, "shared", 100, async () => "ran").catch(
      (error: unknown) => error,
    );
    expect((refused as BerthError).code).toBe("CONFLICT");
    holderMayEnd.resolve();
    await holder;
    expect(await withStackLease(local.store, "shared", 0, async () => "ran")).toBe("ran");
  });

  it("lets go of the stack when the work throws", async () => {
    await expect(
      withStackLease(local.store, "throws", 0, async () => {
        throw new Error("boom");
      }),
    ).rejects.toThrow("boom");
    expect(await withStackLease(local.store, "throws", 0, async () => "ran")).toBe("ran");
  });
});

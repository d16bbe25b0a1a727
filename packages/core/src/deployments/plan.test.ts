import { describe, expect, it } from "vitest";
import type { ServiceRecord } from "../store/index.ts";
import { planStack, retryReason } from "./plan.ts";

const spec = { type: "worker-service", properties: { packaging: { type: "stacktape-image-buildpack" } } };
const DIGEST_A = `sha256:${"a".repeat(64)}`;
const DIGEST_B = `sha256:${"b".repeat(64)}`;

function stored(overrides: Partial<ServiceRecord.Info> = {}): ServiceRecord.Info {
  return {
    stack: "shop",
    name: "worker",
    spec,
    liveTaskDefinitionArn: "arn:aws:ecs:us-east-1:000000000000:task-definition/shop-worker:1",
    sourceDigests: { worker: DIGEST_A },
    updatedAt: "2026-01-01T00:00:00.000Z",
    version: 3,
    ...overrides,
  };
}

const desired = new Map([["worker", spec]]);

describe("planStack and source digests", () => {
  it("plans a changed source digest as an update naming the container", () => {
    const [planned] = planStack(desired, [stored()], new Set(), {
      sourceDigests: new Map([["worker", { worker: DIGEST_B }]]),
    });
    expect(planned?.change).toBe("updated");
    expect(planned?.changes).toEqual([{ path: "source.worker", before: DIGEST_A, after: DIGEST_B }]);
    expect(planned?.sourceDigests).toEqual({ worker: DIGEST_B });
  });

  it("plans the same digest, or none sent, as unchanged", () => {
    const same = planStack(desired, [stored()], new Set(), {
      sourceDigests: new Map([["worker", { worker: DIGEST_A }]]),
    });
    expect(same[0]?.change).toBe("unchanged");
    expect(planStack(desired, [stored()], new Set())[0]?.change).toBe("unchanged");
  });

  it("plans a digest where none was stored as an update", () => {
    const [planned] = planStack(desired, [stored({ sourceDigests: undefined })], new Set(), {
      sourceDigests: new Map([["worker", { worker: DIGEST_A }]]),
    });
    expect(planned?.change).toBe("updated");
  });

  it("deploys an unchanged service again when forced, and retries one that does not run its spec", () => {
    expect(planStack(desired, [stored()], new Set(), { force: true })[0]?.change).toBe("forced");
    const [retry] = planStack(desired, [stored()], new Set(), {
      retries: new Map([["worker", "it has never been deployed"]]),
    });
    expect(retry).toMatchObject({ change: "retry", reason: "it has never been deployed" });
  });
});

describe("retryReason", () => {
  const never = stored({ liveTaskDefinitionArn: undefined });
  it("names a service never deployed or whose last deployment failed", () => {
    expect(retryReason(never, undefined, false)).toBe("it has never been deployed");
    expect(retryReason(never, { id: "d1", status: "CANCELLED" }, false)).toBe("it has never been deployed");
    for (const status of ["FAILED", "ROLLED_BACK", "ROLLBACK_FAILED"] as const) {
      expect(retryReason(stored(), { id: "d1", status }, false)).toBe(
        `its last deployment d1 ended ${status}`,
      );
    }
  });

  it("leaves alone a service that runs its spec, or whose deployment is under way", () => {
    expect(retryReason(stored(), { id: "d1", status: "SUCCEEDED" }, false)).toBeUndefined();
    expect(retryReason(stored(), undefined, false)).toBeUndefined();
    expect(retryReason(never, { id: "d1", status: "FAILED" }, true)).toBeUndefined();
  });
});

import { describe, expect, it } from "vitest";
import { canTransition, isTerminal, Status, TERMINAL, TRANSITIONS } from "./status.ts";

describe("deployment statuses", () => {
  it("end in exactly the final statuses", () => {
    expect([...TERMINAL].sort()).toEqual(
      ["CANCELLED", "FAILED", "ROLLBACK_FAILED", "ROLLED_BACK", "SUCCEEDED", "SUPERSEDED"].sort(),
    );
    expect(Status.options.filter((status) => !isTerminal(status)).sort()).toEqual(
      ["BUILDING", "DEPLOYING", "PENDING", "ROLLING_BACK"].sort(),
    );
  });

  it("reach every status from PENDING and a final status from every status", () => {
    const reachable = new Set<Status>(["PENDING"]);
    for (let changed = true; changed; ) {
      changed = false;
      for (const from of reachable) {
        for (const to of TRANSITIONS[from]) {
          if (!reachable.has(to)) {
            reachable.add(to);
            changed = true;
          }
        }
      }
    }
    expect([...reachable].sort()).toEqual([...Status.options].sort());
  });

  it("never return to PENDING, and only a waiting deployment can be superseded", () => {
    for (const from of Status.options) {
      expect(canTransition(from, "PENDING")).toBe(false);
      expect(canTransition(from, "SUPERSEDED")).toBe(from === "PENDING");
    }
    expect(canTransition("ROLLING_BACK", "CANCELLED")).toBe(false);
    expect(canTransition("PENDING", "SUCCEEDED")).toBe(false);
  });
});

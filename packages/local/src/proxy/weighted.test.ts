import { describe, expect, it } from "vitest";
import { WeightedSelector, type WeightedTarget } from "./weighted.ts";

const blue = (id: string, weight?: number): WeightedTarget => ({
  id,
  port: Number(id.replace(/\D/g, "")) || 1,
  group: "blue",
  ...(weight !== undefined ? { weight } : {}),
});
const green = (id: string, weight?: number): WeightedTarget => ({
  id,
  port: Number(id.replace(/\D/g, "")) || 1,
  group: "green",
  ...(weight !== undefined ? { weight } : {}),
});

/** How many of `count` requests each target was chosen first for. */
function firstChoices(selector: WeightedSelector, targets: WeightedTarget[], count: number) {
  const chosen = new Map<string, number>();
  for (let index = 0; index < count; index += 1) {
    const first = selector.order("pool", targets)[0]?.id ?? "none";
    chosen.set(first, (chosen.get(first) ?? 0) + 1);
  }
  return Object.fromEntries([...chosen].sort());
}

describe("weighted target selection", () => {
  it("takes every target in turn when no weights apply", () => {
    const selector = new WeightedSelector();
    const targets = [blue("b1"), blue("b2"), green("g3")];
    expect(firstChoices(selector, targets, 9)).toEqual({ b1: 3, b2: 3, g3: 3 });
    // Each order still lists every target, for the forwarder's retries.
    expect(selector.order("pool", targets).map((t) => t.id)).toHaveLength(3);
  });

  it("splits requests between deployments by their weights, round robin within each", () => {
    const selector = new WeightedSelector();
    const targets = [blue("b1", 90), blue("b2", 90), green("g3", 10), green("g4", 10)];
    const counts = firstChoices(selector, targets, 200);
    expect((counts.g3 ?? 0) + (counts.g4 ?? 0)).toBe(20);
    expect(counts).toEqual({ b1: 90, b2: 90, g3: 10, g4: 10 });
  });

  it("interleaves the small share instead of sending it in a burst", () => {
    const selector = new WeightedSelector();
    const targets = [blue("b1", 75), green("g2", 25)];
    const firsts = Array.from({ length: 8 }, () => selector.order("pool", targets)[0]?.id);
    expect(firsts.filter((id) => id === "g2")).toHaveLength(2);
    expect(firsts.slice(0, 4).filter((id) => id === "g2")).toHaveLength(1);
  });

  it("follows a weight change at once", () => {
    const selector = new WeightedSelector();
    firstChoices(selector, [blue("b1", 90), green("g2", 10)], 15);
    expect(firstChoices(selector, [blue("b1", 0), green("g2", 100)], 20)).toEqual({ g2: 20 });
  });

  it("keeps zero-weight targets as the last fallback, never the first choice", () => {
    const selector = new WeightedSelector();
    const targets = [green("g1", 0), blue("b2", 100), blue("b3", 100)];
    for (let index = 0; index < 10; index += 1) {
      const order = selector.order("pool", targets).map((t) => t.id);
      expect(order[0]).not.toBe("g1");
      expect(order.at(-1)).toBe("g1");
      expect(order).toHaveLength(3);
    }
    // With nothing else left, a zero-weight target still serves.
    expect(selector.order("pool", [green("g1", 0)]).map((t) => t.id)).toEqual(["g1"]);
  });

  it("keeps each pool's turns apart", () => {
    const selector = new WeightedSelector();
    const targets = [blue("b1"), blue("b2")];
    expect(selector.order("a", targets)[0]?.id).toBe("b1");
    expect(selector.order("b", targets)[0]?.id).toBe("b1");
    expect(selector.order("a", targets)[0]?.id).toBe("b2");
    expect(selector.order("pool", [])).toEqual([]);
  });
});

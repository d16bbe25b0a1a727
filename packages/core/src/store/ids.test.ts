import { describe, expect, it } from "vitest";
import { newRecordId } from "./ids.ts";

describe("newRecordId", () => {
  it("is a 26-character ULID whose first ten characters encode the millisecond", () => {
    const id = newRecordId(new Date("2026-12-04T22:00:00.123Z"));
    expect(id).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}$/);
    const time = [...id.slice(0, 10)].reduce(
      (sum, character) => sum * 32 + "0123456789ABCDEFGHJKMNPQRSTVWXYZ".indexOf(character),
      0,
    );
    expect(time).toBe(Date.parse("2026-12-04T22:00:00.123Z"));
  });

  it("sorts ids made in the same millisecond in the order they were made", () => {
    const now = new Date("2026-12-04T22:00:00.000Z");
    const ids = Array.from({ length: 2_000 }, () => newRecordId(now));
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(ids);
  });

  it("sorts by time first, whatever the random parts, and starts a fresh random part each millisecond", () => {
    const ids = [0, 1, 1, 2, 5, 5, 5, 1_000].map((offset) =>
      newRecordId(new Date(Date.parse("2026-12-04T22:00:00.000Z") + offset)),
    );
    expect([...ids].sort()).toEqual(ids);
    const [first, second] = [newRecordId(new Date(7)), newRecordId(new Date(8))];
    expect(first?.slice(10)).not.toBe(second?.slice(10));
  });
});

import { randomBytes } from "node:crypto";

const CROCKFORD_BASE32 = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const TIME_CHARACTERS = 10;
const RANDOM_CHARACTERS = 16;

/** The last id this process made: its millisecond and its random part, as base-32 digits. */
let last: { time: number; random: number[] } | undefined;

/**
 * A ULID: ids sort by creation time (to the millisecond) as plain strings, which is what
 * makes "newest first" a key-order query and lets the queue tell the newer of two requests.
 * Within one millisecond of one process, each id is the one before it plus one (ULID's monotonic
 * form), so two ids made in the same millisecond still sort in the order they were made; with a
 * fresh random part each, they would sort either way. Ids made in the same millisecond by two
 * processes (two Lambda instances) sort by their random parts: no order is promised between them.
 */
export function newRecordId(now: Date): string {
  const time = now.getTime();
  const random = last?.time === time ? incremented(last.random) : undefined;
  const digits = random ?? freshRandom();
  last = { time, random: digits };
  let timePart = "";
  let rest = time;
  for (let index = 0; index < TIME_CHARACTERS; index++) {
    timePart = CROCKFORD_BASE32.charAt(rest % 32) + timePart;
    rest = Math.floor(rest / 32);
  }
  return timePart + digits.map((digit) => CROCKFORD_BASE32.charAt(digit)).join("");
}

function freshRandom(): number[] {
  // 256 is a multiple of 32, so taking five bits of each byte keeps the digits uniform.
  return Array.from(randomBytes(RANDOM_CHARACTERS), (byte) => byte & 31);
}

/** `digits` plus one, or undefined when every digit is already 31 (80 random bits: never in practice). */
function incremented(digits: number[]): number[] | undefined {
  const next = [...digits];
  for (let index = next.length - 1; index >= 0; index--) {
    if ((next[index] ?? 0) < 31) {
      next[index] = (next[index] ?? 0) + 1;
      return next;
    }
    next[index] = 0;
  }
  return undefined;
}

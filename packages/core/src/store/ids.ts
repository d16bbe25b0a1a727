import { randomBytes } from "node:crypto";

const CROCKFORD_BASE32 = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const TIME_CHARACTERS = 10;
const RANDOM_CHARACTERS = 16;

/**
 * A ULID: ids sort by creation time (to the millisecond) as plain strings, which is what
 * makes "newest first" a key-order query and lets the queue tell the newer of two requests.
 */
export function newRecordId(now: Date): string {
  let time = now.getTime();
  let timePart = "";
  for (let index = 0; index < TIME_CHARACTERS; index++) {
    timePart = CROCKFORD_BASE32.charAt(time % 32) + timePart;
    time = Math.floor(time / 32);
  }
  // 256 is a multiple of 32, so taking five bits of each byte keeps the characters uniform.
  const randomPart = Array.from(randomBytes(RANDOM_CHARACTERS), (byte) => CROCKFORD_BASE32.charAt(byte & 31));
  return timePart + randomPart.join("");
}

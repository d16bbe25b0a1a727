import { randomBytes } from "node:crypto";

/**
 * X-Ray trace headers (`Root=1-{epoch seconds in hex}-{96 bits in 24 hex digits}`) as API
 * Gateway adds them to the requests it forwards, without a call to the random source per
 * request: the 96 bits are 48 random ones drawn once (again when the counter runs out) and a
 * 48-bit counter, so that no two requests of a process share an id and processes do not either.
 */
const COUNTER_LIMIT = 2 ** 48;
let prefix = "";
let counter = COUNTER_LIMIT;
let second = -1;
let secondHex = "";

export function traceHeader(now = Date.now()): string {
  const seconds = Math.floor(now / 1000);
  if (seconds !== second) {
    second = seconds;
    secondHex = seconds.toString(16);
  }
  if (counter >= COUNTER_LIMIT) {
    prefix = randomBytes(6).toString("hex");
    counter = 0;
  }
  const count = counter.toString(16).padStart(12, "0");
  counter += 1;
  return `Root=1-${secondHex}-${prefix}${count}`;
}

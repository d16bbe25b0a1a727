const DAY_MS = 24 * 60 * 60 * 1000;

/** A stand-in for a real query: the same day always gives the same count (FNV-1a of the date). */
function emailsSentOn(day: string): number {
  let hash = 0x811c9dc5;
  for (const char of day) hash = Math.imul(hash ^ char.charCodeAt(0), 0x01000193) >>> 0;
  return 50 + (hash % 450);
}

function main(): number {
  const daysText = process.env.REPORT_DAYS ?? "7";
  const days = Number(daysText);
  if (!Number.isInteger(days) || days < 1 || days > 366) {
    console.error(`report: REPORT_DAYS must be a whole number of days from 1 to 366, got "${daysText}"`);
    return 1;
  }
  console.info(`report: emails sent over the last ${days} days`);

  // Lets you watch Berth record a failed run and retry it (retryConfig.attempts in berth.yml).
  if (process.env.REPORT_FAIL === "1") {
    console.error("report: failing on purpose (REPORT_FAIL=1)");
    return 1;
  }

  const now = Date.now();
  let total = 0;
  for (let daysAgo = days; daysAgo >= 1; daysAgo -= 1) {
    const day = new Date(now - daysAgo * DAY_MS).toISOString().slice(0, 10);
    const sent = emailsSentOn(day);
    total += sent;
    console.info(`  ${day}  ${String(sent).padStart(5)}`);
  }
  console.info(`  total       ${String(total).padStart(5)}  (${Math.round(total / days)} a day on average)`);
  return 0;
}

process.exitCode = main();

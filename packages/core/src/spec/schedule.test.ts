import { describe, expect, it } from "vitest";
import { parse } from "./load.ts";
import { instantOf, isWindowOpen, nextOpening, nextRuns, parseCron, ScheduleError } from "./schedule.ts";

const iso = (dates: Date[]) => dates.map((date) => date.toISOString());
const runs = (cron: string, zone: string, after: string, count: number) =>
  iso(nextRuns(parseCron(cron), zone, new Date(after), count));

describe("schedules in a time zone", () => {
  it("a daily 02:30 in Berlin skips the day spring removes 02:30 (29 March 2026), as EventBridge Scheduler does", () => {
    expect(runs("cron(30 2 * * ? *)", "Europe/Berlin", "2026-03-27T12:00:00Z", 3)).toEqual([
      "2026-03-28T01:30:00.000Z", // CET, UTC+1
      "2026-03-30T00:30:00.000Z", // CEST, UTC+2; none on the 29th
      "2026-03-31T00:30:00.000Z",
    ]);
  });

  it("runs once, at its first occurrence, when autumn repeats 02:30 (25 October 2026)", () => {
    expect(runs("cron(30 2 * * ? *)", "Europe/Berlin", "2026-10-24T00:00:00Z", 3)).toEqual([
      "2026-10-24T00:30:00.000Z", // CEST
      "2026-10-25T00:30:00.000Z", // the first 02:30 (CEST); not again at 01:30Z
      "2026-10-26T01:30:00.000Z", // CET
    ]);
  });

  it("a weekly Sunday 03:00 in New York keeps its local time across the change (8 March 2026)", () => {
    expect(runs("cron(0 3 ? * SUN *)", "America/New_York", "2026-02-28T00:00:00Z", 3)).toEqual([
      "2026-03-01T08:00:00.000Z", // EST, UTC-5
      "2026-03-08T07:00:00.000Z", // EDT, UTC-4
      "2026-03-15T07:00:00.000Z",
    ]);
  });

  it("steps, lists and ranges; strictly after the given time", () => {
    expect(runs("cron(0/20 9-10 ? * MON-FRI *)", "UTC", "2026-12-04T09:20:00Z", 4)).toEqual([
      "2026-12-04T09:40:00.000Z",
      "2026-12-04T10:00:00.000Z",
      "2026-12-04T10:20:00.000Z",
      "2026-12-04T10:40:00.000Z",
    ]);
    // Friday 4 December 2026, then Monday: the weekend is skipped.
    expect(runs("cron(0 9 ? * 2-6 *)", "UTC", "2026-12-04T10:00:00Z", 1)).toEqual([
      "2026-12-07T09:00:00.000Z",
    ]);
    expect(runs("cron(15 4 1,15 JAN,JUL ? 2027)", "Asia/Tokyo", "2026-12-04T00:00:00Z", 3)).toEqual([
      "2026-12-31T19:15:00.000Z",
      "2027-01-14T19:15:00.000Z",
      "2027-06-30T19:15:00.000Z",
    ]);
  });

  it("refuses what EventBridge Scheduler would, saying why", () => {
    expect(() => parseCron("0 3 * * *")).toThrow(ScheduleError);
    expect(() => parseCron("cron(0 3 * * * *)")).toThrow(/exactly one of day-of-month and day-of-week/);
    expect(() => parseCron("cron(0 24 * * ? *)")).toThrow(/not between 0 and 23/);
    expect(() => parseCron("cron(0 3 L * ? *)")).toThrow(/not supported/);
    expect(() => parseCron("cron(0 3 ? * MON#2 *)")).toThrow(/not supported/);
  });

  it("knows which local times do not exist and which exist twice", () => {
    expect(
      instantOf({ year: 2026, month: 3, day: 29, hour: 2, minute: 30 }, "Europe/Berlin"),
    ).toBeUndefined();
    expect(instantOf({ year: 2026, month: 10, day: 25, hour: 2, minute: 30 }, "Europe/Berlin")).toBe(
      Date.parse("2026-10-25T00:30:00Z"),
    );
  });
});

describe("maintenance windows", () => {
  const saturdayNight = { days: ["SAT"], start: "22:00", end: "02:00", timeZone: "Europe/Berlin" };

  it("a window past midnight belongs to the day it starts on, in local time across the spring change", () => {
    // Saturday 28 March 2026 23:00 CET = 22:00Z: open; Sunday 01:30 CET = 00:30Z: open.
    expect(isWindowOpen(saturdayNight, new Date("2026-03-28T22:00:00Z"))).toBe(true);
    expect(isWindowOpen(saturdayNight, new Date("2026-03-29T00:30:00Z"))).toBe(true);
    // 01:00Z is 03:00 CEST (02:00 never happened): closed.
    expect(isWindowOpen(saturdayNight, new Date("2026-03-29T01:00:00Z"))).toBe(false);
    expect(isWindowOpen(saturdayNight, new Date("2026-03-28T20:59:00Z"))).toBe(false);
    // Friday night is not Saturday night.
    expect(isWindowOpen(saturdayNight, new Date("2026-03-27T22:30:00Z"))).toBe(false);
  });

  it("says when it next opens: the next Saturday 22:00 local", () => {
    expect(nextOpening(saturdayNight, new Date("2026-03-29T01:00:00Z"))?.toISOString()).toBe(
      "2026-04-04T20:00:00.000Z",
    );
    const open = new Date("2026-03-28T22:00:00Z");
    expect(nextOpening(saturdayNight, open)).toBe(open);
  });
});

describe("the stack file's berth settings", () => {
  const head =
    "resources:\n  api:\n    type: worker-service\n    properties:\n      packaging: { type: prebuilt-image, properties: { image: nginx } }\n      resources: { cpu: 0.25, memory: 512 }\n";

  it("takes a refresh schedule in a time zone and a maintenance window", () => {
    const parsed = parse(
      `${head}berth:\n  refresh: { schedule: "cron(0 3 ? * SUN *)", timeZone: Europe/Berlin, flexibleWindowMinutes: 30 }\n  maintenanceWindow: { days: [SAT, SUN], start: "22:00", end: "04:00", timeZone: Europe/Berlin }\n`,
    );
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
    expect(parsed.stack.berth?.refresh).toEqual({
      schedule: "cron(0 3 ? * SUN *)",
      timeZone: "Europe/Berlin",
      flexibleWindowMinutes: 30,
    });
    expect(parsed.stack.berth?.maintenanceWindow?.days).toEqual(["SAT", "SUN"]);
  });

  it("names the line of a bad schedule, time zone or window", () => {
    const parsed = parse(
      `${head}berth:\n  refresh: { schedule: "cron(0 3 * * * *)", timeZone: Mars/Olympus }\n  maintenanceWindow: { days: [Caturday], start: "25:00", end: "04:00" }\n`,
    );
    expect(parsed.ok).toBe(false);
    if (parsed.ok) return;
    const found = parsed.issues
      .map((issue) => `${String(issue.path)} ${issue.line}: ${issue.message}`)
      .join("\n");
    expect(found).toMatch(/refresh.*schedule.* 8: .*exactly one of day-of-month and day-of-week/);
    expect(found).toMatch(/timeZone.* 8: .*IANA time zone/);
    expect(found).toMatch(/days.* 9: /);
    expect(found).toMatch(/start.* 9: .*HH:MM/);
  });
});

/**
 * Refresh schedules and maintenance windows in a time zone, as pure functions of the clock.
 *
 * A schedule is an EventBridge Scheduler cron expression (`cron(minutes hours day-of-month month
 * day-of-week year)`, evaluated in an IANA time zone), and `nextRuns` says when it fires the way
 * EventBridge Scheduler does across daylight saving time: a local time the spring change skips
 * does not run that day, and a local time the autumn change repeats runs once, at its first
 * occurrence. Supported fields: `*`, `?`, numbers, `a-b`, lists, `/step`, `JAN`–`DEC`, and
 * `SUN`–`SAT` (1–7, Sunday first, as EventBridge counts). `L`, `W` and `#` are refused.
 */

export interface Cron {
  minutes: Set<number>;
  hours: Set<number>;
  daysOfMonth: Set<number> | "any";
  months: Set<number>;
  /** 1 = Sunday … 7 = Saturday. */
  daysOfWeek: Set<number> | "any";
  years: Set<number> | "any";
}

const MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"];
const DAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

export class ScheduleError extends Error {}

function field(text: string, min: number, max: number, names: string[] = [], nameBase = 1): Set<number> {
  const values = new Set<number>();
  const value = (token: string) => {
    const named = names.indexOf(token.toUpperCase());
    const number = named >= 0 ? named + nameBase : /^\d+$/.test(token) ? Number(token) : Number.NaN;
    if (!(number >= min && number <= max))
      throw new ScheduleError(`${token} is not between ${min} and ${max}`);
    return number;
  };
  for (const part of text.split(",")) {
    const [range = "", stepText] = part.split("/");
    const step = stepText === undefined ? 1 : Number(stepText);
    if (!Number.isInteger(step) || step < 1)
      throw new ScheduleError(`${part}: the step must be a positive whole number`);
    let from: number;
    let to: number;
    if (range === "*") [from, to] = [min, max];
    else if (range.includes("-")) {
      const [a = "", b = ""] = range.split("-");
      [from, to] = [value(a), value(b)];
      if (from > to) throw new ScheduleError(`${range}: a range goes from low to high`);
    } else {
      from = value(range);
      to = stepText === undefined ? from : max;
    }
    for (let n = from; n <= to; n += step) values.add(n);
  }
  return values;
}

/** Parses `cron(…)` (or its six fields alone); throws ScheduleError saying what is wrong. */
export function parseCron(expression: string): Cron {
  const inner = /^cron\((.*)\)$/.exec(expression.trim())?.[1] ?? expression.trim();
  const parts = inner.split(/\s+/);
  if (parts.length !== 6) {
    throw new ScheduleError(
      "a cron expression has six fields: minutes hours day-of-month month day-of-week year",
    );
  }
  const [minutes = "", hours = "", dom = "", month = "", dow = "", year = ""] = parts;
  if (
    /[LW#]/i.test(
      `${dom} ${dow}`.replace(/[A-Z]{3}/gi, (name) => (DAYS.includes(name.toUpperCase()) ? "1" : name)),
    )
  ) {
    throw new ScheduleError("L, W and # are not supported");
  }
  if ((dom === "?") === (dow === "?")) {
    throw new ScheduleError("exactly one of day-of-month and day-of-week must be ?");
  }
  return {
    minutes: field(minutes, 0, 59),
    hours: field(hours, 0, 23),
    daysOfMonth: dom === "?" ? "any" : field(dom, 1, 31),
    months: field(month, 1, 12, MONTHS),
    daysOfWeek: dow === "?" ? "any" : field(dow, 1, 7, DAYS),
    years: year === "*" ? "any" : field(year, 1970, 2199),
  };
}

/** Whether `timeZone` is an IANA zone this runtime knows. */
export function isTimeZone(timeZone: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone });
    return true;
  } catch {
    return false;
  }
}

interface Wall {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  /** 1 = Sunday … 7 = Saturday. */
  weekday: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

/** The wall clock in `timeZone` at instant `ms`. */
function wallClock(ms: number, timeZone: string): Wall {
  let format = formatters.get(timeZone);
  if (!format) {
    format = new Intl.DateTimeFormat("en-US", {
      timeZone,
      hourCycle: "h23",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
      weekday: "short",
    });
    formatters.set(timeZone, format);
  }
  const parts = Object.fromEntries(format.formatToParts(ms).map((part) => [part.type, part.value]));
  return {
    year: Number(parts.year),
    month: Number(parts.month),
    day: Number(parts.day),
    hour: Number(parts.hour),
    minute: Number(parts.minute),
    weekday: DAYS.indexOf(String(parts.weekday).toUpperCase()) + 1,
  };
}

const sameWall = (a: Wall, b: Omit<Wall, "weekday">) =>
  a.year === b.year && a.month === b.month && a.day === b.day && a.hour === b.hour && a.minute === b.minute;

/**
 * The first instant whose wall clock in `timeZone` reads this time, or undefined when the
 * daylight saving change skips it. An hour the change repeats answers its first occurrence.
 */
export function instantOf(wall: Omit<Wall, "weekday">, timeZone: string): number | undefined {
  const naive = Date.UTC(wall.year, wall.month - 1, wall.day, wall.hour, wall.minute);
  // Offsets in force a day either side cover every real zone's change.
  const candidates = [naive - 36 * 3_600_000, naive, naive + 36 * 3_600_000]
    .map((probe) => {
      const seen = wallClock(probe, timeZone);
      const offset =
        Date.UTC(seen.year, seen.month - 1, seen.day, seen.hour, seen.minute) -
        Math.floor(probe / 60_000) * 60_000;
      return naive - offset;
    })
    .filter((instant) => sameWall(wallClock(instant, timeZone), wall))
    .sort((a, b) => a - b);
  return candidates[0];
}

/** The next `count` times (epoch ms) `cron` fires in `timeZone`, strictly after `after`. */
export function nextRuns(cron: Cron, timeZone: string, after: Date, count: number): Date[] {
  const runs: Date[] = [];
  const start = wallClock(after.getTime(), timeZone);
  // Day by day in local dates; a cron that never fires gives up after eight years.
  let date = Date.UTC(start.year, start.month - 1, start.day);
  for (let days = 0; runs.length < count && days < 8 * 366; days++, date += 86_400_000) {
    const d = new Date(date);
    const [year, month, day, weekday] = [
      d.getUTCFullYear(),
      d.getUTCMonth() + 1,
      d.getUTCDate(),
      d.getUTCDay() + 1,
    ];
    if (cron.years !== "any" && !cron.years.has(year)) continue;
    if (!cron.months.has(month)) continue;
    if (cron.daysOfMonth !== "any" && !cron.daysOfMonth.has(day)) continue;
    if (cron.daysOfWeek !== "any" && !cron.daysOfWeek.has(weekday)) continue;
    for (const hour of [...cron.hours].sort((a, b) => a - b)) {
      for (const minute of [...cron.minutes].sort((a, b) => a - b)) {
        const instant = instantOf({ year, month, day, hour, minute }, timeZone);
        if (instant !== undefined && instant > after.getTime()) runs.push(new Date(instant));
        if (runs.length === count) return runs;
      }
    }
  }
  return runs;
}

/**
 * A maintenance window: the days it opens on, and from when to when (local `HH:MM`, in
 * `timeZone`). An `end` before `start` runs past midnight into the next day.
 */
export interface MaintenanceWindow {
  days: string[];
  start: string;
  end: string;
  timeZone: string;
}

const minutesOf = (hhmm: string) => {
  const match = /^([01]\d|2[0-3]):([0-5]\d)$/.exec(hhmm);
  if (!match) throw new ScheduleError(`${hhmm} is not a time HH:MM`);
  return Number(match[1]) * 60 + Number(match[2]);
};

/** Whether automatic deployments may run at `at`. */
export function isWindowOpen(window: MaintenanceWindow, at: Date): boolean {
  const wall = wallClock(at.getTime(), window.timeZone);
  const now = wall.hour * 60 + wall.minute;
  const [start, end] = [minutesOf(window.start), minutesOf(window.end)];
  const days = new Set(window.days.map((name) => DAYS.indexOf(name.toUpperCase()) + 1));
  const yesterday = ((wall.weekday + 5) % 7) + 1;
  if (start === end) return days.has(wall.weekday);
  if (start < end) return days.has(wall.weekday) && now >= start && now < end;
  return (days.has(wall.weekday) && now >= start) || (days.has(yesterday) && now < end);
}

/** When the window next opens after `at` (to the minute), or `at` itself when it is open. */
export function nextOpening(window: MaintenanceWindow, at: Date): Date | undefined {
  if (isWindowOpen(window, at)) return at;
  const step = 60_000;
  let probe = Math.floor(at.getTime() / step) * step + step;
  for (let i = 0; i < 8 * 24 * 60; i++, probe += step) {
    if (isWindowOpen(window, new Date(probe))) return new Date(probe);
  }
  return undefined;
}

import { AwsError } from "../protocol.ts";

/** A parsed ScheduleExpression: `rate(n unit)` or AWS's six-field `cron(...)`, evaluated in UTC. */
export type Schedule = { kind: "rate"; intervalMs: number } | { kind: "cron"; cron: Cron };

interface Cron {
  minutes: Set<number>;
  hours: Set<number>;
  /** undefined when the field is `?`. */
  daysOfMonth: Set<number> | undefined;
  months: Set<number>;
  /** 1 = SUN .. 7 = SAT; undefined when the field is `?`. */
  daysOfWeek: Set<number> | undefined;
  years: Set<number>;
}

const UNIT_MS = { minute: 60_000, hour: 3_600_000, day: 86_400_000 } as const;
const MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"];
const DAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
const MAX_YEAR = 2199;

function invalid(expression: string, reason: string): AwsError {
  return new AwsError(
    "ValidationException",
    `Parameter ScheduleExpression is not valid: ${expression} (${reason}).`,
  );
}

/** Parses a ScheduleExpression; throws ValidationException as EventBridge does for a bad one. */
export function parseSchedule(expression: string): Schedule {
  const rate = /^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$/.exec(expression.trim());
  if (rate) {
    const value = Number(rate[1]);
    const unit = rate[2] ?? "";
    if (value < 1) throw invalid(expression, "the rate must be positive");
    const singular = !unit.endsWith("s");
    if (singular !== (value === 1))
      throw invalid(expression, "use the singular unit for 1 and the plural otherwise");
    const base = (singular ? unit : unit.slice(0, -1)) as keyof typeof UNIT_MS;
    return { kind: "rate", intervalMs: value * UNIT_MS[base] };
  }
  const cron = /^cron\((.*)\)$/.exec(expression.trim());
  if (cron) return { kind: "cron", cron: parseCron(cron[1] ?? "", expression) };
  throw invalid(expression, "expected rate(...) or cron(...)");
}

function parseCron(body: string, expression: string): Cron {
  const fields = body.trim().split(/\s+/);
  if (fields.length !== 6) throw invalid(expression, "cron takes 6 fields");
  const [minute, hour, dom, month, dow, year] = fields as [string, string, string, string, string, string];
  if ((dom === "?") === (dow === "?"))
    throw invalid(expression, "exactly one of day-of-month and day-of-week must be ?");
  return {
    minutes: parseField(minute, 0, 59, [], expression),
    hours: parseField(hour, 0, 23, [], expression),
    daysOfMonth: dom === "?" ? undefined : parseField(dom, 1, 31, [], expression),
    months: parseField(month, 1, 12, MONTHS, expression),
    daysOfWeek: dow === "?" ? undefined : parseField(dow, 1, 7, DAYS, expression),
    years: parseField(year, 1970, MAX_YEAR, [], expression),
  };
}

function parseField(
  field: string,
  min: number,
  max: number,
  names: string[],
  expression: string,
): Set<number> {
  const values = new Set<number>();
  const value = (text: string): number => {
    const named = names.indexOf(text.toUpperCase());
    const number = named >= 0 ? named + 1 : /^\d+$/.test(text) ? Number(text) : Number.NaN;
    if (!(number >= min && number <= max)) throw invalid(expression, `${text} is out of range ${min}-${max}`);
    return number;
  };
  for (const part of field.split(",")) {
    const [range = "", stepText] = part.split("/");
    const step = stepText === undefined ? 1 : Number(stepText);
    if (!Number.isInteger(step) || step < 1) throw invalid(expression, `bad step in ${part}`);
    let from: number;
    let to: number;
    if (range === "*" || range === "?") {
      from = min;
      to = max;
    } else if (range.includes("-")) {
      const [a = "", b = ""] = range.split("-");
      from = value(a);
      to = value(b);
      if (from > to) throw invalid(expression, `bad range ${range}`);
    } else {
      from = value(range);
      to = stepText === undefined ? from : max;
    }
    for (let n = from; n <= to; n += step) values.add(n);
  }
  return values;
}

/** The first time strictly after `after` (at minute granularity, UTC) that a cron expression fires. */
export function nextCronTime(expression: string, after: Date): Date {
  const schedule = parseSchedule(expression);
  if (schedule.kind !== "cron") throw invalid(expression, "not a cron expression");
  return nextFire(schedule.cron, after, expression);
}

function nextFire(cron: Cron, after: Date, expression: string): Date {
  const hours = [...cron.hours].sort((a, b) => a - b);
  const minutes = [...cron.minutes].sort((a, b) => a - b);
  let day = new Date(Math.floor(after.getTime() / 60_000) * 60_000 + 60_000);
  while (day.getUTCFullYear() <= MAX_YEAR) {
    const year = day.getUTCFullYear();
    const month = day.getUTCMonth() + 1;
    const date = day.getUTCDate();
    const dayMatches = cron.daysOfMonth
      ? cron.daysOfMonth.has(date)
      : (cron.daysOfWeek?.has(day.getUTCDay() + 1) ?? true);
    if (cron.years.has(year) && cron.months.has(month) && dayMatches) {
      const earliest = day.getUTCHours() * 60 + day.getUTCMinutes();
      for (const hour of hours) {
        for (const minute of minutes) {
          if (hour * 60 + minute >= earliest) return new Date(Date.UTC(year, month - 1, date, hour, minute));
        }
      }
    }
    day = new Date(Date.UTC(year, month - 1, date + 1));
  }
  throw invalid(expression, "it never fires");
}

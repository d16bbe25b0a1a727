import { randomUUID } from "node:crypto";
import type { ServerResponse } from "node:http";
import { Spec } from "@berth/core/spec";
import type { Route } from "../server.ts";
import { JsonFile } from "../state.ts";

/**
 * EventBridge Scheduler for Berth Local: the schedule groups and schedules Berth uses
 * (Create/Get/Update/Delete/ListSchedules, Create/GetScheduleGroup) over the REST-JSON protocol
 * the SDK and the aws CLI speak, kept in one JSON file, and a timer per ENABLED schedule that
 * delivers its target's `Input` at each cron time in the schedule's time zone (the same
 * daylight-saving rules as the control plane's `Spec.nextRuns`). A flexible time window is
 * stored and reported but Berth Local fires at the window's start. `rate(…)` and `at(…)`
 * expressions are refused.
 *
 * Tests and people need not wait for a cron time: `POST /_local/scheduler/{group}/{name}/fire`
 * (or `fire()`) delivers a schedule's target now, and `GET /_local/scheduler/{group}/{name}/next`
 * lists its next fire times.
 */

interface ScheduleRecord {
  Name: string;
  GroupName: string;
  Arn: string;
  Description?: string;
  ScheduleExpression: string;
  ScheduleExpressionTimezone?: string;
  FlexibleTimeWindow: { Mode: string; MaximumWindowInMinutes?: number };
  State: string;
  Target: { Arn: string; RoleArn: string; Input?: string; [key: string]: unknown };
  CreationDate: number;
  LastModificationDate: number;
}

interface GroupRecord {
  Name: string;
  Arn: string;
  State: string;
  CreationDate: number;
  LastModificationDate: number;
}

interface State {
  groups: Record<string, GroupRecord>;
  /** By `group/name`. */
  schedules: Record<string, ScheduleRecord>;
}

class SchedulerError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

export interface SchedulerOptions {
  account: string;
  region: string;
  /** Delivers a fired schedule's input to its target (a Lambda function's ARN). */
  deliver: (targetArn: string, input: unknown) => Promise<void>;
  onError?: (error: unknown) => void;
  /** The clock the timers read; tests pass their own. */
  now?: () => Date;
}

/** setTimeout's largest delay; a fire time further out is reached in hops. */
const MAX_DELAY_MS = 2 ** 31 - 1;
const NAME = /^[0-9a-zA-Z-_.]{1,64}$/;

const badRequest = (message: string) => new SchedulerError("ValidationException", message, 400);
const notFound = (message: string) => new SchedulerError("ResourceNotFoundException", message, 404);

export class LocalScheduler {
  private readonly file: JsonFile<State>;
  private state: State;
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private running = false;
  private readonly now: () => Date;

  constructor(
    path: string,
    private readonly options: SchedulerOptions,
  ) {
    this.file = new JsonFile<State>(path);
    this.state = this.file.read({ groups: {}, schedules: {} });
    this.now = options.now ?? (() => new Date());
    this.state.groups.default ??= this.group("default");
  }

  private group(name: string): GroupRecord {
    const at = Math.floor(this.now().getTime() / 1000);
    return {
      Name: name,
      Arn: `arn:aws:scheduler:${this.options.region}:${this.options.account}:schedule-group/${name}`,
      State: "ACTIVE",
      CreationDate: at,
      LastModificationDate: at,
    };
  }

  private save(): void {
    this.file.write(this.state);
  }

  createGroup(name: string): string {
    if (!NAME.test(name)) throw badRequest(`${name} is not a schedule group name`);
    if (this.state.groups[name])
      throw new SchedulerError("ConflictException", `Schedule group ${name} already exists.`, 409);
    this.state.groups[name] = this.group(name);
    this.save();
    return this.state.groups[name].Arn;
  }

  hasGroup(name: string): boolean {
    return this.state.groups[name] !== undefined;
  }

  getGroup(name: string): GroupRecord {
    const found = this.state.groups[name];
    if (!found) throw notFound(`Schedule group ${name} does not exist.`);
    return found;
  }

  private validate(
    input: Record<string, unknown>,
  ): Omit<ScheduleRecord, "Arn" | "CreationDate" | "LastModificationDate"> {
    const name = String(input.Name);
    const groupName = typeof input.GroupName === "string" ? input.GroupName : "default";
    if (!NAME.test(name)) throw badRequest(`${name} is not a schedule name`);
    this.getGroup(groupName);
    const expression = input.ScheduleExpression;
    if (typeof expression !== "string" || !expression.startsWith("cron(")) {
      throw badRequest("Berth Local's scheduler runs cron(...) expressions only");
    }
    try {
      Spec.parseCron(expression);
    } catch (error) {
      throw badRequest(`Invalid Schedule Expression ${expression}: ${(error as Error).message}`);
    }
    const timeZone =
      typeof input.ScheduleExpressionTimezone === "string" ? input.ScheduleExpressionTimezone : "UTC";
    if (!Spec.isTimeZone(timeZone)) throw badRequest(`Invalid timezone ${timeZone}`);
    const window = input.FlexibleTimeWindow as ScheduleRecord["FlexibleTimeWindow"] | undefined;
    if (!window || (window.Mode !== "OFF" && window.Mode !== "FLEXIBLE")) {
      throw badRequest("FlexibleTimeWindow.Mode must be OFF or FLEXIBLE");
    }
    if (window.Mode === "FLEXIBLE" && !(Number(window.MaximumWindowInMinutes) >= 1)) {
      throw badRequest("MaximumWindowInMinutes is required with Mode FLEXIBLE");
    }
    const target = input.Target as ScheduleRecord["Target"] | undefined;
    if (!target?.Arn || !target.RoleArn) throw badRequest("Target needs Arn and RoleArn");
    const state = typeof input.State === "string" ? input.State : "ENABLED";
    if (state !== "ENABLED" && state !== "DISABLED") throw badRequest("State must be ENABLED or DISABLED");
    return {
      Name: name,
      GroupName: groupName,
      ...(typeof input.Description === "string" ? { Description: input.Description } : {}),
      ScheduleExpression: expression,
      ScheduleExpressionTimezone: timeZone,
      FlexibleTimeWindow: window,
      State: state,
      Target: target,
    };
  }

  private arn(group: string, name: string): string {
    return `arn:aws:scheduler:${this.options.region}:${this.options.account}:schedule/${group}/${name}`;
  }

  put(input: Record<string, unknown>, mode: "create" | "update"): string {
    const valid = this.validate(input);
    const key = `${valid.GroupName}/${valid.Name}`;
    const existing = this.state.schedules[key];
    if (mode === "create" && existing) {
      throw new SchedulerError("ConflictException", `Schedule ${valid.Name} already exists.`, 409);
    }
    if (mode === "update" && !existing) throw notFound(`Schedule ${valid.Name} does not exist.`);
    const at = Math.floor(this.now().getTime() / 1000);
    this.state.schedules[key] = {
      ...valid,
      Arn: this.arn(valid.GroupName, valid.Name),
      CreationDate: existing?.CreationDate ?? at,
      LastModificationDate: at,
    };
    this.save();
    this.arm(key);
    return this.arn(valid.GroupName, valid.Name);
  }

  get(group: string, name: string): ScheduleRecord {
    const found = this.state.schedules[`${group}/${name}`];
    if (!found) throw notFound(`Schedule ${name} does not exist.`);
    return found;
  }

  delete(group: string, name: string): void {
    this.get(group, name);
    const key = `${group}/${name}`;
    delete this.state.schedules[key];
    this.save();
    this.disarm(key);
  }

  list(filter: { group?: string; namePrefix?: string; state?: string }): ScheduleRecord[] {
    return Object.values(this.state.schedules)
      .filter(
        (schedule) =>
          (filter.group === undefined || schedule.GroupName === filter.group) &&
          (filter.namePrefix === undefined || schedule.Name.startsWith(filter.namePrefix)) &&
          (filter.state === undefined || schedule.State === filter.state),
      )
      .sort((a, b) => `${a.GroupName}/${a.Name}`.localeCompare(`${b.GroupName}/${b.Name}`));
  }

  /** The schedule's next `count` fire times after `after` (default: now), in UTC instants. */
  nextFireTimes(group: string, name: string, count: number, after = this.now()): Date[] {
    const schedule = this.get(group, name);
    return Spec.nextRuns(
      Spec.parseCron(schedule.ScheduleExpression),
      schedule.ScheduleExpressionTimezone ?? "UTC",
      after,
      count,
    );
  }

  /** Delivers the schedule's target input now, as its cron time would. */
  async fire(group: string, name: string): Promise<void> {
    const schedule = this.get(group, name);
    const input = schedule.Target.Input === undefined ? {} : JSON.parse(schedule.Target.Input);
    await this.options.deliver(schedule.Target.Arn, input);
  }

  start(): void {
    this.running = true;
    for (const key of Object.keys(this.state.schedules)) this.arm(key);
  }

  stop(): void {
    this.running = false;
    for (const key of [...this.timers.keys()]) this.disarm(key);
  }

  private disarm(key: string): void {
    clearTimeout(this.timers.get(key));
    this.timers.delete(key);
  }

  /** Sets the schedule's timer for its next fire time (re-armed after each fire). */
  private arm(key: string): void {
    this.disarm(key);
    const schedule = this.state.schedules[key];
    if (!this.running || !schedule || schedule.State !== "ENABLED") return;
    const [next] = this.nextFireTimes(schedule.GroupName, schedule.Name, 1);
    if (!next) return;
    const delay = next.getTime() - this.now().getTime();
    const timer = setTimeout(
      () => {
        this.timers.delete(key);
        if (delay > MAX_DELAY_MS) return this.arm(key);
        this.fire(schedule.GroupName, schedule.Name)
          .catch((error) => this.options.onError?.(error))
          .finally(() => this.arm(key));
      },
      Math.max(0, Math.min(delay, MAX_DELAY_MS)),
    );
    timer.unref();
    this.timers.set(key, timer);
  }
}

function send(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  const text = JSON.stringify(body);
  response.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
    "x-amzn-requestid": randomUUID(),
    ...headers,
  });
  response.end(text);
}

const SCHEDULE = /^\/schedules\/([^/]+)$/;
const GROUP = /^\/schedule-groups\/([^/]+)$/;
const LOCAL = /^\/_local\/scheduler\/([^/]+)\/([^/]+)\/(fire|next)$/;

function summary(schedule: ScheduleRecord) {
  return {
    Arn: schedule.Arn,
    Name: schedule.Name,
    GroupName: schedule.GroupName,
    State: schedule.State,
    CreationDate: schedule.CreationDate,
    LastModificationDate: schedule.LastModificationDate,
    Target: { Arn: schedule.Target.Arn },
  };
}

/** The scheduler's REST-JSON routes and its `/_local/scheduler` routes. */
export function schedulerRoute(scheduler: LocalScheduler): Route {
  return async (request, response, body) => {
    const url = new URL(request.url ?? "/", "http://localhost");
    const path = url.pathname;
    const scheduleMatch = SCHEDULE.exec(path);
    const groupMatch = GROUP.exec(path);
    const localMatch = LOCAL.exec(path);
    if (path !== "/schedules" && !scheduleMatch && !groupMatch && !localMatch) return false;
    try {
      const input = body.length > 0 ? (JSON.parse(body.toString("utf8")) as Record<string, unknown>) : {};
      const method = request.method;
      const groupParam = url.searchParams.get("groupName") ?? "default";
      if (localMatch) {
        const [, group = "", name = "", action] = localMatch.map(decodeURIComponent);
        if (action === "fire" && method === "POST") {
          await scheduler.fire(group, name);
          send(response, 200, { fired: scheduler.get(group, name).Arn });
        } else if (action === "next" && method === "GET") {
          const count = Math.min(Number(url.searchParams.get("count") ?? 5) || 5, 100);
          const times = scheduler.nextFireTimes(group, name, count);
          send(response, 200, { next: times.map((time) => time.toISOString()) });
        } else return false;
        return true;
      }
      if (path === "/schedules" && method === "GET") {
        const group = url.searchParams.get("ScheduleGroup") ?? undefined;
        const namePrefix = url.searchParams.get("NamePrefix") ?? undefined;
        const state = url.searchParams.get("State") ?? undefined;
        const schedules = scheduler.list({
          ...(group ? { group } : {}),
          ...(namePrefix ? { namePrefix } : {}),
          ...(state ? { state } : {}),
        });
        send(response, 200, { Schedules: schedules.map(summary) });
        return true;
      }
      if (scheduleMatch) {
        const name = decodeURIComponent(scheduleMatch[1] ?? "");
        if (method === "POST" || method === "PUT") {
          const arn = scheduler.put({ ...input, Name: name }, method === "POST" ? "create" : "update");
          send(response, 200, { ScheduleArn: arn });
        } else if (method === "GET") send(response, 200, scheduler.get(groupParam, name));
        else if (method === "DELETE") {
          scheduler.delete(groupParam, name);
          send(response, 200, {});
        } else return false;
        return true;
      }
      if (groupMatch) {
        const name = decodeURIComponent(groupMatch[1] ?? "");
        if (method === "POST") send(response, 200, { ScheduleGroupArn: scheduler.createGroup(name) });
        else if (method === "GET") send(response, 200, scheduler.getGroup(name));
        else return false;
        return true;
      }
      return false;
    } catch (error) {
      const failure =
        error instanceof SchedulerError
          ? error
          : error instanceof SyntaxError
            ? badRequest("the request body is not valid JSON")
            : undefined;
      if (!failure) throw error;
      send(
        response,
        failure.status,
        { Message: failure.message, message: failure.message },
        {
          "x-amzn-errortype": failure.type,
        },
      );
      return true;
    }
  };
}

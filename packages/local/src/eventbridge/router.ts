import { randomUUID } from "node:crypto";
import type { BusEvent, EventBus } from "../events.ts";
import { type EventPattern, matches, parsePattern } from "./pattern.ts";
import { nextCronTime, parseSchedule } from "./schedule.ts";
import type { RuleRecord, RuleStore } from "./store.ts";

export { nextCronTime } from "./schedule.ts";

/** Hands a payload to a rule's target (a Lambda invoke, later). May be async. */
export type Deliver = (targetArn: string, payload: BusEvent | unknown) => unknown;

export interface EventRouterOptions {
  bus: EventBus;
  rules: RuleStore;
  deliver: Deliver;
  /** Reports a failed delivery or a rule that cannot be evaluated; never thrown into the publisher. */
  onError?: (error: unknown, context: { rule: string; targetArn?: string }) => void;
  /**
   * Whether scheduled rules fire by themselves at their times (default true). Off, only pattern
   * rules route: a test then sees no refresh it did not ask for whenever it runs.
   */
  timedSchedules?: boolean;
}

/** setTimeout's largest delay; a cron fire further out is reached in hops. */
const MAX_TIMEOUT_MS = 2_147_483_647;

interface Scheduled {
  expression: string;
  timer: NodeJS.Timeout;
}

/**
 * Routes events to rule targets, as EventBridge does for the default bus: every bus event is
 * matched against each ENABLED pattern rule, and each ENABLED scheduled rule fires a
 * `Scheduled Event` to its targets (`rate` on an interval, `cron` at its next fire time, UTC).
 */
export class EventRouter {
  private readonly options: EventRouterOptions;
  private readonly patterns = new Map<string, EventPattern | Error>();
  private readonly schedules = new Map<string, Scheduled>();
  private unsubscribe: (() => void) | undefined;
  private unwatch: (() => void) | undefined;

  constructor(options: EventRouterOptions) {
    this.options = options;
  }

  start(): void {
    if (this.unsubscribe) return;
    this.unsubscribe = this.options.bus.subscribe((event) => this.route(event));
    if (this.options.timedSchedules === false) return;
    this.unwatch = this.options.rules.onChange(() => this.syncSchedules());
    this.syncSchedules();
  }

  stop(): void {
    this.unsubscribe?.();
    this.unwatch?.();
    this.unsubscribe = undefined;
    this.unwatch = undefined;
    for (const scheduled of this.schedules.values()) clearTimeout(scheduled.timer);
    this.schedules.clear();
  }

  /** Delivers an event to the targets of every ENABLED rule whose pattern matches it. */
  route(event: BusEvent): void {
    for (const rule of this.options.rules.list()) {
      if (rule.state !== "ENABLED" || rule.eventPattern === undefined) continue;
      const pattern = this.pattern(rule.eventPattern);
      if (pattern instanceof Error) {
        this.report(pattern, { rule: rule.name });
        continue;
      }
      if (matches(pattern, event)) this.deliverAll(rule, event);
    }
  }

  private pattern(text: string): EventPattern | Error {
    let pattern = this.patterns.get(text);
    if (!pattern) {
      try {
        pattern = parsePattern(text);
      } catch (error) {
        pattern = error instanceof Error ? error : new Error(String(error));
      }
      this.patterns.set(text, pattern);
    }
    return pattern;
  }

  private deliverAll(rule: RuleRecord, event: BusEvent): void {
    for (const target of rule.targets) {
      const context = { rule: rule.name, targetArn: target.Arn };
      try {
        const payload = target.Input !== undefined ? (JSON.parse(target.Input) as unknown) : event;
        const result = this.options.deliver(target.Arn, payload);
        if (result instanceof Promise) result.catch((error: unknown) => this.report(error, context));
      } catch (error) {
        this.report(error, context);
      }
    }
  }

  private report(error: unknown, context: { rule: string; targetArn?: string }): void {
    try {
      this.options.onError?.(error, context);
    } catch {
      // The error reporter itself must not break routing either.
    }
  }

  /** Starts, re-times or cancels the timers so they follow the ENABLED scheduled rules. */
  private syncSchedules(): void {
    const wanted = new Map(
      this.options.rules
        .list()
        .filter((rule) => rule.state === "ENABLED" && rule.scheduleExpression !== undefined)
        .map((rule) => [rule.name, rule.scheduleExpression as string]),
    );
    for (const [name, scheduled] of this.schedules) {
      if (wanted.get(name) !== scheduled.expression) {
        clearTimeout(scheduled.timer);
        this.schedules.delete(name);
      }
    }
    for (const [name, expression] of wanted) {
      if (this.schedules.has(name)) continue;
      try {
        this.schedule(name, expression);
      } catch (error) {
        this.report(error, { rule: name });
      }
    }
  }

  private schedule(name: string, expression: string): void {
    const schedule = parseSchedule(expression);
    if (schedule.kind === "rate") {
      const timer = setInterval(() => this.fire(name), schedule.intervalMs);
      timer.unref();
      this.schedules.set(name, { expression, timer });
      return;
    }
    const next = nextCronTime(expression, new Date());
    const arm = (): void => {
      const delay = next.getTime() - Date.now();
      const timer = setTimeout(
        () => {
          if (this.schedules.get(name)?.timer !== timer) return;
          if (Date.now() < next.getTime()) return arm();
          this.schedules.delete(name);
          this.fire(name);
          if (this.unsubscribe && !this.schedules.has(name)) {
            try {
              this.schedule(name, expression);
            } catch (error) {
              this.report(error, { rule: name });
            }
          }
        },
        Math.min(Math.max(delay, 0), MAX_TIMEOUT_MS),
      );
      timer.unref();
      this.schedules.set(name, { expression, timer });
    };
    arm();
  }

  private fire(name: string): void {
    const rule = this.options.rules.get(name);
    if (rule?.state !== "ENABLED") return;
    const { account, region } = this.options.rules;
    const event: BusEvent<Record<string, never>> = {
      version: "0",
      id: randomUUID(),
      "detail-type": "Scheduled Event",
      source: "aws.events",
      account,
      time: new Date().toISOString(),
      region,
      resources: [rule.arn],
      detail: {},
    };
    this.deliverAll(rule, event as BusEvent);
  }
}

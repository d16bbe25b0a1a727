import { z } from "zod";
import type { EventBus } from "../events.ts";
import { AwsError, type AwsJsonService, operation } from "../protocol.ts";
import { parsePattern } from "./pattern.ts";
import { parseSchedule } from "./schedule.ts";
import type { RuleRecord, RuleStore } from "./store.ts";

export { RuleStore } from "./store.ts";

const DEFAULT_BUS = "default";

const RuleName = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[.\-_A-Za-z0-9]+$/, "must contain only letters, digits and . - _");
/** The default bus, by name or ARN; custom buses are not supported by Berth Local. */
const EventBusName = z
  .string()
  .min(1)
  .max(1600)
  .refine((name) => name === DEFAULT_BUS || name.endsWith(":event-bus/default"), {
    message: "only the default event bus exists in Berth Local",
  })
  .optional();
const TargetId = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[.\-_A-Za-z0-9]+$/);

const PutEventsInput = z.object({
  Entries: z
    .array(
      z.object({
        Source: z.string().min(1).max(256),
        DetailType: z.string().min(1).max(128),
        Detail: z.string().min(1),
        Resources: z.array(z.string().min(1).max(2048)).optional(),
        EventBusName,
        /** The SDK sends epoch seconds; ISO text is accepted too. */
        Time: z.union([z.number(), z.string()]).optional(),
        TraceHeader: z.string().optional(),
      }),
    )
    .min(1)
    .max(10),
  EndpointId: z.string().optional(),
});
const PutRuleInput = z
  .object({
    Name: RuleName,
    EventPattern: z.string().min(1).max(4096).optional(),
    ScheduleExpression: z.string().min(1).max(256).optional(),
    State: z.enum(["ENABLED", "DISABLED"]).optional(),
    Description: z.string().max(512).optional(),
    RoleArn: z.string().optional(),
    Tags: z.array(z.object({ Key: z.string(), Value: z.string() })).optional(),
    EventBusName,
  })
  .refine((input) => input.EventPattern !== undefined || input.ScheduleExpression !== undefined, {
    message: "Parameter(s) EventPattern or ScheduleExpression must be specified.",
  });
const RuleInput = z.object({ Name: RuleName, EventBusName });
const DeleteRuleInput = z.object({ Name: RuleName, EventBusName, Force: z.boolean().optional() });
const ListRulesInput = z.object({
  NamePrefix: z.string().min(1).max(64).optional(),
  EventBusName,
  NextToken: z.string().optional(),
  Limit: z.number().int().min(1).max(100).optional(),
});
const PutTargetsInput = z.object({
  Rule: RuleName,
  EventBusName,
  Targets: z
    .array(
      z.object({
        Id: TargetId,
        Arn: z.string().min(1).max(1600),
        Input: z.string().max(8192).optional(),
      }),
    )
    .min(1)
    .max(10),
});
const ListTargetsInput = z.object({
  Rule: RuleName,
  EventBusName,
  NextToken: z.string().optional(),
  Limit: z.number().int().min(1).max(100).optional(),
});
const RemoveTargetsInput = z.object({
  Rule: RuleName,
  EventBusName,
  Ids: z.array(TargetId).min(1).max(100),
  Force: z.boolean().optional(),
});

function parseObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === "object" && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

function eventTime(time: number | string | undefined): Date {
  if (time === undefined) return new Date();
  const date = typeof time === "number" ? new Date(time * 1000) : new Date(time);
  return Number.isNaN(date.getTime()) ? new Date() : date;
}

function notFound(name: string): AwsError {
  return new AwsError("ResourceNotFoundException", `Rule ${name} does not exist on EventBus default.`);
}

function describe(rule: RuleRecord): Record<string, unknown> {
  return {
    Name: rule.name,
    Arn: rule.arn,
    ...(rule.eventPattern !== undefined ? { EventPattern: rule.eventPattern } : {}),
    ...(rule.scheduleExpression !== undefined ? { ScheduleExpression: rule.scheduleExpression } : {}),
    State: rule.state,
    ...(rule.description !== undefined ? { Description: rule.description } : {}),
    EventBusName: DEFAULT_BUS,
  };
}

/**
 * Berth Local's EventBridge API for the default bus: PutEvents publishes on the in-process
 * EventBus; rules and their targets live in the RuleStore (the EventRouter delivers them).
 */
export function eventBridgeService(bus: EventBus, rules: RuleStore): AwsJsonService {
  return {
    name: "events",
    targetPrefix: "AWSEvents",
    validationError: "ValidationException",
    operations: {
      PutEvents: operation(PutEventsInput, (input) => {
        const entries = input.Entries.map((entry) => {
          const detail = parseObject(entry.Detail);
          if (!detail) return { ErrorCode: "MalformedDetail", ErrorMessage: "Detail is malformed." };
          const event = bus.publish(
            entry.Source,
            entry.DetailType,
            entry.Resources ?? [],
            detail,
            eventTime(entry.Time),
          );
          return { EventId: event.id };
        });
        return {
          FailedEntryCount: entries.filter((entry) => "ErrorCode" in entry).length,
          Entries: entries,
        };
      }),

      PutRule: operation(PutRuleInput, (input) => {
        if (input.EventPattern !== undefined) parsePattern(input.EventPattern);
        if (input.ScheduleExpression !== undefined) parseSchedule(input.ScheduleExpression);
        const rule = rules.put(input.Name, {
          eventPattern: input.EventPattern,
          scheduleExpression: input.ScheduleExpression,
          state: input.State ?? "ENABLED",
          description: input.Description,
        });
        return { RuleArn: rule.arn };
      }),

      DescribeRule: operation(RuleInput, (input) => {
        const rule = rules.get(input.Name);
        if (!rule) throw notFound(input.Name);
        return describe(rule);
      }),

      ListRules: operation(ListRulesInput, (input) => {
        const prefix = input.NamePrefix ?? "";
        const matching = rules.list().filter((rule) => rule.name.startsWith(prefix));
        const start = input.NextToken ? Number(input.NextToken) : 0;
        if (!Number.isInteger(start) || start < 0 || start > matching.length)
          throw new AwsError("ValidationException", "The NextToken is not valid.");
        const end = start + (input.Limit ?? 100);
        return {
          Rules: matching.slice(start, end).map(describe),
          ...(end < matching.length ? { NextToken: String(end) } : {}),
        };
      }),

      DeleteRule: operation(DeleteRuleInput, (input) => {
        const rule = rules.get(input.Name);
        if (!rule) return {};
        if (rule.targets.length > 0)
          throw new AwsError("ValidationException", "Rule can't be deleted since it has targets.");
        rules.delete(input.Name);
        return {};
      }),

      PutTargets: operation(PutTargetsInput, (input) => {
        if (!rules.get(input.Rule)) throw notFound(input.Rule);
        for (const target of input.Targets) {
          if (target.Input !== undefined && parseJson(target.Input) === undefined)
            throw new AwsError("ValidationException", `Target ${target.Id}: Input is not valid JSON.`);
        }
        rules.putTargets(
          input.Rule,
          input.Targets.map((target) => ({
            Id: target.Id,
            Arn: target.Arn,
            ...(target.Input !== undefined ? { Input: target.Input } : {}),
          })),
        );
        return { FailedEntryCount: 0, FailedEntries: [] };
      }),

      ListTargetsByRule: operation(ListTargetsInput, (input) => {
        const rule = rules.get(input.Rule);
        if (!rule) throw notFound(input.Rule);
        return { Targets: rule.targets };
      }),

      RemoveTargets: operation(RemoveTargetsInput, (input) => {
        if (!rules.get(input.Rule)) throw notFound(input.Rule);
        rules.removeTargets(input.Rule, input.Ids);
        return { FailedEntryCount: 0, FailedEntries: [] };
      }),
    },
  };
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

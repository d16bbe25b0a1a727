import { FUNCTIONS } from "@berth/core/functions";
import * as events from "aws-cdk-lib/aws-events";
import * as lambda from "aws-cdk-lib/aws-lambda";
import * as scheduler from "aws-cdk-lib/aws-scheduler";
import { dependsOn, type StackContext } from "sst/constructs/FunctionalStack.js";
import { Functions } from "./functions.ts";
import { functionArn, namesFor } from "./names.ts";

/**
 * The EventBridge rules of the manifest's `eventbridge` and `schedule` triggers, on the
 * account's default bus (where ECS and ECR publish). The patterns go in verbatim: they are
 * the same rules Berth Local's bus applies.
 */
export function Events({ stack, app }: StackContext) {
  const names = namesFor(app.stage);
  dependsOn(Functions);

  const rules: events.CfnRule[] = [];
  for (const definition of FUNCTIONS) {
    const target = functionArn(stack, names, definition.name);
    definition.triggers.forEach((trigger, index) => {
      if (trigger.kind !== "eventbridge" && trigger.kind !== "schedule") return;
      const id = `${definition.name}-${trigger.kind}-${index}`;
      const rule = new events.CfnRule(stack, id, {
        description: `Berth ${app.stage}: ${trigger.kind === "schedule" ? "schedules" : "triggers"} ${definition.name}`,
        state: "ENABLED",
        ...(trigger.kind === "eventbridge"
          ? { eventPattern: trigger.pattern }
          : { scheduleExpression: trigger.expression }),
        targets: [
          {
            id: "function",
            arn: target,
            // A handler that failed on one event should not hold it for a day of retries.
            retryPolicy: { maximumRetryAttempts: 4, maximumEventAgeInSeconds: 3600 },
          },
        ],
      });
      new lambda.CfnPermission(stack, `${id}-invoke`, {
        action: "lambda:InvokeFunction",
        functionName: target,
        principal: "events.amazonaws.com",
        sourceArn: rule.attrArn,
      });
      rules.push(rule);
    });
  }
  // Stacks' own refresh schedules: the API creates one per stack in this group, each invoking
  // the scheduled-refresh function as the scheduler role (stacks/iam.ts).
  const scheduleGroup = new scheduler.CfnScheduleGroup(stack, "RefreshSchedules", {
    name: names.scheduleGroup,
  });
  return { rules, scheduleGroup };
}

import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { FUNCTIONS, findFunction, PERMISSION_PLACEHOLDERS, stateMachineTaskFunctions } from "./functions.ts";
import { APPLY_AND_WAIT_FUNCTIONS } from "./workflows/states.ts";

const REPOSITORY_ROOT = fileURLToPath(new URL("../../../", import.meta.url));

/** Actions that take no resource-level permissions, the only ones granted on `*`. */
const WITHOUT_RESOURCE_LEVEL = new Set([
  "ec2:DescribeLaunchTemplateVersions",
  "autoscaling:DescribeAutoScalingGroups",
  "ecs:RegisterTaskDefinition",
  "ecs:DescribeTaskDefinition",
  "application-autoscaling:RegisterScalableTarget",
  "application-autoscaling:PutScalingPolicy",
  "application-autoscaling:DescribeScalableTargets",
  // Scoped to the cluster by an `ecs:cluster` condition instead.
  "ecs:ListTasks",
  // Cloud Map authorizes listing services only on "*" (filtered by namespace in the request).
  "servicediscovery:ListServices",
  // ELB's Describe calls authorize on "*" only.
  "elasticloadbalancing:DescribeLoadBalancers",
  "elasticloadbalancing:DescribeListeners",
  "elasticloadbalancing:DescribeRules",
  "elasticloadbalancing:DescribeTargetGroups",
  // Custom domains: ACM's and Route 53's listings authorize on "*" only.
  "acm:ListCertificates",
  "route53:ListHostedZonesByName",
]);

/** Every step the workflows invoke: loading and preparing, what applying and waiting calls, deleting. */
const STEPS = ["load-deployment", "prepare-resources", ...APPLY_AND_WAIT_FUNCTIONS, "delete-service"];

describe("the function manifest", () => {
  it("lists the API, every workflow step and the event handlers, once each", () => {
    const names = FUNCTIONS.map((fn) => fn.name);
    expect(new Set(names).size).toBe(names.length);
    expect(names).toEqual(
      expect.arrayContaining(["api", ...STEPS, "ecs-events", "registry-push", "weekly-refresh"]),
    );
    for (const name of names) expect(name).toMatch(/^[a-z][a-z0-9-]*[a-z0-9]$/);
  });

  it("points each function at a handler under packages/functions/src", () => {
    for (const fn of FUNCTIONS)
      expect(fn.handler).toMatch(/^packages\/functions\/src\/[a-z0-9/-]+\.handler$/);
    expect(findFunction("api")?.handler).toBe("packages/functions/src/api/lambda.handler");
    // The API's handler exists already; the others are the contract their handlers will meet.
    expect(existsSync(`${REPOSITORY_ROOT}packages/functions/src/api/lambda.ts`)).toBe(true);
    for (const name of STEPS)
      expect(findFunction(name)?.handler).toBe(`packages/functions/src/steps/${name}.handler`);
  });

  it("keeps timeouts and memory within what Lambda and API Gateway allow", () => {
    for (const fn of FUNCTIONS) {
      expect(fn.timeoutSeconds, fn.name).toBeGreaterThanOrEqual(1);
      expect(fn.timeoutSeconds, fn.name).toBeLessThanOrEqual(900);
      expect(fn.memoryMiB, fn.name).toBeGreaterThanOrEqual(128);
      expect(fn.memoryMiB, fn.name).toBeLessThanOrEqual(10240);
      expect(fn.description.length, fn.name).toBeGreaterThan(0);
    }
    // API Gateway HTTP APIs give up on an integration after 30 seconds.
    expect(findFunction("api")?.timeoutSeconds).toBeLessThan(30);
  });

  it("names the configuration each function reads, once each", () => {
    for (const fn of FUNCTIONS) {
      expect(new Set(fn.environment).size, fn.name).toBe(fn.environment.length);
      for (const name of fn.environment) expect(name).toMatch(/^BERTH_[A-Z0-9_]+$/);
    }
    expect(findFunction("api")?.environment.sort()).toEqual(
      [
        "BERTH_CLUSTER",
        "BERTH_DEPLOY_STATE_MACHINE_ARN",
        "BERTH_DELETE_SERVICE_STATE_MACHINE_ARN",
        "BERTH_ROLLBACK_STATE_MACHINE_ARN",
        "BERTH_SOURCE_BUCKET",
        "BERTH_EC2_CAPACITY_PROVIDER",
        "BERTH_REGISTRY",
        "BERTH_SCHEDULE_GROUP",
        "BERTH_SCHEDULER_ROLE_ARN",
        "BERTH_SCHEDULED_REFRESH_ARN",
        "BERTH_STAGE",
        "BERTH_TABLE_NAME",
      ].sort(),
    );
  });

  it("triggers the API over HTTP, steps only from state machines, events from their rules", () => {
    expect(findFunction("api")?.triggers).toEqual([{ kind: "http-api" }]);
    expect(
      stateMachineTaskFunctions()
        .map((fn) => fn.name)
        .sort(),
    ).toEqual([...STEPS].sort());
    for (const fn of stateMachineTaskFunctions())
      expect(fn.triggers, fn.name).toEqual([{ kind: "state-machine-task" }]);
    expect(findFunction("ecs-events")?.triggers).toEqual([
      {
        kind: "eventbridge",
        pattern: {
          source: ["aws.ecs"],
          "detail-type": ["ECS Deployment State Change", "ECS Task State Change", "ECS Service Action"],
        },
      },
    ]);
    expect(findFunction("registry-push")?.triggers).toEqual([
      {
        kind: "eventbridge",
        pattern: {
          source: ["aws.ecr"],
          "detail-type": ["ECR Image Action"],
          detail: { "action-type": ["PUSH"], result: ["SUCCESS"] },
        },
      },
    ]);
    expect(findFunction("weekly-refresh")?.triggers).toEqual([
      { kind: "schedule", expression: "cron(0 3 ? * SUN *)" },
    ]);
    expect(findFunction("scheduled-refresh")?.triggers).toEqual([{ kind: "scheduler" }]);
  });

  it("grants named actions on ARN patterns, and `*` only where AWS allows nothing narrower", () => {
    for (const fn of FUNCTIONS) {
      expect(fn.permissions.length, fn.name).toBeGreaterThan(0);
      for (const permission of fn.permissions) {
        expect(permission.actions.length, fn.name).toBeGreaterThan(0);
        expect(permission.resources.length, fn.name).toBeGreaterThan(0);
        for (const action of permission.actions) expect(action).toMatch(/^[a-z0-9-]+:[A-Z][A-Za-z]+$/);
        for (const resource of permission.resources) {
          if (resource === "*") {
            for (const action of permission.actions)
              expect(WITHOUT_RESOURCE_LEVEL, `${fn.name}: ${action} on *`).toContain(action);
            continue;
          }
          expect(resource, fn.name).toMatch(/^arn:\$\{Partition\}:[a-z0-9-]+:/);
          for (const match of resource.matchAll(/\$\{([^}]*)\}/g)) {
            expect(Object.keys(PERMISSION_PLACEHOLDERS), `${fn.name}: ${resource}`).toContain(match[1]);
          }
        }
      }
    }
  });

  it("lets only the functions that must answer a waiting workflow do so", () => {
    const answering = FUNCTIONS.filter((fn) =>
      fn.permissions.some((permission) => permission.actions.includes("states:SendTaskSuccess")),
    ).map((fn) => fn.name);
    // The event handler answers; the wait step answers an outcome decided before its token arrived;
    // advance-wait decides on waits; the API wakes a waiting workflow to cancel it.
    expect(answering.sort()).toEqual(["advance-wait", "api", "ecs-events", "wait-for-deployment"]);
    const deleting = FUNCTIONS.filter((fn) =>
      fn.permissions.some((p) => p.actions.includes("ecs:DeleteService")),
    );
    expect(deleting.map((fn) => fn.name)).toEqual(["delete-service"]);
  });
});

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readSettings } from "../../config.ts";
import { Spec } from "../../spec/index.ts";
import {
  DeploymentEventRecord,
  DeploymentRecord,
  ServiceRecord,
  StackRecord,
  WaitRecord,
} from "../../store/index.ts";
import { type LocalTable, startLocalTable } from "../../store/test-support.ts";
import {
  deploymentCompleted as completedEvent,
  deploymentFailed,
  taskStopped,
} from "../__fixtures__/ecs-events.ts";
import * as Deployment from "../deployment.ts";
import { updateSpec } from "../service.ts";
import { withImages } from "../service-spec.ts";
import { handOn } from "./answer.ts";
import { stabilitySeconds } from "./apply.ts";
import { cancelWait } from "./cancel.ts";
import type { Clients, Settings, StepContext } from "./context.ts";
import { handleEcsEvent, isFailedTask } from "./ecs-events.ts";
import { describeError, finalize } from "./finalize.ts";
import { loadDeployment, WAIT_TIMEOUT, waitTimeoutFor } from "./load.ts";
import { preflight } from "./preflight.ts";
import { loadTarget } from "./target.ts";

let local: LocalTable;
beforeAll(async () => {
  local = await startLocalTable();
});
afterAll(async () => {
  await local?.stop();
});

const SETTINGS: Settings = readSettings({
  BERTH_ACCOUNT: "000000000000",
  BERTH_CLUSTER: "berth",
  BERTH_REGISTRY: "berth.local",
  BERTH_EXECUTION_ROLE_ARN: "arn:aws:iam::000000000000:role/exec",
  BERTH_SUBNETS: "subnet-a",
  BERTH_SECURITY_GROUPS: "sg-a",
  BERTH_SERVICE_CONNECT_NAMESPACE: "berth.local",
});

/** Every client refuses: these tests exercise only paths that must not call AWS. */
const refusing = new Proxy({} as Clients, {
  get: (_, name) => ({
    send: async () => {
      throw new Error(`${String(name)} must not be called here`);
    },
  }),
});

function context(): StepContext {
  return { store: local.store, clients: refusing, settings: SETTINGS };
}

let counter = 0;
/** A deployment DEPLOYING on a fresh service, waiting on ECS deployment `ecs-svc/1`. */
async function waitingDeployment(threshold = 2, options: { first?: boolean; sameRevision?: boolean } = {}) {
  counter += 1;
  const stack = `rollout-${counter}`;
  await ServiceRecord.create(local.store, { stack, name: "api", spec: {} });
  const requested = await Deployment.requestDeployment(local.store, {
    stack,
    service: "api",
    trigger: "api",
    specHash: "a".repeat(64),
  });
  await Deployment.transition(local.store, requested.deployment.id, "PENDING", "DEPLOYING", "test");
  const wait = await WaitRecord.create(local.store, {
    stack,
    service: "api",
    deploymentId: requested.deployment.id,
    cluster: "berth",
    ecsService: `${stack}-api`,
    ecsDeploymentId: "ecs-svc/1",
    taskDefinitionArn: `arn:aws:ecs:us-east-1:000000000000:task-definition/${stack}-api:2`,
    ...(options.first
      ? {}
      : options.sameRevision
        ? // A refresh or a scale: the tasks before it run the revision it deploys.
          {
            previousTaskDefinitionArn: `arn:aws:ecs:us-east-1:000000000000:task-definition/${stack}-api:2`,
            previousDesiredCount: 2,
          }
        : {
            rollbackTaskDefinitionArn: `arn:aws:ecs:us-east-1:000000000000:task-definition/${stack}-api:1`,
            previousTaskDefinitionArn: `arn:aws:ecs:us-east-1:000000000000:task-definition/${stack}-api:1`,
            previousDesiredCount: 1,
          }),
    failFastThreshold: threshold,
    stabilitySeconds: 10,
  });
  return { stack, wait, deploymentId: requested.deployment.id };
}

describe("the ECS event handler", () => {
  it("counts a failed task of the new revision once, however often its event comes", async () => {
    const { wait, deploymentId } = await waitingDeployment(3);
    const event = taskStopped(wait, "t1");
    expect(await handleEcsEvent(context(), event)).toBe("task-failure-recorded");
    expect(await handleEcsEvent(context(), event)).toBe("ignored");
    const after = await WaitRecord.get(local.store, "berth", wait.ecsService);
    expect(after?.failedTasks).toEqual([event.detail.taskArn]);
    const events = await DeploymentEventRecord.all(local.store, deploymentId);
    const failures = events.filter((recorded) => recorded.type === "task-failed");
    expect(failures).toHaveLength(1);
    expect(failures[0]?.data).toMatchObject({
      exitCode: 3,
      stopCode: "EssentialContainerExited",
      failures: 1,
      threshold: 3,
    });
  });

  it("ignores the old revision's tasks, tasks stopped on purpose, other services and other ECS deployments", async () => {
    const { wait } = await waitingDeployment();
    const ignored = [
      taskStopped(wait, "old", { taskDefinitionArn: wait.rollbackTaskDefinitionArn }),
      taskStopped(wait, "scaled-in", {
        stopCode: "ServiceSchedulerInitiated",
        stoppedReason: "Scaling activity initiated by deployment",
        containers: [{ name: "api", exitCode: 0 }],
      }),
      taskStopped(wait, "running", { lastStatus: "RUNNING", stopCode: undefined }),
      taskStopped(wait, "elsewhere", { group: "service:someone-else" }),
      {
        source: "aws.ecs",
        "detail-type": "ECS Deployment State Change",
        resources: [`arn:aws:ecs:us-east-1:000000000000:service/berth/${wait.ecsService}`],
        detail: { eventName: "SERVICE_DEPLOYMENT_COMPLETED", deploymentId: "ecs-svc/an-older-one" },
      },
      { source: "aws.ecs", "detail-type": "ECS Container Instance State Change", detail: {} },
      "not an event",
    ];
    for (const event of ignored) expect(await handleEcsEvent(context(), event)).toBe("ignored");
    expect((await WaitRecord.get(local.store, "berth", wait.ecsService))?.failedTasks).toEqual([]);
  });

  it("takes a task placement failure only while deploying, and no other ECS Service Action", async () => {
    const { wait } = await waitingDeployment();
    const action = (eventName: string) => ({
      source: "aws.ecs",
      "detail-type": "ECS Service Action",
      resources: [`arn:aws:ecs:us-east-1:000000000000:service/berth/${wait.ecsService}`],
      detail: { eventType: "ERROR", eventName, reason: "RESOURCE:MEMORY" },
    });
    expect(await handleEcsEvent(context(), action("SERVICE_STEADY_STATE"))).toBe("ignored");
    // Once ECS completed the rollout, every task was placed: a late placement failure is stale.
    expect(await handleEcsEvent(context(), completedEvent(wait))).toBe("stabilizing");
    expect(await handleEcsEvent(context(), action("SERVICE_TASK_PLACEMENT_FAILURE"))).toBe("ignored");
    expect((await WaitRecord.get(local.store, "berth", wait.ecsService))?.phase).toBe("stabilizing");
  });

  it("does not call a completed rollout a success: it starts the stability window, answered when the token comes", async () => {
    const { wait, deploymentId } = await waitingDeployment();
    expect(await handleEcsEvent(context(), completedEvent(wait))).toBe("stabilizing");
    // A repeated event finds the window started and changes nothing.
    expect(await handleEcsEvent(context(), completedEvent(wait))).toBe("ignored");
    const after = await WaitRecord.get(local.store, "berth", wait.ecsService);
    expect(after?.phase).toBe("stabilizing");
    expect(after?.stableSince).toEqual(expect.any(String));
    expect(after?.pendingOutcome).toEqual({ status: "STABILIZING", stabilitySeconds: 10 });
    expect((await DeploymentRecord.get(local.store, deploymentId))?.status).toBe("DEPLOYING");
  });

  it("answers the stored token with STABILIZING and uses it up", async () => {
    const { wait } = await waitingDeployment();
    const answered: unknown[] = [];
    await WaitRecord.change(local.store, "berth", wait.ecsService, () => ({ taskToken: "token-1" }));
    const moved = await handOn(
      local.store,
      async (token, answer) => {
        answered.push({ token, answer });
        return true;
      },
      wait,
      { status: "STABILIZING", stabilitySeconds: 10 },
      { phase: "stabilizing" },
      ["deploying"],
    );
    expect(moved?.phase).toBe("stabilizing");
    expect(answered).toEqual([{ token: "token-1", answer: { status: "STABILIZING", stabilitySeconds: 10 } }]);
    const after = await WaitRecord.get(local.store, "berth", wait.ecsService);
    expect(after?.taskToken).toBeUndefined();
    expect(after?.pendingOutcome).toBeUndefined();
  });

  it("rolls back at once when a task of the new revision stops inside the stability window, below the threshold", async () => {
    const { wait, deploymentId } = await waitingDeployment(3);
    await handleEcsEvent(context(), completedEvent(wait));
    // The refusing ECS client makes the rollback's UpdateService fail: what matters is that it was started.
    expect(await handleEcsEvent(context(), taskStopped(wait, "t1"))).toBe("rollback-failed");
    const deployment = await DeploymentRecord.get(local.store, deploymentId);
    expect(deployment?.status).toBe("ROLLING_BACK");
    expect(deployment?.reason).toContain("inside the 10 s stability window");
    expect(deployment?.reason).toContain("exit code 3");
    const events = await DeploymentEventRecord.all(local.store, deploymentId);
    expect(events.filter((recorded) => recorded.type === "task-failed")).toHaveLength(1);
    expect(events.filter((recorded) => recorded.type === "rollout-completed")).toHaveLength(1);
  });

  it("fails a first deployment whose task stops inside the window, with nothing to go back to", async () => {
    const { wait } = await waitingDeployment(3, { first: true });
    await handleEcsEvent(context(), completedEvent(wait));
    // The answer is decided before the scale to 0 (refused here) is asked for.
    await expect(handleEcsEvent(context(), taskStopped(wait, "t1"))).rejects.toThrow(/must not be called/);
    const after = await WaitRecord.get(local.store, "berth", wait.ecsService);
    expect(after?.phase).toBe("answered");
    expect(after?.pendingOutcome).toMatchObject({ status: "FAILED" });
    expect(String(after?.pendingOutcome?.reason)).toMatch(/stability window.*exit code 3.*scaled to 0/);
  });

  it("fails a refresh whose new tasks stop inside the window without scaling the same revision's earlier tasks to 0", async () => {
    const { wait, deploymentId } = await waitingDeployment(3, { sameRevision: true });
    await handleEcsEvent(context(), completedEvent(wait));
    // The refusing ECS client throws on any call: a scale to 0 (or a rollback) would reject here.
    expect(await handleEcsEvent(context(), taskStopped(wait, "t1"))).toBe("failed");
    const after = await WaitRecord.get(local.store, "berth", wait.ecsService);
    expect(after?.phase).toBe("answered");
    expect(after?.pendingOutcome).toMatchObject({ status: "FAILED" });
    const reason = String(after?.pendingOutcome?.reason);
    expect(reason).toMatch(/stability window.*exit code 3/);
    expect(reason).toContain("same revision");
    expect(reason).not.toContain("scaled to 0");
    // Nothing claimed a rollback: the deployment never left DEPLOYING for ROLLING_BACK.
    expect((await DeploymentRecord.get(local.store, deploymentId))?.status).toBe("DEPLOYING");
    // The answer is decided once: a second failed task changes nothing.
    expect(await handleEcsEvent(context(), taskStopped(wait, "t2"))).toBe("ignored");
  });

  it("calls a task failed when it crashed, failed to start or failed its health checks", () => {
    const base = {
      taskArn: "t",
      clusterArn: "c",
      taskDefinitionArn: "td",
      lastStatus: "STOPPED",
      containers: [],
    };
    expect(isFailedTask({ ...base, stopCode: "EssentialContainerExited" })).toBe(true);
    expect(isFailedTask({ ...base, stopCode: "TaskFailedToStart" })).toBe(true);
    expect(
      isFailedTask({
        ...base,
        stopCode: "ServiceSchedulerInitiated",
        stoppedReason: "Task failed container health checks",
      }),
    ).toBe(true);
    expect(
      isFailedTask({
        ...base,
        stopCode: "ServiceSchedulerInitiated",
        stoppedReason: "Task failed ELB health checks in (target-group x)",
      }),
    ).toBe(true);
    expect(isFailedTask({ ...base, stopCode: "UserInitiated", stoppedReason: "Task stopped by user" })).toBe(
      false,
    );
    expect(isFailedTask({ ...base, lastStatus: "RUNNING", stopCode: "EssentialContainerExited" })).toBe(
      false,
    );
  });
});

describe("cancelling a deployment that waits on ECS", () => {
  const answers: { token: string; answer: unknown }[] = [];
  const waits = {
    cluster: "berth",
    answer: async (token: string, answer: unknown) => {
      answers.push({ token, answer });
      return true;
    },
  };

  it("wakes the waiting workflow with CANCELLING; a wait without a token keeps it for the wait step", async () => {
    const held = await waitingDeployment();
    await WaitRecord.change(local.store, "berth", held.wait.ecsService, () => ({ taskToken: "token-c" }));
    const deployment = { id: held.deploymentId, stack: held.stack, service: "api" };
    expect(await cancelWait(local.store, waits, deployment, "wrong branch")).toBe(true);
    expect(answers).toEqual([{ token: "token-c", answer: { status: "CANCELLING" } }]);
    const after = await WaitRecord.get(local.store, "berth", held.wait.ecsService);
    expect(after).toMatchObject({ phase: "cancelling", cancelReason: "wrong branch" });
    expect(after?.taskToken).toBeUndefined();
    // Cancelling twice changes nothing.
    expect(await cancelWait(local.store, waits, deployment, "again")).toBe(false);

    const early = await waitingDeployment();
    const earlyDeployment = { id: early.deploymentId, stack: early.stack, service: "api" };
    expect(await cancelWait(local.store, waits, earlyDeployment, "too soon")).toBe(true);
    expect((await WaitRecord.get(local.store, "berth", early.wait.ecsService))?.pendingOutcome).toEqual({
      status: "CANCELLING",
    });
  });

  it("leaves a rollback under way alone", async () => {
    const { wait, stack, deploymentId } = await waitingDeployment();
    await WaitRecord.change(local.store, "berth", wait.ecsService, () => ({ phase: "rolling-back" }));
    expect(await cancelWait(local.store, waits, { id: deploymentId, stack, service: "api" }, "no")).toBe(
      false,
    );
  });

  it("ends CANCELLED, saying what was undone, once ECS runs the previous revision again", async () => {
    const { wait, stack, deploymentId } = await waitingDeployment();
    await cancelWait(local.store, waits, { id: deploymentId, stack, service: "api" }, "wrong branch");
    await WaitRecord.change(local.store, "berth", wait.ecsService, () => ({
      rollbackEcsDeploymentId: "ecs-svc/back",
      pendingOutcome: undefined,
    }));
    expect(await handleEcsEvent(context(), completedEvent(wait))).toBe("ignored");
    expect(await handleEcsEvent(context(), completedEvent(wait, "ecs-svc/back"))).toBe("cancelled");
    const after = await WaitRecord.get(local.store, "berth", wait.ecsService);
    expect(after?.pendingOutcome).toEqual({
      status: "CANCELLED",
      reason: `wrong branch; undone: the rollout of ${wait.taskDefinitionArn} was stopped and the service is back on ${wait.previousTaskDefinitionArn} with 1 task`,
      taskDefinitionArn: wait.previousTaskDefinitionArn,
    });
    const ended = await finalize(context(), {
      deploymentId,
      stack,
      service: "api",
      outcome: after?.pendingOutcome,
    });
    expect(ended.status).toBe("CANCELLED");
    expect(ended.reason).toContain("undone");
    const service = await ServiceRecord.get(local.store, stack, "api");
    expect(service?.liveTaskDefinitionArn).toBe(wait.previousTaskDefinitionArn);
  });
});

describe("a rollback ECS started itself", () => {
  /**
   * ECS as DescribeServices shows it once it failed a canary and rolled back on its own: its
   * rollback, a new primary deployment of the last good revision, then completed or not. Every
   * other call is recorded, and refused.
   */
  function ecsRollingBack(wait: WaitRecord.Info, rollback: { rolloutState: string }) {
    const calls: string[] = [];
    const ecs = {
      send: async (command: { constructor: { name: string } }) => {
        const name = command.constructor.name;
        calls.push(name);
        if (name !== "DescribeServicesCommand") throw new Error(`${name} must not be called here`);
        return {
          services: [
            {
              serviceName: wait.ecsService,
              status: "ACTIVE",
              deployments: [
                {
                  id: "ecs-svc/rollback",
                  status: "PRIMARY",
                  taskDefinition: wait.rollbackTaskDefinitionArn,
                  rolloutStateReason: "Rolling back from deployment ecs-svc/1",
                  ...rollback,
                },
                {
                  id: wait.ecsDeploymentId,
                  status: "ACTIVE",
                  taskDefinition: wait.taskDefinitionArn,
                  rolloutState: "FAILED",
                  rolloutStateReason: "A task failed while 10% of production traffic was shifted to it.",
                },
              ],
            },
          ],
        };
      },
    };
    const clients = new Proxy({} as Clients, {
      get: (_, name) => (name === "ecs" ? ecs : refusing[name as keyof Clients]),
    });
    return { calls, context: { store: local.store, clients, settings: SETTINGS } as StepContext };
  }

  it("is followed, not doubled: a failed canary ECS rolled back gets no UpdateService and ends ROLLED_BACK", async () => {
    const { stack, wait, deploymentId } = await waitingDeployment();
    const ecs = ecsRollingBack(wait, { rolloutState: "IN_PROGRESS" });
    const failed = deploymentFailed(wait, "A task failed while 10% of production traffic was shifted to it.");
    expect(await handleEcsEvent(ecs.context, failed)).toBe("rolling-back");
    expect(ecs.calls.filter((call) => call !== "DescribeServicesCommand")).toEqual([]);
    const following = await WaitRecord.get(local.store, "berth", wait.ecsService);
    expect(following).toMatchObject({ phase: "rolling-back", rollbackEcsDeploymentId: "ecs-svc/rollback" });
    const rolling = await DeploymentRecord.get(local.store, deploymentId);
    expect(rolling?.status).toBe("ROLLING_BACK");
    expect(rolling?.reason).toContain("ECS is rolling back");
    // The repeated failure changes nothing; ECS's rollback completing ends the deployment.
    expect(await handleEcsEvent(ecs.context, failed)).toBe("ignored");
    expect(await handleEcsEvent(ecs.context, completedEvent(wait, "ecs-svc/rollback"))).toBe("rolled-back");
    expect(ecs.calls.filter((call) => call !== "DescribeServicesCommand")).toEqual([]);
    const after = await WaitRecord.get(local.store, "berth", wait.ecsService);
    expect(after?.pendingOutcome).toMatchObject({
      status: "ROLLED_BACK",
      taskDefinitionArn: wait.rollbackTaskDefinitionArn,
    });
    expect(String(after?.pendingOutcome?.reason)).toContain("10% of production traffic");
    const ended = await finalize(ecs.context, {
      deploymentId,
      stack,
      service: "api",
      outcome: after?.pendingOutcome,
    });
    expect(ended.status).toBe("ROLLED_BACK");
  });

  it("ends ROLLED_BACK at once when ECS's rollback completed before its failure was handled", async () => {
    const { wait } = await waitingDeployment();
    const ecs = ecsRollingBack(wait, { rolloutState: "COMPLETED" });
    expect(await handleEcsEvent(ecs.context, deploymentFailed(wait, "circuit breaker"))).toBe("rolled-back");
    expect(ecs.calls.filter((call) => call !== "DescribeServicesCommand")).toEqual([]);
    expect((await WaitRecord.get(local.store, "berth", wait.ecsService))?.pendingOutcome).toMatchObject({
      status: "ROLLED_BACK",
    });
  });

  it("is Berth's own to start when ECS's rollout is still the primary one", async () => {
    const { wait, deploymentId } = await waitingDeployment();
    const ecs = ecsRollingBack(wait, { rolloutState: "IN_PROGRESS" });
    // ECS has not rolled back: its primary deployment is the wait's own.
    await WaitRecord.change(local.store, "berth", wait.ecsService, () => ({
      ecsDeploymentId: "ecs-svc/rollback",
    }));
    const events = [taskStopped(wait, "t1"), taskStopped(wait, "t2")];
    expect(await handleEcsEvent(ecs.context, events[0])).toBe("task-failure-recorded");
    expect(await handleEcsEvent(ecs.context, events[1])).toBe("rollback-failed");
    expect(ecs.calls).toContain("UpdateServiceCommand");
    expect((await DeploymentRecord.get(local.store, deploymentId))?.status).toBe("ROLLING_BACK");
  });
});

describe("a gradual rollout's rollback, told by its service deployment", () => {
  const ARN = "arn:aws:ecs:us-east-1:000000000000:service-deployment/berth/svc/abc";
  /**
   * ECS as AWS shows a canary service: DescribeServices with no new primary deployment (ECS
   * shifts traffic back to the tasks it kept), and the service deployment whose status and
   * rollback say what happens. `stop` is StopServiceDeployment's answer. Calls are recorded.
   */
  function canaryEcs(wait: WaitRecord.Info, status: { value: string }, stop?: Error) {
    const calls: string[] = [];
    const ecs = {
      send: async (command: { constructor: { name: string }; input: Record<string, unknown> }) => {
        const name = command.constructor.name;
        calls.push(name);
        if (name === "DescribeServicesCommand") {
          return {
            services: [
              {
                serviceName: wait.ecsService,
                status: "ACTIVE",
                deploymentConfiguration: { strategy: "CANARY" },
                currentServiceDeployment: ARN,
                deployments: [
                  { id: wait.ecsDeploymentId, status: "PRIMARY", taskDefinition: wait.taskDefinitionArn },
                ],
              },
            ],
          };
        }
        if (name === "DescribeServiceDeploymentsCommand") {
          return {
            serviceDeployments: [
              {
                serviceDeploymentArn: ARN,
                status: status.value,
                ...(status.value.startsWith("ROLLBACK")
                  ? { rollback: { reason: "Rolled back by StopServiceDeployment." } }
                  : {}),
              },
            ],
          };
        }
        if (name === "StopServiceDeploymentCommand") {
          if (stop) throw stop;
          expect(command.input).toEqual({ serviceDeploymentArn: ARN, stopType: "ROLLBACK" });
          status.value = "ROLLBACK_IN_PROGRESS";
          return { serviceDeploymentArn: ARN };
        }
        if (name === "UpdateServiceCommand") {
          return { service: { deployments: [{ id: "ecs-svc/2", status: "PRIMARY" }] } };
        }
        throw new Error(`${name} must not be called here`);
      },
    };
    const clients = new Proxy({} as Clients, {
      get: (_, key) => (key === "ecs" ? ecs : refusing[key as keyof Clients]),
    });
    return { calls, context: { store: local.store, clients, settings: SETTINGS } as StepContext };
  }

  it("fail-fast mid-shift stops the rollout with StopServiceDeployment, no UpdateService, and ends with ROLLBACK_SUCCESSFUL", async () => {
    const { wait, deploymentId } = await waitingDeployment();
    const status = { value: "IN_PROGRESS" };
    const ecs = canaryEcs(wait, status);
    expect(await handleEcsEvent(ecs.context, taskStopped(wait, "t1"))).toBe("task-failure-recorded");
    expect(await handleEcsEvent(ecs.context, taskStopped(wait, "t2"))).toBe("rolling-back");
    expect(ecs.calls).toContain("StopServiceDeploymentCommand");
    expect(ecs.calls).not.toContain("UpdateServiceCommand");
    expect(await WaitRecord.get(local.store, "berth", wait.ecsService)).toMatchObject({
      phase: "rolling-back",
      rollbackServiceDeploymentArn: ARN,
    });
    expect((await DeploymentRecord.get(local.store, deploymentId))?.reason).toContain(
      "stopping the gradual rollout",
    );
    // An ECS event of any deployment of the service makes Berth read the status again.
    expect(await handleEcsEvent(ecs.context, completedEvent(wait, "ecs-svc/other"))).toBe("ignored");
    status.value = "ROLLBACK_SUCCESSFUL";
    expect(await handleEcsEvent(ecs.context, completedEvent(wait, "ecs-svc/other"))).toBe("rolled-back");
    expect((await WaitRecord.get(local.store, "berth", wait.ecsService))?.pendingOutcome).toMatchObject({
      status: "ROLLED_BACK",
      taskDefinitionArn: wait.rollbackTaskDefinitionArn,
    });
  });

  it("follows a rollback ECS started itself, though DescribeServices shows no new primary", async () => {
    const { wait } = await waitingDeployment();
    const status = { value: "ROLLBACK_IN_PROGRESS" };
    const ecs = canaryEcs(wait, status);
    expect(await handleEcsEvent(ecs.context, deploymentFailed(wait, "canary alarm"))).toBe("rolling-back");
    expect(ecs.calls.filter((call) => call.startsWith("Stop") || call.startsWith("Update"))).toEqual([]);
    status.value = "ROLLBACK_FAILED";
    expect(await handleEcsEvent(ecs.context, completedEvent(wait, "ecs-svc/other"))).toBe("rollback-failed");
    const outcome = (await WaitRecord.get(local.store, "berth", wait.ecsService))?.pendingOutcome;
    expect(outcome).toMatchObject({ status: "ROLLBACK_FAILED" });
    expect(String(outcome?.reason)).toContain("Rolled back by StopServiceDeployment.");
  });

  it("rolls back by UpdateService when ECS refuses the stop (the rollout ended meanwhile)", async () => {
    const { wait } = await waitingDeployment();
    const conflict = Object.assign(new Error("The service deployment is SUCCESSFUL"), {
      name: "ConflictException",
    });
    const ecs = canaryEcs(wait, { value: "IN_PROGRESS" }, conflict);
    await handleEcsEvent(ecs.context, taskStopped(wait, "t1"));
    expect(await handleEcsEvent(ecs.context, taskStopped(wait, "t2"))).toBe("rolling-back");
    expect(ecs.calls).toContain("StopServiceDeploymentCommand");
    expect(ecs.calls).toContain("UpdateServiceCommand");
    expect(await WaitRecord.get(local.store, "berth", wait.ecsService)).toMatchObject({
      phase: "rolling-back",
      rollbackEcsDeploymentId: "ecs-svc/2",
    });
  });
});

describe("finalize", () => {
  it("passes through ROLLING_BACK to ROLLED_BACK and records the revision ECS runs, without making it last-good", async () => {
    const { stack, wait, deploymentId } = await waitingDeployment();
    const ended = await finalize(context(), {
      deploymentId,
      stack,
      service: "api",
      outcome: {
        status: "ROLLED_BACK",
        reason: "2 tasks failed; back on :1",
        taskDefinitionArn: wait.rollbackTaskDefinitionArn,
      },
    });
    expect(ended.status).toBe("ROLLED_BACK");
    const events = await DeploymentEventRecord.all(local.store, deploymentId);
    expect(events.filter((event) => event.type === "status").map((event) => event.data)).toEqual([
      expect.objectContaining({ from: "PENDING", to: "DEPLOYING" }),
      expect.objectContaining({ from: "DEPLOYING", to: "ROLLING_BACK" }),
      expect.objectContaining({ from: "ROLLING_BACK", to: "ROLLED_BACK" }),
    ]);
    const service = await ServiceRecord.get(local.store, stack, "api");
    expect(service?.liveTaskDefinitionArn).toBe(wait.rollbackTaskDefinitionArn);
    expect(service?.lastGoodTaskDefinitionArn).toBeUndefined();
    // The wait is over, and a repeated finalize changes nothing.
    expect(await WaitRecord.get(local.store, "berth", wait.ecsService)).toBeUndefined();
    expect(
      (
        await finalize(context(), {
          deploymentId,
          stack,
          service: "api",
          outcome: { status: "SUCCEEDED", reason: "late" },
        })
      ).status,
    ).toBe("ROLLED_BACK");
  });

  it("ends a deployment its workflow could not run as FAILED, or CANCELLED when it was cancelled", async () => {
    const failed = await waitingDeployment();
    const ended = await finalize(context(), {
      deploymentId: failed.deploymentId,
      stack: failed.stack,
      service: "api",
      error: {
        Error: "Berth.PreflightFailed",
        Cause: JSON.stringify({
          errorType: "Berth.PreflightFailed",
          errorMessage: "$Secret('db') does not exist in Secrets Manager",
        }),
      },
    });
    expect(ended).toEqual({ status: "FAILED", reason: "$Secret('db') does not exist in Secrets Manager" });
    const cancelled = await waitingDeployment();
    const stopped = await finalize(context(), {
      deploymentId: cancelled.deploymentId,
      stack: cancelled.stack,
      service: "api",
      error: {
        Error: "Berth.Cancelled",
        Cause: JSON.stringify({ errorMessage: "cancelled before ECS was changed" }),
      },
    });
    expect(stopped.status).toBe("CANCELLED");
    expect((await DeploymentRecord.get(local.store, cancelled.deploymentId))?.reason).toBe(
      "cancelled before ECS was changed",
    );
  });
});

describe("describeError", () => {
  it("says in which phase a build failed and why", () => {
    const build = {
      Id: "berth-build:1",
      BuildStatus: "FAILED",
      Phases: [
        { PhaseType: "SUBMITTED", PhaseStatus: "SUCCEEDED" },
        {
          PhaseType: "BUILD",
          PhaseStatus: "FAILED",
          Contexts: [{ Message: 'esbuild: Expected ";" but found "}"' }],
        },
      ],
      Logs: { GroupName: "/aws/codebuild/berth-build", StreamName: "1" },
    };
    const described = describeError({ Error: "States.TaskFailed", Cause: JSON.stringify(build) });
    expect(described.reason).toBe(
      'the build berth-build:1 failed in its BUILD phase: esbuild: Expected ";" but found "}"',
    );
    expect(described.build?.Logs?.StreamName).toBe("1");
    expect(describeError({ Error: "States.Timeout" }).reason).toBe("a step of the workflow timed out");
    expect(describeError({ Error: "Berth.LocalRestart", Cause: "Berth Local stopped" }).reason).toBe(
      "Berth.LocalRestart: Berth Local stopped",
    );
  });
});

describe("waitTimeoutFor", () => {
  it("grows with the health check's start period and retries, within bounds", () => {
    const service = (check: Record<string, unknown> | undefined) => {
      const parsed = Spec.RESOURCE_SCHEMAS["private-service"].parse({
        type: "private-service",
        properties: {
          packaging: { type: "prebuilt-image", properties: { image: "nginx" } },
          resources: { cpu: 0.25, memory: 512 },
          ...(check ? { internalHealthCheck: check } : {}),
        },
      });
      return parsed as Spec.ComputeResource;
    };
    const quick = waitTimeoutFor(
      "api",
      service({ healthCheckCommand: ["CMD", "true"], intervalSeconds: 5, timeoutSeconds: 2, retries: 1 }),
    );
    const slow = waitTimeoutFor(
      "api",
      service({
        healthCheckCommand: ["CMD", "true"],
        intervalSeconds: 300,
        timeoutSeconds: 120,
        retries: 10,
        startPeriodSeconds: 300,
      }),
    );
    expect(quick).toBe(WAIT_TIMEOUT.min + 60);
    expect(slow).toBe(WAIT_TIMEOUT.max);
    expect(waitTimeoutFor("api", service(undefined))).toBe(180);
  });
});

describe("preflight", () => {
  async function stackWith(resources: Record<string, unknown>) {
    counter += 1;
    const stack = `preflight-${counter}`;
    const text = JSON.stringify({ resources });
    await StackRecord.put(local.store, { name: stack, stage: "test", stackFile: text });
    const parsed = Spec.parse(text);
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
    for (const [name, resource] of Object.entries(parsed.stack.resources)) {
      await ServiceRecord.create(local.store, { stack, name, spec: resource as Record<string, unknown> });
    }
    return stack;
  }
  const service = (extra: Record<string, unknown> = {}) => ({
    type: "private-service",
    properties: {
      packaging: { type: "prebuilt-image", properties: { image: "public.ecr.aws/nginx/nginx:1" } },
      resources: { cpu: 0.25, memory: 512 },
      ...extra,
    },
  });

  it("load-deployment writes a redeploy's images into the spec when it starts, not before", async () => {
    const stack = await stackWith({ api: service() });
    await ServiceRecord.update(
      local.store,
      {
        stack,
        name: "api",
        expectedVersion: (await ServiceRecord.get(local.store, stack, "api"))?.version ?? 0,
      },
      { sourceDigests: { api: `sha256:${"c".repeat(64)}` } },
    );
    const image = "public.ecr.aws/nginx/nginx:2";
    const requested = await Deployment.requestDeployment(local.store, {
      stack,
      service: "api",
      trigger: "api",
      specHash: "b".repeat(64),
      parameters: { action: "deploy", images: { api: image } },
    });
    const imageOf = async () =>
      ((await ServiceRecord.get(local.store, stack, "api"))?.spec as ReturnType<typeof service>).properties
        .packaging.properties.image;
    expect(await imageOf()).toBe("public.ecr.aws/nginx/nginx:1");
    const input = { deploymentId: requested.deployment.id, stack, service: "api" };
    await loadDeployment(context(), input);
    expect(await imageOf()).toBe(image);
    expect((await ServiceRecord.get(local.store, stack, "api"))?.sourceDigests).toBeUndefined();
    expect((await DeploymentRecord.get(local.store, input.deploymentId))?.status).toBe("DEPLOYING");
    // A retried step finds the deployment started and the spec written: nothing changes.
    const version = (await ServiceRecord.get(local.store, stack, "api"))?.version;
    await loadDeployment(context(), input);
    expect((await ServiceRecord.get(local.store, stack, "api"))?.version).toBe(version);
  });

  it("writes a spec against a record read earlier only when nothing changed it since; else against the newer one", async () => {
    const stack = await stackWith({ api: service() });
    const read = await ServiceRecord.get(local.store, stack, "api");
    if (!read) throw new Error("no service record");
    // Another writer changes the record after it was read.
    const digests = { api: `sha256:${"d".repeat(64)}` };
    await ServiceRecord.update(
      local.store,
      { stack, name: "api", expectedVersion: read.version },
      { sourceDigests: digests },
    );
    const image = "public.ecr.aws/nginx/nginx:3";
    const written = await updateSpec(
      local.store,
      stack,
      "api",
      (current) => withImages("api", current.spec, { api: image }),
      {},
      10_000,
      read,
    );
    expect(written.version).toBe(read.version + 2);
    expect(written.sourceDigests).toEqual(digests);
    expect((written.spec as ReturnType<typeof service>).properties.packaging.properties.image).toBe(image);
  });

  it("gives every step its own copy of a stack file parsed before", async () => {
    counter += 1;
    const stack = `parsed-${counter}`;
    // "worker" is in the file only: what a step sees of it comes from the parsed file.
    const text = JSON.stringify({ resources: { api: service(), worker: service() } });
    await StackRecord.put(local.store, { name: stack, stage: "test", stackFile: text });
    await ServiceRecord.create(local.store, { stack, name: "api", spec: service() });
    const first = await loadTarget(local.store, stack, "api");
    const worker = first.stack.resources.worker as ReturnType<typeof service>;
    worker.properties.resources.cpu = 4;
    const second = await loadTarget(local.store, stack, "api");
    expect((second.stack.resources.worker as ReturnType<typeof service>).properties.resources.cpu).toBe(0.25);
  });

  it("refuses a target that is neither deployed nor being deployed, and inconsistent health checks, at once", async () => {
    const stack = await stackWith({
      api: service(),
      web: service({
        connectTo: ["api"],
        internalHealthCheck: { healthCheckCommand: ["CMD", "true"], intervalSeconds: 5, timeoutSeconds: 5 },
      }),
    });
    const error = await preflight(context(), { deploymentId: "x", stack, service: "web" }).then(
      () => undefined,
      (caught: Error) => caught,
    );
    expect(error?.name).toBe("Berth.PreflightFailed");
    expect(error?.message).toContain("web connects to api, which is neither deployed nor being deployed");
    expect(error?.message).toContain("timeoutSeconds (5) must be shorter than its intervalSeconds (5)");
  });

  it("waits for a target that is being deployed but not created yet, unless it connects back", async () => {
    const stack = await stackWith({ api: service(), web: service({ connectTo: ["api"] }) });
    await Deployment.requestDeployment(local.store, {
      stack,
      service: "api",
      trigger: "api",
      specHash: "b".repeat(64),
    });
    const web = await Deployment.requestDeployment(local.store, {
      stack,
      service: "web",
      trigger: "api",
      specHash: "b".repeat(64),
    });
    const input = { deploymentId: web.deployment.id, stack, service: "web" };
    for (let retry = 0; retry < 2; retry += 1) {
      await expect(preflight(context(), input)).rejects.toMatchObject({ name: "Berth.DependencyPending" });
    }
    // The wait is said once on the deployment, however often the workflow retries.
    const waiting = (await DeploymentEventRecord.all(local.store, web.deployment.id)).filter(
      (event) => event.type === "waiting",
    );
    expect(waiting.map((event) => event.data)).toEqual([{ for: ["api"] }]);
    const looped = await stackWith({
      api: service({ connectTo: ["web"] }),
      web: service({ connectTo: ["api"] }),
    });
    await Deployment.requestDeployment(local.store, {
      stack: looped,
      service: "api",
      trigger: "api",
      specHash: "b".repeat(64),
    });
    expect(await preflight(context(), { deploymentId: "x", stack: looped, service: "web" })).toMatchObject({
      checked: expect.arrayContaining(["dependency api"]),
    });
  });
});

describe("stabilitySeconds", () => {
  const service = (properties: Record<string, unknown>) =>
    Spec.RESOURCE_SCHEMAS["private-service"].parse({
      type: "private-service",
      properties: {
        packaging: { type: "prebuilt-image", properties: { image: "nginx" } },
        resources: { cpu: 0.25, memory: 512 },
        ...properties,
      },
    }) as Spec.ComputeResource;
  const check = { healthCheckCommand: ["CMD", "true"], intervalSeconds: 30 };

  it("is 10 s without a health check, one interval with a longer one, and what failFast.stabilitySeconds says", () => {
    expect(stabilitySeconds("api", service({}))).toBe(10);
    expect(stabilitySeconds("api", service({ internalHealthCheck: { ...check, intervalSeconds: 5 } }))).toBe(
      10,
    );
    expect(stabilitySeconds("api", service({ internalHealthCheck: check }))).toBe(30);
    expect(
      stabilitySeconds("api", service({ internalHealthCheck: check, failFast: { stabilitySeconds: 3 } })),
    ).toBe(3);
    expect(stabilitySeconds("api", service({ failFast: { stabilitySeconds: 0 } }))).toBe(0);
  });

  it("refuses a window outside 0–600 s", () => {
    for (const stabilitySeconds of [-1, 601, 2.5]) {
      const parsed = Spec.RESOURCE_SCHEMAS["private-service"].safeParse({
        type: "private-service",
        properties: {
          packaging: { type: "prebuilt-image", properties: { image: "nginx" } },
          resources: { cpu: 0.25, memory: 512 },
          failFast: { stabilitySeconds },
        },
      });
      expect(parsed.success).toBe(false);
    }
  });
});

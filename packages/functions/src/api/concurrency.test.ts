import { Deployment, DeploymentRequest, DeploymentStatus, type Workflow } from "@berth/core/deployments";
import { DeploymentRecord, ServiceRecord, StackRecord, type Store } from "@berth/core/store";
import { withStackLease } from "@berth/core/test-support";
import { describe, expect, it } from "vitest";
import {
  harnessForFile,
  JSON_TYPE,
  RecordingWorkflows,
  silentLogger,
  stackFile,
  startHarness,
  YAML,
} from "./test-support.ts";

const CONCURRENT_REQUESTS = 50;

/**
 * Step Functions as the invariant sees it: starting a deployment's workflow while an earlier
 * one of the same service is still running is the interleaving that must never happen.
 */
class CheckingWorkflows extends RecordingWorkflows {
  readonly violations: string[] = [];
  store: Store | undefined;

  override readonly startExecution = async (deploymentId: string, input: Workflow.WorkflowInput) => {
    const earlier = this.starts.filter(
      (start) => start.stack === input.stack && start.service === input.service,
    );
    for (const start of earlier) {
      const deployment = await DeploymentRecord.get(this.store as Store, start.deploymentId);
      if (deployment && !DeploymentStatus.isTerminal(deployment.status)) {
        this.violations.push(`${deploymentId} started while ${start.deploymentId} was ${deployment.status}`);
      }
    }
    this.starts.push(input);
    return { executionArn: `arn:aws:states:us-east-1:123456789012:execution:berth-deploy:${deploymentId}` };
  };
}

const workflows = new CheckingWorkflows();
// The API's own stack-lease wait: an apply that finds the stack busy longer is refused at once.
const harness = harnessForFile({ startExecution: workflows.startExecution }, async (started) => {
  workflows.store = started.store;
});

/**
 * Plays the deploy workflow for one service until `done()` and nothing is left: whatever holds
 * the active slot (once started) runs, succeeds, releases the service and starts the next.
 */
async function runWorkflows(stack: string, service: string, done: () => boolean): Promise<number> {
  const context = { store: harness.store, startExecution: workflows.startExecution, logger: silentLogger() };
  let completed = 0;
  for (;;) {
    const current = await ServiceRecord.get(harness.store, stack, service);
    const active = current?.activeDeploymentId;
    const started = active !== undefined && workflows.starts.some((start) => start.deploymentId === active);
    if (!active || !started) {
      if (done() && !active) return completed;
      await new Promise((resolve) => setTimeout(resolve, 5));
      continue;
    }
    await Deployment.transition(harness.store, active, "PENDING", "DEPLOYING", "rolling out");
    await Deployment.transition(harness.store, active, "DEPLOYING", "SUCCEEDED", "healthy");
    completed++;
    const { promoted } = await Deployment.releaseService(harness.store, stack, service, active);
    if (promoted) await DeploymentRequest.startPromoted(context, promoted);
  }
}

async function everyDeployment(stack: string, service: string): Promise<DeploymentRecord.Info[]> {
  const all: DeploymentRecord.Info[] = [];
  let cursor: string | undefined;
  do {
    const page = await DeploymentRecord.listForService(harness.store, stack, service, { limit: 100, cursor });
    all.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor);
  return all;
}

function expectNoneLost(deployments: DeploymentRecord.Info[], requested: string[]): void {
  const byId = new Map(deployments.map((deployment) => [deployment.id, deployment]));
  for (const id of requested) {
    const deployment = byId.get(id);
    expect(deployment, `deployment ${id}`).toBeDefined();
    expect(["SUCCEEDED", "SUPERSEDED"]).toContain(deployment?.status);
    if (deployment?.status === "SUPERSEDED")
      expect(deployment.reason).toMatch(/^superseded by [0-9A-Z]{26}$/);
  }
}

describe(`${CONCURRENT_REQUESTS} concurrent deploy requests for one service`, () => {
  it.each([
    { what: "without an image", stack: "burst", body: () => "{}" },
    // The images travel on each deployment: no request fights the others over a spec write.
    {
      what: "each with its own image",
      stack: "burst-images",
      body: (index: number) => JSON.stringify({ image: { api: `nginx:1.${index}` } }),
    },
  ])("redeploys $what: one active at a time, each request active, queued or superseded, none lost", async ({
    stack,
    body,
  }) => {
    await harness.call({
      method: "PUT",
      path: `/v1/stacks/${stack}`,
      headers: YAML,
      body: stackFile({ withWorker: false }),
      token: harness.tokens.deploy,
    });
    let finished = false;
    const runner = runWorkflows(stack, "api", () => finished);

    const replies = await Promise.all(
      Array.from({ length: CONCURRENT_REQUESTS }, (_, index) =>
        harness.call({
          method: "POST",
          path: `/v1/stacks/${stack}/services/api/deployments`,
          headers: JSON_TYPE,
          body: body(index),
          token: harness.tokens.deploy,
        }),
      ),
    );
    finished = true;
    const completed = await runner;

    expect(replies.map((reply) => reply.status)).toEqual(Array(CONCURRENT_REQUESTS).fill(202));
    for (const reply of replies) expect(["active", "queued", "superseded"]).toContain(reply.json.placement);
    expect(workflows.violations).toEqual([]);
    const deployments = await everyDeployment(stack, "api");
    expect(deployments).toHaveLength(CONCURRENT_REQUESTS + 1);
    expectNoneLost(
      deployments,
      replies.map((reply) => reply.json.deployment.id),
    );
    expect(deployments.filter((deployment) => deployment.status === "SUCCEEDED")).toHaveLength(completed);
    // The newest request always runs: nothing newer can supersede it.
    const newest = deployments
      .map((deployment) => deployment.id)
      .sort()
      .at(-1);
    expect(deployments.find((deployment) => deployment.id === newest)?.status).toBe("SUCCEEDED");
    const service = await ServiceRecord.get(harness.store, stack, "api");
    expect(service?.activeDeploymentId).toBeUndefined();
    expect(service?.queuedDeploymentId).toBeUndefined();
  });

  it("stack applies: each taken or refused at once, run one at a time, file and services agree, none lost", async () => {
    let finished = false;
    const runner = runWorkflows("applies", "api", () => finished);

    const replies = await Promise.all(
      Array.from({ length: CONCURRENT_REQUESTS }, (_, index) =>
        harness.call({
          method: "PUT",
          path: "/v1/stacks/applies",
          headers: YAML,
          body: stackFile({ greeting: `hello-${index}`, withWorker: false }),
          token: harness.tokens.deploy,
        }),
      ),
    );
    finished = true;
    await runner;

    // Taken (202), or refused at once because another apply held the stack (409 with a
    // Retry-After): never held for tens of seconds, never a 5xx.
    const taken = replies.filter((reply) => reply.status === 202);
    const refused = replies.filter((reply) => reply.status !== 202);
    expect(taken.length).toBeGreaterThan(0);
    for (const reply of refused) {
      expect(reply.status, JSON.stringify(reply.json)).toBe(409);
      expect(reply.json.error.code).toBe("CONFLICT");
      expect(Number(reply.headers["retry-after"])).toBeGreaterThan(0);
    }
    expect(workflows.violations).toEqual([]);
    const requested = taken.map((reply) => reply.json.plan[0].deployment.deployment.id as string);
    expect(new Set(requested).size).toBe(taken.length);
    // Every deployment is one a 202 named: a refused apply wrote none.
    const deployments = await everyDeployment("applies", "api");
    expect(deployments).toHaveLength(taken.length);
    expectNoneLost(deployments, requested);
    // The last apply to store its file also wrote the spec the service has.
    const stack = await harness.call({
      method: "GET",
      path: "/v1/stacks/applies",
      token: harness.tokens.read,
    });
    const service = await harness.call({
      method: "GET",
      path: "/v1/stacks/applies/services/api",
      token: harness.tokens.read,
    });
    const greeting = service.json.spec.properties.environment[0].value;
    expect(stack.json.stack.stackFile).toBe(stackFile({ greeting, withWorker: false }));
  });
});

describe("an apply that finds its stack busy", () => {
  it("is refused at once with 409 and a Retry-After, having changed nothing; once free, the same apply runs", async () => {
    // The default lease wait: the API's own, not this file's long one.
    const busy = await startHarness({ startExecution: new RecordingWorkflows().startExecution });
    try {
      const apply = () =>
        busy.call({
          method: "PUT",
          path: "/v1/stacks/busy",
          headers: YAML,
          body: stackFile({ withWorker: false }),
          token: busy.tokens.deploy,
        });
      const refused = await withStackLease(busy.store, "busy", 0, apply);
      expect(refused.status).toBe(409);
      expect(refused.json.error.code).toBe("CONFLICT");
      expect(refused.headers["retry-after"]).toBe("1");
      expect(await StackRecord.get(busy.store, "busy")).toBeUndefined();
      expect(await ServiceRecord.get(busy.store, "busy", "api")).toBeUndefined();
      expect((await apply()).status).toBe(202);
    } finally {
      await busy.stop();
    }
  });
});

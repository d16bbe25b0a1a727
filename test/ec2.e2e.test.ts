import {
  DescribeContainerInstancesCommand,
  DescribeServicesCommand,
  DescribeTasksCommand,
  ListContainerInstancesCommand,
  ListTasksCommand,
} from "@aws-sdk/client-ecs";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { appPackaging, HEALTH_CHECK_TIMING, HTTP_HEALTH_CHECK, httpApp, waitFor } from "./support/apps.ts";
import { type BerthApi, requested } from "./support/berth-api.ts";
import type { BerthLocalProcess } from "./support/berth-local-process.ts";
import {
  berthLocalForFile,
  e2eWorkspace,
  getText,
  localEcsClient,
  runningTasks,
  TEST_STABILITY_SECONDS,
} from "./support/e2e.ts";

/**
 * A stack with `instanceTypes` on Berth Local: its service runs on the cluster's EC2 capacity
 * provider, on a container instance of the instance type it names, and serves; a service whose
 * task no instance type can hold fails its deployment with ECS's placement reason.
 */

const workspace = e2eWorkspace("berth-ec2-");
const app = httpApp();
let local: BerthLocalProcess | undefined;
let api: BerthApi;

/** The reference docs' EC2 service: `instanceTypes` only, so Berth sizes memory to the instance. */
function ec2Stack(resources: Record<string, unknown>, version: string): string {
  return stringify({
    resources: {
      api: {
        type: "private-service",
        properties: {
          packaging: appPackaging(app.image),
          resources,
          failFast: { stabilitySeconds: TEST_STABILITY_SECONDS },
          environment: [{ name: "VERSION", value: version }],
          internalHealthCheck: {
            healthCheckCommand: HTTP_HEALTH_CHECK,
            ...HEALTH_CHECK_TIMING,
            retries: 1,
            startPeriodSeconds: 0,
          },
        },
      },
    },
  });
}

berthLocalForFile(workspace, (running) => {
  local = running.local;
  api = running.api;
});

describe("EC2 stacks on Berth Local", { shuffle: false }, () => {
  it("deploys a service with instanceTypes to SUCCEEDED on a container instance of that type, and it serves", async () => {
    const applied = await api.applyStack("onec2", ec2Stack({ instanceTypes: ["c5.large"] }, "ec2-v1"));
    const { deployment } = await api.waitForStatus(
      requested(applied, "api").deployment.id,
      undefined,
      180_000,
    );
    expect(deployment.status, deployment.reason).toBe("SUCCEEDED");

    const ecs = localEcsClient(local?.awsUrl ?? "");
    const [task] = await runningTasks(ecs, "onec2-api");
    expect(task?.hostPort).toBeGreaterThan(0);
    expect(await getText(`http://127.0.0.1:${task?.hostPort}/`)).toBe("ec2-v1");

    const { tasks = [] } = await ecs.send(
      new DescribeTasksCommand({ cluster: "berth", tasks: [task?.taskArn ?? ""] }),
    );
    expect(tasks[0]).toMatchObject({
      launchType: "EC2",
      capacityProviderName: "berth-local-ec2",
      memory: "3686",
    });
    const { containerInstanceArns = [] } = await ecs.send(
      new ListContainerInstancesCommand({
        cluster: "berth",
        filter: "attribute:ecs.instance-type == c5.large",
      }),
    );
    expect(containerInstanceArns).toContain(tasks[0]?.containerInstanceArn);
    const { containerInstances = [] } = await ecs.send(
      new DescribeContainerInstancesCommand({ cluster: "berth", containerInstances: containerInstanceArns }),
    );
    const holding = containerInstances.find(
      (instance) => instance.containerInstanceArn === tasks[0]?.containerInstanceArn,
    );
    // The task sized to 90 % of c5.large's 4 GiB holds all but 41 MiB of what the instance registered.
    expect(holding?.remainingResources?.find((resource) => resource.name === "MEMORY")?.integerValue).toBe(
      3727 - 3686,
    );
    expect(holding?.runningTasksCount).toBe(1);
    ecs.destroy();
  });

  it("fails a service whose task no instance type can hold with ECS's reason, and scales it to 0", async () => {
    // 4 vCPUs on a 2-vCPU c5.large: the memory fits, the CPU never does.
    const applied = await api.applyStack(
      "toobig",
      ec2Stack({ instanceTypes: ["c5.large"], cpu: 4, memory: 1024 }, "big"),
    );
    const { deployment, events } = await api.waitForStatus(
      requested(applied, "api").deployment.id,
      undefined,
      180_000,
    );
    expect(deployment.status).toBe("FAILED");
    expect(deployment.reason).toMatch(/^ECS could not place a task of the new revision: RESOURCE:CPU/);
    expect(events.map((event) => event.type)).not.toContain("task-failed");

    const ecs = localEcsClient(local?.awsUrl ?? "");
    const { services = [] } = await ecs.send(
      new DescribeServicesCommand({ cluster: "berth", services: ["toobig-api"] }),
    );
    expect(services[0]?.desiredCount).toBe(0);
    expect(services[0]?.events?.map((event) => event.message)).toContainEqual(
      expect.stringContaining(
        "was unable to place a task because no container instance met all of its requirements",
      ),
    );
    const { taskArns = [] } = await ecs.send(
      new ListTasksCommand({ cluster: "berth", serviceName: "toobig-api" }),
    );
    expect(taskArns).toEqual([]);
    ecs.destroy();
  });

  it("an update to a revision that fits nowhere is rolled back to the running one, which keeps serving", async () => {
    const applied = await api.applyStack(
      "onec2",
      ec2Stack({ instanceTypes: ["c5.large"], cpu: 4, memory: 1024 }, "ec2-v2"),
    );
    const { deployment } = await api.waitForStatus(
      requested(applied, "api").deployment.id,
      undefined,
      180_000,
    );
    expect(deployment.status).toBe("ROLLED_BACK");
    expect(deployment.reason).toMatch(/RESOURCE:CPU/);
    const ecs = localEcsClient(local?.awsUrl ?? "");
    const served = await waitFor("the first revision to serve", async () => {
      const [task] = await runningTasks(ecs, "onec2-api");
      return task?.hostPort
        ? await getText(`http://127.0.0.1:${task.hostPort}/`).catch(() => undefined)
        : undefined;
    });
    expect(served).toBe("ec2-v1");
    ecs.destroy();
  });
});

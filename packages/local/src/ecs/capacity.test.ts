import { describe, expect, it } from "vitest";
import { Ec2Capacity, instanceTypesOf, type Placement, reservationOf } from "./capacity.ts";
import type { EcsState, TaskRecord } from "./model.ts";

const CLUSTER = "arn:aws:ecs:us-east-1:000000000000:cluster/berth";

function capacity(maxInstances?: number) {
  const state: EcsState = { clusters: [], taskDefinitions: [], services: [], tasks: [] };
  let changes = 0;
  const ec2 = new Ec2Capacity(state, {
    arn: (resource) => `arn:aws:ecs:us-east-1:000000000000:${resource}`,
    ...(maxInstances !== undefined ? { maxInstances } : {}),
    onChange: () => {
      changes += 1;
    },
  });
  return { ec2, state, changes: () => changes };
}

let taskCount = 0;
/** Places and reserves one task, as the engine does; answers the task or the refusal. */
function run(ec2: Ec2Capacity, needs: Parameters<Ec2Capacity["place"]>[2]): TaskRecord | Placement {
  const placement = ec2.place(CLUSTER, "berth", needs);
  if (!("placed" in placement)) return placement;
  taskCount += 1;
  const task = { taskId: `task-${taskCount}` } as TaskRecord;
  ec2.reserve(placement.placed, task, needs);
  return task;
}

describe("Berth Local's EC2 capacity provider", () => {
  it("reads the instance types of a memberOf constraint, in order", () => {
    expect(
      instanceTypesOf([
        { type: "memberOf", expression: "attribute:ecs.instance-type in [m5.large, c5.large]" },
      ]),
    ).toEqual(["m5.large", "c5.large"]);
    expect(
      instanceTypesOf([{ type: "memberOf", expression: "attribute:ecs.instance-type == t3.micro" }]),
    ).toEqual(["t3.micro"]);
    expect(instanceTypesOf([{ type: "distinctInstance" }])).toBeUndefined();
    expect(instanceTypesOf(undefined)).toBeUndefined();
  });

  it("counts a task's own cpu and memory, else its containers'", () => {
    expect(reservationOf({ cpu: "1 vCPU", memory: "2 GB", containerDefinitions: [] })).toEqual({
      cpu: 1024,
      memory: 2048,
    });
    expect(
      reservationOf({
        containerDefinitions: [
          { cpu: 256, memory: 300 },
          { cpu: 128, memoryReservation: 200 },
        ],
      }),
    ).toEqual({ cpu: 384, memory: 500 });
  });

  it("starts the first listed type that holds the task, or the smallest without a constraint", () => {
    const { ec2 } = capacity();
    run(ec2, { cpu: 1024, memory: 6000, instanceTypes: ["c5.large", "m5.large"] });
    // A task without a constraint binpacks onto what runs when it fits there...
    run(ec2, { cpu: 256, memory: 256 });
    expect(ec2.instances().map((instance) => instance.instanceType)).toEqual(["m5.large"]);
    // ...and otherwise starts the smallest type that holds it.
    const { ec2: empty } = capacity();
    run(empty, { cpu: 256, memory: 256 });
    expect(empty.instances().map((instance) => instance.instanceType)).toEqual(["t3.nano"]);
  });

  it("at its maximum size refuses with the closest instance and ECS's reason; a stopped task makes room", () => {
    const { ec2 } = capacity(1);
    const first = run(ec2, { cpu: 512, memory: 3000, instanceTypes: ["c5.large"] }) as TaskRecord;
    const refused = run(ec2, { cpu: 512, memory: 1024, instanceTypes: ["c5.large"] });
    const [instance] = ec2.instances();
    expect(refused).toMatchObject({ reason: "RESOURCE:MEMORY", arn: instance?.containerInstanceArn });
    expect(run(ec2, { cpu: 2048, memory: 512, instanceTypes: ["c5.large"] })).toMatchObject({
      reason: "RESOURCE:CPU",
    });
    // The last task gone, the instance is scaled in and the next task gets a new one.
    ec2.release(first);
    expect(ec2.instances()).toEqual([]);
    expect("taskId" in run(ec2, { cpu: 512, memory: 1024, instanceTypes: ["c5.large"] })).toBe(true);
  });

  it("refuses types it does not know with ECS's constraint reason", () => {
    const { ec2 } = capacity();
    expect(run(ec2, { cpu: 0, memory: 512, instanceTypes: ["x9.huge"] })).toMatchObject({
      reason: "MemberOf placement constraint unsatisfied.",
    });
    expect(ec2.instances()).toEqual([]);
  });
});

import { describe, expect, it } from "vitest";
import { localTableForFile } from "../store/test-support.ts";
import { followingResource, storeFollowers } from "./__fixtures__/webhooks.ts";
import { refreshAll, refreshStack } from "./service.ts";

const local = localTableForFile();
const DAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

const stackFile = (berth: string) =>
  `resources:\n  api:\n    type: worker-service\n    properties:\n      packaging: { type: prebuilt-image, properties: { image: registry.example/r/api:1 } }\n      resources: { cpu: 0.25, memory: 512 }\n${berth}`;

describe("the scheduled refresh", () => {
  it("refreshes every deployed service, except stacks whose refresh is off or whose window is closed", async () => {
    const elsewhere = DAYS[(local.store.clock().getUTCDay() + 3) % 7];
    const api = { api: followingResource("registry.example/r/api:1") };
    await storeFollowers(local.store, "plain", api, true, stackFile(""));
    await storeFollowers(
      local.store,
      "off",
      api,
      true,
      stackFile('berth:\n  refresh: { schedule: "off" }\n'),
    );
    await storeFollowers(
      local.store,
      "closed",
      api,
      true,
      stackFile(`berth:\n  maintenanceWindow: { days: [${elsewhere}], start: "00:00", end: "00:00" }\n`),
    );
    await storeFollowers(
      local.store,
      "open",
      api,
      true,
      stackFile(
        `berth:\n  maintenanceWindow: { days: [${DAYS.join(", ")}], start: "00:00", end: "00:00" }\n`,
      ),
    );
    await storeFollowers(local.store, "never", api, false, stackFile(""));
    await storeFollowers(
      local.store,
      "own",
      api,
      true,
      stackFile('berth:\n  refresh: { schedule: "cron(0 4 * * ? *)", timeZone: Europe/Paris }\n'),
    );
    const started: string[] = [];
    const result = await refreshAll(
      {
        store: local.store,
        logger: { warn: () => {} },
        startExecution: async (id) => {
          started.push(id);
          return { executionArn: `arn:aws:states:us-east-1:123456789012:execution:berth-deploy:${id}` };
        },
      },
      "test refresh",
    );
    expect(result.requested.sort()).toEqual(["open/api", "plain/api"]);
    expect(result.skipped.sort()).toEqual([
      expect.stringMatching(/^closed: outside the stack's maintenance window/),
      "off: its refresh schedule is off",
      "own: it is refreshed on its own schedule (cron(0 4 * * ? *))",
    ]);
    expect(result.failed).toEqual([]);
    expect(started).toHaveLength(2);

    // Its own schedule firing refreshes it; a stack whose refresh is off, or that is gone, is left alone.
    const context = {
      store: local.store,
      logger: { warn: () => {} },
      startExecution: async (id: string) => {
        started.push(id);
        return { executionArn: `arn:aws:states:us-east-1:123456789012:execution:berth-deploy:${id}` };
      },
    };
    expect(await refreshStack(context, "own", "its schedule")).toEqual({
      requested: ["own/api"],
      deployments: [{ stack: "own", service: "api", deploymentId: started.at(-1) }],
      skipped: [],
      failed: [],
    });
    expect((await refreshStack(context, "off", "a stale schedule")).skipped).toEqual([
      "off: its refresh schedule is off",
    ]);
    expect((await refreshStack(context, "gone", "a stale schedule")).skipped).toEqual([
      "gone: the stack does not exist (its schedule outlived it)",
    ]);
    expect(started).toHaveLength(3);
  });
});

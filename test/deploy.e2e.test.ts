import { join } from "node:path";
import { DescribeTaskDefinitionCommand, type ECSClient } from "@aws-sdk/client-ecs";
import { afterAll, describe, expect, it } from "vitest";
import type { BerthApi } from "./support/berth-api.ts";
import { awsCli, type BerthLocalProcess, processesUnder } from "./support/berth-local-process.ts";
import {
  aliasAddress,
  berthLocalForFile,
  DEPLOY_STATE_MACHINE_ARN,
  e2eWorkspace,
  eventsOfType,
  localEcsClient,
  newestDeployment,
  processEnvironment,
  runBerth,
  runningTasks,
} from "./support/e2e.ts";

/**
 * End to end on Berth Local, no mocks: one Berth Local child process (`packages/local/src/main.ts`,
 * what `npm start` runs, with its own data dir, ports and admin token), the `berth` CLI's `main`,
 * the HTTP API, the `aws` CLI, real task processes. The example stack deployed from source, then
 * its workflow's execution read back. A service's rollbacks, queue and deletion are in
 * deploy-rollback.e2e.test.ts, the CLI's progress and a restart under a deployment in
 * deploy-restart.e2e.test.ts, each with a Berth Local of its own, so the three run side by side.
 */

const workspace = e2eWorkspace("berth-e2e-");
const { dataDir, adminToken } = workspace;

let local: BerthLocalProcess;
let api: BerthApi;
let ecs: ECSClient;

berthLocalForFile(workspace, (running) => {
  ({ local, api } = running);
  ecs?.destroy();
  ecs = localEcsClient(local.awsUrl);
});

afterAll(() => {
  ecs?.destroy();
});

describe("deploying on Berth Local end to end", { shuffle: false }, () => {
  it("deploys the private API and its consumer from source with the CLI; the consumer reaches the API through the injected address", async () => {
    const { code, output } = await runBerth(
      ["deploy", "-f", "examples/private-api/berth.yml", "--stack", "demo", "--timeout", "3m"],
      { apiUrl: local.apiUrl, token: adminToken },
    );
    expect(code, output).toBe(0);
    // Progress, as it happened, then the summary.
    expect(output).toMatch(/^\s*\d+:\d\d privateApi\s+PENDING → BUILDING/m);
    expect(output).toMatch(/^\s*\d+:\d\d publicService\s+BUILDING → DEPLOYING/m);
    expect(output).toMatch(/^\s*\d+:\d\d privateApi\s+DEPLOYING → SUCCEEDED/m);
    const summary = output.slice(output.indexOf("Summary:"));
    expect(output).toContain("Summary:");
    expect(summary).toMatch(/^\s*privateApi\s+SUCCEEDED\s/m);
    expect(summary).toMatch(/^\s*publicService\s+SUCCEEDED\s/m);

    for (const service of ["privateApi", "publicService"]) {
      const deployment = await newestDeployment(api, "demo", service);
      expect(deployment.status).toBe("SUCCEEDED");
      const { events } = await api.deployment(deployment.id);
      expect(eventsOfType(events, "built")).toHaveLength(1);
    }

    // The control plane injects the alias; the task sees the local Service Connect proxy instead.
    const [consumer] = await runningTasks(ecs, "demo-publicService");
    expect(consumer?.hostPort).toBeGreaterThan(0);
    const { taskDefinition } = await ecs.send(
      new DescribeTaskDefinitionCommand({ taskDefinition: consumer?.taskDefinitionArn }),
    );
    const injected = taskDefinition?.containerDefinitions?.[0]?.environment?.find(
      (variable) => variable.name === "PRIVATE_ADDRESS",
    );
    expect(injected?.value).toBe("privateapi.demo:3000");
    const proxy = await aliasAddress(local.awsUrl, "privateapi.demo:3000");
    const consumerProcess = processesUnder([join(dataDir, "artifacts")]).find(
      (candidate) => processEnvironment(candidate.pid)?.PORT === String(consumer?.hostPort),
    );
    expect(consumerProcess, "the publicService task's process").toBeDefined();
    const seen = processEnvironment(consumerProcess?.pid ?? 0)?.PRIVATE_ADDRESS;

    const response = await fetch(`http://127.0.0.1:${consumer?.hostPort}/`, {
      signal: AbortSignal.timeout(5_000),
    });
    const answer = (await response.json()) as { servedBy?: string; quote?: unknown; error?: string };
    const evidence = JSON.stringify({ answer, PRIVATE_ADDRESS: seen, proxy, output });
    expect(response.status, evidence).toBe(200);
    expect(answer.servedBy).toBe("publicService");
    expect(answer.quote).toEqual({
      id: expect.any(Number),
      text: expect.any(String),
      author: expect.any(String),
    });
    expect(seen, evidence).toBe(proxy);
  }, 180_000);

  it("lists the workflow executions and one execution's history with the aws CLI", async () => {
    const privateApi = await newestDeployment(api, "demo", "privateApi");
    const { executions } = (await awsCli(local.awsUrl, [
      "stepfunctions",
      "list-executions",
      "--state-machine-arn",
      DEPLOY_STATE_MACHINE_ARN,
    ])) as { executions: { name: string; executionArn: string; status: string }[] };
    const execution = executions.find((candidate) => candidate.name === privateApi.id);
    expect(execution, JSON.stringify(executions)).toBeDefined();
    expect(execution?.status).toBe("SUCCEEDED");
    expect(execution?.executionArn).toBe(privateApi.executionArn);

    const { events } = (await awsCli(local.awsUrl, [
      "stepfunctions",
      "get-execution-history",
      "--execution-arn",
      execution?.executionArn ?? "",
    ])) as { events: { type: string; executionStartedEventDetails?: { input: string } }[] };
    const types = events.map((event) => event.type);
    expect(types[0]).toBe("ExecutionStarted");
    expect(types.at(-1)).toBe("ExecutionSucceeded");
    expect(types).toContain("TaskStateEntered");
    expect(JSON.parse(events[0]?.executionStartedEventDetails?.input ?? "{}")).toMatchObject({
      deploymentId: privateApi.id,
      stack: "demo",
      service: "privateApi",
    });
  });
});

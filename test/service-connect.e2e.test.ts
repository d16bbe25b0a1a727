import {
  CreateServiceCommand,
  DescribeTaskDefinitionCommand,
  RegisterTaskDefinitionCommand,
} from "@aws-sdk/client-ecs";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { appPackaging, HEALTH_CHECK_TIMING, HTTP_HEALTH_CHECK, httpApp, waitFor } from "./support/apps.ts";
import { requested } from "./support/berth-api.ts";
import { logTail, processesUnder } from "./support/berth-local-process.ts";
import {
  deleteStackAndWait,
  getText,
  localSuite,
  runningTasks,
  type ServiceConnectAlias,
  serviceConnectAliases,
  TEST_STABILITY_SECONDS,
} from "./support/e2e.ts";

/**
 * Two stacks with services of the same names on one Berth Local (a child process, no mocks):
 * each stack's consumer reaches its own stack's `privateApi` through Service Connect, and
 * deleting one stack leaves the other working.
 */

const suite = localSuite("berth-sc-e2e-");
const { logFile } = suite;
const apps = { left: httpApp(), right: httpApp() };

/** `privateApi` answers `/whoami` with its stack's name; `consumer` calls it on `/upstream`. */
function stackFile(stack: "left" | "right"): string {
  const service = (environment: Record<string, string>) => ({
    type: "private-service",
    properties: {
      packaging: appPackaging(apps[stack].image),
      resources: { cpu: 0.25, memory: 512 },
      failFast: { stabilitySeconds: TEST_STABILITY_SECONDS },
      environment: Object.entries(environment).map(([name, value]) => ({ name, value })),
      internalHealthCheck: { healthCheckCommand: HTTP_HEALTH_CHECK, ...HEALTH_CHECK_TIMING, retries: 1 },
    },
  });
  return stringify({
    resources: {
      privateApi: service({ VERSION: stack }),
      consumer: service({ VERSION: `${stack}-consumer`, API: "$ResourceParam('privateApi', 'address')" }),
    },
  });
}

async function deploy(stack: "left" | "right"): Promise<void> {
  const applied = await suite.api.applyStack(stack, stackFile(stack));
  for (const service of ["privateApi", "consumer"]) {
    const { deployment } = requested(applied, service);
    const ended = await suite.api.waitForStatus(deployment.id, undefined, 180_000);
    expect(ended.deployment.status, `${stack}/${service}: ${ended.deployment.reason}`).toBe("SUCCEEDED");
  }
}

async function consumerAnswer(stack: string): Promise<string> {
  const [task] = await runningTasks(suite.ecs, `${stack}-consumer`);
  if (!task) throw new Error(`no running task of ${stack}-consumer`);
  return getText(`http://127.0.0.1:${task.hostPort}/upstream`);
}

const aliasNamed = (aliases: ServiceConnectAlias[], name: string) =>
  aliases.find((alias) => alias.alias === name);

describe("Service Connect with two stacks that have services of the same names", { shuffle: false }, () => {
  it("gives each stack its own alias: each consumer reaches its own stack's privateApi", async () => {
    try {
      await deploy("left");
      await deploy("right");
    } catch (error) {
      throw new Error(`${(error as Error).message}\n${logTail(logFile)}`);
    }
    const { taskDefinition } = await suite.ecs.send(
      new DescribeTaskDefinitionCommand({ taskDefinition: "left-consumer" }),
    );
    expect(taskDefinition?.containerDefinitions?.[0]?.environment).toContainEqual({
      name: "API",
      value: "privateapi.left:3000",
    });

    const aliases = await serviceConnectAliases(suite.local.awsUrl);
    const left = aliasNamed(aliases, "privateapi.left:3000");
    const right = aliasNamed(aliases, "privateapi.right:3000");
    expect(left).toMatchObject({ namespace: "berth.local", service: "left-privateApi" });
    expect(right).toMatchObject({ namespace: "berth.local", service: "right-privateApi" });
    expect(left?.address).not.toBe(right?.address);

    expect(await consumerAnswer("left")).toMatch(/^via left:\d+$/);
    expect(await consumerAnswer("right")).toMatch(/^via right:\d+$/);
  }, 420_000);

  it("refuses a third service that publishes an alias the namespace already has, as ECS does", async () => {
    await suite.ecs.send(
      new RegisterTaskDefinitionCommand({
        family: "intruder",
        containerDefinitions: [
          { name: "app", image: apps.left.image, portMappings: [{ containerPort: 3000, name: "app-3000" }] },
        ],
      }),
    );
    const attempt = suite.ecs.send(
      new CreateServiceCommand({
        cluster: "berth",
        serviceName: "intruder",
        taskDefinition: "intruder",
        desiredCount: 0,
        serviceConnectConfiguration: {
          enabled: true,
          namespace: "berth.local",
          services: [{ portName: "app-3000", clientAliases: [{ port: 3000, dnsName: "privateapi.left" }] }],
        },
      }),
    );
    await expect(attempt).rejects.toMatchObject({
      name: "InvalidParameterException",
      message: expect.stringMatching(/privateapi\.left:3000.*berth\.local/s),
    });
    // The alias still leads to left's privateApi.
    expect(await consumerAnswer("left")).toMatch(/^via left:\d+$/);
  }, 120_000);

  it("deleting one stack removes its aliases and leaves the other stack working", async () => {
    await deleteStackAndWait(suite.api, "right");
    await waitFor(
      "right's aliases to be removed",
      async () => {
        const aliases = await serviceConnectAliases(suite.local.awsUrl);
        return aliases.every((alias) => !alias.alias.endsWith(".right:3000")) || undefined;
      },
      60_000,
    );
    await waitFor(
      "right's task processes to end",
      () => processesUnder([apps.right.dir]).length === 0 || undefined,
    );
    const aliases = await serviceConnectAliases(suite.local.awsUrl);
    expect(aliasNamed(aliases, "privateapi.left:3000")?.healthyTasks).toHaveLength(1);
    for (let i = 0; i < 5; i++) expect(await consumerAnswer("left")).toMatch(/^via left:\d+$/);
  }, 300_000);
});

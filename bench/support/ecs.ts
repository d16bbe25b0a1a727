import {
  CreateClusterCommand,
  CreateServiceCommand,
  type CreateServiceCommandInput,
  DescribeServicesCommand,
  ECSClient,
  RegisterTaskDefinitionCommand,
  UpdateServiceCommand,
} from "@aws-sdk/client-ecs";
import type { BerthLocal } from "../../packages/local/src/berth-local.ts";
import { HTTP_HEALTH_CHECK, waitFor } from "../../test/support/apps.ts";

/** A revision of the benchmark's web service: the test app with a health check every 5 s. */
export async function registerWeb(
  ecs: ECSClient,
  family: string,
  image: string,
  environment: Record<string, string>,
  options: { appProtocol?: "http"; stopTimeout?: number } = {},
): Promise<string> {
  const { taskDefinition } = await ecs.send(
    new RegisterTaskDefinitionCommand({
      family,
      containerDefinitions: [
        {
          name: "web",
          image,
          command: ["node", "server.mjs"],
          portMappings: [
            {
              containerPort: 3000,
              name: "web-3000",
              ...(options.appProtocol ? { appProtocol: options.appProtocol } : {}),
            },
          ],
          environment: Object.entries(environment).map(([name, value]) => ({ name, value })),
          healthCheck: { command: HTTP_HEALTH_CHECK, interval: 5, timeout: 2, retries: 2 },
          stopTimeout: options.stopTimeout ?? 2,
        },
      ],
    }),
  );
  return taskDefinition?.taskDefinitionArn ?? "";
}

/** Resolves once the service's only deployment is `taskDefinition` and has COMPLETED. */
export async function deploymentCompleted(
  ecs: ECSClient,
  cluster: string,
  service: string,
  taskDefinition: string,
): Promise<void> {
  await waitFor(
    "the deployment to complete",
    async () => {
      const deployments =
        (await ecs.send(new DescribeServicesCommand({ cluster, services: [service] }))).services?.[0]
          ?.deployments ?? [];
      const [only] = deployments;
      return deployments.length === 1 &&
        only?.taskDefinition === taskDefinition &&
        only.rolloutState === "COMPLETED"
        ? true
        : undefined;
    },
    180_000,
    20,
  );
}

/** An ECS client of Berth Local's AWS endpoint. */
export function localEcs(local: BerthLocal): ECSClient {
  return new ECSClient({
    endpoint: local.awsEndpoint.url,
    region: "us-east-1",
    credentials: { accessKeyId: "b", secretAccessKey: "b" },
  });
}

/**
 * Creates the cluster `bench` and its service `web` at `taskDefinition`: 3 tasks, rolled 100 %
 * to 200 % with the circuit breaker rolling back; `extra` adds to the request (Service Connect).
 */
export async function createWebService(
  ecs: ECSClient,
  taskDefinition: string,
  extra: Partial<CreateServiceCommandInput> = {},
): Promise<void> {
  await ecs.send(new CreateClusterCommand({ clusterName: "bench" }));
  await ecs.send(
    new CreateServiceCommand({
      cluster: "bench",
      serviceName: "web",
      taskDefinition,
      desiredCount: 3,
      deploymentConfiguration: {
        maximumPercent: 200,
        minimumHealthyPercent: 100,
        deploymentCircuitBreaker: { enable: true, rollback: true },
      },
      ...extra,
    }),
  );
}

/** Starts a rolling update of `web` to `taskDefinition`. */
export async function updateWeb(ecs: ECSClient, taskDefinition: string): Promise<void> {
  await ecs.send(new UpdateServiceCommand({ cluster: "bench", service: "web", taskDefinition }));
}

/**
 * Updates `web` to a revision that never passes its health check (`register`ed with UNHEALTHY=1)
 * and waits until the circuit breaker has it back on the revision it ran; `updatedAt` is when
 * the update was sent.
 */
export async function rollOutBadRevision(
  ecs: ECSClient,
  register: (environment: Record<string, string>) => Promise<string>,
): Promise<{ bad: string; updatedAt: number }> {
  const good =
    (await ecs.send(new DescribeServicesCommand({ cluster: "bench", services: ["web"] }))).services?.[0]
      ?.taskDefinition ?? "";
  const bad = await register({ VERSION: "bad", UNHEALTHY: "1" });
  const updatedAt = Date.now();
  await updateWeb(ecs, bad);
  await deploymentCompleted(ecs, "bench", "web", good);
  return { bad, updatedAt };
}

/** When the first task of `taskDefinition` failed its first health check (Infinity if none did). */
export function firstFailedHealthCheck(local: BerthLocal, taskDefinition: string): number {
  return Math.min(
    ...local.ecs.state.tasks
      .filter((task) => task.taskDefinitionArn === taskDefinition)
      .map((task) => task.containers[0]?.firstHealthFailureAt ?? Number.POSITIVE_INFINITY),
  );
}

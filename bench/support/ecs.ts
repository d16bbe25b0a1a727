import { DescribeServicesCommand, type ECSClient, RegisterTaskDefinitionCommand } from "@aws-sdk/client-ecs";
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

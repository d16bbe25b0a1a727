import { ECSClient, ListTasksCommand, type ListTasksCommandInput } from "@aws-sdk/client-ecs";
import { type ClientConfig, isAwsError } from "./errors.ts";

export function ecsClient(config: ClientConfig = {}): ECSClient {
  return new ECSClient(config);
}

/** The ECS service does not exist. */
export function isServiceNotFound(error: unknown): boolean {
  return isAwsError(error, "ServiceNotFoundException");
}

/**
 * Every task ARN ListTasks has for `input`, following `nextToken` page after page (ECS answers
 * at most 100 a page). The SDK's paginators take only a real ECSClient; callers hold `send`.
 */
export async function listAllTasks(
  client: Pick<ECSClient, "send">,
  input: Omit<ListTasksCommandInput, "nextToken">,
): Promise<string[]> {
  const arns: string[] = [];
  let nextToken: string | undefined;
  do {
    const page = await client.send(new ListTasksCommand({ ...input, ...(nextToken ? { nextToken } : {}) }));
    arns.push(...(page.taskArns ?? []));
    nextToken = page.nextToken;
  } while (nextToken);
  return arns;
}

/** ECS refused because of the resource's state: a service deployment that is no longer stoppable. */
export function isConflict(error: unknown): boolean {
  return isAwsError(error, "ConflictException");
}

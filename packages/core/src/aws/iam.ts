import { IAMClient, ListRolePoliciesCommand } from "@aws-sdk/client-iam";
import { type ClientConfig, isAwsError } from "./errors.ts";

export function iamClient(config: ClientConfig = {}): IAMClient {
  return new IAMClient(config);
}

/*
 * IAM speaks the Query protocol: on the wire its errors are `NoSuchEntity` and
 * `EntityAlreadyExists`, and Berth Local's IAM answers the same codes. SDK v3 maps every code
 * its model knows (through the shape's `awsQueryError` trait) to the exception class and names
 * the error after the class; only a code missing from the model reaches `error.name` as sent.
 * Both codes are in the model (@aws-sdk/client-iam 3.1169 turns either spelling into the
 * class), so only the class names can occur, and only those are matched.
 * packages/local/src/iam/service.test.ts holds the two ends: Berth Local sends
 * `<Code>NoSuchEntity</Code>`, and the client throws a NoSuchEntityException.
 */

/** The role or role policy does not exist. */
export function isNotFound(error: unknown): boolean {
  return isAwsError(error, "NoSuchEntityException");
}

/** The role being created exists already. */
export function isAlreadyExists(error: unknown): boolean {
  return isAwsError(error, "EntityAlreadyExistsException");
}

/**
 * The names of every inline policy of a role, following IAM's `Marker` while `IsTruncated`
 * (IAM answers 100 a page by default).
 */
export async function listAllRolePolicies(
  client: Pick<IAMClient, "send">,
  roleName: string,
): Promise<string[]> {
  const names: string[] = [];
  let marker: string | undefined;
  do {
    const page = await client.send(
      new ListRolePoliciesCommand({ RoleName: roleName, ...(marker ? { Marker: marker } : {}) }),
    );
    names.push(...(page.PolicyNames ?? []));
    marker = page.IsTruncated ? page.Marker : undefined;
  } while (marker);
  return names;
}

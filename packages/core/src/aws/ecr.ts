import { DescribeImagesCommand, ECRClient } from "@aws-sdk/client-ecr";
import { type ClientConfig, isAwsError } from "./errors.ts";

export function ecrClient(config: ClientConfig = {}): ECRClient {
  return new ECRClient(config);
}

/** The image does not exist: neither it nor, perhaps, its repository. */
export function isImageNotFound(error: unknown): boolean {
  return isAwsError(error, "ImageNotFoundException", "RepositoryNotFoundException");
}

/**
 * The digest a tag of this account's registry names now (DescribeImages), or undefined when the
 * tag, or its repository, does not exist.
 */
export async function digestOfTag(
  client: Pick<ECRClient, "send">,
  repositoryName: string,
  imageTag: string,
): Promise<string | undefined> {
  try {
    const described = await client.send(
      new DescribeImagesCommand({ repositoryName, imageIds: [{ imageTag }] }),
    );
    return described.imageDetails?.[0]?.imageDigest;
  } catch (error) {
    if (isImageNotFound(error)) return undefined;
    throw error;
  }
}

/**
 * Reads tags of this installation's registry (`registry`, e.g. `123456789012.dkr.ecr.…`) with
 * DescribeImages: the port `ImagePush` resolves a pushed tag through. A tag of any other
 * registry resolves to nothing, as Berth holds no credentials for it.
 */
export function tagResolver(
  client: Pick<ECRClient, "send">,
  registry: string,
): (ref: { registry: string; repository: string; tag: string }) => Promise<string | undefined> {
  const own = registry.toLowerCase();
  return async (ref) => (ref.registry === own ? digestOfTag(client, ref.repository, ref.tag) : undefined);
}

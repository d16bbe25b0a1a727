import { ECRClient } from "@aws-sdk/client-ecr";
import { type ClientConfig, isAwsError } from "./errors.ts";

export function ecrClient(config: ClientConfig = {}): ECRClient {
  return new ECRClient(config);
}

/** The image does not exist: neither it nor, perhaps, its repository. */
export function isImageNotFound(error: unknown): boolean {
  return isAwsError(error, "ImageNotFoundException", "RepositoryNotFoundException");
}

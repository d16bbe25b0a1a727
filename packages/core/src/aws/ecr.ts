import { ECRClient } from "@aws-sdk/client-ecr";
import { isAwsError } from "./errors.ts";

export function ecrClient(): ECRClient {
  return new ECRClient({});
}

/** The image does not exist: neither it nor, perhaps, its repository. */
export function isImageNotFound(error: unknown): boolean {
  return isAwsError(error, "ImageNotFoundException", "RepositoryNotFoundException");
}

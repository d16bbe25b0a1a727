import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { isAwsError } from "./errors.ts";

export function secretsManagerClient(): SecretsManagerClient {
  return new SecretsManagerClient({});
}

/** The secret does not exist. */
export function isNotFound(error: unknown): boolean {
  return isAwsError(error, "ResourceNotFoundException");
}

import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { type ClientConfig, isAwsError } from "./errors.ts";

export function secretsManagerClient(config: ClientConfig = {}): SecretsManagerClient {
  return new SecretsManagerClient(config);
}

/** The secret does not exist. */
export function isNotFound(error: unknown): boolean {
  return isAwsError(error, "ResourceNotFoundException");
}

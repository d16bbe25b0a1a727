import { ServiceDiscoveryClient } from "@aws-sdk/client-servicediscovery";
import { type ClientConfig, isAwsError } from "./errors.ts";

export function serviceDiscoveryClient(config: ClientConfig = {}): ServiceDiscoveryClient {
  return new ServiceDiscoveryClient(config);
}

/** The Cloud Map service (or namespace) does not exist. */
export function isNotFound(error: unknown): boolean {
  return isAwsError(error, "ServiceNotFound", "NamespaceNotFound");
}

/** A service of that name exists in the namespace already (a concurrent create won). */
export function isAlreadyExists(error: unknown): boolean {
  return isAwsError(error, "ServiceAlreadyExists");
}

/** The service still has registered instances (ECS deregisters them as its tasks stop). */
export function isInUse(error: unknown): boolean {
  return isAwsError(error, "ResourceInUse");
}

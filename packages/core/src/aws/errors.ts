/**
 * How an SDK client reaches AWS. Empty on Lambda (the SDK's own credential chain, region and
 * `AWS_ENDPOINT_URL`); an endpoint, a region and fixed credentials where a host says so.
 */
export interface ClientConfig {
  endpoint?: string;
  region?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string };
}

/** An AWS SDK error's name (its exception class), or undefined for anything else. */
export function awsErrorName(error: unknown): string | undefined {
  return error instanceof Error ? error.name : undefined;
}

/** Whether the error is one of these AWS exceptions, by the name the SDK gives its class. */
export function isAwsError(error: unknown, ...names: string[]): boolean {
  const name = awsErrorName(error);
  return name !== undefined && names.includes(name);
}

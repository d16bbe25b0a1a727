import type { AwsJsonService } from "./protocol.ts";
import { startAwsEndpoint } from "./server.ts";

/** The real endpoint with only this service, so an SDK client meets exactly what Berth Local serves. */
export function serve(service: AwsJsonService) {
  return startAwsEndpoint({ port: 0, services: [service] });
}

/** The SDK's exception for a call that must fail, to assert on its class and name. */
export async function failure(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error("expected the call to fail");
}

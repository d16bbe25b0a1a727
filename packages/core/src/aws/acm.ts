import { ACMClient } from "@aws-sdk/client-acm";
import type { ClientConfig } from "./errors.ts";

export function acmClient(config: ClientConfig = {}): ACMClient {
  return new ACMClient(config);
}

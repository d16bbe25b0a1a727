import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

export interface ContractRequest {
  service: string;
  operation: string;
  input: unknown;
}

export interface ContractResult {
  botocore: string;
  /** For each request, botocore's problems with it (empty when it is valid). */
  results: string[][];
}

const SCRIPT = fileURLToPath(new URL("./validate_requests.py", import.meta.url));

/**
 * Checks requests against AWS's own service models with botocore's ParamValidator, in one
 * python3 process for the whole batch.
 */
export function validateWithBotocore(requests: readonly ContractRequest[]): ContractResult {
  const run = spawnSync("python3", [SCRIPT], {
    input: JSON.stringify(requests),
    encoding: "utf8",
    maxBuffer: 64 << 20,
  });
  if (run.status !== 0) throw new Error(`botocore validation failed to run: ${run.stderr || run.error}`);
  return JSON.parse(run.stdout) as ContractResult;
}

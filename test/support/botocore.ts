import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { executable } from "./executables.ts";

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
  const run = spawnSync(executable("python3"), [SCRIPT], {
    input: JSON.stringify(requests),
    encoding: "utf8",
    maxBuffer: 64 << 20,
  });
  if (run.status !== 0) throw new Error(`botocore validation failed to run: ${run.stderr || run.error}`);
  return JSON.parse(run.stdout) as ContractResult;
}

const MODEL_CHECKS = fileURLToPath(new URL("./model_checks.py", import.meta.url));

function modelCheck(request: Record<string, unknown>): unknown {
  const run = spawnSync(executable("python3"), [MODEL_CHECKS], {
    input: JSON.stringify(request),
    encoding: "utf8",
    maxBuffer: 64 << 20,
  });
  if (run.status !== 0) throw new Error(`botocore check failed to run: ${run.stderr || run.error}`);
  return JSON.parse(run.stdout);
}

/** Each operation's input members and required members, as botocore's model has them. */
export function inputMembersOf(
  service: string,
  operations: readonly string[],
): Record<string, { members: string[]; required: string[] }> {
  return modelCheck({ check: "members", service, operations }) as Record<
    string,
    { members: string[]; required: string[] }
  >;
}

/**
 * For each response, what botocore finds wrong with it against the operation's output shape
 * (ParamValidator, plus the enum values it leaves unchecked); empty when it is right.
 */
export function responseProblems(
  service: string,
  responses: readonly { operation: string; output: unknown }[],
): string[][] {
  return modelCheck({ check: "responses", service, responses }) as string[][];
}

type Sender = { send(command: { input: unknown; constructor: { name: string } }): Promise<unknown> };

/** An SDK client that records every request it sends into `into` (the request still goes through). */
export function recordingInto<T extends object>(into: ContractRequest[], service: string, client: T): T {
  const sender = client as unknown as Sender;
  return {
    send: (command: { input: unknown; constructor: { name: string } }) => {
      into.push({
        service,
        operation: command.constructor.name.replace(/Command$/, ""),
        input: command.input,
      });
      return sender.send(command);
    },
  } as unknown as T;
}

/** botocore's problems with each request, as `service:Operation: problem`. */
export function invalidRequests(requests: readonly ContractRequest[]): string[] {
  const { results } = validateWithBotocore(requests);
  return results.flatMap((found, index) =>
    found.map((problem) => `${requests[index]?.service}:${requests[index]?.operation}: ${problem}`),
  );
}

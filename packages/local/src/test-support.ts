import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { executable } from "../../../test/support/executables.ts";
import type { BerthLocal, BerthLocalOptions } from "./berth-local.ts";
import type { AwsJsonService } from "./protocol.ts";
import { startAwsEndpoint } from "./server.ts";

/** The real endpoint with only this service, so an SDK client meets exactly what Berth Local serves. */
export function serve(service: AwsJsonService) {
  return startAwsEndpoint({ port: 0, services: [service] });
}

/** An SDK client configuration for a Berth Local AWS endpoint, which takes any credentials. */
export function localClientConfig(endpointUrl: string) {
  return {
    endpoint: endpointUrl,
    region: "us-east-1",
    credentials: { accessKeyId: "b", secretAccessKey: "b" },
  };
}

/**
 * Berth Local for one test file: its data in a new temporary folder named after `name` (unless
 * `options` name one), its AWS endpoint on a free port, a 100 ms tick; `options` add or replace
 * the rest. Loaded when called, so the files that serve one service do not load all of Berth Local.
 */
export async function startTestLocal(
  name: string,
  options: Partial<BerthLocalOptions> = {},
): Promise<BerthLocal> {
  const { startBerthLocal } = await import("./berth-local.ts");
  return startBerthLocal({
    awsPort: 0,
    tickMs: 100,
    ...options,
    dataDir: options.dataDir ?? mkdtempSync(join(tmpdir(), `berth-${name}-`)),
  });
}

/** A canary ECS deployment configuration: 10% for a 5-minute bake, then the rest; the circuit breaker rolls back. */
export const CANARY_10_PERCENT_5_MINUTES = {
  strategy: "CANARY" as const,
  canaryConfiguration: { canaryPercent: 10, canaryBakeTimeInMinutes: 5 },
  bakeTimeInMinutes: 0,
  maximumPercent: 200,
  minimumHealthyPercent: 100,
  deploymentCircuitBreaker: { enable: true, rollback: true },
};

/** The SDK's exception for a call that must fail, to assert on its class and name. */
export async function failure(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error("expected the call to fail");
}

/**
 * Process groups a test file starts, each command the leader of its own group as a Berth Local
 * container is; `killAll` (in an afterAll) leaves none behind.
 */
export class ProcessGroups {
  readonly children: ChildProcess[] = [];

  /** Starts `command` in a new group and answers the group's id (its leader's pid). */
  start(command: string, args: string[], stdout: "pipe" | "ignore" = "ignore"): number {
    const child = spawn(command, args, { detached: true, stdio: ["ignore", stdout, "ignore"] });
    this.children.push(child);
    if (child.pid === undefined) throw new Error(`could not start ${command}`);
    return child.pid;
  }

  killAll(): void {
    for (const child of this.children) if (child.pid !== undefined) killGroup(child.pid);
  }
}

export function killGroup(processGroupId: number): void {
  try {
    process.kill(-processGroupId, "SIGKILL");
  } catch {
    // Already gone.
  }
}

/**
 * One call to a JSON-protocol service as the wire carries it: the raw answer, with members an
 * SDK would drop, and the HTTP status (an error is `{ __type, message }`).
 */
export async function rawCall(
  endpointUrl: string,
  target: string,
  input: unknown,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(endpointUrl, {
    method: "POST",
    headers: { "content-type": "application/x-amz-json-1.1", "x-amz-target": target },
    body: JSON.stringify(input),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

const execFileAsync = promisify(execFile);

/**
 * Runs the AWS CLI (JSON output) against `endpointUrl` as a user in us-east-1 would, with
 * throwaway credentials; its config and credentials files point into `dir`, where there are
 * none, so nothing of the machine's own AWS setup leaks in.
 */
export function awsCli(endpointUrl: string, dir: string, args: string[]) {
  return execFileAsync(executable("aws"), ["--endpoint-url", endpointUrl, "--output", "json", ...args], {
    env: {
      ...process.env,
      AWS_ACCESS_KEY_ID: "berth",
      AWS_SECRET_ACCESS_KEY: "berth",
      AWS_REGION: "us-east-1",
      AWS_DEFAULT_REGION: "us-east-1",
      AWS_PAGER: "",
      AWS_CONFIG_FILE: join(dir, "no-config"),
      AWS_SHARED_CREDENTIALS_FILE: join(dir, "no-credentials"),
    },
    encoding: "utf8",
  });
}

import { type ChildProcess, spawn } from "node:child_process";
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

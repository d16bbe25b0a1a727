import { readdirSync, readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";

/**
 * Sends a signal to a whole process group. A group that is gone (ESRCH), or whose id now belongs to
 * someone else's processes (EPERM), has nothing of ours left to signal.
 */
export function signalProcessGroup(processGroupId: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-processGroupId, signal);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== "ESRCH" && code !== "EPERM") throw error;
  }
}

/**
 * Whether any process of the group still runs. A killed process whose parent died stays a zombie
 * until init reaps it, and some inits (minimal VM and container inits) never do; a zombie still
 * answers `kill(-group, 0)` but runs nothing, so on Linux the group's members are read from /proc.
 */
export function processGroupIsAlive(processGroupId: number): boolean {
  try {
    process.kill(-processGroupId, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
  if (process.platform !== "linux") return true;
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch {
    return true;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readProcStat(entry);
    if (stat && stat.processGroupId === processGroupId && stat.state !== "Z") return true;
  }
  return false;
}

function readProcStat(pid: string): { state: string; processGroupId: number } | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  // The command name may contain spaces and parentheses; the fields after its last ")" are fixed.
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  const state = fields[0];
  const processGroupId = Number(fields[2]);
  return state === undefined ? undefined : { state, processGroupId };
}

/** Resolves true once the group has no running member, false if it still has one after `timeoutMs`. */
export async function waitForProcessGroupExit(processGroupId: number, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (processGroupIsAlive(processGroupId)) {
    if (performance.now() >= deadline) return false;
    await sleep(25);
  }
  return true;
}

import { Spec } from "../spec/index.ts";

/**
 * What a stack's `berth:` block says about deployments nobody asked for by hand (registry
 * pushes, scheduled refreshes). A file that does not parse says nothing: it was accepted when it
 * was applied, and a later Berth refusing it must not stop its services' updates.
 */
function settingsOf(stackFile: string): Spec.StackSettings | undefined {
  const parsed = Spec.parse(stackFile);
  return parsed.ok ? parsed.stack.berth : undefined;
}

/**
 * Why a stack takes no automatic deployment now: its maintenance window is closed. The caller
 * records the push or refresh as skipped with this reason; nothing waits for the window.
 */
export function closedWindow(stackFile: string, now: Date): string | undefined {
  const window = settingsOf(stackFile)?.maintenanceWindow;
  if (!window || Spec.isWindowOpen(window, now)) return undefined;
  const opens = Spec.nextOpening(window, now);
  return `outside the stack's maintenance window (${window.days.join(",")} ${window.start}-${window.end} ${window.timeZone})${opens ? `, which opens at ${opens.toISOString()}` : ""}: push the tag again, or redeploy, once it is open`;
}

/**
 * Why a refresh skips a stack: its refresh is off, or its window is closed. The weekly refresh
 * (`own: false`) also leaves a stack with its own schedule to that schedule.
 */
export function refreshSkipped(stackFile: string, now: Date, own = false): string | undefined {
  const schedule = settingsOf(stackFile)?.refresh?.schedule;
  if (schedule === "off") return "its refresh schedule is off";
  if (!own && schedule !== undefined) return `it is refreshed on its own schedule (${schedule})`;
  return closedWindow(stackFile, now);
}

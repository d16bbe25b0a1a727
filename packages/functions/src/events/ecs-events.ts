import { Rollout } from "@berth/core/rollout";
import { loadRuntime } from "../steps/runtime.ts";

const runtime = loadRuntime();

/**
 * ECS deployment and task state changes, from EventBridge: matched to the deployment waiting on
 * that service; a new revision whose tasks keep failing is rolled back at once.
 */
export async function handler(event: unknown): Promise<{ handled: string }> {
  const handled = await Rollout.handleEcsEvent(runtime, event);
  if (handled !== "ignored") runtime.logger.info("ECS event handled", { handled });
  return { handled };
}

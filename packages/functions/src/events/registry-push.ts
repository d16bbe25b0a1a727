import { Ecr } from "@berth/core/aws";
import { ImagePush } from "@berth/core/deployments";
import { z } from "zod";
import { loadRuntime } from "../steps/runtime.ts";

const runtime = loadRuntime();

const EcrPush = z.looseObject({
  id: z.string().min(1).max(200).optional(),
  detail: z.looseObject({
    "action-type": z.string().optional(),
    result: z.string().optional(),
    "repository-name": z.string().min(1),
    "image-tag": z.string().optional(),
    "image-digest": z.string().optional(),
  }),
});

/**
 * ECR image pushes (`ECR Image Action`, PUSH, SUCCESS), through EventBridge: handled like every
 * other registry's push (`ImagePush.receive`), keyed by the event's id so a redelivered event
 * changes nothing. A push without a tag (a digest only) follows nothing.
 */
export async function handler(event: unknown): Promise<{ outcome: string; replay?: boolean }> {
  const parsed = EcrPush.safeParse(event);
  if (!parsed.success) return { outcome: "ignored: not an ECR push event" };
  const { detail } = parsed.data;
  const tag = detail["image-tag"];
  if (!tag) return { outcome: "ignored: the push named no tag" };
  const registry = runtime.settings.registry.toLowerCase();
  const received = await ImagePush.receive(
    { ...runtime.workflowContext(), resolveDigest: Ecr.tagResolver(runtime.clients.ecr, registry) },
    {
      source: "ecr",
      provider: "ecr",
      event: `ECR Image Action ${detail["action-type"] ?? "PUSH"}`,
      ...(parsed.data.id ? { deliveryKey: parsed.data.id } : {}),
      registry,
      repository: detail["repository-name"],
      tag,
      ...(detail["image-digest"] ? { digest: detail["image-digest"] } : {}),
      trustDigest: true,
    },
  );
  return { outcome: received.delivery.outcome, ...(received.replay ? { replay: true } : {}) };
}

import { Service } from "@berth/core/deployments";
import { Spec } from "@berth/core/spec";
import { ServiceRecord, StackRecord } from "@berth/core/store";
import { z } from "zod";
import { loadRuntime } from "../steps/runtime.ts";

const runtime = loadRuntime();

const EcrPush = z.looseObject({
  account: z.string().optional(),
  region: z.string().optional(),
  detail: z.looseObject({
    "repository-name": z.string(),
    "image-tag": z.string().optional(),
    "image-digest": z.string().optional(),
  }),
});

/** The image references a push of `repository:tag` makes stale, in this installation's registry. */
function pushedReferences(registry: string, repository: string, tag: string): Set<string> {
  return new Set([
    `${registry}/${repository}:${tag}`,
    ...(tag === "latest" ? [`${registry}/${repository}`] : []),
  ]);
}

/**
 * ECR image pushes: every service whose prebuilt image follows the pushed tag is redeployed
 * (trigger `webhook`), so ECS pulls the new image. Services pinned to a digest never follow.
 */
export async function handler(event: unknown): Promise<{ requested: string[] }> {
  const parsed = EcrPush.safeParse(event);
  if (!parsed.success || !parsed.data.detail["image-tag"]) return { requested: [] };
  const { detail } = parsed.data;
  const pushed = pushedReferences(
    runtime.settings.registry,
    detail["repository-name"],
    detail["image-tag"] ?? "",
  );
  const requested: string[] = [];
  for (const stack of await StackRecord.list(runtime.store)) {
    for (const service of await ServiceRecord.list(runtime.store, stack.name)) {
      const parsedSpec = Spec.RESOURCE_SCHEMAS[service.spec.type as Spec.ComputeResource["type"]]?.safeParse(
        service.spec,
      );
      if (!parsedSpec?.success) continue;
      const follows = Spec.containersOf(service.name, parsedSpec.data as Spec.ComputeResource).some(
        (container) =>
          container.packaging.type === "prebuilt-image" && pushed.has(container.packaging.properties.image),
      );
      if (!follows || !service.liveTaskDefinitionArn) continue;
      await Service.refresh(
        runtime.workflowContext(),
        service,
        "webhook",
        `${detail["repository-name"]}:${detail["image-tag"]} was pushed (${detail["image-digest"] ?? "new digest"})`,
      );
      requested.push(`${stack.name}/${service.name}`);
    }
  }
  return { requested };
}

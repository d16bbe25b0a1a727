import { DeleteCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { z } from "zod";
import { getItem, type Item, parseInput, parseStored, queryAll, updateItem } from "./dynamo.ts";
import { INGRESS_SORT_PREFIX, ingressKey, servicePartition } from "./keys.ts";
import { Given, ServiceName, StackName, Timestamp } from "./names.ts";
import type { Store } from "./store.ts";

/**
 * An ingress resource of a stack as Berth created it: an HTTP API gateway or a load
 * balancer, its AWS identifier and public URL, and what each service attached to it. One item
 * per resource; every writer writes only its own service's attachment, so two services of a
 * stack deploying at once never overwrite each other.
 */
const IngressType = z.enum(["http-api-gateway", "application-load-balancer", "network-load-balancer"]);
export type IngressType = z.infer<typeof IngressType>;

const Attachment = z.object({
  /** The Cloud Map service the gateway's integration reaches, with SRV records for the port. */
  registryArn: Given,
  integrationId: Given,
  routeIds: z.array(z.string()),
});
export type Attachment = z.infer<typeof Attachment>;

/** A service behind a load balancer: its target group and the listener rules that forward to it. */
export const LbAttachment = z.object({
  targetGroupArn: Given,
  ruleArns: z.array(z.string()),
  /**
   * Behind a network load balancer: every target group of the service (one per listener and
   * container port, `targetGroupArn` being the first) and the listeners that forward to them.
   */
  targetGroupArns: z.array(z.string()).optional(),
  listenerArns: z.array(z.string()).optional(),
  /** A gradual deployment's: the target group ECS shifts traffic to and from, and the rules it shifts. */
  alternateTargetGroupArn: Given.optional(),
  productionRuleArn: Given.optional(),
  testRuleArn: Given.optional(),
});
export type LbAttachment = z.infer<typeof LbAttachment>;

/** A custom domain of the resource, as Berth set it up. */
export const Domain = z.object({
  name: Given,
  /** Its public URL: HTTPS when a certificate covers it. */
  url: Given,
  /** The ACM certificate that covers it; absent where the installation looks none up. */
  certificateArn: Given.optional(),
  /** What its DNS must point at: API Gateway's domain target, or the balancer's DNS name. */
  target: Given,
  /** The target's hosted zone, for an alias record. */
  targetZoneId: Given.optional(),
  /** `route53`: Berth keeps an alias record in the account's zone `zoneId`; `manual`: the user points the domain at `target`. */
  dns: z.enum(["route53", "manual"]),
  zoneId: Given.optional(),
});
export type Domain = z.infer<typeof Domain>;

export const Info = z.object({
  stack: StackName,
  name: ServiceName,
  type: IngressType,
  /** The API's id (an HTTP API gateway) or the load balancer's ARN. */
  awsId: Given,
  url: Given,
  /** Its custom domains, in the declared order (the first is its public URL's). */
  domains: z.array(Domain).default([]),
  /** By service name. */
  attachments: z.record(z.string(), z.union([Attachment, LbAttachment])).default({}),
  createdAt: Timestamp,
  updatedAt: Timestamp,
});
export type Info = z.infer<typeof Info>;

const PutInput = Info.pick({ stack: true, name: true, type: true, awsId: true, url: true }).extend({
  domains: z.array(Domain).optional(),
});

/** Records the resource (created or found); keeps its attachments. */
export async function put(store: Store, input: z.input<typeof PutInput>): Promise<Info> {
  const value = parseInput(PutInput, input, "ingress");
  const now = store.clock().toISOString();
  const item = await updateItem(store, ingressKey(value.stack, value.name), {
    set: { ...value, updatedAt: now },
    setIfAbsent: { createdAt: now, attachments: {} },
  });
  return parseStored(Info, item, "ingress");
}

/** Sets (or, with undefined, removes) one service's attachment; the resource item must exist. */
export async function attach(
  store: Store,
  key: { stack: string; name: string; service: string },
  attachment: Attachment | LbAttachment | undefined,
): Promise<void> {
  const stack = parseInput(StackName, key.stack, "stack name");
  const name = parseInput(ServiceName, key.name, "ingress name");
  const service = parseInput(ServiceName, key.service, "service name");
  const value = attachment
    ? parseInput(z.union([Attachment, LbAttachment]), attachment, "attachment")
    : undefined;
  await store.client.send(
    new UpdateCommand({
      TableName: store.tableName,
      Key: ingressKey(stack, name),
      UpdateExpression: value
        ? "SET attachments.#service = :attachment, updatedAt = :now"
        : "REMOVE attachments.#service SET updatedAt = :now",
      ConditionExpression: "attribute_exists(PK)",
      ExpressionAttributeNames: { "#service": service },
      ExpressionAttributeValues: {
        ":now": store.clock().toISOString(),
        ...(value ? { ":attachment": value } : {}),
      },
    }),
  );
}

/** Where the resource is reached from outside: its first custom domain's URL, else its own. */
export function publicUrl(info: Pick<Info, "url" | "domains">): string {
  return info.domains[0]?.url ?? info.url;
}

export async function get(store: Store, stack: string, name: string): Promise<Info | undefined> {
  const item = await getItem(
    store,
    ingressKey(parseInput(StackName, stack, "stack name"), parseInput(ServiceName, name, "ingress name")),
  );
  return item ? parseStored(Info, item, "ingress") : undefined;
}

/** A stack's ingress resources, by name. */
export async function list(store: Store, stack: string): Promise<Info[]> {
  const partition = servicePartition(parseInput(StackName, stack, "stack name"));
  const items = await queryAll(store, {
    KeyConditionExpression: "PK = :partition AND begins_with(SK, :ingress)",
    ExpressionAttributeValues: { ":partition": partition, ":ingress": INGRESS_SORT_PREFIX },
    ConsistentRead: true,
  });
  return items.map((item: Item) => parseStored(Info, item, "ingress"));
}

export async function remove(store: Store, stack: string, name: string): Promise<void> {
  await store.client.send(new DeleteCommand({ TableName: store.tableName, Key: ingressKey(stack, name) }));
}

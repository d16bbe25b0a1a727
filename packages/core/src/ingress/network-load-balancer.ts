import {
  type Action,
  CreateListenerCommand,
  DescribeListenersCommand,
  type Listener,
  ModifyListenerCommand,
} from "@aws-sdk/client-elastic-load-balancing-v2";
import { Elb } from "../aws/index.ts";
import { BerthError } from "../errors.ts";
import { networkTargetGroupName, standardTags } from "../render/names.ts";
import { IngressRecord } from "../store/index.ts";
import {
  deleteListeners,
  deleteTargetGroups,
  ensureLoadBalancer,
  ensureTargetGroupNamed,
  type LoadBalancerContext,
  requireInstallation,
  tagList,
} from "./load-balancer.ts";
import type { NlbAttachment, NlbListener } from "./load-balancer-plan.ts";

/**
 * Network load balancers, created through the same ELBv2 API and records as the application
 * ones (`load-balancer.ts`): the balancer (`Type: network`), one TCP target group of type `ip`
 * per listener and container port, and the listener (TCP, or TLS with its certificates) whose
 * default action forwards to it. A listener forwards to one target group, so it belongs to one
 * service: it is created and deleted with that service's attachment.
 */

/** Where a client connects: `tcp://<DNS name>:<listener port>` (a DNS name with a port is kept). */
export function networkLoadBalancerUrl(dnsName: string, listener: Pick<NlbListener, "port">): string {
  // Berth Local's balancers carry their local port in their DNS name already.
  return /:\d+$/.test(dnsName) ? `tcp://${dnsName}` : `tcp://${dnsName}:${listener.port}`;
}

const SSL_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06";

function listenerSettings(listener: NlbListener, targetGroupArn: string) {
  const actions: Action[] = [{ Type: "forward", TargetGroupArn: targetGroupArn }];
  return {
    Protocol: listener.protocol,
    DefaultActions: actions,
    ...(listener.protocol === "TLS"
      ? {
          Certificates: listener.certificateArns.map((CertificateArn) => ({ CertificateArn })),
          SslPolicy: SSL_POLICY,
        }
      : {}),
  };
}

const forwardsTo = (listener: Listener) =>
  listener.DefaultActions?.find((action) => action.Type === "forward")?.TargetGroupArn;

/**
 * The listener on the attachment's port, forwarding to `targetGroupArn`: created where missing,
 * changed where its protocol, certificates or target group (one of this service's former ones)
 * differ. A listener that forwards to another service is refused, not taken over.
 */
async function ensureNetworkListener(
  context: LoadBalancerContext,
  balancerArn: string,
  resource: string,
  attachment: NlbAttachment,
  targetGroupArn: string,
  formerGroups: readonly string[],
): Promise<string> {
  const find = async () => {
    const described = await context.clients.elb.send(
      new DescribeListenersCommand({ LoadBalancerArn: balancerArn }),
    );
    return described.Listeners?.find((candidate) => candidate.Port === attachment.listener.port);
  };
  const settings = listenerSettings(attachment.listener, targetGroupArn);
  let listener = await find();
  if (!listener) {
    try {
      const created = await context.clients.elb.send(
        new CreateListenerCommand({
          LoadBalancerArn: balancerArn,
          Port: attachment.listener.port,
          ...settings,
          Tags: tagList(standardTags(context.env, resource)),
        }),
      );
      listener = created.Listeners?.[0];
      context.log?.(
        `load balancer ${attachment.loadBalancer}: ${attachment.listener.protocol} listener on ${attachment.listener.port} → ${resource}`,
      );
    } catch (error) {
      if (!Elb.isDuplicateListener(error)) throw error;
      listener = await find();
    }
  }
  if (!listener?.ListenerArn) throw new BerthError("MISSING_INGRESS", "ELB answered no listener");
  const current = forwardsTo(listener);
  if (current !== targetGroupArn && current !== undefined && !formerGroups.includes(current)) {
    throw new BerthError(
      "CONFLICT",
      `listener ${attachment.listener.port} of load balancer ${attachment.loadBalancer} already forwards to another service; ${resource} cannot take it`,
    );
  }
  const certificates = (listener.Certificates ?? []).map((certificate) => certificate.CertificateArn).sort();
  const changed =
    current !== targetGroupArn ||
    listener.Protocol !== attachment.listener.protocol ||
    JSON.stringify(certificates) !== JSON.stringify([...attachment.listener.certificateArns].sort());
  if (changed) {
    await context.clients.elb.send(
      new ModifyListenerCommand({
        ListenerArn: listener.ListenerArn,
        Port: attachment.listener.port,
        ...settings,
      }),
    );
    context.log?.(
      `load balancer ${attachment.loadBalancer}: changed ${attachment.listener.protocol} listener ${attachment.listener.port} → ${resource}`,
    );
  }
  return listener.ListenerArn;
}

/**
 * Creates or updates every network load balancer a service is attached to (balancer, its
 * listeners of this service and their target groups), records each in the store, and answers
 * the target groups its ECS service registers its tasks in, by `resource/container/port`.
 * Listeners and target groups the service no longer declares are deleted. Safe to run again.
 */
export async function ensureNetworkLoadBalancers(
  context: LoadBalancerContext,
  resource: string,
  attachments: NlbAttachment[],
): Promise<Record<string, { networkTargetGroupArns: string[] }>> {
  const groups: Record<string, { networkTargetGroupArns: string[] }> = {};
  if (attachments.length === 0) return groups;
  const installation = requireInstallation(context, resource);
  if (!installation.networkSecurityGroups?.length) {
    throw new BerthError(
      "MISSING_INGRESS",
      `${resource} needs a network load balancer, and this installation has no security group for one (BERTH_NLB_SECURITY_GROUPS)`,
    );
  }
  const byBalancer = new Map<string, NlbAttachment[]>();
  for (const attachment of attachments) {
    byBalancer.set(attachment.loadBalancer, [...(byBalancer.get(attachment.loadBalancer) ?? []), attachment]);
  }
  for (const [name, attached] of byBalancer) {
    const first = attached[0] as NlbAttachment;
    const balancer = await ensureLoadBalancer(context, installation, first, "network");
    const balancerArn = balancer.LoadBalancerArn ?? "";
    const stored = (await IngressRecord.get(context.store, context.env.stack, name))?.attachments[resource];
    const former = stored && "targetGroupArn" in stored ? stored : undefined;
    const formerGroups = former?.targetGroupArns ?? (former ? [former.targetGroupArn] : []);
    const targetGroupArns: string[] = [];
    const listenerArns: string[] = [];
    for (const attachment of attached) {
      const groupName = networkTargetGroupName(
        context.env,
        name,
        attachment.listener.port,
        resource,
        attachment.container,
        attachment.port,
      );
      const targetGroupArn = await ensureTargetGroupNamed(
        context,
        installation,
        resource,
        groupName,
        "TCP",
        attachment,
      );
      listenerArns.push(
        await ensureNetworkListener(context, balancerArn, resource, attachment, targetGroupArn, formerGroups),
      );
      targetGroupArns.push(targetGroupArn);
      const key = `${resource}/${attachment.container}/${attachment.port}`;
      groups[key] = {
        networkTargetGroupArns: [...(groups[key]?.networkTargetGroupArns ?? []), targetGroupArn],
      };
    }
    // What the service declared before and no longer does: its listeners first, then their groups.
    await deleteListeners(
      context,
      (former?.listenerArns ?? []).filter((arn) => !listenerArns.includes(arn)),
    );
    const dropped = formerGroups.filter((arn) => !targetGroupArns.includes(arn));
    await deleteTargetGroups(context, dropped);
    if (dropped.length > 0)
      context.log?.(`load balancer ${name}: removed ${dropped.length} target group(s) of ${resource}`);
    await IngressRecord.put(context.store, {
      stack: context.env.stack,
      name,
      type: "network-load-balancer",
      awsId: balancerArn,
      url: networkLoadBalancerUrl(balancer.DNSName ?? "", first.firstListener),
    });
    const attachment: IngressRecord.LbAttachment = {
      targetGroupArn: targetGroupArns[0] as string,
      ruleArns: [],
      targetGroupArns,
      listenerArns,
    };
    await IngressRecord.attach(
      context.store,
      { stack: context.env.stack, name, service: resource },
      attachment,
    );
  }
  return groups;
}

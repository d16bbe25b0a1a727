import {
  type Action,
  AddListenerCertificatesCommand,
  CreateListenerCommand,
  CreateLoadBalancerCommand,
  CreateRuleCommand,
  CreateTargetGroupCommand,
  DeleteListenerCommand,
  DeleteLoadBalancerCommand,
  DeleteRuleCommand,
  DeleteTargetGroupCommand,
  DescribeListenersCommand,
  DescribeLoadBalancersCommand,
  DescribeRulesCommand,
  DescribeTargetGroupsCommand,
  type ElasticLoadBalancingV2Client,
  type Listener,
  type LoadBalancer,
  ModifyListenerCommand,
  ModifyRuleCommand,
  ModifyTargetGroupAttributesCommand,
  ModifyTargetGroupCommand,
  type Rule,
  type RuleCondition,
  type TargetGroup,
} from "@aws-sdk/client-elastic-load-balancing-v2";
import { Elb } from "../aws/index.ts";
import { BerthError } from "../errors.ts";
import type { Environment } from "../render/environment.ts";
import { loadBalancerName, standardTags, targetGroupName } from "../render/names.ts";
import { IngressRecord, type Store } from "../store/index.ts";
import {
  certificatesFor,
  type DomainClients,
  type DomainLookups,
  removeBalancerDomains,
  syncBalancerDomains,
} from "./domains.ts";
import { type AlbAttachment, type AlbListener, type AlbRule, mainListener } from "./load-balancer-plan.ts";

export interface LoadBalancerClients extends DomainClients {
  elb: Pick<ElasticLoadBalancingV2Client, "send">;
}

/** What the installation gives every load balancer: its VPC, subnets and security groups. */
export interface LoadBalancerInstallation {
  vpcId: string;
  /** Subnets of internet-facing balancers (public). */
  publicSubnets: string[];
  /** Subnets of internal balancers (those the tasks run in). */
  privateSubnets: string[];
  securityGroups: string[];
  /** The network load balancers' security groups (any TCP port in: their listeners decide). */
  networkSecurityGroups?: string[];
}

export interface LoadBalancerContext {
  store: Store;
  clients: LoadBalancerClients;
  installation: LoadBalancerInstallation | undefined;
  env: Environment;
  /** Whether custom domains' certificates and DNS are looked up in ACM and Route 53 (the default). */
  domainLookups?: DomainLookups;
  log?: (line: string) => void;
}

function domainContext(context: Omit<LoadBalancerContext, "installation">) {
  return {
    clients: context.clients,
    lookups: context.domainLookups ?? "acm-route53",
    env: context.env,
    ...(context.log ? { log: context.log } : {}),
  };
}

/**
 * What a service's ECS service must register in, by `resource/container/port`; with a gradual
 * deployment also what ECS shifts traffic between (its `loadBalancers[].advancedConfiguration`).
 */
export type TargetGroups = Record<
  string,
  {
    targetGroupArn: string;
    alternateTargetGroupArn?: string;
    productionListenerRuleArn?: string;
    testListenerRuleArn?: string;
  }
>;

/** The target groups a forward action sends to: its ForwardConfig's, else its TargetGroupArn. */
function forwardedGroups(action: Action): string[] {
  const weighted = action.ForwardConfig?.TargetGroups?.flatMap((group) =>
    group.TargetGroupArn ? [group.TargetGroupArn] : [],
  );
  if (weighted?.length) return weighted;
  return action.TargetGroupArn ? [action.TargetGroupArn] : [];
}

/** The name of a target group, from its ARN (`…:targetgroup/<name>/<id>`). */
const groupNameOf = (arn: string | undefined) => arn?.split(":targetgroup/")[1]?.split("/")[0];

/**
 * The one of a gradual service's two target groups production traffic goes to now: the heavier
 * weight of its production rule's forward (ECS moves it from group to group at each deployment).
 */
async function liveGroup(
  context: LoadBalancerContext,
  before: { targetGroupArn: string; productionRuleArn?: string },
): Promise<string> {
  if (!before.productionRuleArn) return before.targetGroupArn;
  try {
    const described = await context.clients.elb.send(
      new DescribeRulesCommand({ RuleArns: [before.productionRuleArn] }),
    );
    const groups = described.Rules?.[0]?.Actions?.find((action) => action.Type === "forward")?.ForwardConfig
      ?.TargetGroups;
    const heaviest = [...(groups ?? [])].sort((a, b) => (b.Weight ?? 0) - (a.Weight ?? 0))[0];
    return heaviest?.TargetGroupArn ?? before.targetGroupArn;
  } catch (error) {
    if (Elb.isNotFound(error)) return before.targetGroupArn;
    throw error;
  }
}

/** A forward between the target group and its alternate: all of it to the first, as ECS starts. */
function weightedForward(targetGroupArn: string, alternateTargetGroupArn: string): Action[] {
  return [
    {
      Type: "forward",
      ForwardConfig: {
        TargetGroups: [
          { TargetGroupArn: targetGroupArn, Weight: 100 },
          { TargetGroupArn: alternateTargetGroupArn, Weight: 0 },
        ],
      },
    },
  ];
}

export const tagList = (tags: Record<string, string>) =>
  Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));

async function findLoadBalancer(
  context: LoadBalancerContext,
  name: string,
): Promise<LoadBalancer | undefined> {
  try {
    const found = await context.clients.elb.send(new DescribeLoadBalancersCommand({ Names: [name] }));
    return found.LoadBalancers?.[0];
  } catch (error) {
    if (Elb.isNotFound(error)) return undefined;
    throw error;
  }
}

async function findTargetGroup(context: LoadBalancerContext, name: string): Promise<TargetGroup | undefined> {
  try {
    const found = await context.clients.elb.send(new DescribeTargetGroupsCommand({ Names: [name] }));
    return found.TargetGroups?.[0];
  } catch (error) {
    if (Elb.isNotFound(error)) return undefined;
    throw error;
  }
}

/** Finds or creates a balancer: `application`, or `network` (with the installation's NLB security groups). */
export async function ensureLoadBalancer(
  context: LoadBalancerContext,
  installation: LoadBalancerInstallation,
  attachment: Pick<AlbAttachment, "loadBalancer" | "scheme">,
  type: "application" | "network" = "application",
): Promise<LoadBalancer> {
  const name = loadBalancerName(context.env, attachment.loadBalancer);
  const existing = await findLoadBalancer(context, name);
  if (existing) {
    if (existing.Type && existing.Type !== type) {
      throw new BerthError(
        "CONFLICT",
        `load balancer ${name} exists as an ${existing.Type} load balancer; ${attachment.loadBalancer} is declared as ${type}: delete the services behind it first`,
      );
    }
    return existing;
  }
  const internal = attachment.scheme === "internal";
  const created = await context.clients.elb.send(
    new CreateLoadBalancerCommand({
      Name: name,
      Type: type,
      Scheme: attachment.scheme,
      IpAddressType: "ipv4",
      Subnets: internal ? installation.privateSubnets : installation.publicSubnets,
      SecurityGroups:
        type === "network" ? (installation.networkSecurityGroups ?? []) : installation.securityGroups,
      Tags: tagList(standardTags(context.env, attachment.loadBalancer)),
    }),
  );
  const balancer = created.LoadBalancers?.[0];
  if (!balancer?.LoadBalancerArn) throw new BerthError("MISSING_INGRESS", "ELB answered no load balancer");
  context.log?.(`created load balancer ${name} (${balancer.DNSName})`);
  return balancer;
}

function defaultAction(listener: AlbListener, listeners: AlbListener[], targetGroupArn?: string): Action[] {
  const https = listeners.find((candidate) => candidate.protocol === "HTTPS");
  if (listener.protocol === "HTTP" && https) {
    return [
      {
        Type: "redirect",
        RedirectConfig: { Protocol: "HTTPS", Port: String(https.port), StatusCode: "HTTP_301" },
      },
    ];
  }
  if (targetGroupArn) return [{ Type: "forward", TargetGroupArn: targetGroupArn }];
  return [
    {
      Type: "fixed-response",
      FixedResponseConfig: { StatusCode: "404", ContentType: "text/plain", MessageBody: "no route" },
    },
  ];
}

/** The balancer's listeners, created where missing; answers them by port. */
async function ensureListeners(
  context: LoadBalancerContext,
  balancerArn: string,
  attachment: AlbAttachment,
  targetGroupArn: string,
): Promise<Map<number, Listener>> {
  const described = await context.clients.elb.send(
    new DescribeListenersCommand({ LoadBalancerArn: balancerArn }),
  );
  const byPort = new Map((described.Listeners ?? []).map((listener) => [listener.Port ?? 0, listener]));
  // A balancer of its own service forwards everything to it; a shared one answers 404 but by rule.
  const own = attachment.rules.length === 0 ? targetGroupArn : undefined;
  for (const listener of attachment.listeners) {
    const existing = byPort.get(listener.port);
    if (existing) {
      await followOwnGroup(context, attachment, listener, existing, own);
      continue;
    }
    const created = await createListener(context, balancerArn, attachment, listener, own);
    if (created) byPort.set(listener.port, created);
  }
  return byPort;
}

/**
 * A balancer of one service's own forwards by its listener's default action: when the service
 * went back to rolling from a gradual strategy (whose listener rule answered before, the default
 * a 404) or now registers in its other target group, the default follows it.
 */
async function followOwnGroup(
  context: LoadBalancerContext,
  attachment: AlbAttachment,
  listener: AlbListener,
  existing: Listener,
  own: string | undefined,
): Promise<void> {
  const wanted = defaultAction(listener, attachment.listeners, own);
  const forward = wanted[0]?.Type === "forward" ? wanted[0].TargetGroupArn : undefined;
  if (!forward || !existing.ListenerArn) return;
  const current = existing.DefaultActions ?? [];
  if (current.length === 1 && current[0] && forwardedGroups(current[0]).join() === forward) return;
  await context.clients.elb.send(
    new ModifyListenerCommand({ ListenerArn: existing.ListenerArn, DefaultActions: wanted }),
  );
  context.log?.(
    `load balancer ${attachment.loadBalancer}: listener ${listener.port} forwards to its service again`,
  );
}

/**
 * Creates one listener. Two services sharing a balancer deploy at once: when the other one's
 * deployment created the listener first, that listener is the one to use.
 */
async function createListener(
  context: LoadBalancerContext,
  balancerArn: string,
  attachment: AlbAttachment,
  listener: AlbListener,
  own: string | undefined,
): Promise<Listener | undefined> {
  try {
    const created = await context.clients.elb.send(
      new CreateListenerCommand({
        LoadBalancerArn: balancerArn,
        Port: listener.port,
        Protocol: listener.protocol,
        // ELB takes one default certificate here; the others are added to the listener after.
        ...(listener.certificateArns[0]
          ? {
              Certificates: [{ CertificateArn: listener.certificateArns[0] }],
              SslPolicy: "ELBSecurityPolicy-TLS13-1-2-2021-06",
            }
          : {}),
        DefaultActions: defaultAction(listener, attachment.listeners, own),
        Tags: tagList(standardTags(context.env, attachment.loadBalancer)),
      }),
    );
    context.log?.(
      `load balancer ${attachment.loadBalancer}: ${listener.protocol} listener on ${listener.port}`,
    );
    return created.Listeners?.[0];
  } catch (error) {
    if (!Elb.isDuplicateListener(error)) throw error;
    const described = await context.clients.elb.send(
      new DescribeListenersCommand({ LoadBalancerArn: balancerArn }),
    );
    return described.Listeners?.find((candidate) => candidate.Port === listener.port);
  }
}

async function ensureTargetGroup(
  context: LoadBalancerContext,
  installation: LoadBalancerInstallation,
  resource: string,
  attachment: AlbAttachment,
  alternate = false,
): Promise<string> {
  const name = targetGroupName(
    context.env,
    attachment.loadBalancer,
    resource,
    attachment.container,
    attachment.port,
    alternate,
  );
  return ensureTargetGroupNamed(context, installation, resource, name, "HTTP", attachment);
}

/**
 * Finds or creates a target group of type `ip` for one container port (`HTTP` behind an
 * application load balancer, `TCP` behind a network one), brings its health check up to date,
 * and sets its deregistration delay. Answers its ARN.
 */
export async function ensureTargetGroupNamed(
  context: LoadBalancerContext,
  installation: LoadBalancerInstallation,
  resource: string,
  name: string,
  protocol: "HTTP" | "TCP",
  attachment: Pick<AlbAttachment, "port" | "healthCheck" | "deregistrationDelaySeconds">,
): Promise<string> {
  const check = attachment.healthCheck;
  const tcp = check.protocol === "TCP";
  const health = {
    HealthCheckProtocol: tcp ? ("TCP" as const) : ("HTTP" as const),
    ...(tcp ? {} : { HealthCheckPath: check.path }),
    HealthCheckIntervalSeconds: check.intervalSeconds,
    HealthCheckTimeoutSeconds: Math.min(check.timeoutSeconds, check.intervalSeconds - 1),
    HealthyThresholdCount: 2,
    UnhealthyThresholdCount: 2,
    ...(tcp ? {} : { Matcher: { HttpCode: "200-399" } }),
  };
  let group = await findTargetGroup(context, name);
  if (!group) {
    const created = await context.clients.elb.send(
      new CreateTargetGroupCommand({
        Name: name,
        TargetType: "ip",
        Protocol: protocol,
        ...(protocol === "HTTP" ? { ProtocolVersion: "HTTP1" } : {}),
        Port: attachment.port,
        VpcId: installation.vpcId,
        ...health,
        Tags: tagList(standardTags(context.env, resource)),
      }),
    );
    group = created.TargetGroups?.[0];
    context.log?.(`created target group ${name} for ${resource} port ${attachment.port}`);
  } else if (
    (group.HealthCheckProtocol ?? "HTTP") !== health.HealthCheckProtocol ||
    (!tcp && group.HealthCheckPath !== health.HealthCheckPath) ||
    group.HealthCheckIntervalSeconds !== health.HealthCheckIntervalSeconds ||
    group.HealthCheckTimeoutSeconds !== health.HealthCheckTimeoutSeconds
  ) {
    await context.clients.elb.send(
      new ModifyTargetGroupCommand({ TargetGroupArn: group.TargetGroupArn, ...health }),
    );
    context.log?.(`updated the health check of target group ${name}`);
  }
  if (!group?.TargetGroupArn) throw new BerthError("MISSING_INGRESS", "ELB answered no target group");
  // AWS's default of 300 s would hold every deployment for five minutes per task.
  await context.clients.elb.send(
    new ModifyTargetGroupAttributesCommand({
      TargetGroupArn: group.TargetGroupArn,
      Attributes: [
        { Key: "deregistration_delay.timeout_seconds", Value: String(attachment.deregistrationDelaySeconds) },
      ],
    }),
  );
  return group.TargetGroupArn;
}

/** A rule's conditions in ELB's terms; `*` paths (every path) are ELB's `/*`. */
function ruleConditions(rule: AlbRule): RuleCondition[] {
  const conditions: RuleCondition[] = [];
  if (rule.paths?.length) {
    const paths = rule.paths.map((path) => (path === "*" ? "/*" : path));
    conditions.push({ Field: "path-pattern", PathPatternConfig: { Values: paths } });
  }
  if (rule.methods?.length) {
    conditions.push({ Field: "http-request-method", HttpRequestMethodConfig: { Values: rule.methods } });
  }
  if (rule.hosts?.length) conditions.push({ Field: "host-header", HostHeaderConfig: { Values: rule.hosts } });
  for (const header of rule.headers ?? []) {
    conditions.push({
      Field: "http-header",
      HttpHeaderConfig: { HttpHeaderName: header.headerName, Values: header.values },
    });
  }
  if (rule.queryParams?.length) {
    conditions.push({
      Field: "query-string",
      QueryStringConfig: {
        Values: rule.queryParams.flatMap((param) =>
          param.values.map((Value) => ({ Key: param.paramName, Value })),
        ),
      },
    });
  }
  if (rule.sourceIps?.length) {
    conditions.push({ Field: "source-ip", SourceIpConfig: { Values: rule.sourceIps } });
  }
  // ELB wants at least one condition: a rule without any matches every path.
  if (conditions.length === 0)
    conditions.push({ Field: "path-pattern", PathPatternConfig: { Values: ["/*"] } });
  return conditions;
}

const canonical = (conditions: RuleCondition[] | undefined) =>
  JSON.stringify(
    (conditions ?? []).map((condition) => {
      const { Values: _values, ...rest } = condition;
      return rest;
    }),
  );

/**
 * Makes the listener rules forwarding to this target group exactly the declared ones, by
 * priority: creates the missing, modifies a changed one, deletes those no longer declared. A
 * priority another target group holds is refused rather than taken over.
 */
async function syncRules(
  context: LoadBalancerContext,
  listeners: Map<number, Listener>,
  resource: string,
  attachment: AlbAttachment,
  targetGroupArn: string,
  alternateTargetGroupArn?: string,
): Promise<{ arns: string[]; byRule: Map<AlbRule, string> }> {
  const main = mainListener(attachment.listeners);
  const arns: string[] = [];
  const byRule = new Map<AlbRule, string>();
  const forwardsHere = (rule: Rule) =>
    rule.Actions?.some(
      (action) => action.Type === "forward" && forwardedGroups(action).includes(targetGroupArn),
    );
  // A gradual deployment's rules forward to both target groups; ECS changes their weights.
  const actions = alternateTargetGroupArn
    ? weightedForward(targetGroupArn, alternateTargetGroupArn)
    : [{ Type: "forward" as const, TargetGroupArn: targetGroupArn }];
  const testRule = attachment.gradual?.testRule;
  const wanted = new Map<string, AlbRule[]>();
  for (const rule of testRule ? [...attachment.rules, testRule] : attachment.rules) {
    const port = rule.listenerPort ?? main.port;
    wanted.set(String(port), [...(wanted.get(String(port)) ?? []), rule]);
  }
  for (const [port, listener] of listeners) {
    if (!listener.ListenerArn) continue;
    const described = await context.clients.elb.send(
      new DescribeRulesCommand({ ListenerArn: listener.ListenerArn }),
    );
    const existing = (described.Rules ?? []).filter((rule) => !rule.IsDefault);
    const declared = wanted.get(String(port)) ?? [];
    for (const rule of declared) {
      const conditions = ruleConditions(rule);
      const found = existing.find((candidate) => candidate.Priority === String(rule.priority));
      if (found && !forwardsHere(found)) {
        throw new BerthError(
          "CONFLICT",
          `priority ${rule.priority} of load balancer ${attachment.loadBalancer} already leads to another service; ${resource} cannot take it`,
        );
      }
      if (found?.RuleArn) {
        const shifts = found.Actions?.some(
          (action) => alternateTargetGroupArn && forwardedGroups(action).includes(alternateTargetGroupArn),
        );
        const weighted = found.Actions?.some((action) => forwardedGroups(action).length > 1);
        if (!alternateTargetGroupArn && weighted) {
          // The service went back to rolling: all of its traffic to the group it is on, as before.
          await context.clients.elb.send(new ModifyRuleCommand({ RuleArn: found.RuleArn, Actions: actions }));
          context.log?.(
            `load balancer ${attachment.loadBalancer}: rule ${rule.priority} → ${resource} forwards to one target group again`,
          );
        }
        if (alternateTargetGroupArn && !shifts) {
          // The service turned gradual: its rule now forwards to both groups, all of it as before.
          await context.clients.elb.send(new ModifyRuleCommand({ RuleArn: found.RuleArn, Actions: actions }));
          context.log?.(
            `load balancer ${attachment.loadBalancer}: rule ${rule.priority} → ${resource} shifts between two target groups`,
          );
        }
        if (canonical(found.Conditions) !== canonical(conditions)) {
          await context.clients.elb.send(
            new ModifyRuleCommand({ RuleArn: found.RuleArn, Conditions: conditions }),
          );
          context.log?.(
            `load balancer ${attachment.loadBalancer}: changed rule ${rule.priority} → ${resource}`,
          );
        }
        arns.push(found.RuleArn);
        byRule.set(rule, found.RuleArn);
        continue;
      }
      const created = await context.clients.elb.send(
        new CreateRuleCommand({
          ListenerArn: listener.ListenerArn,
          Priority: rule.priority,
          Conditions: conditions,
          Actions: actions,
          Tags: tagList(standardTags(context.env, resource)),
        }),
      );
      const arn = created.Rules?.[0]?.RuleArn;
      if (arn) {
        arns.push(arn);
        byRule.set(rule, arn);
      }
      context.log?.(`load balancer ${attachment.loadBalancer}: rule ${rule.priority} → ${resource}`);
    }
    const priorities = new Set(declared.map((rule) => String(rule.priority)));
    for (const rule of existing) {
      if (forwardsHere(rule) && rule.RuleArn && !priorities.has(rule.Priority ?? "")) {
        await context.clients.elb.send(new DeleteRuleCommand({ RuleArn: rule.RuleArn }));
        context.log?.(`load balancer ${attachment.loadBalancer}: removed rule ${rule.Priority}`);
      }
    }
  }
  return { arns, byRule };
}

export function requireInstallation(
  context: LoadBalancerContext,
  resource: string,
): LoadBalancerInstallation {
  if (!context.installation) {
    throw new BerthError(
      "MISSING_INGRESS",
      `${resource} needs a load balancer, and this installation has no VPC, subnets and security groups for one (BERTH_VPC_ID, BERTH_PUBLIC_SUBNETS, BERTH_LB_SECURITY_GROUPS)`,
    );
  }
  return context.installation;
}

/** The attachment with its domains' certificates on every HTTPS listener (declared ones first). */
function listenersWithCertificates(
  attachment: AlbAttachment,
  certificates: Map<string, string | undefined>,
): AlbAttachment {
  const found = [...certificates.values()].filter((arn): arn is string => arn !== undefined);
  if (found.length === 0) return attachment;
  return {
    ...attachment,
    listeners: attachment.listeners.map((listener) =>
      listener.protocol === "HTTPS"
        ? { ...listener, certificateArns: [...new Set([...listener.certificateArns, ...found])] }
        : listener,
    ),
  };
}

/**
 * Puts every certificate of the HTTPS listeners on them (ELB's AddListenerCertificates keeps the
 * ones a listener has): those beyond the default of a new listener, and a new domain's on an
 * existing one.
 */
async function addCertificates(
  context: LoadBalancerContext,
  listeners: Map<number, Listener>,
  attachment: AlbAttachment,
): Promise<void> {
  for (const declared of attachment.listeners) {
    const listener = listeners.get(declared.port);
    if (declared.protocol !== "HTTPS" || !listener?.ListenerArn) continue;
    const defaultArn = listener.Certificates?.[0]?.CertificateArn;
    const extra = declared.certificateArns.filter((arn) => arn !== defaultArn);
    if (extra.length === 0) continue;
    await context.clients.elb.send(
      new AddListenerCertificatesCommand({
        ListenerArn: listener.ListenerArn,
        Certificates: extra.map((CertificateArn) => ({ CertificateArn })),
      }),
    );
  }
}

/** The balancer's URL: HTTPS where it has an HTTPS listener, the port unless it is the default. */
function loadBalancerUrl(dnsName: string, listeners: AlbListener[]): string {
  const main = mainListener(listeners);
  const scheme = main.protocol === "HTTPS" ? "https" : "http";
  const standard = main.port === (scheme === "https" ? 443 : 80);
  // A DNS name that carries its port already (Berth Local's balancers) is the address as it is.
  if (/:\d+$/.test(dnsName)) return `${scheme}://${dnsName}`;
  return `${scheme}://${dnsName}${standard ? "" : `:${main.port}`}`;
}

/**
 * Creates or updates every application load balancer a service is attached to (balancer,
 * listeners, the service's target group and listener rules), records each in the store, and
 * answers the target groups its ECS service registers its tasks in. Safe to run again.
 */
export async function ensureLoadBalancers(
  context: LoadBalancerContext,
  resource: string,
  attachments: AlbAttachment[],
): Promise<TargetGroups> {
  const groups: TargetGroups = {};
  if (attachments.length === 0) return groups;
  const installation = requireInstallation(context, resource);
  // Where the service's tasks are registered now, per balancer: ECS moves them between the two
  // groups of a gradual service. A service that goes back to rolling keeps the group production
  // traffic is on (which may be the `-alt` one); the other is deleted once no rule uses it.
  const stored = await IngressRecord.list(context.store, context.env.stack);
  const placement = new Map<AlbAttachment, { onAlternate: boolean; retired?: string }>();
  for (const attachment of attachments) {
    const before = stored.find((record) => record.name === attachment.loadBalancer)?.attachments[resource];
    const recorded = before && "targetGroupArn" in before ? before : undefined;
    const alternateName = targetGroupName(
      context.env,
      attachment.loadBalancer,
      resource,
      attachment.container,
      attachment.port,
      true,
    );
    if (!attachment.gradual && recorded?.alternateTargetGroupArn) {
      const live = await liveGroup(context, recorded);
      const other =
        live === recorded.targetGroupArn ? recorded.alternateTargetGroupArn : recorded.targetGroupArn;
      placement.set(attachment, { onAlternate: groupNameOf(live) === alternateName, retired: other });
      context.log?.(
        `${resource} goes back to rolling deployments behind ${attachment.loadBalancer}: its tasks stay in target group ${groupNameOf(live)}`,
      );
    } else {
      placement.set(attachment, { onAlternate: groupNameOf(recorded?.targetGroupArn) === alternateName });
    }
  }
  for (const attachment of attachments) {
    // A domain no certificate covers is refused before anything is created.
    const certificates = await certificatesFor(
      domainContext(context),
      `load balancer ${attachment.loadBalancer}`,
      attachment.customDomains,
    );
    const withCertificates = listenersWithCertificates(attachment, certificates);
    const balancer = await ensureLoadBalancer(context, installation, withCertificates);
    const { onAlternate, retired } = placement.get(attachment) ?? { onAlternate: false };
    const targetGroupArn = await ensureTargetGroup(
      context,
      installation,
      resource,
      withCertificates,
      onAlternate,
    );
    // Same settings as the target group: ECS moves the tasks between the two at each deployment.
    const alternateTargetGroupArn = withCertificates.gradual
      ? await ensureTargetGroup(context, installation, resource, withCertificates, !onAlternate)
      : undefined;
    const listeners = await ensureListeners(
      context,
      balancer.LoadBalancerArn ?? "",
      withCertificates,
      targetGroupArn,
    );
    await addCertificates(context, listeners, withCertificates);
    const { arns: ruleArns, byRule } = await syncRules(
      context,
      listeners,
      resource,
      withCertificates,
      targetGroupArn,
      alternateTargetGroupArn,
    );
    const [productionRule] = attachment.rules;
    const productionRuleArn = productionRule ? byRule.get(productionRule) : undefined;
    const testRule = attachment.gradual?.testRule;
    const testRuleArn = testRule ? byRule.get(testRule) : undefined;
    if (alternateTargetGroupArn && !productionRuleArn) {
      throw new BerthError(
        "MISSING_INGRESS",
        `load balancer ${attachment.loadBalancer}: no listener rule leads to ${resource}, so ECS has none to shift its traffic through`,
      );
    }
    const url = loadBalancerUrl(balancer.DNSName ?? "", attachment.listeners);
    const recorded = await IngressRecord.get(context.store, context.env.stack, attachment.loadBalancer);
    const domains = await syncBalancerDomains(
      domainContext(context),
      { dnsName: balancer.DNSName ?? "", zoneId: balancer.CanonicalHostedZoneId, url },
      certificates,
      recorded && recorded.awsId === balancer.LoadBalancerArn ? recorded.domains : [],
    );
    await IngressRecord.put(context.store, {
      stack: context.env.stack,
      name: attachment.loadBalancer,
      type: "application-load-balancer",
      awsId: balancer.LoadBalancerArn ?? "",
      url,
      domains,
    });
    await IngressRecord.attach(
      context.store,
      { stack: context.env.stack, name: attachment.loadBalancer, service: resource },
      {
        targetGroupArn,
        ruleArns,
        ...(alternateTargetGroupArn && productionRuleArn
          ? { alternateTargetGroupArn, productionRuleArn, ...(testRuleArn ? { testRuleArn } : {}) }
          : {}),
      },
    );
    // No rule forwards to the group a service back on rolling left (syncRules reset them).
    if (retired) {
      await deleteTargetGroups(context, [retired]);
      context.log?.(`load balancer ${attachment.loadBalancer}: deleted ${resource}'s unused target group`);
    }
    groups[`${resource}/${attachment.container}/${attachment.port}`] = {
      targetGroupArn,
      ...(alternateTargetGroupArn && productionRuleArn
        ? {
            alternateTargetGroupArn,
            productionListenerRuleArn: productionRuleArn,
            ...(testRuleArn ? { testListenerRuleArn: testRuleArn } : {}),
          }
        : {}),
    };
  }
  return groups;
}

/** Deletes listeners, those already gone included. */
export async function deleteListeners(
  context: Pick<LoadBalancerContext, "clients">,
  listenerArns: readonly string[],
): Promise<void> {
  for (const ListenerArn of listenerArns) {
    try {
      await context.clients.elb.send(new DeleteListenerCommand({ ListenerArn }));
    } catch (error) {
      if (!Elb.isNotFound(error)) throw error;
    }
  }
}

/** Deletes target groups no listener or rule uses any more, those already gone included. */
export async function deleteTargetGroups(
  context: Pick<LoadBalancerContext, "clients">,
  targetGroupArns: readonly string[],
): Promise<void> {
  for (const TargetGroupArn of targetGroupArns) {
    try {
      await context.clients.elb.send(new DeleteTargetGroupCommand({ TargetGroupArn }));
    } catch (error) {
      if (!Elb.isNotFound(error)) throw error;
    }
  }
}

/**
 * Detaches a service from its load balancers but those in `keep`: deletes its rules and target
 * group, and a balancer no service uses any more (with its listeners). A deletion runs it after
 * the ECS service is gone. Safe to run again.
 */
export async function detachLoadBalancers(
  context: Omit<LoadBalancerContext, "installation">,
  resource: string,
  keep: string[] = [],
): Promise<void> {
  const balancers = await IngressRecord.list(context.store, context.env.stack);
  for (const balancer of balancers) {
    if (balancer.type === "http-api-gateway" || keep.includes(balancer.name)) continue;
    const attachment = balancer.attachments[resource];
    if (!attachment || !("targetGroupArn" in attachment)) continue;
    for (const RuleArn of attachment.ruleArns) {
      try {
        await context.clients.elb.send(new DeleteRuleCommand({ RuleArn }));
      } catch (error) {
        if (!Elb.isNotFound(error)) throw error;
      }
    }
    // A network load balancer's listeners of this service forward only to it: they go first.
    await deleteListeners(context, attachment.listenerArns ?? []);
    const deleteBalancer = async () => {
      // Deleting the balancer deletes its listeners, which frees the target group.
      try {
        await context.clients.elb.send(new DeleteLoadBalancerCommand({ LoadBalancerArn: balancer.awsId }));
        context.log?.(`deleted load balancer ${balancer.name}`);
      } catch (error) {
        if (!Elb.isNotFound(error)) throw error;
      }
    };
    const others = Object.keys(balancer.attachments).filter((service) => service !== resource);
    if (others.length === 0) await removeBalancerDomains(domainContext(context), balancer.domains);
    if (others.length === 0) await deleteBalancer();
    await deleteTargetGroups(context, [
      ...(attachment.targetGroupArns ?? [attachment.targetGroupArn]),
      ...(attachment.alternateTargetGroupArn ? [attachment.alternateTargetGroupArn] : []),
    ]);
    await IngressRecord.attach(
      context.store,
      { stack: context.env.stack, name: balancer.name, service: resource },
      undefined,
    );
    context.log?.(`load balancer ${balancer.name}: detached ${resource}`);
    // Services deleted together each saw the others attached when they read the record: whoever
    // finds no attachment left after its own removal (a consistent read) deletes the balancer.
    const left =
      others.length === 0
        ? undefined
        : await IngressRecord.get(context.store, context.env.stack, balancer.name);
    if (others.length > 0 && left && Object.keys(left.attachments).length === 0) {
      await removeBalancerDomains(domainContext(context), left.domains);
      await deleteBalancer();
    }
    if (others.length === 0 || (left && Object.keys(left.attachments).length === 0))
      await IngressRecord.remove(context.store, context.env.stack, balancer.name);
  }
}

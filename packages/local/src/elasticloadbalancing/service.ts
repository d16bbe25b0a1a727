import { randomBytes } from "node:crypto";
import { createServer, type Server, type ServerResponse } from "node:http";
import {
  type AddressInfo,
  createServer as createTcpServer,
  type Socket,
  type Server as TcpServer,
} from "node:net";
import { type Child, element, list, members, optional, queryRoute, type Xml } from "../iam/query.ts";
import { AwsError } from "../protocol.ts";
import { serveFast } from "../proxy/fast-path.ts";
import { type ForwardOptions, HttpForwarder, type Target } from "../proxy/http-forward.ts";
import type { RequestHead } from "../proxy/http1.ts";
import {
  healthyInOrder,
  type RegisteredTask,
  WeightedSelector,
  type WeightedTarget,
} from "../proxy/weighted.ts";
import type { Route as EndpointRoute } from "../server.ts";
import { JsonFile } from "../state.ts";
import { type HealthSettings, NetworkGroups } from "./network.ts";
import { matchesRule, type RuleCondition } from "./rules.ts";

/**
 * Berth Local's Elastic Load Balancing (v2): the Query API the SDK and `aws elbv2` speak on the
 * endpoint root (`Action=…&Version=2015-12-01`), and behind each application load balancer a
 * real HTTP listener on 127.0.0.1 (its DNS name) that routes by the listener rules to the
 * targets ECS registered in each target group: the healthy tasks that are not stopping.
 */

const VERSION = "2015-12-01";
const NAMESPACE = `http://elasticloadbalancing.amazonaws.com/doc/${VERSION}/`;

interface Tag {
  Key: string;
  Value?: string;
}
interface Action {
  Type: string;
  TargetGroupArn?: string;
  /** Several target groups with weights (a gradual deployment's production rule). */
  ForwardConfig?: { TargetGroups: { TargetGroupArn: string; Weight?: number }[] };
  Order?: number;
  RedirectConfig?: { Protocol?: string; Port?: string; Host?: string; Path?: string; StatusCode: string };
  FixedResponseConfig?: { StatusCode: string; ContentType?: string; MessageBody?: string };
}
interface BalancerEntry {
  arn: string;
  name: string;
  type: string;
  scheme: string;
  subnets: string[];
  securityGroups: string[];
  createdTime: string;
  /** The port its listener serves on 127.0.0.1; kept so the address survives a restart. */
  port: number;
  tags: Tag[];
}
interface ListenerEntry {
  arn: string;
  loadBalancerArn: string;
  port: number;
  protocol: string;
  certificates: { CertificateArn?: string }[];
  sslPolicy?: string;
  defaultActions: Action[];
}
interface RuleEntry {
  arn: string;
  listenerArn: string;
  priority: number;
  conditions: RuleCondition[];
  actions: Action[];
  tags: Tag[];
}
interface TargetGroupEntry {
  arn: string;
  name: string;
  protocol: string;
  protocolVersion?: string;
  port: number;
  vpcId?: string;
  targetType: string;
  healthCheck: Record<string, unknown>;
  attributes: Record<string, string>;
  tags: Tag[];
}
interface State {
  loadBalancers: BalancerEntry[];
  listeners: ListenerEntry[];
  rules: RuleEntry[];
  targetGroups: TargetGroupEntry[];
}

export interface LoadBalancersOptions {
  account: string;
  region: string;
  /** The tasks ECS has registered in a target group. */
  targetsOf: (targetGroupArn: string) => RegisteredTask[];
  log?: (line: string) => void;
}

const fail = (code: string, message: string, status = 400) => new AwsError(code, message, status);
const id = () => randomBytes(8).toString("hex");
const asArray = <T>(value: unknown): T[] => (Array.isArray(value) ? (value as T[]) : []);
const text = (value: unknown): string | undefined => (typeof value === "string" ? value : undefined);
const int = (value: unknown): number | undefined =>
  typeof value === "string" && /^\d+$/.test(value) ? Number(value) : undefined;

/** A structure decoded from the Query form back into the SDK's shape (numbers stay strings). */
function tagsOf(params: Record<string, unknown>): Tag[] {
  return asArray<Record<string, unknown>>(params.Tags).map((tag) => ({
    Key: String(tag.Key ?? ""),
    ...(tag.Value !== undefined ? { Value: String(tag.Value) } : {}),
  }));
}

/** What a rule (or a listener's default) does: its first action, and where it forwards, if it does. */
interface PlanStep {
  action?: Action;
  forward?: { targets: () => Target[]; label: string };
}

/** A balancer's routing: its listener, its rules in priority order, the listener's default. */
interface Plan {
  listener: ListenerEntry | undefined;
  rules: (PlanStep & { conditions: RuleCondition[] })[];
  fallback: PlanStep;
}

/** The target groups a forward action sends to, with their weights (ELB's default weight is 1). */
function forwardsOf(action: Action): { TargetGroupArn: string; Weight: number }[] {
  const groups = action.ForwardConfig?.TargetGroups ?? [];
  if (groups.length > 0) {
    return groups.map((group) => ({ TargetGroupArn: group.TargetGroupArn, Weight: group.Weight ?? 1 }));
  }
  return action.TargetGroupArn ? [{ TargetGroupArn: action.TargetGroupArn, Weight: 1 }] : [];
}

function forwardConfigOf(value: unknown): Action["ForwardConfig"] | undefined {
  const groups = asArray<Record<string, unknown>>(
    (value as { TargetGroups?: unknown } | undefined)?.TargetGroups,
  );
  if (groups.length === 0) return undefined;
  return {
    TargetGroups: groups.map((group) => {
      const weight = int(group.Weight);
      if (weight !== undefined && weight > 999)
        throw fail("ValidationError", "Weight must be between 0 and 999");
      return {
        TargetGroupArn: String(group.TargetGroupArn ?? ""),
        ...(weight !== undefined ? { Weight: weight } : {}),
      };
    }),
  };
}

function actionsOf(value: unknown): Action[] {
  return asArray<Record<string, unknown>>(value).map((action) => {
    const redirect = action.RedirectConfig as Action["RedirectConfig"] | undefined;
    const fixed = action.FixedResponseConfig as Action["FixedResponseConfig"] | undefined;
    const forward = forwardConfigOf(action.ForwardConfig);
    const single = text(action.TargetGroupArn);
    if (
      forward &&
      single &&
      (forward.TargetGroups.length !== 1 || forward.TargetGroups[0]?.TargetGroupArn !== single)
    ) {
      throw fail(
        "ValidationError",
        "With both TargetGroupArn and ForwardConfig, ForwardConfig must name that one target group only",
      );
    }
    return {
      Type: String(action.Type ?? ""),
      ...(single ? { TargetGroupArn: single } : {}),
      ...(forward ? { ForwardConfig: forward } : {}),
      ...(int(action.Order) !== undefined ? { Order: int(action.Order) } : {}),
      ...(redirect ? { RedirectConfig: redirect } : {}),
      ...(fixed ? { FixedResponseConfig: fixed } : {}),
    };
  });
}

function conditionsOf(value: unknown): RuleCondition[] {
  return asArray<Record<string, unknown>>(value).map((condition) => {
    const values = (key: string) =>
      asArray<string>((condition[key] as { Values?: unknown } | undefined)?.Values);
    return {
      Field: String(condition.Field ?? ""),
      ...(condition.PathPatternConfig ? { PathPatternConfig: { Values: values("PathPatternConfig") } } : {}),
      ...(condition.HostHeaderConfig ? { HostHeaderConfig: { Values: values("HostHeaderConfig") } } : {}),
      ...(condition.HttpRequestMethodConfig
        ? { HttpRequestMethodConfig: { Values: values("HttpRequestMethodConfig") } }
        : {}),
      ...(condition.SourceIpConfig ? { SourceIpConfig: { Values: values("SourceIpConfig") } } : {}),
      ...(condition.HttpHeaderConfig
        ? {
            HttpHeaderConfig: {
              HttpHeaderName: String(
                (condition.HttpHeaderConfig as { HttpHeaderName?: unknown }).HttpHeaderName ?? "",
              ),
              Values: values("HttpHeaderConfig"),
            },
          }
        : {}),
      ...(condition.QueryStringConfig
        ? {
            QueryStringConfig: {
              Values: asArray<{ Key?: string; Value: string }>(
                (condition.QueryStringConfig as { Values?: unknown }).Values,
              ),
            },
          }
        : {}),
    };
  });
}

/**
 * What a Describe call names, as ELB answers it: every item when it names none, else the items
 * with those names or ARNs, each of which must exist (`notFound.byArn` throws for a missing ARN).
 */
function namedOrAll<T extends { name: string; arn: string }>(
  items: T[],
  namesParam: unknown,
  arnsParam: unknown,
  notFound: { byName: (name: string) => Error; byArn: (arn: string) => unknown },
): T[] {
  const names = asArray<string>(namesParam);
  const arns = asArray<string>(arnsParam);
  for (const name of names) {
    if (!items.some((item) => item.name === name)) throw notFound.byName(name);
  }
  for (const arn of arns) notFound.byArn(arn);
  return items.filter(
    (item) =>
      (names.length === 0 || names.includes(item.name)) && (arns.length === 0 || arns.includes(item.arn)),
  );
}

// XML of the structures ---------------------------------------------------------------------

const strings = (name: string, values: readonly string[]) => list(name, values, (value) => [value]);

function actionXml(action: Action): Child[] {
  const redirect = action.RedirectConfig;
  const fixed = action.FixedResponseConfig;
  const forwards = forwardsOf(action);
  // As ELB describes a forward: TargetGroupArn only when it goes to one target group.
  const single = forwards.length === 1 ? forwards[0]?.TargetGroupArn : undefined;
  return [
    element("Type", action.Type),
    optional("TargetGroupArn", single),
    optional("Order", action.Order),
    forwards.length > 0
      ? element(
          "ForwardConfig",
          list("TargetGroups", forwards, (group) => [
            element("TargetGroupArn", group.TargetGroupArn),
            element("Weight", group.Weight),
          ]),
        )
      : undefined,
    redirect
      ? element("RedirectConfig", ...members(redirect, ["Protocol", "Port", "Host", "Path", "StatusCode"]))
      : undefined,
    fixed
      ? element("FixedResponseConfig", ...members(fixed, ["MessageBody", "StatusCode", "ContentType"]))
      : undefined,
  ];
}

function conditionXml(condition: RuleCondition): Child[] {
  const plain = (name: string, config: { Values: string[] } | undefined) =>
    config ? element(name, strings("Values", config.Values)) : undefined;
  return [
    element("Field", condition.Field),
    plain("PathPatternConfig", condition.PathPatternConfig),
    plain("HostHeaderConfig", condition.HostHeaderConfig),
    plain("HttpRequestMethodConfig", condition.HttpRequestMethodConfig),
    plain("SourceIpConfig", condition.SourceIpConfig),
    condition.HttpHeaderConfig
      ? element(
          "HttpHeaderConfig",
          element("HttpHeaderName", condition.HttpHeaderConfig.HttpHeaderName),
          strings("Values", condition.HttpHeaderConfig.Values),
        )
      : undefined,
    condition.QueryStringConfig
      ? element(
          "QueryStringConfig",
          list("Values", condition.QueryStringConfig.Values, (pair) => [
            optional("Key", pair.Key),
            element("Value", pair.Value),
          ]),
        )
      : undefined,
  ];
}

export class LoadBalancers {
  private readonly file: JsonFile<State>;
  private readonly state: State;
  private readonly servers = new Map<string, Server | TcpServer>();
  private readonly forwarder = new HttpForwarder();
  private readonly selector = new WeightedSelector();
  /** Each balancer's routing, by ARN (see `plan`). */
  private readonly plans = new Map<string, Plan>();
  /** Network load balancers' connections and health checks. */
  private readonly network: NetworkGroups;

  constructor(
    path: string,
    readonly options: LoadBalancersOptions,
  ) {
    this.file = new JsonFile(path);
    this.state = this.file.read({ loadBalancers: [], listeners: [], rules: [], targetGroups: [] });
    this.network = new NetworkGroups({
      targetsOf: (arn) => this.options.targetsOf(arn),
      settingsOf: (arn) => this.networkSettings(arn),
      selector: this.selector,
      ...(options.log ? { log: options.log } : {}),
    });
  }

  /** A target group's health check and deregistration delay, as the network balancing reads them. */
  private networkSettings(arn: string): { health: HealthSettings; delaySeconds: number } | undefined {
    const group = this.state.targetGroups.find((candidate) => candidate.arn === arn);
    if (!group) return undefined;
    const check = group.healthCheck;
    const number = (key: string, fallback: number) => int(check[key]) ?? fallback;
    return {
      health: {
        protocol: check.HealthCheckProtocol === "HTTP" ? "HTTP" : "TCP",
        path: text(check.HealthCheckPath) ?? "/",
        intervalSeconds: number("HealthCheckIntervalSeconds", 30),
        timeoutSeconds: number("HealthCheckTimeoutSeconds", 10),
        healthyThreshold: number("HealthyThresholdCount", 5),
        unhealthyThreshold: number("UnhealthyThresholdCount", 2),
      },
      delaySeconds: int(group.attributes["deregistration_delay.timeout_seconds"]) ?? 300,
    };
  }

  /** A network balancer's connection: passed through to its first listener's target group. */
  private passNetwork(balancer: BalancerEntry, socket: Socket): void {
    const listener = this.state.listeners.find((candidate) => candidate.loadBalancerArn === balancer.arn);
    const group = listener?.defaultActions.find((action) => action.Type === "forward")?.TargetGroupArn;
    if (!group) {
      socket.destroy();
      return;
    }
    this.network.pass(group, socket, `${balancer.name}:${listener?.port}`);
  }

  /** Opens the listeners of the balancers kept from an earlier run. */
  async start(): Promise<void> {
    for (const balancer of this.state.loadBalancers) await this.listen(balancer);
    this.save();
  }

  async close(): Promise<void> {
    this.forwarder.close();
    this.network.close();
    await Promise.all(
      [...this.servers.values()].map(
        (server) =>
          new Promise<void>((resolve) => {
            if ("closeAllConnections" in server) server.closeAllConnections();
            server.close(() => resolve());
          }),
      ),
    );
    this.servers.clear();
  }

  /** The balancers with their address, listeners, rules and target groups (for `/_local/elbv2`). */
  list() {
    return this.state.loadBalancers.map((balancer) => ({
      name: balancer.name,
      url: `${balancer.type === "network" ? "tcp" : "http"}://${this.dnsName(balancer)}`,
      listeners: this.state.listeners
        .filter((listener) => listener.loadBalancerArn === balancer.arn)
        .map((listener) => ({
          port: listener.port,
          protocol: listener.protocol,
          rules: this.rulesOf(listener.arn).map((rule) => ({
            priority: rule.priority,
            actions: rule.actions,
          })),
        })),
    }));
  }

  private save(): void {
    this.plans.clear();
    this.file.write(this.state);
  }

  private arn(kind: string, name: string): string {
    return `arn:aws:elasticloadbalancing:${this.options.region}:${this.options.account}:${kind}/${name}`;
  }

  private dnsName(balancer: BalancerEntry): string {
    return `127.0.0.1:${balancer.port}`;
  }

  private async listen(balancer: BalancerEntry): Promise<void> {
    const server =
      balancer.type === "network"
        ? createTcpServer({ allowHalfOpen: true }, (socket) => this.passNetwork(balancer, socket))
        : createServer((request, response) => {
            const decision = this.decide(balancer, request);
            if (typeof decision === "function") decision(response);
            else this.forwarder.handle(request, response, decision);
          });
    if ("keepAliveTimeout" in server) {
      server.keepAliveTimeout = 65_000;
      // Requests the balancer forwards skip Node's HTTP objects; what it answers itself does not.
      serveFast(server, this.forwarder, (request) => {
        const decision = this.decide(balancer, request);
        return typeof decision === "function" ? undefined : decision;
      });
    }
    const bind = (port: number) =>
      new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(port, "127.0.0.1", () => {
          server.off("error", reject);
          resolve();
        });
      });
    try {
      await bind(balancer.port);
    } catch (error) {
      // The balancer's former port is taken: it gets another, as a new one would.
      if ((error as NodeJS.ErrnoException).code !== "EADDRINUSE" || balancer.port === 0) throw error;
      await bind(0);
    }
    balancer.port = (server.address() as AddressInfo).port;
    this.servers.set(balancer.arn, server);
  }

  /** The listener a balancer's address serves: its HTTPS listener, else its first. */
  private servedListener(balancer: BalancerEntry): ListenerEntry | undefined {
    const listeners = this.state.listeners.filter((listener) => listener.loadBalancerArn === balancer.arn);
    return listeners.find((listener) => listener.protocol === "HTTPS") ?? listeners[0];
  }

  private rulesOf(listenerArn: string): RuleEntry[] {
    return this.state.rules
      .filter((rule) => rule.listenerArn === listenerArn)
      .sort((a, b) => a.priority - b.priority);
  }

  /**
   * The healthy targets of a group in the order to try them: by traffic weight while a gradual
   * deployment shifts (as ECS weighs the production rule's target groups on AWS), else in turn.
   */
  private targets(targetGroupArn: string): Target[] {
    return healthyInOrder(this.selector, targetGroupArn, this.options.targetsOf(targetGroupArn));
  }

  /**
   * The healthy targets of a forward to several target groups, in the order to try them: the
   * groups split the requests by their weights (ECS changes them while a gradual deployment
   * shifts); the targets of the other groups follow, those of zero-weight groups last.
   */
  private weightedTargets(key: string, forwards: { TargetGroupArn: string; Weight: number }[]): Target[] {
    const targets: WeightedTarget[] = [];
    for (const forward of forwards) {
      for (const task of this.options.targetsOf(forward.TargetGroupArn)) {
        if (task.healthy)
          targets.push({
            id: task.taskId,
            port: task.port,
            group: forward.TargetGroupArn,
            weight: forward.Weight,
          });
      }
    }
    return this.selector.order(key, targets);
  }

  /**
   * Sets the weights of a rule's forward (or, for a listener's default rule, its default
   * action's): what ECS does to the production listener rule while it shifts traffic. Answers
   * false when there is no such rule.
   */
  setForwardWeights(ruleArn: string, weights: { targetGroupArn: string; weight: number }[]): boolean {
    const actions: Action[] = [
      {
        Type: "forward",
        ForwardConfig: {
          TargetGroups: weights.map((entry) => ({
            TargetGroupArn: entry.targetGroupArn,
            Weight: entry.weight,
          })),
        },
      },
    ];
    const rule = this.state.rules.find((candidate) => candidate.arn === ruleArn);
    const listener = rule
      ? undefined
      : this.state.listeners.find((candidate) => `${candidate.arn}/default` === ruleArn);
    if (rule) rule.actions = actions;
    else if (listener) listener.defaultActions = actions;
    else return false;
    this.save();
    return true;
  }

  /** Where a request to a balancer goes: forwarded (with these options), or answered by it. */
  private decide(
    balancer: BalancerEntry,
    request: RequestHead,
  ): ForwardOptions | ((response: ServerResponse) => void) {
    const plan = this.plan(balancer);
    if (!plan.listener) {
      return (response) =>
        response.writeHead(503, { "content-type": "text/plain" }).end(`${balancer.name} has no listener\n`);
    }
    let step = plan.fallback;
    for (const candidate of plan.rules) {
      if (matchesRule(candidate.conditions, request)) {
        step = candidate;
        break;
      }
    }
    const { action, forward } = step;
    if (action?.Type === "fixed-response" && action.FixedResponseConfig) {
      const fixed = action.FixedResponseConfig;
      return (response) =>
        response
          .writeHead(Number(fixed.StatusCode), { "content-type": fixed.ContentType ?? "text/plain" })
          .end(fixed.MessageBody ?? "");
    }
    if (action?.Type === "redirect" && action.RedirectConfig) {
      const redirect = action.RedirectConfig;
      const host = (request.headers.host ?? this.dnsName(balancer)).replace(/:\d+$/, "");
      const port = redirect.Port && redirect.Port !== "#{port}" ? `:${redirect.Port}` : "";
      const protocol = (redirect.Protocol ?? "HTTP").toLowerCase().replace("#{protocol}", "http");
      const status = redirect.StatusCode === "HTTP_302" ? 302 : 301;
      return (response) =>
        response.writeHead(status, { location: `${protocol}://${host}${port}${request.url ?? "/"}` }).end();
    }
    if (!forward)
      return (response) => response.writeHead(503, { "content-type": "text/plain" }).end("no action\n");
    return {
      targets: forward.targets,
      label: forward.label,
      headers: {
        "x-forwarded-for": request.socket.remoteAddress ?? "127.0.0.1",
        "x-forwarded-proto": "http",
        "x-forwarded-port": String(balancer.port),
      },
    };
  }

  /**
   * A balancer's listener, its rules in priority order and what each does (and the listener's
   * default), worked out once until the balancers change (`save`, which every change calls):
   * per request only the rules' conditions are matched.
   */
  private plan(balancer: BalancerEntry): Plan {
    const known = this.plans.get(balancer.arn);
    if (known) return known;
    const listener = this.servedListener(balancer);
    const step = (actions: Action[], key: string): PlanStep => {
      const action = [...actions].sort((a, b) => (a.Order ?? 0) - (b.Order ?? 0))[0];
      const forwards = action ? forwardsOf(action) : [];
      const [first] = forwards;
      if (!first) return { action };
      const names = forwards.map(
        (forward) =>
          this.state.targetGroups.find((candidate) => candidate.arn === forward.TargetGroupArn)?.name ??
          forward.TargetGroupArn,
      );
      return {
        action,
        forward: {
          // Asked on each request (and again after each wait): the targets and weights are ECS's.
          targets: () =>
            forwards.length === 1 ? this.targets(first.TargetGroupArn) : this.weightedTargets(key, forwards),
          label: `${balancer.name} → ${names.join(" + ")}`,
        },
      };
    };
    const plan: Plan = listener
      ? {
          listener,
          rules: this.rulesOf(listener.arn).map((rule) => ({
            conditions: rule.conditions,
            ...step(rule.actions, rule.arn),
          })),
          fallback: step(listener.defaultActions, listener.arn),
        }
      : { listener, rules: [], fallback: {} };
    this.plans.set(balancer.arn, plan);
    return plan;
  }

  // The Query API ----------------------------------------------------------------------------

  private balancer(arn: unknown): BalancerEntry {
    const found = this.state.loadBalancers.find((balancer) => balancer.arn === arn);
    if (!found) throw fail("LoadBalancerNotFound", `Load balancer '${String(arn)}' not found`);
    return found;
  }

  private targetGroup(arn: unknown): TargetGroupEntry {
    const found = this.state.targetGroups.find((group) => group.arn === arn);
    if (!found) throw fail("TargetGroupNotFound", `Target group '${String(arn)}' not found`);
    return found;
  }

  private listener(arn: unknown): ListenerEntry {
    const found = this.state.listeners.find((listener) => listener.arn === arn);
    if (!found) throw fail("ListenerNotFound", `Listener '${String(arn)}' not found`);
    return found;
  }

  private balancerXml(balancer: BalancerEntry): Child[] {
    return [
      element("LoadBalancerArn", balancer.arn),
      element("DNSName", this.dnsName(balancer)),
      element("CanonicalHostedZoneId", "ZBERTHLOCAL"),
      element("CreatedTime", balancer.createdTime),
      element("LoadBalancerName", balancer.name),
      element("Scheme", balancer.scheme),
      element("VpcId", "vpc-berthlocal"),
      element("State", element("Code", "active")),
      element("Type", balancer.type),
      list("AvailabilityZones", balancer.subnets, (subnet) => [
        element("ZoneName", `${this.options.region}a`),
        element("SubnetId", subnet),
      ]),
      strings("SecurityGroups", balancer.securityGroups),
      element("IpAddressType", "ipv4"),
    ];
  }

  private listenerXml(listener: ListenerEntry): Child[] {
    return [
      element("ListenerArn", listener.arn),
      element("LoadBalancerArn", listener.loadBalancerArn),
      element("Port", listener.port),
      element("Protocol", listener.protocol),
      list("Certificates", listener.certificates, (certificate) => [
        optional("CertificateArn", certificate.CertificateArn),
      ]),
      optional("SslPolicy", listener.sslPolicy),
      list("DefaultActions", listener.defaultActions, actionXml),
    ];
  }

  private ruleXml(rule: RuleEntry | { arn: string; default: ListenerEntry }): Child[] {
    if ("default" in rule) {
      return [
        element("RuleArn", rule.arn),
        element("Priority", "default"),
        list("Conditions", [], () => []),
        list("Actions", rule.default.defaultActions, actionXml),
        element("IsDefault", true),
      ];
    }
    return [
      element("RuleArn", rule.arn),
      element("Priority", String(rule.priority)),
      list("Conditions", rule.conditions, conditionXml),
      list("Actions", rule.actions, actionXml),
      element("IsDefault", false),
    ];
  }

  private forwardsTo(actions: Action[], targetGroupArn: string): boolean {
    return actions.some((action) =>
      forwardsOf(action).some((forward) => forward.TargetGroupArn === targetGroupArn),
    );
  }

  private targetGroupXml(group: TargetGroupEntry): Child[] {
    const check = group.healthCheck;
    const value = (key: string) => (check[key] === undefined ? undefined : String(check[key]));
    return [
      element("TargetGroupArn", group.arn),
      element("TargetGroupName", group.name),
      element("Protocol", group.protocol),
      element("Port", group.port),
      optional("VpcId", group.vpcId),
      optional("HealthCheckProtocol", value("HealthCheckProtocol") ?? "HTTP"),
      optional("HealthCheckPort", "traffic-port"),
      element("HealthCheckEnabled", true),
      optional("HealthCheckIntervalSeconds", value("HealthCheckIntervalSeconds") ?? "30"),
      optional("HealthCheckTimeoutSeconds", value("HealthCheckTimeoutSeconds") ?? "5"),
      optional("HealthyThresholdCount", value("HealthyThresholdCount") ?? "5"),
      optional("UnhealthyThresholdCount", value("UnhealthyThresholdCount") ?? "2"),
      optional("HealthCheckPath", value("HealthCheckPath") ?? "/"),
      element(
        "Matcher",
        element("HttpCode", String((check.Matcher as { HttpCode?: string })?.HttpCode ?? "200")),
      ),
      strings("LoadBalancerArns", [
        ...new Set(
          this.state.listeners
            .filter(
              (listener) =>
                this.forwardsTo(listener.defaultActions, group.arn) ||
                this.rulesOf(listener.arn).some((rule) => this.forwardsTo(rule.actions, group.arn)),
            )
            .map((listener) => listener.loadBalancerArn),
        ),
      ]),
      element("TargetType", group.targetType),
      optional("ProtocolVersion", group.protocolVersion),
      element("IpAddressType", "ipv4"),
    ];
  }

  private async handle(action: string, params: Record<string, unknown>): Promise<Xml[] | undefined> {
    const state = this.state;
    switch (action) {
      case "CreateLoadBalancer": {
        const name = text(params.Name);
        if (!name) throw fail("ValidationError", "Name is required");
        const existing = state.loadBalancers.find((balancer) => balancer.name === name);
        if (existing) return [list("LoadBalancers", [existing], (b) => this.balancerXml(b))];
        const type = text(params.Type) ?? "application";
        if (type !== "application" && type !== "network") {
          throw fail(
            "ValidationError",
            `Berth Local serves application and network load balancers, not ${type}`,
          );
        }
        const balancer: BalancerEntry = {
          arn: this.arn(`loadbalancer/${type === "network" ? "net" : "app"}/${name}`, id()),
          name,
          type,
          scheme: text(params.Scheme) ?? "internet-facing",
          subnets: asArray<string>(params.Subnets),
          securityGroups: asArray<string>(params.SecurityGroups),
          createdTime: new Date().toISOString(),
          port: 0,
          tags: tagsOf(params),
        };
        await this.listen(balancer);
        state.loadBalancers.push(balancer);
        this.save();
        this.options.log?.(
          `elbv2: load balancer ${name} listens on ${type === "network" ? "tcp" : "http"}://${this.dnsName(balancer)}`,
        );
        return [list("LoadBalancers", [balancer], (b) => this.balancerXml(b))];
      }
      case "DescribeLoadBalancers": {
        const found = namedOrAll(state.loadBalancers, params.Names, params.LoadBalancerArns, {
          byName: (name) => fail("LoadBalancerNotFound", `Load balancers '[${name}]' not found`),
          byArn: (arn) => this.balancer(arn),
        });
        return [list("LoadBalancers", found, (b) => this.balancerXml(b))];
      }
      case "DeleteLoadBalancer": {
        const balancer = state.loadBalancers.find((candidate) => candidate.arn === params.LoadBalancerArn);
        if (!balancer) return [];
        const listeners = state.listeners.filter((listener) => listener.loadBalancerArn === balancer.arn);
        state.rules = state.rules.filter(
          (rule) => !listeners.some((listener) => listener.arn === rule.listenerArn),
        );
        state.listeners = state.listeners.filter((listener) => listener.loadBalancerArn !== balancer.arn);
        state.loadBalancers.splice(state.loadBalancers.indexOf(balancer), 1);
        const server = this.servers.get(balancer.arn);
        this.servers.delete(balancer.arn);
        if (server && "closeAllConnections" in server) server.closeAllConnections();
        server?.close();
        this.save();
        return [];
      }
      case "CreateListener": {
        const balancer = this.balancer(params.LoadBalancerArn);
        const port = int(params.Port);
        if (port === undefined) throw fail("ValidationError", "Port is required");
        if (
          state.listeners.some(
            (listener) => listener.loadBalancerArn === balancer.arn && listener.port === port,
          )
        )
          throw fail("DuplicateListener", `A listener already exists on port ${port}`);
        const actions = actionsOf(params.DefaultActions);
        for (const action of actions)
          for (const forward of forwardsOf(action)) this.targetGroup(forward.TargetGroupArn);
        const protocol = text(params.Protocol) ?? (balancer.type === "network" ? "TCP" : "HTTP");
        this.checkListener(balancer, protocol, actions);
        const listener: ListenerEntry = {
          arn: this.arn(
            `listener/${balancer.type === "network" ? "net" : "app"}/${balancer.name}`,
            `${balancer.arn.split("/").pop()}/${id()}`,
          ),
          loadBalancerArn: balancer.arn,
          port,
          protocol,
          certificates: asArray<{ CertificateArn?: string }>(params.Certificates),
          ...(text(params.SslPolicy) ? { sslPolicy: text(params.SslPolicy) } : {}),
          defaultActions: actions,
        };
        state.listeners.push(listener);
        this.save();
        return [list("Listeners", [listener], (l) => this.listenerXml(l))];
      }
      case "ModifyListener": {
        const listener = this.listener(params.ListenerArn);
        const balancer = this.balancer(listener.loadBalancerArn);
        const port = int(params.Port) ?? listener.port;
        if (
          port !== listener.port &&
          state.listeners.some((other) => other.loadBalancerArn === balancer.arn && other.port === port)
        )
          throw fail("DuplicateListener", `A listener already exists on port ${port}`);
        const actions =
          params.DefaultActions !== undefined ? actionsOf(params.DefaultActions) : listener.defaultActions;
        for (const action of actions) if (action.TargetGroupArn) this.targetGroup(action.TargetGroupArn);
        const protocol = text(params.Protocol) ?? listener.protocol;
        this.checkListener(balancer, protocol, actions);
        listener.port = port;
        listener.protocol = protocol;
        listener.defaultActions = actions;
        if (params.Certificates !== undefined)
          listener.certificates = asArray<{ CertificateArn?: string }>(params.Certificates);
        if (text(params.SslPolicy)) listener.sslPolicy = text(params.SslPolicy);
        this.save();
        return [list("Listeners", [listener], (l) => this.listenerXml(l))];
      }
      case "DeleteListener": {
        const listener = this.listener(params.ListenerArn);
        state.rules = state.rules.filter((rule) => rule.listenerArn !== listener.arn);
        state.listeners.splice(state.listeners.indexOf(listener), 1);
        this.save();
        return [];
      }
      case "DescribeListeners": {
        const arns = asArray<string>(params.ListenerArns);
        for (const arn of arns) this.listener(arn);
        if (params.LoadBalancerArn !== undefined) this.balancer(params.LoadBalancerArn);
        const found = state.listeners.filter(
          (listener) =>
            (params.LoadBalancerArn === undefined || listener.loadBalancerArn === params.LoadBalancerArn) &&
            (arns.length === 0 || arns.includes(listener.arn)),
        );
        return [list("Listeners", found, (l) => this.listenerXml(l))];
      }
      case "AddListenerCertificates": {
        const listener = this.listener(params.ListenerArn);
        const added = asArray<{ CertificateArn?: string }>(params.Certificates);
        for (const certificate of added) {
          if (!listener.certificates.some((known) => known.CertificateArn === certificate.CertificateArn))
            listener.certificates.push(certificate);
        }
        this.save();
        return [
          list("Certificates", added, (certificate) => [
            optional("CertificateArn", certificate.CertificateArn),
          ]),
        ];
      }
      case "DescribeListenerCertificates": {
        const listener = this.listener(params.ListenerArn);
        return [
          list(
            "Certificates",
            listener.certificates.map((certificate, index) => ({ ...certificate, isDefault: index === 0 })),
            (certificate) => [
              optional("CertificateArn", certificate.CertificateArn),
              optional("IsDefault", certificate.isDefault),
            ],
          ),
        ];
      }
      case "CreateRule": {
        const listener = this.listener(params.ListenerArn);
        const priority = int(params.Priority);
        if (priority === undefined || priority < 1 || priority > 50_000)
          throw fail("ValidationError", "Priority must be between 1 and 50000");
        if (this.rulesOf(listener.arn).some((rule) => rule.priority === priority))
          throw fail("PriorityInUse", `Priority '${priority}' is currently in use`);
        const actions = actionsOf(params.Actions);
        for (const action of actions)
          for (const forward of forwardsOf(action)) this.targetGroup(forward.TargetGroupArn);
        const conditions = conditionsOf(params.Conditions);
        if (conditions.length === 0) throw fail("ValidationError", "A rule needs at least one condition");
        const rule: RuleEntry = {
          arn: `${listener.arn.replace(":listener/", ":listener-rule/")}/${id()}`,
          listenerArn: listener.arn,
          priority,
          conditions,
          actions,
          tags: tagsOf(params),
        };
        state.rules.push(rule);
        this.save();
        return [list("Rules", [rule], (r) => this.ruleXml(r))];
      }
      case "ModifyRule": {
        const rule = state.rules.find((candidate) => candidate.arn === params.RuleArn);
        if (!rule) throw fail("RuleNotFound", `Rule '${String(params.RuleArn)}' not found`);
        if (params.Conditions !== undefined) rule.conditions = conditionsOf(params.Conditions);
        if (params.Actions !== undefined) {
          const actions = actionsOf(params.Actions);
          for (const action of actions)
            for (const forward of forwardsOf(action)) this.targetGroup(forward.TargetGroupArn);
          rule.actions = actions;
        }
        this.save();
        return [list("Rules", [rule], (r) => this.ruleXml(r))];
      }
      case "DescribeRules": {
        const arns = asArray<string>(params.RuleArns);
        if (params.ListenerArn !== undefined) {
          const listener = this.listener(params.ListenerArn);
          const rules = [
            ...this.rulesOf(listener.arn),
            { arn: `${listener.arn}/default`, default: listener },
          ];
          return [list("Rules", rules, (r) => this.ruleXml(r))];
        }
        const rules = state.rules.filter((rule) => arns.includes(rule.arn));
        if (rules.length !== arns.length) throw fail("RuleNotFound", "One or more rules not found");
        return [list("Rules", rules, (r) => this.ruleXml(r))];
      }
      case "DeleteRule": {
        const index = state.rules.findIndex((rule) => rule.arn === params.RuleArn);
        if (index < 0) throw fail("RuleNotFound", `Rule '${String(params.RuleArn)}' not found`);
        state.rules.splice(index, 1);
        this.save();
        return [];
      }
      case "CreateTargetGroup": {
        const name = text(params.Name);
        if (!name) throw fail("ValidationError", "Name is required");
        const existing = state.targetGroups.find((group) => group.name === name);
        if (existing)
          throw fail("DuplicateTargetGroupName", `A target group with the same name '${name}' exists`);
        const {
          Name: _name,
          Protocol,
          ProtocolVersion,
          Port,
          VpcId,
          TargetType,
          Tags: _tags,
          ...healthCheck
        } = params as Record<string, unknown>;
        const group: TargetGroupEntry = {
          arn: this.arn(`targetgroup/${name}`, id()),
          name,
          protocol: text(Protocol) ?? "HTTP",
          ...(text(ProtocolVersion) ? { protocolVersion: text(ProtocolVersion) } : {}),
          port: int(Port) ?? 80,
          ...(text(VpcId) ? { vpcId: text(VpcId) } : {}),
          targetType: text(TargetType) ?? "instance",
          healthCheck,
          attributes: { "deregistration_delay.timeout_seconds": "300" },
          tags: tagsOf(params),
        };
        state.targetGroups.push(group);
        this.save();
        return [list("TargetGroups", [group], (g) => this.targetGroupXml(g))];
      }
      case "DescribeTargetGroups": {
        const named = namedOrAll(state.targetGroups, params.Names, params.TargetGroupArns, {
          byName: () => fail("TargetGroupNotFound", `One or more target groups not found`),
          byArn: (arn) => this.targetGroup(arn),
        });
        const found = named.filter(
          (group) =>
            params.LoadBalancerArn === undefined ||
            this.targetGroupXml(group).some(
              (child) => typeof child === "object" && child.xml.includes(String(params.LoadBalancerArn)),
            ),
        );
        return [list("TargetGroups", found, (g) => this.targetGroupXml(g))];
      }
      case "ModifyTargetGroup": {
        const group = this.targetGroup(params.TargetGroupArn);
        const { TargetGroupArn: _arn, ...healthCheck } = params;
        Object.assign(group.healthCheck, healthCheck);
        this.save();
        return [list("TargetGroups", [group], (g) => this.targetGroupXml(g))];
      }
      case "ModifyTargetGroupAttributes": {
        const group = this.targetGroup(params.TargetGroupArn);
        for (const attribute of asArray<{ Key?: string; Value?: string }>(params.Attributes)) {
          if (attribute.Key) group.attributes[attribute.Key] = String(attribute.Value ?? "");
        }
        this.save();
        return [this.attributesXml(group)];
      }
      case "DescribeTargetGroupAttributes":
        return [this.attributesXml(this.targetGroup(params.TargetGroupArn))];
      case "DeleteTargetGroup": {
        const group = state.targetGroups.find((candidate) => candidate.arn === params.TargetGroupArn);
        if (!group) return [];
        const used =
          state.listeners.some((listener) => this.forwardsTo(listener.defaultActions, group.arn)) ||
          state.rules.some((rule) => this.forwardsTo(rule.actions, group.arn));
        if (used)
          throw fail(
            "ResourceInUse",
            `Target group '${group.arn}' is currently in use by a listener or a rule`,
          );
        state.targetGroups.splice(state.targetGroups.indexOf(group), 1);
        this.save();
        return [];
      }
      case "DescribeTargetHealth": {
        const group = this.targetGroup(params.TargetGroupArn);
        if (group.protocol === "TCP" || group.protocol === "TLS") {
          // Behind a network balancer: the balancer's own checks, and draining targets.
          return [
            list("TargetHealthDescriptions", this.network.health(group.arn), (target) => [
              element("Target", element("Id", "127.0.0.1"), element("Port", target.port)),
              element("HealthCheckPort", String(target.port)),
              element(
                "TargetHealth",
                element("State", target.state),
                target.state === "unhealthy"
                  ? element("Reason", "Target.FailedHealthChecks")
                  : target.state === "draining"
                    ? element("Reason", "Target.DeregistrationInProgress")
                    : target.state === "initial"
                      ? element("Reason", "Elb.InitialHealthChecking")
                      : undefined,
              ),
            ]),
          ];
        }
        const targets = this.options.targetsOf(group.arn);
        return [
          list("TargetHealthDescriptions", targets, (target) => [
            element("Target", element("Id", "127.0.0.1"), element("Port", target.port)),
            element("HealthCheckPort", String(target.port)),
            element(
              "TargetHealth",
              element("State", target.healthy ? "healthy" : "unhealthy"),
              target.healthy ? undefined : element("Reason", "Target.FailedHealthChecks"),
            ),
          ]),
        ];
      }
      case "DescribeTags": {
        const arns = asArray<string>(params.ResourceArns);
        const tagged = [...state.loadBalancers, ...state.targetGroups, ...state.rules];
        return [
          list("TagDescriptions", arns, (arn) => [
            element("ResourceArn", arn),
            list("Tags", tagged.find((resource) => resource.arn === arn)?.tags ?? [], (tag) => [
              element("Key", tag.Key),
              optional("Value", tag.Value),
            ]),
          ]),
        ];
      }
      default:
        throw fail("InvalidAction", `Berth Local's Elastic Load Balancing does not implement ${action}`);
    }
  }

  /** A listener fits its balancer: HTTP(S) on an application one, TCP or TLS forwarding on a network one. */
  private checkListener(balancer: BalancerEntry, protocol: string, actions: Action[]): void {
    const allowed = balancer.type === "network" ? ["TCP", "TLS"] : ["HTTP", "HTTPS"];
    if (!allowed.includes(protocol)) {
      throw fail(
        "ValidationError",
        balancer.type === "network" && ["UDP", "TCP_UDP"].includes(protocol)
          ? `Berth Local's network load balancers pass TCP only, not ${protocol}`
          : `Protocol '${protocol}' must be one of '${allowed.join(", ")}' for a ${balancer.type} load balancer`,
      );
    }
    if (balancer.type !== "network") return;
    for (const action of actions) {
      if (action.Type !== "forward" || !action.TargetGroupArn)
        throw fail(
          "ValidationError",
          "A network load balancer's listener can only forward to a target group",
        );
      const group = this.targetGroup(action.TargetGroupArn);
      if (group.protocol !== "TCP" && group.protocol !== "TLS")
        throw fail(
          "IncompatibleProtocols",
          `The target group '${group.name}' uses ${group.protocol}; a ${protocol} listener needs a TCP or TLS target group`,
        );
    }
  }

  private attributesXml(group: TargetGroupEntry): Xml {
    return list("Attributes", Object.entries(group.attributes), ([key, value]) => [
      element("Key", key),
      element("Value", value),
    ]);
  }

  /** The Query API on the endpoint root, told apart from IAM's by its version or signature. */
  route(): EndpointRoute {
    return queryRoute({
      signingName: "elasticloadbalancing",
      version: VERSION,
      namespace: NAMESPACE,
      internalErrorCode: "InternalFailure",
      onInternalError: (error) => this.options.log?.(`elbv2: internal error: ${(error as Error).stack}`),
      handle: (action, params) => this.handle(action, params),
    });
  }
}

import { createServer as createHttpServer, type Server as HttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import { connect, createServer as createTcpServer, type Socket, type Server as TcpServer } from "node:net";
import { serveFast } from "../proxy/fast-path.ts";
import { type ForwardOptions, HttpForwarder, type Target } from "../proxy/http-forward.ts";
import { WeightedSelector, type WeightedTarget } from "../proxy/weighted.ts";

/**
 * Berth Local's Service Connect: one proxy per client alias (`dnsName:port`) of a Cloud Map
 * namespace on a local port, round-robining across the service's tasks that are RUNNING,
 * healthy and not stopping. As in ECS, an alias belongs to a namespace: two namespaces may
 * each have `privateapi:3000`, one namespace only once (the ECS API refuses the second).
 *
 * How other tasks reach it: when a task starts, every `alias:port` of its service's namespace
 * that appears in its environment values is rewritten to the proxy's local address
 * (`127.0.0.1:<port>`), so `PRIVATE_ADDRESS=privateapi.shop:3000` becomes, for example,
 * `127.0.0.1:41733`.
 *
 * A task leaves the pool as soon as it is asked to stop (before its SIGTERM), so no new request
 * reaches a draining task while its open connections finish; a new task joins once healthy.
 * HTTP aliases (appProtocol http) are proxied per request, which lets a request that meets a
 * closing keep-alive connection be retried on another task; other aliases are proxied as TCP.
 */

export interface Endpoint {
  taskId: string;
  port: number;
  /** The task's deployment and its share of traffic in percent, while a deployment shifts it. */
  group?: string;
  weight?: number;
}

export interface AliasOwner {
  clusterArn: string;
  serviceName: string;
  portName: string;
  protocol: "tcp" | "http";
}

/** An alias as `GET /_local/service-connect` lists it: where it answers and the healthy tasks behind it. */
export interface ListedAlias extends Pick<Proxy, "namespace" | "alias"> {
  /** `127.0.0.1:port` of its proxy. */
  address: string;
  /** The ECS service that owns it. */
  service: AliasOwner["serviceName"];
  protocol: AliasOwner["protocol"];
  /** Each with the `127.0.0.1:port` it listens on. */
  healthyTasks: (Pick<Endpoint, "taskId"> & { address: string })[];
}

interface Proxy {
  namespace: string;
  alias: string;
  owner: AliasOwner;
  server: TcpServer | HttpServer;
  port: number;
  /** A TCP proxy's open connections, ended with it (an HTTP server closes its own). */
  sockets: Set<Socket>;
}

/**
 * When every task refused (a task without a health check joins once RUNNING, possibly a moment
 * before it listens), the proxy tries again this many times, this far apart, before giving up.
 */
const REFUSED_ROUNDS = 20;
const REFUSED_DELAY_MS = 100;

export class ServiceConnect {
  private readonly proxies = new Map<string, Proxy>();
  private readonly forwarder = new HttpForwarder();
  private readonly selector = new WeightedSelector();

  constructor(private readonly endpointsOf: (owner: AliasOwner) => Endpoint[]) {}

  /** The local address of an alias's proxy. */
  addressOf(namespace: string, alias: string): string | undefined {
    const proxy = this.proxies.get(keyOf(namespace, alias));
    return proxy ? `127.0.0.1:${proxy.port}` : undefined;
  }

  /**
   * Starts the proxy of an alias of a namespace (or re-points an existing one at the service's
   * new port name). The ECS API has refused an alias another service publishes in the namespace.
   */
  async ensure(namespace: string, alias: string, owner: AliasOwner): Promise<string> {
    const key = keyOf(namespace, alias);
    const existing = this.proxies.get(key);
    if (existing && !sameService(existing.owner, owner)) {
      throw new Error(`${alias} in ${namespace} is published by ${existing.owner.serviceName} already`);
    }
    if (existing && existing.owner.protocol === owner.protocol) {
      existing.owner = owner;
      return `127.0.0.1:${existing.port}`;
    }
    // A new alias, or one whose protocol changed (HTTP per request vs TCP): a new proxy.
    if (existing) await this.closeProxy(key, existing);
    const proxy: Proxy = {
      namespace,
      alias,
      owner,
      server: undefined as unknown as TcpServer,
      port: 0,
      sockets: new Set(),
    };
    proxy.server = owner.protocol === "http" ? this.httpProxy(proxy) : this.tcpProxy(proxy);
    await new Promise<void>((resolve, reject) => {
      proxy.server.once("error", reject);
      proxy.server.listen(0, "127.0.0.1", () => resolve());
    });
    proxy.port = (proxy.server.address() as AddressInfo).port;
    this.proxies.set(key, proxy);
    return `127.0.0.1:${proxy.port}`;
  }

  /**
   * Removes the aliases a service publishes, except those in `keep` (`namespace`, `alias` pairs
   * it still publishes): a deleted service's aliases go with it, as its Cloud Map services do.
   */
  async release(service: Pick<AliasOwner, "clusterArn" | "serviceName">, keep: [string, string][] = []) {
    const kept = new Set(keep.map(([namespace, alias]) => keyOf(namespace, alias)));
    await Promise.all(
      [...this.proxies]
        .filter(([key, proxy]) => sameService(proxy.owner, service) && !kept.has(key))
        .map(([key, proxy]) => this.closeProxy(key, proxy)),
    );
  }

  /**
   * Replaces every `alias:port` of the namespace in a value by its proxy's local address; with
   * no namespace (a task no Service Connect service started), the aliases of every namespace.
   */
  rewrite(value: string, namespace: string | undefined): string {
    let result = value;
    for (const proxy of this.proxies.values()) {
      if (namespace !== undefined && proxy.namespace !== namespace) continue;
      const pattern = new RegExp(`(^|[^A-Za-z0-9.-])${escapeRegExp(proxy.alias)}(?![0-9])`, "g");
      result = result.replace(pattern, (_match, before: string) => `${before}127.0.0.1:${proxy.port}`);
    }
    return result;
  }

  list(): ListedAlias[] {
    return [...this.proxies.values()].map((proxy) => ({
      namespace: proxy.namespace,
      alias: proxy.alias,
      address: `127.0.0.1:${proxy.port}`,
      service: proxy.owner.serviceName,
      protocol: proxy.owner.protocol,
      healthyTasks: this.endpointsOf(proxy.owner).map((endpoint) => ({
        taskId: endpoint.taskId,
        address: `127.0.0.1:${endpoint.port}`,
      })),
    }));
  }

  async close(): Promise<void> {
    this.forwarder.close();
    await Promise.all([...this.proxies].map(([key, proxy]) => this.closeProxy(key, proxy)));
  }

  private closeProxy(key: string, proxy: Proxy): Promise<void> {
    if (this.proxies.get(key) === proxy) this.proxies.delete(key);
    return new Promise<void>((resolve) => {
      proxy.server.close(() => resolve());
      if ("closeAllConnections" in proxy.server) proxy.server.closeAllConnections();
      for (const socket of proxy.sockets) socket.destroy();
    });
  }

  /** The endpoints in the order to try them: by traffic weight, round robin within a weight. */
  private rotation(proxy: Proxy): Target[] {
    const endpoints = this.endpointsOf(proxy.owner);
    const targets: WeightedTarget[] = new Array(endpoints.length);
    for (let index = 0; index < endpoints.length; index += 1) {
      const endpoint = endpoints[index] as Endpoint;
      targets[index] =
        endpoint.group !== undefined
          ? { id: endpoint.taskId, port: endpoint.port, group: endpoint.group, weight: endpoint.weight ?? 0 }
          : { id: endpoint.taskId, port: endpoint.port };
    }
    return this.selector.order(proxy.alias, targets);
  }

  private tcpProxy(proxy: Proxy): TcpServer {
    // Half-open connections pass through: a client may finish sending and still read the reply.
    const server = createTcpServer({ allowHalfOpen: true }, (client) => {
      proxy.sockets.add(client);
      client.once("close", () => proxy.sockets.delete(client));
      client.pause();
      let candidates = this.rotation(proxy);
      let round = 0;
      const attempt = (index: number) => {
        const endpoint = candidates[index];
        if (!endpoint) {
          round += 1;
          if (round >= REFUSED_ROUNDS || client.destroyed) {
            client.destroy();
            return;
          }
          setTimeout(() => {
            candidates = this.rotation(proxy);
            attempt(0);
          }, REFUSED_DELAY_MS);
          return;
        }
        const upstream: Socket = connect({ port: endpoint.port, host: "127.0.0.1", allowHalfOpen: true });
        upstream.once("connect", () => {
          upstream.removeAllListeners("error");
          upstream.on("error", () => client.destroy());
          client.on("error", () => upstream.destroy());
          client.once("close", () => upstream.destroy());
          client.pipe(upstream);
          upstream.pipe(client);
          client.resume();
        });
        // A task that is gone between the health check and the connection: try the next one.
        upstream.once("error", () => attempt(index + 1));
      };
      attempt(0);
    });
    return server;
  }

  private httpProxy(proxy: Proxy): HttpServer {
    // The forwarding core the gateways share: per request, with retries on refused connections
    // and on keep-alive connections a stopping task closed.
    // The same for every request (the targets are asked for each): made once.
    const options: ForwardOptions = {
      targets: () => this.rotation(proxy),
      headers: { host: proxy.alias },
      get label() {
        return `${proxy.owner.serviceName} (${proxy.alias})`;
      },
    };
    const server = createHttpServer((request, response) => this.forwarder.handle(request, response, options));
    server.keepAliveTimeout = 65_000;
    // Plain keep-alive requests skip Node's HTTP objects; the rest go through the server above.
    serveFast(server, this.forwarder, () => options);
    return server;
  }
}

const keyOf = (namespace: string, alias: string) => `${namespace}\u0000${alias}`;

const sameService = (a: Pick<AliasOwner, "clusterArn" | "serviceName">, b: typeof a) =>
  a.clusterArn === b.clusterArn && a.serviceName === b.serviceName;

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

import { createServer as createHttpServer, type Server as HttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import { connect, createServer as createTcpServer, type Socket, type Server as TcpServer } from "node:net";
import { HttpForwarder } from "../proxy/http-forward.ts";
import { WeightedSelector, type WeightedTarget } from "../proxy/weighted.ts";

/**
 * Berth Local's Service Connect: one proxy per client alias (`dnsName:port`) on a local port,
 * round-robining across the service's tasks that are RUNNING, healthy and not stopping.
 *
 * How other tasks reach it: when a task starts, every `alias:port` of the namespace that appears
 * in its environment values is rewritten to the proxy's local address (`127.0.0.1:<port>`), so
 * `PRIVATE_ADDRESS=privateapi:3000` becomes, for example, `127.0.0.1:41733`.
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

interface Proxy {
  alias: string;
  owner: AliasOwner;
  server: TcpServer | HttpServer;
  port: number;
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

  /** Starts the proxy of an alias (or re-points an existing one at a new owner). */
  async ensure(alias: string, owner: AliasOwner): Promise<string> {
    const existing = this.proxies.get(alias);
    if (existing) {
      existing.owner = owner;
      return `127.0.0.1:${existing.port}`;
    }
    const proxy: Proxy = { alias, owner, server: undefined as unknown as TcpServer, port: 0 };
    proxy.server = owner.protocol === "http" ? this.httpProxy(proxy) : this.tcpProxy(proxy);
    await new Promise<void>((resolve, reject) => {
      proxy.server.once("error", reject);
      proxy.server.listen(0, "127.0.0.1", () => resolve());
    });
    proxy.port = (proxy.server.address() as AddressInfo).port;
    this.proxies.set(alias, proxy);
    return `127.0.0.1:${proxy.port}`;
  }

  addressOf(alias: string): string | undefined {
    const proxy = this.proxies.get(alias);
    return proxy ? `127.0.0.1:${proxy.port}` : undefined;
  }

  /** Replaces every known `alias:port` in a value by its proxy's local address. */
  rewrite(value: string): string {
    let result = value;
    for (const [alias, proxy] of this.proxies) {
      const pattern = new RegExp(`(^|[^A-Za-z0-9.-])${escapeRegExp(alias)}(?![0-9])`, "g");
      result = result.replace(pattern, (_match, before: string) => `${before}127.0.0.1:${proxy.port}`);
    }
    return result;
  }

  list(): {
    alias: string;
    address: string;
    service: string;
    protocol: string;
    healthyTasks: { taskId: string; address: string }[];
  }[] {
    return [...this.proxies.values()].map((proxy) => ({
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
    await Promise.all(
      [...this.proxies.values()].map(
        (proxy) =>
          new Promise<void>((resolve) => {
            proxy.server.close(() => resolve());
            if ("closeAllConnections" in proxy.server) proxy.server.closeAllConnections();
          }),
      ),
    );
    this.proxies.clear();
  }

  /** The endpoints in the order to try them: by traffic weight, round robin within a weight. */
  private rotation(proxy: Proxy): Endpoint[] {
    const targets: WeightedTarget[] = this.endpointsOf(proxy.owner).map((endpoint) => ({
      id: endpoint.taskId,
      port: endpoint.port,
      ...(endpoint.group !== undefined ? { group: endpoint.group, weight: endpoint.weight ?? 0 } : {}),
    }));
    return this.selector
      .order(proxy.alias, targets)
      .map((target) => ({ taskId: target.id, port: target.port }));
  }

  private tcpProxy(proxy: Proxy): TcpServer {
    // Half-open connections pass through: a client may finish sending and still read the reply.
    const server = createTcpServer({ allowHalfOpen: true }, (client) => {
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
    const server = createHttpServer((request, response) =>
      this.forwarder.handle(request, response, {
        targets: () => this.rotation(proxy).map((endpoint) => ({ id: endpoint.taskId, port: endpoint.port })),
        headers: { host: proxy.alias },
        label: `${proxy.owner.serviceName} (${proxy.alias})`,
      }),
    );
    server.keepAliveTimeout = 65_000;
    return server;
  }
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

import { connect, type Socket } from "node:net";
import { healthyInOrder, type RegisteredTask, type WeightedSelector } from "../proxy/weighted.ts";

/**
 * Berth Local's network load balancing: TCP passed through, connection by connection, to the
 * targets of a target group, with the balancer's own health checks. Used by `LoadBalancers` for
 * balancers of type `network`; the listener sockets are its, the connections are this module's.
 *
 * - A connection goes to the next registered target (round robin) that is healthy by ECS and by
 *   the group's checks. If no target passes its checks, every registered one is tried (AWS's
 *   network load balancers "fail open" likewise). A target that refuses the connection before a
 *   byte has been passed on is skipped for the next one.
 * - A target that leaves the group (its task stops) takes no new connection; its open ones stay
 *   until the group's deregistration delay has passed, then they are closed.
 * - Health checks: a TCP connection that opens (or an HTTP GET answered 200-399, for a group
 *   checked over HTTP) every `HealthCheckIntervalSeconds`, healthy after `HealthyThresholdCount`
 *   passes in a row, unhealthy after `UnhealthyThresholdCount` failures.
 */

export interface HealthSettings {
  protocol: "TCP" | "HTTP";
  path: string;
  intervalSeconds: number;
  timeoutSeconds: number;
  healthyThreshold: number;
  unhealthyThreshold: number;
}

export type TargetState = "initial" | "healthy" | "unhealthy" | "draining";

interface Checked {
  port: number;
  state: "initial" | "healthy" | "unhealthy";
  passes: number;
  failures: number;
  nextCheck: number;
  checking: boolean;
}

interface Passing {
  group: string;
  taskId: string;
  port: number;
  client: Socket;
  upstream: Socket;
  /** When its target left the group; undefined while it is registered. */
  drainingSince?: number;
}

export interface NetworkGroupsOptions {
  targetsOf: (targetGroupArn: string) => RegisteredTask[];
  /** The group's health check and deregistration delay, or undefined once it is gone. */
  settingsOf: (targetGroupArn: string) => { health: HealthSettings; delaySeconds: number } | undefined;
  selector: WeightedSelector;
  log?: (line: string) => void;
}

export class NetworkGroups {
  private readonly checks = new Map<string, Map<string, Checked>>();
  private readonly open = new Set<Passing>();
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly options: NetworkGroupsOptions) {
    this.timer = setInterval(() => this.tick(), 500);
    this.timer.unref();
  }

  close(): void {
    clearInterval(this.timer);
    for (const passing of this.open) {
      passing.client.destroy();
      passing.upstream.destroy();
    }
    this.open.clear();
  }

  /** The targets of a group with their state, draining ones included (DescribeTargetHealth). */
  health(group: string): { taskId: string; port: number; state: TargetState }[] {
    this.watch(group);
    const checked = this.checks.get(group) ?? new Map<string, Checked>();
    const registered = this.options.targetsOf(group);
    const described: { taskId: string; port: number; state: TargetState }[] = registered.map((task) => ({
      taskId: task.taskId,
      port: task.port,
      state: task.healthy ? (checked.get(task.taskId)?.state ?? "initial") : "unhealthy",
    }));
    const draining = new Map<string, number>();
    for (const passing of this.open) {
      if (passing.group === group && passing.drainingSince !== undefined)
        draining.set(passing.taskId, passing.port);
    }
    for (const [taskId, port] of draining) described.push({ taskId, port, state: "draining" });
    return described;
  }

  /** Passes one client connection through to a target of the group. */
  pass(group: string, client: Socket, label: string): void {
    this.watch(group);
    client.pause();
    client.on("error", () => client.destroy());
    const registered = this.options.targetsOf(group);
    const checked = this.checks.get(group);
    const passing = registered.map((task) => ({
      ...task,
      healthy: task.healthy && checked?.get(task.taskId)?.state === "healthy",
    }));
    // No target passes its checks: fail open, as AWS does, to every registered one.
    const candidates = passing.some((task) => task.healthy)
      ? passing
      : registered.map((task) => ({ ...task, healthy: true }));
    const order = healthyInOrder(this.options.selector, `nlb:${group}`, candidates);
    const attempt = (index: number) => {
      const target = order[index];
      if (!target || client.destroyed) {
        if (!target) this.options.log?.(`elbv2: ${label}: no target accepted the connection`);
        client.destroy();
        return;
      }
      const upstream = connect({ host: "127.0.0.1", port: target.port, allowHalfOpen: true });
      upstream.once("error", () => {
        upstream.destroy();
        attempt(index + 1);
      });
      upstream.once("connect", () => {
        upstream.removeAllListeners("error");
        const entry: Passing = { group, taskId: target.id, port: target.port, client, upstream };
        this.open.add(entry);
        const done = () => {
          this.open.delete(entry);
          client.destroy();
          upstream.destroy();
        };
        upstream.on("error", done);
        client.on("error", done);
        upstream.on("close", done);
        client.on("close", done);
        client.pipe(upstream);
        upstream.pipe(client);
        client.resume();
      });
    };
    attempt(0);
  }

  private watch(group: string): void {
    if (!this.checks.has(group)) this.checks.set(group, new Map());
  }

  private tick(): void {
    const now = Date.now();
    for (const [group, checked] of this.checks) {
      const settings = this.options.settingsOf(group);
      if (!settings) {
        this.checks.delete(group);
        continue;
      }
      const registered = this.options.targetsOf(group);
      const present = new Set(registered.map((task) => task.taskId));
      for (const taskId of checked.keys()) if (!present.has(taskId)) checked.delete(taskId);
      for (const task of registered) {
        let entry = checked.get(task.taskId);
        if (!entry || entry.port !== task.port) {
          entry = {
            port: task.port,
            state: "initial",
            passes: 0,
            failures: 0,
            nextCheck: now,
            checking: false,
          };
          checked.set(task.taskId, entry);
        }
        if (entry.checking || entry.nextCheck > now) continue;
        entry.checking = true;
        const current = entry;
        void probe(task.port, settings.health).then((ok) => {
          current.checking = false;
          current.nextCheck = Date.now() + settings.health.intervalSeconds * 1000;
          if (ok) {
            current.failures = 0;
            current.passes += 1;
            if (current.passes >= settings.health.healthyThreshold) current.state = "healthy";
          } else {
            current.passes = 0;
            current.failures += 1;
            if (current.failures >= settings.health.unhealthyThreshold) current.state = "unhealthy";
          }
        });
      }
      // Connections to targets that left the group: kept until the deregistration delay.
      for (const passing of this.open) {
        if (passing.group !== group) continue;
        if (present.has(passing.taskId)) {
          passing.drainingSince = undefined;
          continue;
        }
        passing.drainingSince ??= now;
        if (now - passing.drainingSince >= settings.delaySeconds * 1000) {
          passing.client.destroy();
          passing.upstream.destroy();
          this.open.delete(passing);
        }
      }
    }
  }
}

/** One health check of a target on 127.0.0.1. */
async function probe(port: number, health: HealthSettings): Promise<boolean> {
  const timeout = health.timeoutSeconds * 1000;
  if (health.protocol === "HTTP") {
    try {
      const response = await fetch(`http://127.0.0.1:${port}${health.path}`, {
        signal: AbortSignal.timeout(timeout),
      });
      await response.arrayBuffer();
      return response.status >= 200 && response.status < 400;
    } catch {
      return false;
    }
  }
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    const finish = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeout, () => finish(false));
    socket.once("connect", () => finish(true));
    socket.once("error", () => finish(false));
  });
}

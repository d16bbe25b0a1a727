import type { Target } from "./http-forward.ts";

/**
 * Target selection with traffic weights, shared by Berth Local's gateways (Service Connect, the
 * HTTP API gateway, and any load balancer that routes to ECS tasks). It only orders targets;
 * forwarding (retries, draining) stays in the forwarder, which tries them in this order.
 *
 * A target may belong to a group (an ECS deployment) with a traffic weight in percent. While a
 * gradual deployment shifts traffic, the old and the new deployment's tasks carry their
 * weights, and requests are split between the groups by smooth weighted round robin (nginx's
 * scheme: exact proportions over any run of requests, interleaved rather than in bursts), then
 * round robin among the group's targets. Targets of other groups follow as fallbacks, those of
 * zero-weight groups (a failed deployment) last, so a retry still finds a task when the chosen
 * group has none that answers. Without weights every target takes its turn.
 */

export interface WeightedTarget extends Target {
  /** The group (ECS deployment) of the target. */
  group?: string;
  /** The group's share of requests in percent; every target of a group carries the same one. */
  weight?: number;
}

interface Rotation {
  next: number;
  /** Smooth weighted round robin's running score per group. */
  scores: Map<string, number>;
  /** Round robin position within each group. */
  within: Map<string, number>;
}

export class WeightedSelector {
  private readonly rotations = new Map<string, Rotation>();

  /**
   * The targets in the order to try them for one request. `key` names the pool (an alias, a
   * Cloud Map service) whose turn-taking state is kept between requests.
   */
  order(key: string, targets: readonly WeightedTarget[]): Target[] {
    if (targets.length === 0) return [];
    let rotation = this.rotations.get(key);
    if (!rotation) {
      rotation = { next: 0, scores: new Map(), within: new Map() };
      this.rotations.set(key, rotation);
    }
    const groups = groupsOf(targets);
    if (!groups) return rotate(targets, rotation.next++);

    // Smooth weighted round robin between the groups that take traffic.
    let total = 0;
    let chosen: string | undefined;
    let best = Number.NEGATIVE_INFINITY;
    for (const [group, { weight }] of groups) {
      if (weight <= 0) continue;
      const score = (rotation.scores.get(group) ?? 0) + weight;
      rotation.scores.set(group, score);
      total += weight;
      if (score > best) {
        best = score;
        chosen = group;
      }
    }
    // Forget the scores of groups that left (a finished deployment).
    for (const group of rotation.scores.keys()) if (!groups.has(group)) rotation.scores.delete(group);
    if (chosen !== undefined) rotation.scores.set(chosen, best - total);

    const ordered: Target[] = [];
    const take = (group: string) => {
      const members = groups.get(group)?.members ?? [];
      const position = rotation.within.get(group) ?? 0;
      if (group === chosen) rotation.within.set(group, position + 1);
      ordered.push(...rotate(members, position));
    };
    if (chosen !== undefined) take(chosen);
    for (const [group, { weight }] of groups) if (group !== chosen && weight > 0) take(group);
    for (const [group, { weight }] of groups) if (weight <= 0) take(group);
    return ordered;
  }
}

/** A task as a gateway's registry reports it (Cloud Map, an ELB target group). */
export interface RegisteredTask {
  taskId: string;
  port: number;
  healthy: boolean;
  /** The task's ECS deployment, and its share of traffic while a gradual deployment shifts. */
  group?: string;
  weight?: number;
}

/** The healthy tasks of a pool in the order to try them for one request. */
export function healthyInOrder(
  selector: WeightedSelector,
  key: string,
  registered: readonly RegisteredTask[],
): Target[] {
  const healthy: WeightedTarget[] = [];
  for (const task of registered) {
    if (!task.healthy) continue;
    healthy.push(
      task.group !== undefined
        ? { id: task.taskId, port: task.port, group: task.group, weight: task.weight ?? 0 }
        : { id: task.taskId, port: task.port },
    );
  }
  return selector.order(key, healthy);
}

/** The targets by group, or undefined when there are no weights to honour (a single group, none). */
function groupsOf(
  targets: readonly WeightedTarget[],
): Map<string, { weight: number; members: WeightedTarget[] }> | undefined {
  // Most pools carry no weights (no gradual deployment under way): no grouping to do.
  if (!targets.some((target) => target.weight !== undefined)) return undefined;
  const groups = new Map<string, { weight: number; members: WeightedTarget[] }>();
  let weighted = false;
  for (const target of targets) {
    if (target.weight !== undefined) weighted = true;
    const group = target.group ?? "";
    const entry = groups.get(group);
    if (entry) entry.members.push(target);
    else groups.set(group, { weight: target.weight ?? 100, members: [target] });
  }
  if (!weighted || groups.size < 2) return undefined;
  return groups;
}

/** The targets from `position` on, wrapping round (the caller's objects, not copies). */
function rotate(targets: readonly WeightedTarget[], position: number): Target[] {
  const count = targets.length;
  const start = position % count;
  const ordered: Target[] = new Array(count);
  for (let index = 0; index < count; index += 1) ordered[index] = targets[(start + index) % count] as Target;
  return ordered;
}

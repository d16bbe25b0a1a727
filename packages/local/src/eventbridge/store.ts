import { JsonFile } from "../state.ts";

export type RuleState = "ENABLED" | "DISABLED";

export interface RuleTarget {
  Id: string;
  Arn: string;
  /** JSON text that replaces the event as the target's payload. */
  Input?: string;
}

export interface RuleRecord {
  name: string;
  arn: string;
  eventPattern?: string;
  scheduleExpression?: string;
  state: RuleState;
  description?: string;
  targets: RuleTarget[];
}

export interface RuleDefinition {
  eventPattern?: string | undefined;
  scheduleExpression?: string | undefined;
  state: RuleState;
  description?: string | undefined;
}

interface Document {
  rules: RuleRecord[];
}

/**
 * The rules of the default event bus and their targets, kept in memory and written to a JSON
 * file on every change so they survive a restart of Berth Local.
 */
export class RuleStore {
  readonly account: string;
  readonly region: string;
  private readonly file: JsonFile<Document>;
  private readonly rules: Map<string, RuleRecord>;
  private readonly listeners = new Set<() => void>();

  constructor(path: string, options: { account: string; region: string }) {
    this.account = options.account;
    this.region = options.region;
    this.file = new JsonFile<Document>(path);
    this.rules = new Map(this.file.read({ rules: [] }).rules.map((rule) => [rule.name, rule]));
  }

  ruleArn(name: string): string {
    return `arn:aws:events:${this.region}:${this.account}:rule/${name}`;
  }

  /** Calls the listener after every change (the router re-reads its schedules). */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get(name: string): RuleRecord | undefined {
    return this.rules.get(name);
  }

  /** The rules, sorted by name. */
  list(): RuleRecord[] {
    return [...this.rules.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** Creates or replaces a rule's definition; an existing rule keeps its targets. */
  put(name: string, definition: RuleDefinition): RuleRecord {
    const rule: RuleRecord = {
      name,
      arn: this.ruleArn(name),
      state: definition.state,
      targets: this.rules.get(name)?.targets ?? [],
      ...(definition.eventPattern !== undefined ? { eventPattern: definition.eventPattern } : {}),
      ...(definition.scheduleExpression !== undefined
        ? { scheduleExpression: definition.scheduleExpression }
        : {}),
      ...(definition.description !== undefined ? { description: definition.description } : {}),
    };
    this.rules.set(name, rule);
    this.save();
    return rule;
  }

  delete(name: string): boolean {
    const existed = this.rules.delete(name);
    if (existed) this.save();
    return existed;
  }

  /** Adds or replaces targets by Id. */
  putTargets(name: string, targets: RuleTarget[]): void {
    const rule = this.rules.get(name);
    if (!rule) throw new Error(`no rule ${name}`);
    const byId = new Map(rule.targets.map((target) => [target.Id, target]));
    for (const target of targets) byId.set(target.Id, target);
    rule.targets = [...byId.values()];
    this.save();
  }

  removeTargets(name: string, ids: string[]): void {
    const rule = this.rules.get(name);
    if (!rule) throw new Error(`no rule ${name}`);
    const removed = new Set(ids);
    rule.targets = rule.targets.filter((target) => !removed.has(target.Id));
    this.save();
  }

  private save(): void {
    this.file.write({ rules: [...this.rules.values()] });
    for (const listener of this.listeners) listener();
  }
}

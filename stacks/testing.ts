import { OFFLINE_ACCOUNT, OFFLINE_REGION, type OfflineSynthesis, type Template } from "./offline.ts";

/**
 * Reads synthesized templates the way CloudFormation would see them after deployment:
 * intrinsic functions evaluated, with a resource's own identity standing in for what only a
 * deployment knows (`<Ref Stack.LogicalId>`, `<GetAtt Stack.LogicalId.Attribute>`), and
 * imports followed to the exporting stack.
 */
export class Templates {
  readonly exports = new Map<string, { stackName: string; value: unknown }>();

  constructor(
    readonly synthesis: OfflineSynthesis,
    readonly stage: string,
  ) {
    for (const [stackName, template] of synthesis.templates) {
      for (const output of Object.values<{ Value: unknown; Export?: { Name: unknown } }>(
        template.Outputs ?? {},
      )) {
        if (output.Export) this.exports.set(String(output.Export.Name), { stackName, value: output.Value });
      }
    }
  }

  /** `Store` → `test-berth-Store`. */
  stackName(stack: string): string {
    const name = this.synthesis.stackNames.get(stack);
    if (!name) throw new Error(`no stack ${stack}`);
    return name;
  }

  template(stack: string): Template {
    const template = this.synthesis.templates.get(this.stackName(stack));
    if (!template) throw new Error(`no template for ${stack}`);
    return template;
  }

  /** The resources of a type in a stack, by logical id, properties resolved. */
  resources(stack: string, type: string): Map<string, Template> {
    const found = new Map<string, Template>();
    for (const [id, resource] of Object.entries<Template>(this.template(stack).Resources ?? {})) {
      if (resource.Type === type) found.set(id, this.resolve(stack, resource.Properties ?? {}) as Template);
    }
    return found;
  }

  /** The one resource of a type that satisfies `match`. */
  resource(stack: string, type: string, match: (properties: Template) => boolean = () => true): Template {
    const matches = [...this.resources(stack, type).values()].filter(match);
    if (matches.length !== 1) throw new Error(`${matches.length} ${type} in ${stack} match`);
    return matches[0] as Template;
  }

  logicalId(stack: string, type: string, match: (properties: Template) => boolean): string {
    const ids = [...this.resources(stack, type)]
      .filter(([, properties]) => match(properties))
      .map(([id]) => id);
    if (ids.length !== 1) throw new Error(`${ids.length} ${type} in ${stack} match`);
    return ids[0] as string;
  }

  ref(stack: string, logicalId: string): string {
    return `<Ref ${this.stackName(stack)}.${logicalId}>`;
  }

  resolve(stack: string, value: unknown): unknown {
    return this.resolveIn(this.stackName(stack), value);
  }

  private resolveIn(stackName: string, value: unknown): unknown {
    if (Array.isArray(value)) return value.map((item) => this.resolveIn(stackName, item));
    if (value === null || typeof value !== "object") return value;
    const entries = Object.entries(value);
    const [first] = entries;
    if (entries.length === 1 && first) {
      const [key, argument] = first;
      const resolved = (item: unknown) => this.resolveIn(stackName, item);
      switch (key) {
        case "Ref":
          return this.pseudo(stackName, String(argument));
        case "Fn::GetAtt": {
          const [id, attribute] = argument as [string, string];
          return `<GetAtt ${stackName}.${id}.${attribute}>`;
        }
        case "Fn::Join": {
          const [separator, parts] = argument as [string, unknown[]];
          return (resolved(parts) as unknown[]).map(String).join(separator);
        }
        case "Fn::Split": {
          const [separator, text] = argument as [string, unknown];
          return String(resolved(text)).split(separator);
        }
        case "Fn::Select": {
          const [index, list] = argument as [number, unknown];
          return (resolved(list) as unknown[])[Number(index)];
        }
        case "Fn::ImportValue": {
          const name = String(resolved(argument));
          const exported = this.exports.get(name);
          if (!exported) throw new Error(`nothing exports ${name}`);
          return this.resolveIn(exported.stackName, exported.value);
        }
      }
    }
    return Object.fromEntries(entries.map(([key, item]) => [key, this.resolveIn(stackName, item)]));
  }

  private pseudo(stackName: string, name: string): string {
    const pseudo: Record<string, string> = {
      "AWS::Partition": "aws",
      "AWS::Region": OFFLINE_REGION,
      "AWS::AccountId": OFFLINE_ACCOUNT,
      "AWS::URLSuffix": "amazonaws.com",
      "AWS::StackName": stackName,
    };
    return pseudo[name] ?? `<Ref ${stackName}.${name}>`;
  }
}

/** An IAM statement with its one-or-many fields as lists, for comparison. */
export interface NormalizedStatement {
  Effect: string;
  Action: string[];
  Resource: string[];
  Condition?: Record<string, Record<string, unknown>>;
}

export function normalizeStatement(statement: Template): NormalizedStatement {
  const list = (value: unknown) => (Array.isArray(value) ? value.map(String) : [String(value)]).sort();
  return {
    Effect: statement.Effect,
    Action: list(statement.Action),
    Resource: list(statement.Resource),
    ...(statement.Condition ? { Condition: statement.Condition } : {}),
  };
}

/** Every statement of every IAM policy in every template: inline, managed, role and boundary. */
export function allStatements(templates: Templates): { stack: string; id: string; statement: Template }[] {
  const found: { stack: string; id: string; statement: Template }[] = [];
  for (const stack of templates.synthesis.stackNames.keys()) {
    for (const [id, resource] of Object.entries<Template>(templates.template(stack).Resources ?? {})) {
      const documents: Template[] = [];
      const properties = resource.Properties ?? {};
      if (resource.Type === "AWS::IAM::Role") {
        for (const policy of properties.Policies ?? []) documents.push(policy.PolicyDocument);
      }
      if (resource.Type === "AWS::IAM::Policy" || resource.Type === "AWS::IAM::ManagedPolicy") {
        documents.push(properties.PolicyDocument);
      }
      for (const document of documents) {
        for (const statement of document.Statement ?? []) found.push({ stack, id, statement });
      }
    }
  }
  return found;
}

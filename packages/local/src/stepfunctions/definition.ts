import { randomUUID } from "node:crypto";
import { StateMachine, type StateMachineDefinition } from "aws-local-stepfunctions";

/** A definition AWS would refuse (`InvalidDefinition`), or one Berth Local cannot run. */
export class InvalidDefinitionError extends Error {
  override readonly name = "InvalidDefinitionError";
}

export type IntegrationKind =
  | "lambda:invoke"
  | "lambda:invoke.waitForTaskToken"
  | "lambda:function"
  | "codebuild:startBuild"
  | "codebuild:startBuild.sync"
  | "ecs:runTask"
  | "ecs:runTask.sync";

/** What a Task state calls, with the names its history events carry. */
export interface Integration {
  kind: IntegrationKind;
  /** `resourceType` of the Task* events (`lambda`, `codebuild`). */
  resourceType: string;
  /** `resource` of the Task* events (`invoke`, `startBuild.sync`, or the function ARN). */
  resource: string;
}

export interface TaskStateInfo {
  name: string;
  integration: Integration;
  timeoutSeconds?: number;
  timeoutSecondsPath?: string;
  heartbeatSeconds?: number;
  heartbeatSecondsPath?: string;
}

export type AslState = Record<string, unknown> & { Type: string };

export interface CompiledDefinition {
  /** The execution's bound (`TimeoutSeconds` at the top level), enforced by the runner. */
  timeoutSeconds?: number;
  /** Every state by name, nested Map and Parallel states included (names are unique). */
  states: ReadonlyMap<string, AslState>;
  tasks: ReadonlyMap<string, TaskStateInfo>;
  /** The library's machine for the rewritten definition (see `compileDefinition`). */
  machine: StateMachine;
}

/**
 * Keys of the Parameters wrapper the runner's task handlers unwrap. The library hands a
 * handler only the state's effective parameters, so whatever else the handler must evaluate
 * against the state's input (the timeout paths) travels inside them.
 */
export const WRAPPED = {
  parameters: "berth:parameters",
  timeoutSeconds: "berth:timeoutSeconds",
  heartbeatSeconds: "berth:heartbeatSeconds",
} as const;

/**
 * Stands for `$$.Task.Token` in rewritten Parameters: the library has no task token in its
 * context object, so the handler puts a fresh token wherever this string appears. Random per
 * process, so no input can forge it.
 */
export const TASK_TOKEN_SENTINEL = `berth-local:task-token:${randomUUID()}`;

/**
 * The library races every Task against a timer it arms with the state's TimeoutSeconds (60 s
 * when unset). The runner enforces the real timeouts itself, so the library's timer is pushed
 * to the largest delay setTimeout accepts (about 24.8 days).
 */
const LIBRARY_TASK_TIMEOUT_SECONDS = 2_147_483;

const PARTITION = "aws(?:-[a-z]+)*";
const SERVICE_INTEGRATION = new RegExp(
  `^arn:${PARTITION}:states:::([a-z0-9-]+):([A-Za-z]+)(\\.sync(?::2)?|\\.waitForTaskToken)?$`,
);
const LAMBDA_FUNCTION = new RegExp(
  `^arn:${PARTITION}:lambda:[a-z0-9-]+:\\d{12}:function:[A-Za-z0-9_-]+(?::[A-Za-z0-9_$-]+)?$`,
);

const SUPPORTED = [
  "arn:aws:states:::lambda:invoke",
  "arn:aws:states:::lambda:invoke.waitForTaskToken",
  "arn:aws:states:::codebuild:startBuild",
  "arn:aws:states:::codebuild:startBuild.sync",
  "arn:aws:states:::ecs:runTask",
  "arn:aws:states:::ecs:runTask.sync",
  "arn:aws:lambda:<region>:<account>:function:<name>",
];

/** The integration a Task's Resource names, or undefined when Berth Local does not run it. */
function integrationOf(resource: string): Integration | undefined {
  if (LAMBDA_FUNCTION.test(resource)) return { kind: "lambda:function", resourceType: "lambda", resource };
  const match = SERVICE_INTEGRATION.exec(resource);
  if (!match) return undefined;
  const [, service, action, pattern = ""] = match;
  const key = `${service}:${action}${pattern}`;
  switch (key) {
    case "lambda:invoke":
    case "lambda:invoke.waitForTaskToken":
    case "codebuild:startBuild":
    case "codebuild:startBuild.sync":
    case "ecs:runTask":
    case "ecs:runTask.sync":
      return { kind: key, resourceType: service as string, resource: `${action}${pattern}` };
    default:
      return undefined;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The `States` of a definition and of every Map processor and Parallel branch in it. */
function scopes(definition: Record<string, unknown>): Record<string, unknown>[] {
  const states = isObject(definition.States) ? definition.States : {};
  const found = [states];
  for (const state of Object.values(states)) {
    if (!isObject(state)) continue;
    const processor = state.ItemProcessor ?? state.Iterator;
    if (isObject(processor)) found.push(...scopes(processor));
    if (Array.isArray(state.Branches)) {
      for (const branch of state.Branches) if (isObject(branch)) found.push(...scopes(branch));
    }
  }
  return found;
}

/**
 * Parses a definition and checks what the ASL schema (checked separately, see
 * `DefinitionValidator`) does not: state names unique across the whole machine, as AWS
 * requires (the runner keys Task handlers by name), JSONPath only, and Task resources Berth
 * Local runs.
 */
export function checkDefinition(text: string): Record<string, unknown> {
  let definition: unknown;
  try {
    definition = JSON.parse(text);
  } catch (error) {
    throw new InvalidDefinitionError(
      `Invalid State Machine Definition: 'INVALID_JSON_DESCRIPTION: ${error}'`,
    );
  }
  if (!isObject(definition) || !isObject(definition.States) || typeof definition.StartAt !== "string") {
    throw new InvalidDefinitionError(
      "Invalid State Machine Definition: 'SCHEMA_VALIDATION_FAILED: StartAt and States are required'",
    );
  }
  if (definition.QueryLanguage !== undefined && definition.QueryLanguage !== "JSONPath") {
    throw new InvalidDefinitionError("Berth Local runs JSONPath definitions only (QueryLanguage: JSONPath)");
  }
  const seen = new Set<string>();
  const problems: string[] = [];
  for (const states of scopes(definition)) {
    for (const [name, state] of Object.entries(states)) {
      if (seen.has(name)) problems.push(`DUPLICATE_STATE_NAME: state name "${name}" is used more than once`);
      seen.add(name);
      if (!isObject(state) || typeof state.Type !== "string") {
        problems.push(`state "${name}": SCHEMA_VALIDATION_FAILED: a state is an object with a Type`);
        continue;
      }
      if (state.QueryLanguage !== undefined && state.QueryLanguage !== "JSONPath")
        problems.push(`state "${name}": Berth Local runs JSONPath states only`);
      if (state.Type === "Task" && (typeof state.Resource !== "string" || !integrationOf(state.Resource))) {
        problems.push(
          `state "${name}": Berth Local does not run the resource ${JSON.stringify(state.Resource)} (it runs ${SUPPORTED.join(", ")})`,
        );
      }
    }
  }
  if (problems.length > 0)
    throw new InvalidDefinitionError(`Invalid State Machine Definition: ${problems.join("; ")}`);
  return definition;
}

/** `"key.$": "$$.Task.Token"` anywhere in a template becomes `"key": <sentinel>`. */
function withTokenSentinel(template: unknown): unknown {
  if (Array.isArray(template)) return template.map(withTokenSentinel);
  if (!isObject(template)) return template;
  return Object.fromEntries(
    Object.entries(template).map(([key, value]) =>
      key.endsWith(".$") && value === "$$.Task.Token"
        ? [key.slice(0, -2), TASK_TOKEN_SENTINEL]
        : [key, withTokenSentinel(value)],
    ),
  );
}

const TYPE_TESTS = ["IsNull", "IsPresent", "IsNumeric", "IsString", "IsBoolean", "IsTimestamp"];

/** The library answers false for every `Is…: false` test; `Not` of the true test is what ASL means. */
function fixChoiceRule(rule: unknown): unknown {
  if (!isObject(rule)) return rule;
  const fixed: Record<string, unknown> = { ...rule };
  if (Array.isArray(rule.And)) fixed.And = rule.And.map(fixChoiceRule);
  if (Array.isArray(rule.Or)) fixed.Or = rule.Or.map(fixChoiceRule);
  if (rule.Not !== undefined) fixed.Not = fixChoiceRule(rule.Not);
  const test = TYPE_TESTS.find((name) => rule[name] === false);
  if (test && typeof rule.Variable === "string") {
    const { Next, [test]: _, ...rest } = fixed;
    return { Not: { ...rest, [test]: true }, ...(Next !== undefined ? { Next } : {}) };
  }
  return fixed;
}

/**
 * The definition the library runs: the same states, rewritten where the library departs from
 * Step Functions. Task states get their Parameters wrapped (with `$$.Task.Token` replaced and
 * the timeout paths evaluated against the state's input, as AWS does, where the library would
 * evaluate them against the parameters) and their timeouts taken over by the runner. `ResultPath:
 * "$"` is dropped (the library would write a key named `$`; absent means the same), a Pass
 * state's falsy `Result` becomes a constant Parameters (the library would pass its input on),
 * and `Is…: false` choice tests become `Not`.
 */
function rewriteScope(scope: Record<string, unknown>, collect: (name: string, state: AslState) => void) {
  const states = isObject(scope.States) ? scope.States : {};
  const rewritten: Record<string, unknown> = {};
  for (const [name, original] of Object.entries(states)) {
    const state = { ...(original as AslState) };
    collect(name, original as AslState);
    if (state.ResultPath === "$") delete state.ResultPath;
    if (Array.isArray(state.Catch)) {
      state.Catch = state.Catch.map((catcher) => {
        if (!isObject(catcher) || catcher.ResultPath !== "$") return catcher;
        const { ResultPath: _, ...rest } = catcher;
        return rest;
      });
    }
    if (state.Type === "Pass" && "Result" in state && !state.Result) {
      state.Parameters = state.Result;
      delete state.Result;
    }
    if (state.Type === "Choice" && Array.isArray(state.Choices))
      state.Choices = state.Choices.map(fixChoiceRule);
    if (state.Type === "Task") {
      const parameters: Record<string, unknown> =
        state.Parameters === undefined
          ? { [`${WRAPPED.parameters}.$`]: "$" }
          : { [WRAPPED.parameters]: withTokenSentinel(state.Parameters) };
      if (typeof state.TimeoutSecondsPath === "string")
        parameters[`${WRAPPED.timeoutSeconds}.$`] = state.TimeoutSecondsPath;
      if (typeof state.HeartbeatSecondsPath === "string")
        parameters[`${WRAPPED.heartbeatSeconds}.$`] = state.HeartbeatSecondsPath;
      state.Parameters = parameters;
      delete state.TimeoutSecondsPath;
      delete state.HeartbeatSeconds;
      delete state.HeartbeatSecondsPath;
      state.TimeoutSeconds = LIBRARY_TASK_TIMEOUT_SECONDS;
    }
    const processorKey = state.ItemProcessor !== undefined ? "ItemProcessor" : "Iterator";
    const processor = state[processorKey];
    if (state.Type === "Map" && isObject(processor)) state[processorKey] = rewriteScope(processor, collect);
    if (state.Type === "Parallel" && Array.isArray(state.Branches)) {
      state.Branches = state.Branches.map((branch) =>
        isObject(branch) ? rewriteScope(branch, collect) : branch,
      );
    }
    rewritten[name] = state;
  }
  const { TimeoutSeconds: _, ...rest } = scope;
  return { ...rest, States: rewritten };
}

/** Prepares a definition accepted by `checkDefinition` to run. */
export function compileDefinition(definition: Record<string, unknown>): CompiledDefinition {
  const states = new Map<string, AslState>();
  const tasks = new Map<string, TaskStateInfo>();
  const run = rewriteScope(definition, (name, state) => {
    states.set(name, state);
    if (state.Type !== "Task") return;
    const integration = integrationOf(String(state.Resource));
    if (!integration) throw new InvalidDefinitionError(`state "${name}": unsupported resource`);
    tasks.set(name, {
      name,
      integration,
      ...(typeof state.TimeoutSeconds === "number" ? { timeoutSeconds: state.TimeoutSeconds } : {}),
      ...(typeof state.TimeoutSecondsPath === "string"
        ? { timeoutSecondsPath: state.TimeoutSecondsPath }
        : {}),
      ...(typeof state.HeartbeatSeconds === "number" ? { heartbeatSeconds: state.HeartbeatSeconds } : {}),
      ...(typeof state.HeartbeatSecondsPath === "string"
        ? { heartbeatSecondsPath: state.HeartbeatSecondsPath }
        : {}),
    });
  });
  const machine = new StateMachine(run as unknown as StateMachineDefinition, {
    validationOptions: { noValidate: true },
  });
  return {
    ...(typeof definition.TimeoutSeconds === "number" ? { timeoutSeconds: definition.TimeoutSeconds } : {}),
    states,
    tasks,
    machine,
  };
}

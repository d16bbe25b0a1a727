/**
 * Amazon States Language, as much of it as Berth writes: JSONPath only (no JSONata, no
 * variables), so the same definitions run on Step Functions and in Berth Local.
 */

export type StateType = "Task" | "Choice" | "Pass" | "Wait" | "Succeed" | "Fail" | "Map" | "Parallel";

export interface Retrier {
  ErrorEquals: string[];
  IntervalSeconds?: number;
  MaxAttempts?: number;
  BackoffRate?: number;
}

export interface Catcher {
  ErrorEquals: string[];
  ResultPath?: string | null;
  Next: string;
}

export interface State {
  Type: StateType;
  Comment?: string;
  Next?: string;
  End?: boolean;
  Resource?: string;
  Parameters?: Record<string, unknown>;
  ResultSelector?: Record<string, unknown>;
  ResultPath?: string | null;
  InputPath?: string | null;
  OutputPath?: string | null;
  Result?: unknown;
  TimeoutSeconds?: number;
  TimeoutSecondsPath?: string;
  /** A Wait state's length, read from the input. */
  SecondsPath?: string;
  Retry?: Retrier[];
  Catch?: Catcher[];
  Choices?: (Record<string, unknown> & { Next: string })[];
  Default?: string;
  Error?: string;
  Cause?: string;
  ItemsPath?: string;
  ItemSelector?: Record<string, unknown>;
  ItemProcessor?: { ProcessorConfig: { Mode: "INLINE" }; StartAt: string; States: Record<string, State> };
  MaxConcurrency?: number;
}

export interface StateMachine {
  Comment: string;
  StartAt: string;
  /** A bound on the whole execution, so no execution outlives its purpose. */
  TimeoutSeconds: number;
  States: Record<string, State>;
}

/** Every `States` object of a definition, nested Map processors included, with its path. */
export function scopesOf(
  machine: { States: Record<string, State> },
  path = "$",
): { path: string; states: Record<string, State> }[] {
  const scopes = [{ path, states: machine.States }];
  for (const [name, state] of Object.entries(machine.States)) {
    if (state.ItemProcessor) scopes.push(...scopesOf(state.ItemProcessor, `${path}.${name}`));
  }
  return scopes;
}

/** The states a state may go to next: Next, Default, the Choices' and the Catchers' targets. */
export function successorsOf(state: State): string[] {
  return [
    ...(state.Next ? [state.Next] : []),
    ...(state.Default ? [state.Default] : []),
    ...(state.Choices ?? []).map((choice) => choice.Next),
    ...(state.Catch ?? []).map((catcher) => catcher.Next),
  ];
}

/** A workflow as the installation needs it: its definition and what must be filled in. */
export interface Workflow {
  name: string;
  description: string;
  /** The manifest functions its `${Function:<name>}` placeholders name. */
  functions: readonly string[];
  /** Its other placeholders (`${CodeBuildProject}`, …). */
  placeholders: readonly string[];
  definition: StateMachine;
}

/**
 * Errors a step throws on purpose. Their `name` is the error Step Functions sees (Lambda reports
 * a thrown error's name as its `errorType`), so the workflows' Retry and Catch match on it (they
 * name these constants, not copies of the strings) and finalize knows what happened from
 * `$.error.Error`.
 */
export class StepError extends Error {
  constructor(name: StepErrorName, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = name;
  }
}

export const STEP_ERRORS = {
  /** Preflight refused: nothing was changed. */
  preflight: "Berth.PreflightFailed",
  /** Someone cancelled the deployment before ECS was touched. */
  cancelled: "Berth.Cancelled",
  /** The deployment is not in a state this step can act on (already final, or unknown). */
  notRunnable: "Berth.NotRunnable",
  /** ECS refused or failed a request the deployment needed. */
  ecs: "Berth.EcsFailed",
  /** preflight: a service it connects to is being deployed but not created yet; the workflow retries. */
  dependencyPending: "Berth.DependencyPending",
  /** delete-service: ECS is still draining; the workflow retries. */
  draining: "Berth.ServiceDraining",
  /** A step's payload does not match its schema: a bug in the workflow, not bad input. */
  invalidInput: "Berth.InvalidStepInput",
} as const;
export type StepErrorName = (typeof STEP_ERRORS)[keyof typeof STEP_ERRORS];

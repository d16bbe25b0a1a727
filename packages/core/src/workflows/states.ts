import * as Lambda from "../aws/lambda.ts";
import type { Catcher, State } from "./asl.ts";

/**
 * The building blocks the definitions share. Every step function is called through
 * `lambda:invoke`; its result is kept as `{ Payload }` under the step's `ResultPath`, so every
 * later state reads a step's answer at `$.<step>.Payload`.
 */

/** The placeholder for a manifest function's ARN, filled by `substitute`. */
export function functionArn(name: string): string {
  return `\${Function:${name}}`;
}

/** Transient Lambda failures: retried with exponential back-off (2, 4, 8, 16 s). */
const LAMBDA_RETRY = {
  ErrorEquals: [...Lambda.TRANSIENT_ERRORS],
  IntervalSeconds: 2,
  MaxAttempts: 4,
  BackoffRate: 2,
};

/** What every step is told about the deployment it works for. */
export const DEPLOYMENT_REF = {
  "deploymentId.$": "$.deploymentId",
  "stack.$": "$.stack",
  "service.$": "$.service",
};

/** The states of the failure path; every step that can fail is caught into `FAILURE_START`. */
export const FAILURE = {
  finalize: "Finalize failure",
  release: "Release after failure",
  failed: "Deployment failed",
  notFinalized: "Failure not recorded",
} as const;

const FAILURE_START = FAILURE.finalize;

/** Any error of a step: kept at `$.error` (`{ Error, Cause }`) for finalize to record. */
export function catchToFailure(): Catcher[] {
  return [{ ErrorEquals: ["States.ALL"], ResultPath: "$.error", Next: FAILURE_START }];
}

export interface InvokeOptions {
  payload: Record<string, unknown>;
  timeoutSeconds: number;
  /** Where the `{ Payload }` goes; `null` discards it and passes the input on. */
  resultPath: string | null;
  next: string;
  catch?: Catcher[];
  retry?: State["Retry"];
}

export function invoke(functionName: string, options: InvokeOptions): State {
  return {
    Type: "Task",
    Resource: "arn:aws:states:::lambda:invoke",
    Parameters: { FunctionName: functionArn(functionName), Payload: options.payload },
    ...(options.resultPath === null ? {} : { ResultSelector: { "Payload.$": "$.Payload" } }),
    ResultPath: options.resultPath,
    TimeoutSeconds: options.timeoutSeconds,
    Retry: [LAMBDA_RETRY, ...(options.retry ?? [])],
    Catch: options.catch ?? catchToFailure(),
    Next: options.next,
  };
}

/**
 * The end of every deployment: finalize records the outcome at `$.outcome.Payload`, then the
 * service is released and its next queued deployment started. A release that fails leaves a
 * final deployment holding the slot: the execution fails, visibly, for an operator or a sweep
 * (in a Map, the iteration's result says `failed` instead).
 */
export function finalizeAndRelease(end: Ending): Record<string, State> {
  return {
    Finalize: invoke("finalize", {
      payload: { ...DEPLOYMENT_REF, "outcome.$": "$.outcome.Payload" },
      timeoutSeconds: 60,
      resultPath: null,
      next: "Release service",
    }),
    "Release service": invoke("release-service", {
      payload: DEPLOYMENT_REF,
      timeoutSeconds: 60,
      resultPath: null,
      next: "Done",
      catch: [{ ErrorEquals: ["States.ALL"], ResultPath: "$.error", Next: "Release failed" }],
    }),
    Done: { Type: "Succeed" },
    "Release failed": ending(
      end,
      "Berth.ReleaseFailed",
      "the deployment ended but its service could not be released",
    ),
  };
}

/**
 * How a workflow ends when something went wrong: `fail` ends the execution failed; `pass` ends
 * one iteration of a Map with `{ deploymentId, service, failed: true, error }` without failing
 * its siblings (each deployment's record says what happened to it).
 */
export type Ending = "fail" | "pass";

function ending(end: Ending, error: string, cause: string): State {
  if (end === "fail") return { Type: "Fail", Error: error, Cause: cause };
  return {
    Type: "Pass",
    Parameters: { "deploymentId.$": "$.deploymentId", "service.$": "$.service", failed: true, error },
    End: true,
  };
}

/**
 * The failure path: finalize with the error (FAILED, or ROLLED_BACK / ROLLBACK_FAILED when it
 * knows ECS rolled back), then release the service.
 */
export function failurePath(end: Ending): Record<string, State> {
  return {
    [FAILURE.finalize]: invoke("finalize", {
      payload: { ...DEPLOYMENT_REF, "error.$": "$.error" },
      timeoutSeconds: 60,
      resultPath: null,
      next: FAILURE.release,
      catch: [{ ErrorEquals: ["States.ALL"], ResultPath: "$.finalizeError", Next: FAILURE.notFinalized }],
    }),
    [FAILURE.release]: invoke("release-service", {
      payload: DEPLOYMENT_REF,
      timeoutSeconds: 60,
      resultPath: null,
      next: FAILURE.failed,
      catch: [{ ErrorEquals: ["States.ALL"], ResultPath: "$.releaseError", Next: FAILURE.failed }],
    }),
    [FAILURE.failed]: ending(end, "Berth.DeploymentFailed", "the deployment failed; its record says why"),
    // The deployment could not be ended: it keeps its slot, and the failed execution (or the
    // iteration's `failed` result) is what a sweep finds to end it truthfully later.
    [FAILURE.notFinalized]: ending(
      end,
      "Berth.FinalizeFailed",
      "the deployment failed and its failure could not be recorded",
    ),
  };
}

/** The state apply-service goes to: the wait, or straight to finalize when there is nothing to wait for. */
export const WAIT_START = "ECS deployment to wait for?";

/**
 * Waiting on ECS: `wait-for-deployment` stores the task token against the ECS deployment and
 * returns; the ECS event handler answers the token. The wait is bounded by
 * `$.deployment.Payload.waitTimeoutSeconds`, which load-deployment derives from the service's
 * health-check settings (grace period plus the checks needed to call tasks healthy); when it
 * runs out, one reconciling DescribeServices decides. An answer is an outcome (→ Finalize) or
 * where to go next: STABILIZING (ECS completed the rollout: wait out the stability window, then
 * `advance-wait` checks the tasks), CANCELLING (`advance-wait` undoes the rollout) or WAITING
 * (follow a rollback or a cancel's return on a new token).
 */
function waitForDeployment(appliedPath: string): Record<string, State> {
  const answered = "$.outcome.Payload.status";
  return {
    // A batch job has no ECS service: apply-service registers it and answers its outcome at once.
    [WAIT_START]: {
      Type: "Choice",
      Choices: [{ Variable: `${appliedPath}.outcome`, IsPresent: true, Next: "Nothing to wait for" }],
      Default: "Wait for deployment",
    },
    "Nothing to wait for": {
      Type: "Pass",
      Parameters: { "Payload.$": `${appliedPath}.outcome` },
      ResultPath: "$.outcome",
      Next: "Finalize",
    },
    "Wait for deployment": {
      Type: "Task",
      Resource: "arn:aws:states:::lambda:invoke.waitForTaskToken",
      Parameters: {
        FunctionName: functionArn("wait-for-deployment"),
        Payload: { ...DEPLOYMENT_REF, "taskToken.$": "$$.Task.Token", "applied.$": appliedPath },
      },
      // The token's answer is the outcome itself; kept as `{ Payload }` like every step's result.
      ResultSelector: { "Payload.$": "$" },
      ResultPath: "$.outcome",
      TimeoutSecondsPath: "$.deployment.Payload.waitTimeoutSeconds",
      Retry: [LAMBDA_RETRY],
      Catch: [
        { ErrorEquals: ["States.Timeout"], ResultPath: "$.waitError", Next: "Reconcile" },
        ...catchToFailure(),
      ],
      Next: "Wait answered",
    },
    Reconcile: invoke("reconcile", {
      payload: { ...DEPLOYMENT_REF, "applied.$": appliedPath },
      timeoutSeconds: 60,
      resultPath: "$.outcome",
      next: "Wait answered",
    }),
    "Wait answered": {
      Type: "Choice",
      Choices: [
        { Variable: answered, StringEquals: "STABILIZING", Next: "Stability window" },
        { Variable: answered, StringEquals: "CANCELLING", Next: "Advance wait" },
        { Variable: answered, StringEquals: "WAITING", Next: "Wait for deployment" },
      ],
      Default: "Finalize",
    },
    "Stability window": {
      Type: "Wait",
      SecondsPath: "$.outcome.Payload.stabilitySeconds",
      Next: "Advance wait",
    },
    "Advance wait": invoke("advance-wait", {
      payload: { ...DEPLOYMENT_REF, "applied.$": appliedPath },
      timeoutSeconds: 60,
      resultPath: "$.outcome",
      next: "Wait answered",
    }),
  };
}

export function loadDeployment(
  next: string,
  options: { payload?: Record<string, unknown>; retry?: State["Retry"]; timeoutSeconds?: number } = {},
): State {
  return invoke("load-deployment", {
    payload: { ...DEPLOYMENT_REF, ...options.payload },
    timeoutSeconds: options.timeoutSeconds ?? 60,
    resultPath: "$.deployment",
    next,
    ...(options.retry ? { retry: options.retry } : {}),
  });
}

/** What a workflow that points a service at a revision and waits on ECS calls after loading. */
export const APPLY_AND_WAIT_FUNCTIONS = [
  "apply-service",
  "wait-for-deployment",
  "reconcile",
  "advance-wait",
  "finalize",
  "release-service",
] as const;

/**
 * From "Apply service" to the end: apply-service (told `DEPLOYMENT_REF` and `payload`, which
 * says what to run), the wait on ECS, and both endings. Deploy, rollback and refresh differ only
 * in what comes before and in what they hand apply-service.
 */
export function applyAndWait(payload: Record<string, unknown>, end: Ending): Record<string, State> {
  return {
    "Apply service": invoke("apply-service", {
      payload: { ...DEPLOYMENT_REF, ...payload },
      timeoutSeconds: 120,
      resultPath: "$.applied",
      next: WAIT_START,
    }),
    ...waitForDeployment("$.applied.Payload"),
    ...finalizeAndRelease(end),
    ...failurePath(end),
  };
}

/**
 * A stack-wide workflow's one state that matters: a Map over `$.deployments`
 * (`[{ deploymentId, service }]`), each iteration running `states` from "Load deployment" for one
 * service, five at a time, its results at `$.results`. `failure` is the Fail state's error, for
 * when the Map itself fails (a service's own failure only ends its iteration; see `Ending`).
 */
export function forEachService(options: {
  name: string;
  states: Record<string, State>;
  succeeded: string;
  incomplete: string;
  failure: { error: string; cause: string };
}): Record<string, State> {
  return {
    [options.name]: {
      Type: "Map",
      ItemsPath: "$.deployments",
      ItemSelector: {
        "stack.$": "$.stack",
        "deploymentId.$": "$$.Map.Item.Value.deploymentId",
        "service.$": "$$.Map.Item.Value.service",
      },
      MaxConcurrency: 5,
      ItemProcessor: {
        ProcessorConfig: { Mode: "INLINE" },
        StartAt: "Load deployment",
        States: options.states,
      },
      ResultPath: "$.results",
      Catch: [{ ErrorEquals: ["States.ALL"], ResultPath: "$.error", Next: options.incomplete }],
      Next: options.succeeded,
    },
    [options.succeeded]: { Type: "Succeed" },
    [options.incomplete]: { Type: "Fail", Error: options.failure.error, Cause: options.failure.cause },
  };
}

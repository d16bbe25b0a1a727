export { advanceWait } from "./advance.ts";
export type { AnswerWait } from "./answer.ts";
export {
  applyService,
  failFastThreshold,
  type RegisteredJob,
  stabilitySeconds,
} from "./apply.ts";
export { cancelWait } from "./cancel.ts";
export type { Clients, Settings, StepContext } from "./context.ts";
export { deleteService } from "./delete-service.ts";
export { handleEcsEvent, isFailedTask, LOG_LINES } from "./ecs-events.ts";
export { STEP_ERRORS, StepError } from "./errors.ts";
export { CaughtError, describeError, finalize } from "./finalize.ts";
export {
  type BuildItem,
  type LoadedDeployment,
  loadDeployment,
  type StepInput,
  WAIT_TIMEOUT,
  waitTimeoutFor,
} from "./load.ts";
export { type Answer, Continuation, Outcome } from "./outcome.ts";
export { preflight } from "./preflight.ts";
export { type FinishedBuild, imagesOf, prepareResources } from "./prepare.ts";
export { reconcile } from "./reconcile.ts";
export { releaseService } from "./release.ts";
export type { AppliedService } from "./service-state.ts";
export { waitForDeployment } from "./wait.ts";

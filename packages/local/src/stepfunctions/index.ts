export {
  type ExecutionStatusChange,
  LOCAL_RESTART,
  type StateMachineInstall,
  StepFunctionsEngine,
  type StepFunctionsEngineOptions,
} from "./runner.ts";
export { stepFunctionsService } from "./service.ts";
export type { ExecutionRecord, ExecutionStatus, HistoryEvent, StateMachineRecord } from "./store.ts";

export {
  CodeBuildEngine,
  type CodeBuildEngineOptions,
  LOG_GROUP,
  PROJECT_NAME,
  VARIABLES,
} from "./engine.ts";
export { codeBuildLogsRoute, codeBuildService } from "./service.ts";
export type { BuildRecord, BuildStatus, PhaseType } from "./store.ts";

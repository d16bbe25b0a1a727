export { Environment, type EnvironmentInput } from "./environment.ts";
export { RenderError } from "./errors.ts";
export { type PolicyStatement, taskRoleStatements } from "./iam.ts";
export { JOB_RUN_STATE, type JobRunMachine, jobContainer, renderJobRun } from "./job.ts";
export * from "./names.ts";
export * from "./plan.ts";
export { renderScaling, type ScalingRequests } from "./scaling.ts";
export { deploymentConfiguration, hasAutoscaling, renderService, serviceConnect } from "./service.ts";
export { addressOf, connectToVariables, imageOf, renderTaskDefinition, taskSize } from "./task-definition.ts";

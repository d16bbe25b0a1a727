export * as Deployment from "./deployment.ts";
export * as DeploymentStatus from "./status.ts";
export * as Workflow from "./workflow-input.ts";

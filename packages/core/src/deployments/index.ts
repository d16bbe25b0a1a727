export * as Deployment from "./deployment.ts";
export * as StackPlan from "./plan.ts";
export * as DeploymentRequest from "./request.ts";
export * as Service from "./service.ts";
export * as ServiceSpec from "./service-spec.ts";
export * as Stack from "./stack.ts";
export * as DeploymentStatus from "./status.ts";
export * as Workflow from "./workflow-input.ts";

// What the tests of every package stand on: real wire protocols on loopback, not mocks.
export {
  type AwsJsonAnswer,
  type AwsJsonCall,
  close,
  listen,
  startAwsJsonEndpoint,
} from "./aws/test-support.ts";
/** Holds a stack's lease as an apply does, so a test can be the apply that is still running. */
export { withStackLease } from "./deployments/stack-lease.ts";
export { PRIVATE_API_HEAD } from "./spec/test-support.ts";
export { type LocalTable, startLocalTable } from "./store/test-support.ts";

// The state machines the API's configuration names, as its environment gives them.
export const STATE_MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:berth-deploy";
export const DELETE = "arn:aws:states:us-east-1:123456789012:stateMachine:berth-delete-service";
export const ROLLBACK = "arn:aws:states:us-east-1:123456789012:stateMachine:berth-rollback";
export const STATE_MACHINE_ENVIRONMENT = {
  BERTH_DEPLOY_STATE_MACHINE_ARN: STATE_MACHINE,
  BERTH_DELETE_SERVICE_STATE_MACHINE_ARN: DELETE,
  BERTH_ROLLBACK_STATE_MACHINE_ARN: ROLLBACK,
};
export * as WebhookFixtures from "./deployments/__fixtures__/webhooks.ts";

// What the tests of every package stand on: real wire protocols on loopback, not mocks.
export {
  type AwsJsonAnswer,
  type AwsJsonCall,
  close,
  listen,
  startAwsJsonEndpoint,
} from "./aws/test-support.ts";
export { PRIVATE_API_HEAD } from "./spec/test-support.ts";
export { type LocalTable, startLocalTable } from "./store/test-support.ts";

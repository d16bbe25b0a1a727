export * as DeliveryRecord from "./delivery-record.ts";
export * as DeploymentEventRecord from "./deployment-event-record.ts";
export * as DeploymentRecord from "./deployment-record.ts";
export type { Page, PageRequest } from "./dynamo.ts";
export * as IdempotencyRecord from "./idempotency-record.ts";
export * as IngressRecord from "./ingress-record.ts";
export * as ReceiverRecord from "./receiver-record.ts";
export * as RefreshRecord from "./refresh-record.ts";
export * as ServiceRecord from "./service-record.ts";
export * as StackRecord from "./stack-record.ts";
export {
  createStore,
  ensureTable,
  LISTING_INDEX,
  type Store,
  type StoreOptions,
  type TableDefinition,
  TOKEN_HASH_INDEX,
  TTL_ATTRIBUTE,
  tableDefinition,
} from "./store.ts";
export * as TokenRecord from "./token-record.ts";
export * as WaitRecord from "./wait-record.ts";

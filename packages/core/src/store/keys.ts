/**
 * Every key the table holds, in one place; README.md documents the same layout as a table.
 * The parts are validated names and ids, none of which can contain the "#" separator.
 */

export interface PrimaryKey {
  PK: string;
  SK: string;
}

export const STACK_SORT_KEY = "STACK";
export const SERVICE_SORT_PREFIX = "SERVICE#";
const DEPLOYMENT_SORT_KEY = "DEPLOYMENT";
export const EVENT_SORT_PREFIX = "EVENT#";
export const INGRESS_SORT_PREFIX = "INGRESS#";

/** Wide enough that string order equals numeric order for any realistic number of events. */
const EVENT_SEQUENCE_DIGITS = 10;

export const stackKey = (stack: string): PrimaryKey => ({ PK: `STACK#${stack}`, SK: STACK_SORT_KEY });

export const servicePartition = (stack: string): string => `STACK#${stack}`;
export const serviceKey = (stack: string, service: string): PrimaryKey => ({
  PK: servicePartition(stack),
  SK: `${SERVICE_SORT_PREFIX}${service}`,
});

/** A stack's ingress resource (HTTP API gateway, load balancer), beside its services. */
export const ingressKey = (stack: string, name: string): PrimaryKey => ({
  PK: servicePartition(stack),
  SK: `${INGRESS_SORT_PREFIX}${name}`,
});

export const deploymentPartition = (id: string): string => `DEPLOYMENT#${id}`;
export const deploymentKey = (id: string): PrimaryKey => ({
  PK: deploymentPartition(id),
  SK: DEPLOYMENT_SORT_KEY,
});
export const deploymentEventKey = (id: string, sequence: number): PrimaryKey => ({
  PK: deploymentPartition(id),
  SK: `${EVENT_SORT_PREFIX}${String(sequence).padStart(EVENT_SEQUENCE_DIGITS, "0")}`,
});

/** Keyed by what ECS events name: the cluster and the ECS service. */
export const waitKey = (cluster: string, ecsService: string): PrimaryKey => ({
  PK: `WAIT#${cluster}#${ecsService}`,
  SK: "WAIT",
});

export const tokenKey = (id: string): PrimaryKey => ({ PK: `TOKEN#${id}`, SK: "TOKEN" });

export const idempotencyKey = (scope: string, key: string): PrimaryKey => ({
  PK: `IDEMPOTENCY#${scope}#${key}`,
  SK: "IDEMPOTENCY",
});

/** Entries of the listing index (GSI1). */
export const listing = {
  stacks: "STACKS",
  stack: (stack: string) => ({ GSI1PK: listing.stacks, GSI1SK: `STACK#${stack}` }),
  serviceDeployments: (stack: string, service: string) => `SERVICE#${stack}#${service}`,
  deployment: (stack: string, service: string, id: string) => ({
    GSI1PK: listing.serviceDeployments(stack, service),
    GSI1SK: `DEPLOYMENT#${id}`,
  }),
  tokens: "TOKENS",
  token: (id: string) => ({ GSI1PK: listing.tokens, GSI1SK: `TOKEN#${id}` }),
};

/** Entries of the token-hash index (GSI2). */
export const tokenHashEntry = (secretHash: string) => ({
  GSI2PK: `TOKEN_HASH#${secretHash}`,
  GSI2SK: "TOKEN",
});

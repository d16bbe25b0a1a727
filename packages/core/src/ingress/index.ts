export * from "./domains.ts";
export * from "./http-api.ts";
export * from "./load-balancer.ts";
export * from "./load-balancer-plan.ts";
export * from "./network-load-balancer.ts";
export * from "./plan.ts";

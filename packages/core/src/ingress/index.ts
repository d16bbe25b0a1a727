export * from "./http-api.ts";
export * from "./plan.ts";
export * from "./load-balancer.ts";
export * from "./load-balancer-plan.ts";

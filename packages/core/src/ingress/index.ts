export * from "./http-api.ts";
export * from "./plan.ts";

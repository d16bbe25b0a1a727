export * as Rollout from "./rollout.ts";

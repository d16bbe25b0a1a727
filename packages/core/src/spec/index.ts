export * as Spec from "./spec.ts";

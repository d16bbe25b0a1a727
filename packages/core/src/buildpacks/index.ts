export * as Buildpack from "./buildpack.ts";

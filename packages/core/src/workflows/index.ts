export * as Workflows from "./workflows.ts";

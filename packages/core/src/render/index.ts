export * as Render from "./render.ts";

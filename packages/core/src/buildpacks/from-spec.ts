import type { Spec } from "../spec/index.ts";
import type { Architecture, PlanInputDraft } from "./input.ts";
import { type BuildPlan, plan } from "./plan.ts";

/**
 * What a build plan is made from, for a stack file's packaging, or undefined for a prebuilt
 * image (nothing to build). The stack file nests packaging fields under `properties`; the build
 * plan takes them flat. The deploy workflow hands the same input to the builder.
 */
export function planInputForPackaging(
  packaging: Spec.Packaging,
  architecture: Architecture,
): PlanInputDraft | undefined {
  switch (packaging.type) {
    case "prebuilt-image":
      return undefined;
    case "stacktape-image-buildpack":
      return {
        packaging: { type: packaging.type, entryfilePath: packaging.properties.entryfilePath },
        architecture,
      };
    case "custom-dockerfile":
      return {
        packaging: {
          type: packaging.type,
          buildContextPath: packaging.properties.buildContextPath,
          dockerfilePath: packaging.properties.dockerfilePath,
          buildArgs: packaging.properties.buildArgs ?? [],
        },
        architecture,
      };
  }
}

/** The build for a stack file's packaging, or undefined for a prebuilt image (nothing to build). */
export function planForPackaging(
  packaging: Spec.Packaging,
  architecture: Architecture,
): BuildPlan | undefined {
  const input = planInputForPackaging(packaging, architecture);
  return input ? plan(input) : undefined;
}

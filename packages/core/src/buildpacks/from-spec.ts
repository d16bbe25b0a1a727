import type { Spec } from "../spec/index.ts";
import type { Architecture } from "./input.ts";
import { type BuildPlan, plan } from "./plan.ts";

/**
 * The build for a stack file's packaging, or undefined for a prebuilt image (nothing to build).
 * The stack file nests packaging fields under `properties`; the build plan takes them flat.
 */
export function planForPackaging(
  packaging: Spec.Packaging,
  architecture: Architecture,
): BuildPlan | undefined {
  switch (packaging.type) {
    case "prebuilt-image":
      return undefined;
    case "stacktape-image-buildpack":
      return plan({
        packaging: { type: packaging.type, entryfilePath: packaging.properties.entryfilePath },
        architecture,
      });
    case "custom-dockerfile":
      return plan({
        packaging: {
          type: packaging.type,
          buildContextPath: packaging.properties.buildContextPath,
          dockerfilePath: packaging.properties.dockerfilePath,
          buildArgs: packaging.properties.buildArgs ?? [],
        },
        architecture,
      });
  }
}

import { GENERATED_DOCKERFILE_PATH, PLATFORMS, type Platform, renderBuildspec } from "./buildspec.ts";
import { dockerfileFromSourceRoot, type PlanInputDraft, parsePlanInput } from "./input.ts";
import { detectLanguage, type Language } from "./language.ts";
import type { LocalBuild } from "./local-plan.ts";
import { recipeFor } from "./recipes.ts";

/** How one container image is built: by CodeBuild on AWS, by local steps in Berth Local. */
export interface BuildPlan {
  /** Set when Berth writes the Dockerfile. */
  language?: Language;
  /** The Dockerfile Berth wrote; absent when the user brings their own. */
  dockerfile?: string;
  /**
   * The file the build reads: relative to the source root for the user's own Dockerfile, or
   * where the buildspec writes Berth's (outside the source, which it must not overwrite).
   */
  dockerfilePath: string;
  /** Relative to the source root. */
  buildContextPath: string;
  platform: Platform;
  /** CodeBuild buildspec (YAML). */
  buildspec: string;
  local: LocalBuild;
}

export function plan(input: PlanInputDraft): BuildPlan {
  const { packaging, architecture } = parsePlanInput(input);
  const platform = PLATFORMS[architecture];

  if (packaging.type === "custom-dockerfile") {
    const dockerfilePath = dockerfileFromSourceRoot(packaging);
    return {
      dockerfilePath,
      buildContextPath: packaging.buildContextPath,
      platform,
      buildspec: renderBuildspec({
        architecture,
        buildContextPath: packaging.buildContextPath,
        dockerfilePath,
        buildArgs: packaging.buildArgs,
      }),
      local: {
        supported: false,
        reason:
          "Berth Local has no Docker engine, so it cannot build a custom Dockerfile; use stacktape-image-buildpack, or prebuilt-image with a file:// directory",
      },
    };
  }

  const language = detectLanguage(packaging.entryfilePath, { language: packaging.language });
  const recipe = recipeFor(language, packaging.entryfilePath);
  // The entry path is relative to the source root, so the whole source is the build context.
  const buildContextPath = ".";
  return {
    language,
    dockerfile: recipe.dockerfile,
    dockerfilePath: GENERATED_DOCKERFILE_PATH,
    buildContextPath,
    platform,
    buildspec: renderBuildspec({
      architecture,
      buildContextPath,
      dockerfilePath: GENERATED_DOCKERFILE_PATH,
      buildArgs: [],
      generatedDockerfile: recipe.dockerfile,
    }),
    local: recipe.local,
  };
}

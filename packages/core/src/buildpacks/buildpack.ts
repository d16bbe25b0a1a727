export { contentDigest } from "./digest.ts";
export { BuildpackError } from "./errors.ts";
export { planForPackaging, planInputForPackaging } from "./from-spec.ts";
export { Architecture, BuildArg, PlanInput, type PlanInputDraft } from "./input.ts";
export { detectLanguage, EXTENSIONS, LANGUAGES, Language } from "./language.ts";
export { type LocalBuildOptions, type LocalBuildResult, runLocalBuild } from "./local-build.ts";
export { ArtifactManifest, LocalBuild, LocalStep, StartCommand } from "./local-plan.ts";
export { type BuildPlan, plan } from "./plan.ts";
export { shellQuote } from "./shell.ts";

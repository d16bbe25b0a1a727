export { contentDigest } from "./digest.ts";
export { BuildpackError, buildFailed } from "./errors.ts";
export { planForPackaging, planInputForPackaging } from "./from-spec.ts";
export { Architecture, BuildArg, PlanInput, type PlanInputDraft } from "./input.ts";
export { detectLanguage, EXTENSIONS, LANGUAGES, Language } from "./language.ts";
export { ArtifactManifest, LocalBuild, LocalStep, MANIFEST_FILE, StartCommand } from "./local-plan.ts";
export { type BuildPlan, plan } from "./plan.ts";
export { isApplicationJar, javaEntry, npmCiCommand, pipInstallArgs } from "./recipes.ts";
export { shellCommand, shellQuote } from "./shell.ts";
export {
  buildInputs,
  isIgnored,
  linksLeaving,
  NEVER_INPUTS,
  parseIgnore,
  type SourceProblem,
  sourceDigest,
  sourceProblems,
} from "./source.ts";

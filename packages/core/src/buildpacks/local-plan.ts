import { z } from "zod";
import { Language } from "./language.ts";
import { RelativePath } from "./paths.ts";

/**
 * What Berth Local does instead of a Docker build, as data: the plan is made where the source is
 * described and run where the source is, and the two may be different processes.
 *
 * The steps run in a scratch copy of the source directory (the "build stage"); `copy` and
 * `pick-jar` move their results into the artifact directory (the "runtime stage"). Paths are
 * relative to those two directories.
 */

/** A step whose `when` does not hold in the scratch copy is skipped, as the Dockerfile's `if [ -f ]`. */
export const Condition = z.strictObject({ fileExists: RelativePath });
export type Condition = z.infer<typeof Condition>;

const NpmCiStep = z.strictObject({ kind: z.literal("npm-ci"), when: Condition });
const EsbuildStep = z.strictObject({
  kind: z.literal("esbuild"),
  entry: RelativePath,
  outfile: RelativePath,
  target: z.string().min(1),
  format: z.literal("esm"),
  platform: z.literal("node"),
  /** JavaScript placed before the bundle. */
  banner: z.string(),
});
const PipInstallStep = z.strictObject({
  kind: z.literal("pip-install"),
  requirements: RelativePath,
  /** Directory the packages are installed into, put on `PYTHONPATH` at start. */
  target: RelativePath,
  when: Condition,
});
/** A program run without a shell, so no argument is ever reinterpreted. */
const ExecStep = z.strictObject({
  kind: z.literal("exec"),
  command: z.array(z.string()).min(1),
  cwd: RelativePath,
  env: z.record(z.string(), z.string()),
});
/** Copies the one application jar of a Maven `target` directory, failing if there is not exactly one. */
const PickJarStep = z.strictObject({
  kind: z.literal("pick-jar"),
  from: RelativePath,
  to: RelativePath,
});
/** From the scratch copy into the artifact. */
const CopyStep = z.strictObject({
  kind: z.literal("copy"),
  from: RelativePath,
  to: RelativePath,
  when: Condition.optional(),
});

export const LocalStep = z.discriminatedUnion("kind", [
  NpmCiStep,
  EsbuildStep,
  PipInstallStep,
  ExecStep,
  PickJarStep,
  CopyStep,
]);
export type LocalStep = z.infer<typeof LocalStep>;

/** How the artifact is started: the image's CMD and ENV, for a process. */
export const StartCommand = z.strictObject({
  command: z.array(z.string()).min(1),
  /** The artifact directory itself, as the image's WORKDIR. */
  workingDirectory: z.literal("."),
  /** Added to the environment; paths in it are relative to the working directory. */
  env: z.record(z.string(), z.string()),
});
export type StartCommand = z.infer<typeof StartCommand>;

export const SupportedLocalBuild = z.strictObject({
  supported: z.literal(true),
  language: Language,
  steps: z.array(LocalStep),
  start: StartCommand,
});
export type SupportedLocalBuild = z.infer<typeof SupportedLocalBuild>;

export const LocalBuild = z.discriminatedUnion("supported", [
  SupportedLocalBuild,
  z.strictObject({ supported: z.literal(false), reason: z.string() }),
]);
export type LocalBuild = z.infer<typeof LocalBuild>;

/** `manifest.json` at the root of every artifact, read by whatever starts it. */
export const ArtifactManifest = z.strictObject({
  schemaVersion: z.literal(1),
  language: Language,
  start: StartCommand,
  createdAt: z.iso.datetime(),
});
export type ArtifactManifest = z.infer<typeof ArtifactManifest>;

export const MANIFEST_FILE = "manifest.json";

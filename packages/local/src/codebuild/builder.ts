import { mkdir, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Buildpack } from "@berth/core/buildpacks";
import { runLocalBuild } from "./local-build.ts";

/**
 * Why a build failed, as CodeBuild puts it in the failed phase's context: `CLIENT_ERROR` when what
 * the build was given cannot be built, `COMMAND_EXECUTION_ERROR` when a build step failed.
 */
export class BuildFailure extends Error {
  readonly statusCode: string;

  constructor(statusCode: "CLIENT_ERROR" | "COMMAND_EXECUTION_ERROR", message: string) {
    super(message);
    this.name = "BuildFailure";
    this.statusCode = statusCode;
  }
}

/** The repository part of an artifact image, as `resolveImage` parses `berth.local/<repository>@sha256:…`. */
const LOCAL_REPOSITORY_URI = /^berth\.local\/[^@\s:]+$/;

/** DOWNLOAD_SOURCE: the source root, read in place (the build stages its own copy). */
export async function resolveSource(source: string | undefined): Promise<string> {
  if (source === undefined || source === "") {
    throw new BuildFailure(
      "CLIENT_ERROR",
      "BERTH_SOURCE is not set; it must name the source root as file:///absolute/dir",
    );
  }
  if (!source.startsWith("file:")) {
    throw new BuildFailure(
      "CLIENT_ERROR",
      `Berth Local builds from file:// sources (file:///absolute/dir); BERTH_SOURCE is ${source}`,
    );
  }
  let directory: string;
  try {
    directory = fileURLToPath(source);
  } catch (error) {
    throw new BuildFailure(
      "CLIENT_ERROR",
      `BERTH_SOURCE ${source} is not a file URL of an absolute directory: ${(error as Error).message}`,
    );
  }
  const stats = await stat(directory).catch(() => undefined);
  if (!stats?.isDirectory()) {
    throw new BuildFailure(
      "CLIENT_ERROR",
      `BERTH_SOURCE: the source directory ${directory} does not exist or is not a directory`,
    );
  }
  return directory;
}

export interface PreparedBuild {
  local: Extract<Buildpack.LocalBuild, { supported: true }>;
  repositoryUri: string;
}

/** PRE_BUILD: the plan's local build for BERTH_BUILD_INPUT, and where its image will be addressed. */
export function prepare(variables: {
  buildInput: string | undefined;
  repositoryUri: string | undefined;
}): PreparedBuild {
  const { buildInput, repositoryUri } = variables;
  // Checked before anything is built, as the AWS buildspec checks it first: an image addressed
  // any other way could never be run by Berth Local's ECS.
  if (repositoryUri === undefined || !LOCAL_REPOSITORY_URI.test(repositoryUri)) {
    throw new BuildFailure(
      "CLIENT_ERROR",
      `REPOSITORY_URI must be berth.local/<repository> in Berth Local, got ${
        repositoryUri === undefined ? "nothing" : JSON.stringify(repositoryUri)
      }`,
    );
  }
  if (buildInput === undefined) {
    throw new BuildFailure(
      "CLIENT_ERROR",
      "BERTH_BUILD_INPUT is not set; it must be the build input as JSON",
    );
  }
  let input: unknown;
  try {
    input = JSON.parse(buildInput);
  } catch (error) {
    throw new BuildFailure("CLIENT_ERROR", `BERTH_BUILD_INPUT is not JSON: ${(error as Error).message}`);
  }
  let local: Buildpack.LocalBuild;
  try {
    local = Buildpack.plan(input as Buildpack.PlanInputDraft).local;
  } catch (error) {
    throw asBuildFailure(error);
  }
  if (!local.supported) throw new BuildFailure("CLIENT_ERROR", local.reason);
  return { local, repositoryUri };
}

export interface ArtifactOptions {
  sourceDir: string;
  /** `<dataDir>/artifacts`: the content-addressed store `resolveImage` reads. */
  artifactsDir: string;
  /** A name for the scratch directory no other build uses (the build's uuid). */
  scratchName: string;
  log: (line: string) => void;
  signal: AbortSignal;
}

export interface StoredArtifact {
  /** `sha256:<hex>`, `runLocalBuild`'s content digest. */
  digest: string;
  directory: string;
  /** The store already held this digest, so the new copy was dropped. */
  reused: boolean;
}

/** The scratch directory of a build; left behind only by a Berth Local that stopped mid-build. */
export function scratchDirectory(artifactsDir: string, scratchName: string): string {
  return join(artifactsDir, "tmp", scratchName);
}

/**
 * BUILD: runs the local build into a scratch directory beside the store, then renames it into
 * `sha256/<hex>/`. Builds into the store's own file system, so the rename is atomic and a reader
 * sees a whole artifact or none.
 */
export async function buildArtifact(
  local: PreparedBuild["local"],
  options: ArtifactOptions,
): Promise<StoredArtifact> {
  const scratch = scratchDirectory(options.artifactsDir, options.scratchName);
  try {
    let digest: string;
    try {
      ({ digest } = await runLocalBuild(local, {
        sourceDir: options.sourceDir,
        outDir: scratch,
        onLog: options.log,
        signal: options.signal,
      }));
    } catch (error) {
      throw asBuildFailure(error);
    }
    const hex = digest.slice("sha256:".length);
    const directory = join(options.artifactsDir, "sha256", hex);
    await mkdir(join(options.artifactsDir, "sha256"), { recursive: true });
    // In-process steps (the bundler, copies) do not watch the signal, so a stopped build can get
    // this far; its artifact must not enter the store.
    options.signal.throwIfAborted();
    try {
      await rename(scratch, directory);
      options.log(`berth: stored the artifact ${digest} in ${directory}`);
      return { digest, directory, reused: false };
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== "ENOTEMPTY" && code !== "EEXIST") throw error;
      // Same digest, same content: the copy already there may be in use by running tasks.
      options.log(`berth: the artifact ${digest} is already in the store; keeping that copy`);
      return { digest, directory, reused: true };
    }
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

function asBuildFailure(error: unknown): unknown {
  if (!(error instanceof Buildpack.BuildpackError)) return error;
  return new BuildFailure(
    error.code === "BUILD_FAILED" ? "COMMAND_EXECUTION_ERROR" : "CLIENT_ERROR",
    error.message,
  );
}

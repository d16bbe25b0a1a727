import { readFile, stat } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";

/**
 * What Berth Local can run in place of an image: a directory, plus (for built artifacts) the start
 * command and environment the build recorded in the artifact's manifest.
 */
export interface ResolvedImage {
  /** Absolute directory the container's process runs in. */
  directory: string;
  /** The artifact's start command, used when the container sets neither entryPoint nor command. */
  startCommand?: string[];
  /** The artifact's environment; the container's own environment overrides it. */
  environment: Record<string, string>;
}

/** The artifact manifest a local build writes next to its files (`<artifact>/manifest.json`). */
export interface ArtifactManifest {
  schemaVersion: 1;
  start: { command: string[]; workingDirectory: string; env?: Record<string, string> };
}

/**
 * An image Berth Local cannot provide. The message is the complete reason in ECS's wording
 * (`CannotPullContainerError: ...`), ready for a container's `reason` and a task's `stoppedReason`.
 */
export class CannotPullContainerError extends Error {
  constructor(detail: string) {
    super(`CannotPullContainerError: ${detail}`);
    this.name = "CannotPullContainerError";
  }
}

const ARTIFACT_IMAGE = /^berth\.local\/([^@\s:]+)@sha256:([0-9a-f]{64})$/;

/**
 * Maps a task definition's image to something runnable on this machine:
 * - `file:///abs/dir` runs in that directory;
 * - `berth.local/<repository>@sha256:<hex>` runs the built artifact `${artifactsDir}/sha256/<hex>/`;
 * - anything else is a registry image, which Berth Local does not pull.
 * Throws CannotPullContainerError when the image cannot be provided.
 */
export async function resolveImage(image: string, artifactsDir: string): Promise<ResolvedImage> {
  if (image.startsWith("file:")) return { directory: await directoryImage(image), environment: {} };
  const artifact = ARTIFACT_IMAGE.exec(image);
  if (artifact?.[2]) return artifactImage(image, artifact[2], artifactsDir);
  if (image.startsWith("berth.local/")) {
    throw new CannotPullContainerError(
      `Berth Local artifacts are addressed by digest (berth.local/<repo>@sha256:<64 hex digits>), not by tag: ${image}`,
    );
  }
  throw new CannotPullContainerError(
    `Berth Local runs directories (file:///…) and built artifacts (berth.local/<repo>@sha256:…), not registry images: ${image}`,
  );
}

async function directoryImage(image: string): Promise<string> {
  let directory: string;
  try {
    directory = fileURLToPath(image);
  } catch (error) {
    throw new CannotPullContainerError(
      `${image} is not a file URL of an absolute directory (file:///abs/dir): ${(error as Error).message}`,
    );
  }
  if (!(await isDirectory(directory))) {
    throw new CannotPullContainerError(
      `the image directory ${directory} does not exist or is not a directory`,
    );
  }
  return directory;
}

async function artifactImage(image: string, digestHex: string, artifactsDir: string): Promise<ResolvedImage> {
  const artifactDir = path.resolve(artifactsDir, "sha256", digestHex);
  const manifestPath = path.join(artifactDir, "manifest.json");
  let text: string;
  try {
    text = await readFile(manifestPath, "utf8");
  } catch {
    throw new CannotPullContainerError(
      `the artifact of ${image} is not in this Berth Local (no ${manifestPath}); build or push it again`,
    );
  }
  const manifest = parseManifest(text, manifestPath);
  const directory = path.resolve(artifactDir, manifest.start.workingDirectory);
  const relative = path.relative(artifactDir, directory);
  if (relative.startsWith("..") || path.isAbsolute(relative)) {
    throw new CannotPullContainerError(
      `${manifestPath}: start.workingDirectory ${JSON.stringify(manifest.start.workingDirectory)} leaves the artifact`,
    );
  }
  if (!(await isDirectory(directory))) {
    throw new CannotPullContainerError(
      `${manifestPath}: start.workingDirectory ${JSON.stringify(manifest.start.workingDirectory)} is not a directory of the artifact`,
    );
  }
  return { directory, startCommand: manifest.start.command, environment: manifest.start.env ?? {} };
}

function parseManifest(text: string, manifestPath: string): ArtifactManifest {
  const invalid = (problem: string) =>
    new CannotPullContainerError(`${manifestPath} is not a valid manifest: ${problem}`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw invalid((error as Error).message);
  }
  if (!isRecord(value)) throw invalid("not a JSON object");
  if (value.schemaVersion !== 1)
    throw invalid(`schemaVersion is ${JSON.stringify(value.schemaVersion)}, expected 1`);
  const start = value.start;
  if (!isRecord(start)) throw invalid("start is missing");
  const { command, workingDirectory, env } = start;
  if (!Array.isArray(command) || command.length === 0 || !command.every((part) => typeof part === "string")) {
    throw invalid("start.command must be a non-empty array of strings");
  }
  if (typeof workingDirectory !== "string") throw invalid("start.workingDirectory must be a string");
  if (
    env !== undefined &&
    !(isRecord(env) && Object.values(env).every((entry) => typeof entry === "string"))
  ) {
    throw invalid("start.env must map names to strings");
  }
  return {
    schemaVersion: 1,
    start: {
      command: command as string[],
      workingDirectory,
      ...(env ? { env: env as Record<string, string> } : {}),
    },
  };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

async function isDirectory(directory: string): Promise<boolean> {
  try {
    return (await stat(directory)).isDirectory();
  } catch {
    return false;
  }
}

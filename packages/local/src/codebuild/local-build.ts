import { spawn } from "node:child_process";
import { access, cp, mkdir, mkdtemp, readdir, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, dirname, join, resolve, sep } from "node:path";
import { createInterface } from "node:readline";
import { Buildpack } from "@berth/core/buildpacks";
import { build as esbuild, formatMessages, type Message } from "esbuild";
import { z } from "zod";

export interface LocalBuildOptions {
  sourceDir: string;
  /** Created if missing; must be empty, because an artifact holds only what its build produced. */
  outDir: string;
  /** Every line the build prints, as it prints it. */
  onLog?: (line: string) => void;
  /** Stops a running step's process. */
  signal?: AbortSignal;
}

export interface LocalBuildResult {
  outDir: string;
  manifest: Buildpack.ArtifactManifest;
  /** `Buildpack.contentDigest(outDir)`: the artifact's identity. */
  digest: string;
}

/**
 * Never copied into the scratch copy: the repository's history is no input to a build, and
 * `npm ci` empties `node_modules` in place, so it must only ever find the scratch copy's.
 */
const NOT_STAGED = new Set([".git", "node_modules"]);
const OUTPUT_TAIL_LINES = 40;

interface StepContext {
  sourceDir: string;
  workDir: string;
  outDir: string;
  language: Buildpack.Language;
  log: (line: string) => void;
  signal: AbortSignal | undefined;
}

/**
 * Runs a plan's local steps: the same build as the image's, without Docker. The source directory
 * is only read; the steps run in a scratch copy of it, and their results are copied into
 * `outDir` together with a `manifest.json` that says how to start them.
 */
export async function runLocalBuild(
  local: Buildpack.LocalBuild,
  options: LocalBuildOptions,
): Promise<LocalBuildResult> {
  const parsed = Buildpack.LocalBuild.safeParse(local);
  if (!parsed.success) {
    throw new Buildpack.BuildpackError(
      "INVALID_INPUT",
      `invalid local build: ${z.prettifyError(parsed.error)}`,
    );
  }
  const build = parsed.data;
  if (!build.supported) throw new Buildpack.BuildpackError("LOCAL_BUILD_UNSUPPORTED", build.reason);

  const sourceDir = resolve(options.sourceDir);
  const outDir = resolve(options.outDir);
  await requireDirectory(sourceDir);
  await requireLinksInside(sourceDir);
  await requireEmptyDirectory(outDir);
  const workDir = await mkdtemp(join(tmpdir(), "berth-build-"));
  const context: StepContext = {
    sourceDir,
    workDir,
    outDir,
    language: build.language,
    log: options.onLog ?? (() => {}),
    signal: options.signal,
  };
  try {
    await stageSource(sourceDir, workDir, outDir);
    for (const step of build.steps) {
      const when = "when" in step ? step.when : undefined;
      if (when && !(await exists(join(workDir, when.fileExists)))) {
        context.log(`berth: skipped ${step.kind}, as there is no ${when.fileExists}`);
        continue;
      }
      await runStep(step, context);
    }
    const manifest: Buildpack.ArtifactManifest = {
      schemaVersion: 1,
      language: build.language,
      start: build.start,
      createdAt: new Date().toISOString(),
    };
    await writeFile(join(outDir, Buildpack.MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
    return { outDir, manifest, digest: await Buildpack.contentDigest(outDir) };
  } catch (error) {
    // The directory was empty before; a half-built artifact must not pass for a built one.
    await emptyDirectory(outDir);
    throw error;
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}

async function runStep(step: Buildpack.LocalStep, context: StepContext): Promise<void> {
  const { workDir, outDir } = context;
  try {
    switch (step.kind) {
      case "npm-ci":
        return await runProgram(Buildpack.npmCiCommand(), workDir, {}, context);
      case "esbuild":
        return await bundle(step, context);
      case "pip-install":
        // `python3 -m pip` installs for the interpreter that will run the app; a bare `pip`
        // may belong to another one.
        return await runProgram(
          ["python3", "-m", "pip", ...Buildpack.pipInstallArgs(step)],
          workDir,
          {},
          context,
        );
      case "exec":
        return await runProgram(step.command, join(workDir, step.cwd), step.env, context);
      case "pick-jar":
        return await pickJar(join(workDir, step.from), join(outDir, step.to), context);
      case "copy":
        context.log(`berth: copying ${step.from} to the artifact as ${step.to}`);
        return await copyInto(join(workDir, step.from), join(outDir, step.to));
    }
  } catch (error) {
    if (error instanceof Buildpack.BuildpackError) throw error;
    throw Buildpack.buildFailed(
      `the ${step.kind} step failed: ${error instanceof Error ? error.message : String(error)}`,
      [],
      { cause: error },
    );
  }
}

async function bundle(
  step: Extract<Buildpack.LocalStep, { kind: "esbuild" }>,
  context: StepContext,
): Promise<void> {
  context.log(`berth: bundling ${step.entry} into ${step.outfile} (esbuild, ${step.target}, ${step.format})`);
  // Without a lock file nothing was installed, and the image build would use the node_modules
  // the source came with; the bundler reads the source's own, which the scratch copy lacks.
  const installed = await exists(join(context.workDir, "node_modules"));
  try {
    const result = await esbuild({
      absWorkingDir: context.workDir,
      entryPoints: [step.entry],
      outfile: step.outfile,
      bundle: true,
      platform: step.platform,
      target: step.target,
      format: step.format,
      banner: { js: step.banner },
      nodePaths: installed ? [] : [join(context.sourceDir, "node_modules")],
      logLevel: "silent",
    });
    for (const line of await formatted(result.warnings, "warning")) context.log(line);
  } catch (error) {
    const messages = isBuildFailure(error) ? error.errors : [];
    const lines = messages.length > 0 ? await formatted(messages, "error") : [String(error)];
    for (const line of lines) context.log(line);
    throw Buildpack.buildFailed(`esbuild could not bundle ${step.entry}`, lines.slice(-OUTPUT_TAIL_LINES), {
      cause: error,
    });
  }
}

function isBuildFailure(error: unknown): error is Error & { errors: Message[] } {
  return error instanceof Error && Array.isArray((error as { errors?: unknown }).errors);
}

async function formatted(messages: Message[], kind: "error" | "warning"): Promise<string[]> {
  const texts = await formatMessages(messages, { kind, color: false });
  return texts.flatMap((text) => text.trimEnd().split("\n"));
}

/** Runs a program without a shell, streaming its output line by line. */
function runProgram(
  command: readonly string[],
  cwd: string,
  env: Record<string, string>,
  context: StepContext,
): Promise<void> {
  const [program, ...args] = command;
  if (program === undefined) return Promise.reject(Buildpack.buildFailed("a step has an empty command", []));
  context.log(`$ ${Buildpack.shellCommand(command)}`);
  return new Promise((resolvePromise, reject) => {
    const tail: string[] = [];
    const onLine = (line: string) => {
      context.log(line);
      tail.push(line);
      if (tail.length > OUTPUT_TAIL_LINES) tail.shift();
    };
    const child = spawn(program, args, {
      cwd,
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
      signal: context.signal,
    });
    createInterface({ input: child.stdout }).on("line", onLine);
    createInterface({ input: child.stderr }).on("line", onLine);
    child.on("error", (error: NodeJS.ErrnoException) => {
      const what =
        error.code === "ENOENT"
          ? `${program} was not found on PATH; Berth Local needs it to build ${context.language}`
          : `${program} could not run: ${error.message}`;
      reject(Buildpack.buildFailed(what, tail, { cause: error }));
    });
    child.on("close", (code, signal) => {
      if (code === 0) resolvePromise();
      else
        reject(
          Buildpack.buildFailed(
            `${Buildpack.shellCommand(command)} ${code === null ? `was killed by ${signal}` : `exited with ${code}`}`,
            tail,
          ),
        );
    });
  });
}

async function pickJar(targetDir: string, destination: string, context: StepContext): Promise<void> {
  const jars = (await readdir(targetDir)).filter(Buildpack.isApplicationJar).sort();
  const [jar] = jars;
  if (jar === undefined || jars.length > 1) {
    const found = jars.length === 0 ? "none" : jars.join(", ");
    throw Buildpack.buildFailed(
      `expected one application jar in ${basename(targetDir)}/, found: ${found}`,
      [],
    );
  }
  context.log(`berth: using ${jar} as the application jar`);
  await copyInto(join(targetDir, jar), destination);
}

async function copyInto(from: string, to: string): Promise<void> {
  await mkdir(dirname(to), { recursive: true });
  // Links are kept as they are: a relative one stays valid, and none is followed out of the tree.
  await cp(from, to, { recursive: true, verbatimSymlinks: true });
}

async function stageSource(sourceDir: string, workDir: string, outDir: string): Promise<void> {
  const inside = (path: string, dir: string) => path === dir || path.startsWith(dir + sep);
  await cp(sourceDir, workDir, {
    recursive: true,
    verbatimSymlinks: true,
    filter: (path) =>
      path === sourceDir ||
      (!NOT_STAGED.has(basename(path)) && !inside(path, outDir) && !inside(path, workDir)),
  });
}

async function requireDirectory(dir: string): Promise<void> {
  const stats = await stat(dir).catch(() => undefined);
  if (!stats?.isDirectory()) {
    throw new Buildpack.BuildpackError(
      "INVALID_INPUT",
      `the source directory ${dir} does not exist or is not a directory`,
    );
  }
}

/**
 * The steps run in a copy that keeps links as links: one that leads out of the source would
 * have the build read, or run, a file the source never contained.
 */
async function requireLinksInside(sourceDir: string): Promise<void> {
  const leaving = await Buildpack.linksLeaving(sourceDir);
  if (leaving.length === 0) return;
  throw new Buildpack.BuildpackError(
    "INVALID_INPUT",
    `the source directory has symbolic links that lead outside it: ${leaving
      .map((link) => `${link.path} → ${link.target}`)
      .join(", ")}`,
    leaving.map((link) => ({
      path: link.path,
      message: `leads outside the source directory (to ${link.target})`,
    })),
  );
}

async function requireEmptyDirectory(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  const entries = await readdir(dir);
  if (entries.length > 0) {
    throw new Buildpack.BuildpackError(
      "OUT_DIR_NOT_EMPTY",
      `the artifact directory ${dir} is not empty; build into a new or empty directory`,
    );
  }
}

async function emptyDirectory(dir: string): Promise<void> {
  for (const entry of await readdir(dir).catch(() => [])) {
    await rm(join(dir, entry), { recursive: true, force: true });
  }
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

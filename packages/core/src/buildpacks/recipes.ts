import { posix } from "node:path";
import { version as esbuildVersion } from "esbuild";
import { BuildpackError } from "./errors.ts";
import type { Language } from "./language.ts";
import type { Condition, LocalStep, StartCommand, SupportedLocalBuild } from "./local-plan.ts";
import { shellCommand, shellQuote } from "./shell.ts";

/**
 * One recipe per language gives both the Dockerfile and the local steps, and each Dockerfile line
 * that matters is derived from the local step it mirrors, so the two cannot drift apart.
 */
export interface Recipe {
  dockerfile: string;
  local: SupportedLocalBuild;
}

export function recipeFor(language: Language, entry: string): Recipe {
  switch (language) {
    case "typescript":
    case "javascript":
      return nodeRecipe(language, entry);
    case "python":
      return pythonRecipe(entry);
    case "go":
      return goRecipe(entry);
    case "java":
      return javaRecipe(entry);
  }
}

// Node (TypeScript and JavaScript) ------------------------------------------------------------

const NODE_IMAGE = "node:22-slim";
const BUNDLE_PATH = "dist/app.mjs";

/**
 * An ESM bundle has no `require`, yet CommonJS dependencies call it (for built-in modules
 * above all). The import is renamed because a user module that imports `createRequire` itself
 * would otherwise collide with the banner's binding; a user `require` is renamed by esbuild.
 */
const ESM_REQUIRE_BANNER =
  'import { createRequire as __berthCreateRequire } from "node:module"; const require = __berthCreateRequire(import.meta.url);';

const NPM_CI_ARGS = ["ci", "--no-audit", "--no-fund"] as const;
export const npmCiCommand = (): string[] => ["npm", ...NPM_CI_ARGS];

/** The esbuild command line that does what the esbuild step does through the JS API. */
function esbuildCli(step: Extract<LocalStep, { kind: "esbuild" }>): string[] {
  // Pinned to the esbuild Berth Local bundles with, so both produce the same bundle.
  return [
    "npx",
    "--yes",
    `esbuild@${esbuildVersion}`,
    step.entry,
    "--bundle",
    `--platform=${step.platform}`,
    `--target=${step.target}`,
    `--format=${step.format}`,
    `--outfile=${step.outfile}`,
    `--banner:js=${step.banner}`,
  ];
}

function nodeRecipe(language: "typescript" | "javascript", entry: string): Recipe {
  const install = { kind: "npm-ci", when: { fileExists: "package-lock.json" } } satisfies LocalStep;
  const bundle = {
    kind: "esbuild",
    entry,
    outfile: BUNDLE_PATH,
    target: "node22",
    format: "esm",
    platform: "node",
    banner: ESM_REQUIRE_BANNER,
  } satisfies LocalStep;
  const bundleDir = posix.dirname(BUNDLE_PATH);
  const start: StartCommand = {
    command: ["node", BUNDLE_PATH],
    workingDirectory: ".",
    env: { NODE_ENV: "production" },
  };
  const dockerfile = lines(
    header(entry, language),
    `FROM ${NODE_IMAGE} AS build`,
    "WORKDIR /app",
    "COPY . .",
    `RUN ${onlyIf(install.when, shellCommand(npmCiCommand()))}`,
    `RUN ${shellCommand(esbuildCli(bundle))}`,
    "",
    `FROM ${NODE_IMAGE}`,
    "WORKDIR /app",
    envInstruction(start.env),
    `COPY --from=build /app/${bundleDir} ./${bundleDir}`,
    "USER node",
    cmdInstruction(start),
  );
  return {
    dockerfile,
    local: {
      supported: true,
      language,
      steps: [install, bundle, { kind: "copy", from: bundleDir, to: bundleDir }],
      start,
    },
  };
}

// Python ------------------------------------------------------------------------------------

const PYTHON_IMAGE = "python:3.12-slim";
const PYTHON_DEPS_DIR = "deps";
// Byte-code files record their source's mtime, which would make two builds of one source differ.
const PIP_INSTALL_FLAGS = ["--no-compile", "--disable-pip-version-check"] as const;

export function pipInstallArgs(
  step: Extract<LocalStep, { kind: "pip-install" }>,
  extraFlags: readonly string[] = [],
): string[] {
  return ["install", ...PIP_INSTALL_FLAGS, ...extraFlags, "--target", step.target, "-r", step.requirements];
}

function pythonRecipe(entry: string): Recipe {
  const install = {
    kind: "pip-install",
    requirements: "requirements.txt",
    target: PYTHON_DEPS_DIR,
    when: { fileExists: "requirements.txt" },
  } satisfies LocalStep;
  // `python3` rather than `python`: it is the name every Python 3 installation has, so the
  // image and a developer's machine start the artifact with the same command.
  const start: StartCommand = {
    command: ["python3", entry],
    workingDirectory: ".",
    env: { PYTHONPATH: PYTHON_DEPS_DIR, PYTHONUNBUFFERED: "1" },
  };
  const dockerfile = lines(
    header(entry, "python"),
    `FROM ${PYTHON_IMAGE} AS build`,
    "WORKDIR /app",
    "COPY . .",
    `RUN ${onlyIf(install.when, shellCommand(["pip", ...pipInstallArgs(install, ["--no-cache-dir"])]))}`,
    "",
    `FROM ${PYTHON_IMAGE}`,
    "WORKDIR /app",
    // Absolute in the image, where the path is known; Python makes the local relative one absolute.
    envInstruction({ ...start.env, PYTHONPATH: `/app/${PYTHON_DEPS_DIR}` }),
    "COPY --from=build /app ./",
    "USER nobody",
    cmdInstruction(start),
  );
  return {
    dockerfile,
    local: {
      supported: true,
      language: "python",
      steps: [install, { kind: "copy", from: ".", to: "." }],
      start,
    },
  };
}

// Go ----------------------------------------------------------------------------------------

const GO_IMAGE = "golang:1.23";
const GO_RUNTIME_IMAGE = "gcr.io/distroless/static-debian12:nonroot";
// Without paths and VCS stamps in the binary, the same source gives the same bytes.
const GO_BUILD_FLAGS = ["-trimpath", "-buildvcs=false"] as const;
const GO_LOCAL_OUTPUT = ".berth-out/app";

function goRecipe(entry: string): Recipe {
  // `go build` takes a package; the entry file names the directory of its `main` package.
  const entryDir = posix.dirname(entry);
  const mainPackage = entryDir === "." ? "." : `./${entryDir}`;
  const goBuild = (output: string) => ["go", "build", ...GO_BUILD_FLAGS, "-o", output, mainPackage];
  const env = { CGO_ENABLED: "0" };
  const start: StartCommand = { command: ["./app"], workingDirectory: ".", env: {} };
  const dockerfile = lines(
    header(entry, "go"),
    `FROM ${GO_IMAGE} AS build`,
    "WORKDIR /src",
    "COPY . .",
    `RUN ${envAssignments(env)} ${shellCommand(goBuild("/out/app"))}`,
    "",
    `FROM ${GO_RUNTIME_IMAGE}`,
    "WORKDIR /app",
    "COPY --from=build /out/app ./app",
    "USER nonroot:nonroot",
    cmdInstruction(start),
  );
  return {
    dockerfile,
    local: {
      supported: true,
      language: "go",
      steps: [
        { kind: "exec", command: goBuild(GO_LOCAL_OUTPUT), cwd: ".", env },
        { kind: "copy", from: GO_LOCAL_OUTPUT, to: "app" },
      ],
      start,
    },
  };
}

// Java --------------------------------------------------------------------------------------

const JAVA_BUILD_IMAGE = "maven:3.9-eclipse-temurin-21";
const JAVA_RUNTIME_IMAGE = "eclipse-temurin:21-jre";
// Runtime dependencies go to `target/dependency`, so a plain (not shaded) jar runs too.
const MAVEN_PACKAGE = [
  "mvn",
  "-B",
  "-q",
  "-DskipTests",
  "package",
  "dependency:copy-dependencies",
  "-DincludeScope=runtime",
] as const;
/** Jars Maven plugins leave beside the application jar. */
const NON_APPLICATION_JARS = {
  prefixes: ["original-"],
  suffixes: ["-sources.jar", "-javadoc.jar", "-tests.jar"],
} as const;

export function isApplicationJar(fileName: string): boolean {
  return (
    fileName.endsWith(".jar") &&
    !NON_APPLICATION_JARS.prefixes.some((prefix) => fileName.startsWith(prefix)) &&
    !NON_APPLICATION_JARS.suffixes.some((suffix) => fileName.endsWith(suffix))
  );
}

/**
 * The Maven module and main class an entry file names. Java needs the class, not the file, to
 * start, and only Maven's standard layout (`<module>/src/main/java/<package path>/<Class>.java`)
 * says both without reading the source.
 */
export function javaEntry(entry: string): { moduleDir: string; mainClass: string } {
  const match = /^(?:(.+)\/)?src\/main\/java\/(.+)\.java$/i.exec(entry);
  const segments = match?.[2]?.split("/") ?? [];
  if (!match || !segments.every((segment) => /^[A-Za-z_$][\w$]*$/.test(segment))) {
    throw new BuildpackError(
      "INVALID_INPUT",
      `the Java entry file "${entry}" must follow Maven's layout, <module>/src/main/java/<package>/<Class>.java, so that Berth can tell the main class`,
      [{ path: "packaging.entryfilePath", message: "must lie under src/main/java" }],
    );
  }
  return { moduleDir: match[1] ?? ".", mainClass: segments.join(".") };
}

function javaRecipe(entry: string): Recipe {
  const { moduleDir, mainClass } = javaEntry(entry);
  const targetDir = posix.join(moduleDir, "target");
  const start: StartCommand = {
    // The JVM expands `lib/*` itself, so it needs no shell.
    command: ["java", "-cp", "app.jar:lib/*", mainClass],
    workingDirectory: ".",
    env: {},
  };
  const findApplicationJars = [
    "find",
    ".",
    "-maxdepth",
    "1",
    "-name",
    "*.jar",
    ...NON_APPLICATION_JARS.prefixes.flatMap((prefix) => ["!", "-name", `${prefix}*`]),
    ...NON_APPLICATION_JARS.suffixes.flatMap((suffix) => ["!", "-name", `*${suffix}`]),
  ];
  const inModule = moduleDir === "." ? "" : `cd ${shellQuote(moduleDir)} && `;
  const dockerfile = lines(
    header(entry, "java"),
    `FROM ${JAVA_BUILD_IMAGE} AS build`,
    "WORKDIR /src",
    "COPY . .",
    `RUN ${inModule}${shellCommand(MAVEN_PACKAGE)}`,
    continued(
      `RUN cd ${shellQuote(targetDir)}`,
      `set -- $(${shellCommand(findApplicationJars)})`,
      `if [ "$#" -ne 1 ]; then echo ${shellQuote(`berth: expected one application jar in ${targetDir}, found:`)} "$*" >&2; exit 1; fi`,
      `mkdir -p /out/lib && cp "$1" /out/app.jar`,
      "if [ -d dependency ]; then cp -R dependency/. /out/lib/; fi",
    ),
    "",
    `FROM ${JAVA_RUNTIME_IMAGE}`,
    "WORKDIR /app",
    "COPY --from=build /out/ ./",
    "USER nobody",
    cmdInstruction(start),
  );
  const dependencies = posix.join(targetDir, "dependency");
  return {
    dockerfile,
    local: {
      supported: true,
      language: "java",
      steps: [
        { kind: "exec", command: [...MAVEN_PACKAGE], cwd: moduleDir, env: {} },
        { kind: "pick-jar", from: targetDir, to: "app.jar" },
        { kind: "copy", from: dependencies, to: "lib", when: { fileExists: dependencies } },
      ],
      start,
    },
  };
}

// Dockerfile text ---------------------------------------------------------------------------

function header(entry: string, language: Language): string {
  return `# Generated by Berth from ${entry} (${language}); Berth Local runs the same steps without Docker.`;
}

function lines(...instructions: string[]): string {
  return `${instructions.join("\n")}\n`;
}

/** A shell command joined with `&&` over several Dockerfile lines. */
function continued(first: string, ...rest: string[]): string {
  return [first, ...rest.map((command) => `    && ${command}`)].join(" \\\n");
}

function onlyIf(condition: Condition, command: string): string {
  return `if [ -f ${shellQuote(condition.fileExists)} ]; then ${command}; fi`;
}

function envAssignments(env: Record<string, string>): string {
  return Object.entries(env)
    .map(([name, value]) => `${name}=${shellQuote(value)}`)
    .join(" ");
}

function envInstruction(env: Record<string, string>): string {
  return `ENV ${envAssignments(env)}`;
}

/** The exec form: JSON, which Docker passes to the program without a shell or substitutions. */
function cmdInstruction(start: StartCommand): string {
  return `CMD [${start.command.map((word) => JSON.stringify(word)).join(", ")}]`;
}

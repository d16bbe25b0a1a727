import { existsSync, lstatSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { basename, join, relative, resolve } from "node:path";
import { Buildpack } from "@berth/core/buildpacks";
import { Spec } from "@berth/core/spec";
import { DEFAULT_URL } from "./api.ts";
import { type Context, parseOptions, stringOption, UsageError } from "./command.ts";
import {
  type Choices,
  DEFAULT_PORT,
  type Detection,
  detect,
  type Evidence,
  LANGUAGE_NAMES,
  NoAppError,
  type ProjectFiles,
  renderTs,
  renderYaml,
  resourceFor,
  SERVICE_TYPES,
  type ServiceType,
  stackName,
} from "./init.ts";

/** Asks the user a question on the terminal; absent when stdin is not one. */
export type Prompt = (question: string) => Promise<string>;

/** Directories that hold no app source: dependencies, build output, virtual environments, history. */
const SKIPPED_DIRS = new Set([
  ...Buildpack.NEVER_INPUTS,
  "vendor",
  "venv",
  ".venv",
  "__pycache__",
  "target",
  "dist",
  "build",
  "out",
  ".gradle",
  ".idea",
  ".vscode",
]);
/** How much of a project `scanProject` reads at most: files, directory depth, bytes of one file's text. */
const SCAN_LIMITS = { files: 5000, depth: 8, textBytes: 256 * 1024 };
/** Files read for their text whatever their extension. */
const TEXT_NAMES = new Set([
  "package.json",
  "go.mod",
  "pom.xml",
  "Dockerfile",
  "dockerfile",
  "Containerfile",
]);

/** The project's files for `detect`: their text where a heuristic may read it, else "". */
function scanProject(dir: string): ProjectFiles {
  const files = new Map<string, string>();
  const walk = (relativeDir: string, depth: number) => {
    let names: string[];
    try {
      names = readdirSync(join(dir, relativeDir)).sort();
    } catch {
      return;
    }
    for (const name of names) {
      if (files.size >= SCAN_LIMITS.files) return;
      const path = relativeDir === "" ? name : `${relativeDir}/${name}`;
      const stats = lstatSync(join(dir, path), { throwIfNoEntry: false });
      if (!stats) continue;
      if (stats.isDirectory()) {
        if (depth < SCAN_LIMITS.depth && !SKIPPED_DIRS.has(name) && !name.startsWith("."))
          walk(path, depth + 1);
      } else if (stats.isFile()) {
        const readable = stats.size <= SCAN_LIMITS.textBytes && (TEXT_NAMES.has(name) || isSource(name));
        files.set(path, readable ? readFileSync(join(dir, path), "utf8") : "");
      }
    }
  };
  walk("", 0);
  return files;
}

function isSource(name: string): boolean {
  try {
    Buildpack.detectLanguage(name);
    return true;
  } catch {
    return false;
  }
}

const NAME = /^[A-Za-z][A-Za-z0-9]{0,62}$/;

/** `berth init [DIR] [--ts] [--type web-service|worker-service] [--name NAME] [--force]`. */
export async function init(args: string[], context: Context, prompt?: Prompt): Promise<number> {
  const { values, positionals } = parseOptions(
    args,
    {
      ts: { type: "boolean" },
      type: { type: "string" },
      name: { type: "string" },
      force: { type: "boolean" },
    },
    true,
  );
  if (positionals.length > 1) throw new UsageError(`init takes one directory, got ${positionals.join(" ")}`);
  const type = stringOption(values, "type");
  if (type !== undefined && !SERVICE_TYPES.includes(type as ServiceType))
    throw new UsageError(`--type ${type}: use one of ${SERVICE_TYPES.join(", ")}`);
  const name = stringOption(values, "name");
  if (name !== undefined && !NAME.test(name))
    throw new UsageError(
      `--name ${name}: a resource name starts with a letter and has only letters and digits, at most 63 characters`,
    );
  const dirArgument = positionals[0] ?? ".";
  const dir = resolve(context.cwd, dirArgument);
  if (!statSync(dir, { throwIfNoEntry: false })?.isDirectory())
    throw new UsageError(`${dirArgument}: no such directory`);

  const fileName = values.ts ? "berth.ts" : Spec.DEFAULT_FILE_NAME;
  const target = join(dir, fileName);
  const shown = relative(context.cwd, target) || fileName;
  if (existsSync(target) && !values.force) {
    context.err(`berth: ${shown} already exists; berth init leaves it as it is (--force replaces it)`);
    return 1;
  }

  let detection: Detection;
  try {
    detection = detect(scanProject(dir), basename(dir));
  } catch (error) {
    if (!(error instanceof NoAppError)) throw error;
    context.err(`berth: ${relative(context.cwd, dir) || "."}: ${error.message}`);
    return 1;
  }

  const chosen = await chooseType(detection, type as ServiceType | undefined, context, prompt);
  const choices: Choices = {
    type: chosen.type,
    name: name ?? detection.suggestedName,
    schemaUrl: `${context.env.BERTH_URL?.trim().replace(/\/+$/, "") || DEFAULT_URL}${Spec.JSON_SCHEMA_API_PATH}`,
  };
  const resource = resourceFor(detection, choices);
  const stack = { resources: { [choices.name]: resource } };
  // What init writes must pass berth validate; a failure here is init's own mistake.
  const checked = Spec.parse(JSON.stringify(stack));
  if (!checked.ok)
    throw new Error(
      `berth init made an invalid stack: ${checked.issues.map((issue) => issue.message).join("; ")}`,
    );

  const summary = `${chosen.type} for ${describeApp(detection)}`;
  const text = values.ts ? renderTs(resource, choices, summary) : renderYaml(stack, choices, summary);
  try {
    writeFileSync(target, text, { flag: values.force ? "w" : "wx" });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") {
      context.err(`berth: ${shown} already exists; berth init leaves it as it is (--force replaces it)`);
      return 1;
    }
    throw new UsageError(`${shown}: ${(error as Error).message}`);
  }

  report(context, { detection, choices, chosen, shown, dir, ts: values.ts === true });
  return 0;
}

function describeApp(detection: Detection): string {
  const packaging = detection.packaging;
  return packaging.type === "dockerfile"
    ? `the app built by ${packaging.dockerfile}`
    : `the ${LANGUAGE_NAMES[packaging.language]} app in ${packaging.entry}`;
}

const at = (evidence: Evidence) => `${evidence.file}:${evidence.line}: ${evidence.text}`;

async function chooseType(
  detection: Detection,
  given: ServiceType | undefined,
  context: Context,
  prompt: Prompt | undefined,
): Promise<{ type: ServiceType; reason: string }> {
  if (given) return { type: given, reason: "as --type says" };
  if (detection.listens)
    return { type: "web-service", reason: `it listens on a port (${at(detection.listens)})` };
  if (prompt) {
    context.out(
      "berth init found no sign that the app listens on a port (listen(, createServer, app.run, …).",
    );
    const answer = (await prompt("Does it serve HTTP on a port? [y/N] ")).trim().toLowerCase();
    if (answer === "y" || answer === "yes") return { type: "web-service", reason: "you said it serves HTTP" };
    return { type: "worker-service", reason: "you said it does not serve HTTP" };
  }
  return {
    type: "worker-service",
    reason:
      "nothing shows that it listens on a port (listen(, createServer, app.run, ListenAndServe, PORT, …), " +
      "and a worker publishes nothing; use --type web-service if it serves HTTP",
  };
}

function report(
  context: Context,
  options: {
    detection: Detection;
    choices: Choices;
    chosen: { type: ServiceType; reason: string };
    shown: string;
    dir: string;
    ts: boolean;
  },
): void {
  const { detection, choices, chosen, shown } = options;
  const packaging = detection.packaging;
  const rows: [string, string][] = [
    [
      "app",
      packaging.type === "dockerfile"
        ? `${packaging.dockerfile} (custom-dockerfile packaging, build context .)`
        : `${LANGUAGE_NAMES[packaging.language]}, entry ${packaging.entry} (${packaging.reason}; stacktape-image-buildpack packaging)`,
    ],
    ["type", `${chosen.type}: ${chosen.reason}`],
    ["resource", `${choices.name}, 0.25 vCPU and 512 MiB`],
  ];
  const notes: string[] = [];
  if (chosen.type === "web-service") {
    const port = detection.port;
    rows.push([
      "port",
      port
        ? `${port.value} (${at(port.evidence)}); Berth sets PORT to it`
        : detection.readsPort
          ? `${DEFAULT_PORT}, Berth's default, which it passes in PORT (${at(detection.readsPort)})`
          : `${DEFAULT_PORT}, Berth's default: no port found in the source; the app must listen on PORT or on the file's port`,
    ]);
    const route = detection.healthRoute;
    if (route && "command" in detection.healthCheck)
      rows.push(["health", `GET ${route.path} every 10 s (${at(route.evidence)})`]);
    else if (route && "unavailable" in detection.healthCheck)
      rows.push([
        "health",
        `none: found ${route.path} (${at(route.evidence)}), but ${detection.healthCheck.unavailable}; add internalHealthCheck with a command the image has`,
      ]);
    else rows.push(["health", "none: no /health, /healthz, /livez, /ready or /readyz route found"]);
  }
  for (const other of detection.alsoFound) rows.push(["also found", `${other} (not used)`]);
  if (packaging.type === "dockerfile")
    notes.push(
      "Berth Local does not build Dockerfiles (it runs no Docker engine): deploy this file to a Berth installation on AWS," +
        (detection.alsoFound.length > 0
          ? " or use stacktape-image-buildpack packaging for the app also found."
          : " or package the app with the buildpack."),
    );
  if (options.ts && !resolvesConfig(options.dir))
    notes.push(
      "berth.ts imports @berth/config, which this directory does not resolve yet: add it as a dependency " +
        "(npm install --save-dev /path/to/berth/packages/config).",
    );

  context.out(`wrote ${shown}`);
  const width = Math.max(...rows.map(([label]) => label.length));
  for (const [label, value] of rows) context.out(`  ${label.padEnd(width)}  ${value}`);
  for (const note of notes) context.out(`note: ${note}`);
  context.out("");
  context.out("Next:");
  context.out(`  berth deploy -f ${shown} --stack ${stackName(basename(options.dir))}`);
}

function resolvesConfig(dir: string): boolean {
  try {
    createRequire(join(dir, "package.json")).resolve("@berth/config");
    return true;
  } catch {
    return false;
  }
}

import { posix } from "node:path";
import { Buildpack } from "@berth/core/buildpacks";
import type { Spec } from "@berth/core/spec";
import { stringify } from "yaml";

/**
 * `berth init`'s knowledge, with no I/O: what app a directory holds (from a snapshot of its
 * files), and the stack file that deploys it. The languages and entry files are the buildpacks'
 * own (`Buildpack.detectLanguage`, `Buildpack.javaEntry`); the rest are heuristics, and each
 * decision carries the evidence it was made on so that the command can say why.
 */

/** The files of a project: relative POSIX path → text (large or binary files: ""). */
export type ProjectFiles = ReadonlyMap<string, string>;

export type ServiceType = "web-service" | "worker-service";
export const SERVICE_TYPES: readonly ServiceType[] = ["web-service", "worker-service"];

/** How the app is packaged, and what said so. */
export type Packaging =
  | { type: "buildpack"; language: Buildpack.Language; entry: string; reason: string }
  | { type: "dockerfile"; dockerfile: string; reason: string };

/** A place in the source that shows something: `src/server.js:12: server.listen(port)`. */
export interface Evidence {
  file: string;
  line: number;
  text: string;
}

export interface Detection {
  packaging: Packaging;
  /** Other apps found in the directory, described, which the file does not use. */
  alsoFound: string[];
  /** Why the app listens on a port; undefined when nothing says it does. */
  listens?: Evidence;
  /** The port it listens on when the source names one (a literal, or PORT's fallback). */
  port?: { value: number; evidence: Evidence };
  /** Whether it reads the PORT variable Berth injects. */
  readsPort?: Evidence;
  healthRoute?: { path: string; evidence: Evidence };
  /** The health check command the runtime image can run, or why there is none. */
  healthCheck: { command: string[] } | { unavailable: string };
  /** A resource name from the project's own name (package.json, go.mod, pom.xml) or directory. */
  suggestedName: string;
}

/** What `detect` looked for, for the message when it finds nothing. */
const LOOKED_FOR = [
  "a Dockerfile",
  "package.json with a start script or main that runs a .js/.ts file, or index/main/server/app.{ts,js,mjs} (Node)",
  "main.py, app.py or server.py (Python)",
  "go.mod with a main package (Go)",
  "pom.xml with a main class under src/main/java (Java, Maven)",
];

export class NoAppError extends Error {}

// Detecting the app -------------------------------------------------------------------------

const NODE_NAMES = ["index", "main", "server", "app"];
const NODE_DIRS = ["src/", ""];
const NODE_EXTENSIONS = [".ts", ".js", ".mjs", ".mts", ".cjs"];
const PYTHON_ENTRIES = ["main.py", "app.py", "server.py", "src/main.py", "src/app.py"];

function languageOf(path: string): Buildpack.Language | undefined {
  try {
    return Buildpack.detectLanguage(path);
  } catch {
    return undefined;
  }
}

function isNodeEntry(path: string, files: ProjectFiles): boolean {
  const language = languageOf(path);
  return files.has(path) && (language === "javascript" || language === "typescript");
}

function parseJson(text: string | undefined): Record<string, unknown> | undefined {
  try {
    const value = JSON.parse(text ?? "");
    return value && typeof value === "object" && !Array.isArray(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/** The JS/TS file a start script runs: `node src/server.js`, `tsx watch src/main.ts`, `NODE_ENV=x node --inspect a.mjs`. */
function startScriptEntry(script: string, files: ProjectFiles): string | undefined {
  for (const word of script.split(/\s+|&&|;/)) {
    const path = posix.normalize(word.replace(/^["']|["']$/g, ""));
    if (!word.startsWith("-") && !word.includes("=") && isNodeEntry(path, files)) return path;
  }
  return undefined;
}

function nodeApp(files: ProjectFiles): Packaging | undefined {
  if (!files.has("package.json")) return undefined;
  const manifest = parseJson(files.get("package.json")) ?? {};
  const scripts = (manifest.scripts ?? {}) as Record<string, unknown>;
  for (const name of ["start", "dev"]) {
    const script = scripts[name];
    const entry = typeof script === "string" ? startScriptEntry(script, files) : undefined;
    if (entry)
      return {
        type: "buildpack",
        language: languageOf(entry) as Buildpack.Language,
        entry,
        reason: `package.json's ${name} script runs it`,
      };
  }
  if (typeof manifest.main === "string") {
    const main = posix.normalize(manifest.main);
    if (isNodeEntry(main, files))
      return {
        type: "buildpack",
        language: languageOf(main) as Buildpack.Language,
        entry: main,
        reason: "package.json's main",
      };
  }
  for (const dir of NODE_DIRS)
    for (const name of NODE_NAMES)
      for (const extension of NODE_EXTENSIONS) {
        const entry = `${dir}${name}${extension}`;
        if (isNodeEntry(entry, files))
          return {
            type: "buildpack",
            language: languageOf(entry) as Buildpack.Language,
            entry,
            reason: "the usual name of a Node entry file, beside package.json",
          };
      }
  return undefined;
}

function pythonApp(files: ProjectFiles): Packaging | undefined {
  const entry = PYTHON_ENTRIES.find((path) => files.has(path));
  return entry
    ? { type: "buildpack", language: "python", entry, reason: "the usual name of a Python entry file" }
    : undefined;
}

const isGoMain = (text: string) => /^package\s+main\b/m.test(text) && /^func\s+main\s*\(\s*\)/m.test(text);

function goApp(files: ProjectFiles): Packaging | undefined {
  if (!files.has("go.mod")) return undefined;
  const mains = [...files]
    .filter(([path, text]) => path.endsWith(".go") && !path.endsWith("_test.go") && isGoMain(text))
    .map(([path]) => path)
    .sort(
      (a, b) =>
        depth(a) - depth(b) ||
        Number(!a.endsWith("/main.go")) - Number(!b.endsWith("/main.go")) ||
        a.localeCompare(b),
    );
  const entry = mains.includes("main.go") ? "main.go" : mains[0];
  return entry
    ? { type: "buildpack", language: "go", entry, reason: "go.mod, and the main package's func main()" }
    : undefined;
}

function javaApp(files: ProjectFiles): Packaging | undefined {
  if (!files.has("pom.xml")) return undefined;
  const mains = [...files]
    .filter(
      ([path, text]) =>
        /(^|\/)src\/main\/java\/.+\.java$/.test(path) && /\bstatic\s+void\s+main\s*\(/.test(text),
    )
    .map(([path]) => path)
    .filter((path) => {
      try {
        Buildpack.javaEntry(path);
        return true;
      } catch {
        return false;
      }
    })
    .sort((a, b) => depth(a) - depth(b) || a.localeCompare(b));
  const entry = mains[0];
  return entry
    ? {
        type: "buildpack",
        language: "java",
        entry,
        reason: "pom.xml, and the class with main() under src/main/java",
      }
    : undefined;
}

function depth(path: string): number {
  return path.split("/").length;
}

const DOCKERFILES = ["Dockerfile", "dockerfile", "Containerfile"];

/** Files that show an app whose entry was not found, and what was missing. */
const HINTS: [string, string][] = [
  ["package.json", "no start script or main that runs a .js/.ts file, and no index/main/server/app file"],
  ["requirements.txt", "but no main.py, app.py or server.py"],
  ["pyproject.toml", "but no main.py, app.py or server.py"],
  ["go.mod", "but no .go file with package main and func main()"],
  ["pom.xml", "but no class with static void main under src/main/java"],
  ...["build.gradle", "build.gradle.kts"].map((path): [string, string] => [
    path,
    "a Gradle build, which the Java buildpack does not run (it builds with Maven, from pom.xml): add a Dockerfile or a pom.xml",
  ]),
];

/**
 * The app in a directory's files: a Dockerfile wins (the author chose how to build it), then the
 * buildpacks' languages in the order Node, Python, Go, Java. Throws NoAppError naming what it
 * looked for when there is none.
 */
export function detect(files: ProjectFiles, dirName: string): Detection {
  const found: Packaging[] = [];
  const dockerfile = DOCKERFILES.find((path) => files.has(path));
  if (dockerfile)
    found.push({ type: "dockerfile", dockerfile, reason: `${dockerfile} at the top of the directory` });
  for (const app of [nodeApp, pythonApp, goApp, javaApp]) {
    const packaging = app(files);
    if (packaging) found.push(packaging);
  }
  const [packaging, ...others] = found;
  if (!packaging) {
    const hints = HINTS.filter(([path]) => files.has(path)).map(([path, hint]) => `${path}: ${hint}`);
    throw new NoAppError(
      `no app found: looked for ${LOOKED_FOR.join("; ")}${hints.length > 0 ? `. Found ${hints.join("; ")}` : ""}`,
    );
  }
  const sources = sourcesFor(files, packaging);
  const readsPort = firstEvidence(sources, READS_PORT);
  // Reading PORT says it listens too: nothing else reads it.
  const listens = firstEvidence(sources, LISTENS) ?? readsPort;
  const port = listens ? portOf(sources) : undefined;
  const healthRoute = healthRouteOf(sources);
  return {
    packaging,
    alsoFound: others.map(describePackaging),
    ...(listens ? { listens } : {}),
    ...(port ? { port } : {}),
    ...(readsPort ? { readsPort } : {}),
    ...(healthRoute ? { healthRoute } : {}),
    healthCheck: healthCheckFor(files, packaging, healthRoute?.path ?? "/health"),
    suggestedName: resourceName(projectName(files) ?? dirName),
  };
}

function describePackaging(packaging: Packaging): string {
  return packaging.type === "dockerfile"
    ? `a Dockerfile (${packaging.dockerfile})`
    : `a ${LANGUAGE_NAMES[packaging.language]} app (${packaging.entry}: ${packaging.reason})`;
}

export const LANGUAGE_NAMES: Record<Buildpack.Language, string> = {
  typescript: "Node (TypeScript)",
  javascript: "Node (JavaScript)",
  python: "Python",
  go: "Go",
  java: "Java (Maven)",
};

// Reading the source ------------------------------------------------------------------------

/** Directories whose files are tests or tooling, not the app. */
const NOT_APP = /(^|\/)(test|tests|__tests__|spec|e2e|scripts)\/|\.(test|spec)\.[a-z]+$|_test\.go$/;

/** The files whose text the heuristics read: the app's language's sources (every language's for a Dockerfile). */
function sourcesFor(files: ProjectFiles, packaging: Packaging): [string, string][] {
  const wanted = (path: string) => {
    const language = languageOf(path);
    if (!language || NOT_APP.test(path)) return false;
    if (packaging.type === "dockerfile") return true;
    const node = ["javascript", "typescript"];
    return language === packaging.language || (node.includes(language) && node.includes(packaging.language));
  };
  const entry = packaging.type === "buildpack" ? packaging.entry : undefined;
  const sources = [...files].filter(([path]) => path === entry || wanted(path));
  if (packaging.type === "buildpack") {
    // The entry file first: its evidence is the most telling.
    sources.sort(([a], [b]) => Number(b === packaging.entry) - Number(a === packaging.entry));
  } else {
    sources.unshift([packaging.dockerfile, files.get(packaging.dockerfile) ?? ""]);
  }
  return sources;
}

/** Patterns that show a server listening on a port, across the buildpacks' languages and Dockerfiles. */
const LISTENS: RegExp[] = [
  /\.listen\s*\(/,
  /\bcreateServer\s*\(/,
  /\b(?:Bun|Deno)\.serve\s*\(/,
  /\bapp\.run\s*\(/,
  /\buvicorn\.run\s*\(/,
  /\bHTTPServer\s*\(/,
  /\bserve_forever\s*\(/,
  /\bweb\.run_app\s*\(/,
  /\bhttp\.ListenAndServe(?:TLS)?\s*\(/,
  /\bnet\.Listen\s*\(/,
  /\.(?:Run|Start|Listen)\s*\(\s*["'`]:\d*/,
  /\bHttpServer\.create\s*\(/,
  /\bnew\s+ServerSocket\s*\(/,
  /\bSpringApplication\.run\s*\(/,
  /\bJavalin\.create\s*\(/,
  /^\s*EXPOSE\s+\d+/i,
];

/** Reading the PORT variable: process.env.PORT, os.environ["PORT"], os.Getenv("PORT"), System.getenv("PORT"). */
const READS_PORT: RegExp[] = [
  /\bprocess\.env\.PORT\b|\bprocess\.env\[\s*["'`]PORT["'`]\s*\]/,
  /\bos\.environ(?:\.get)?\s*[[(]\s*["']PORT["']|\bos\.getenv\s*\(\s*["']PORT["']/,
  /\bos\.(?:Getenv|LookupEnv)\s*\(\s*"PORT"\s*\)/,
  /\bSystem\.getenv\s*\(\s*"PORT"\s*\)/,
  /\bDeno\.env\.get\s*\(\s*["']PORT["']\s*\)/,
];

/** A port the source names: PORT's fallback, a literal given to listen, EXPOSE. Group 1 is the port. */
const PORTS: RegExp[] = [
  /\bPORT\b["'`]?\s*[\])]?\s*(?:\|\||\?\?|\bor\b)\s*["'`]?(\d{2,5})\b/,
  /["']PORT["']\s*,\s*["']?(\d{2,5})\b/,
  /\bgetOrDefault\s*\(\s*"PORT"\s*,\s*"(\d{2,5})"/,
  /\bport\s*(?::=|=)\s*["'`]:?(\d{2,5})["'`]/i,
  /\.listen\s*\(\s*(\d{2,5})\b/,
  /\b(?:const|let|var)\s+port\s*=\s*(\d{2,5})\b/i,
  /\.run\s*\([^)]*\bport\s*=\s*(\d{2,5})\b/,
  /\b(?:ListenAndServe(?:TLS)?|Listen|Run|Start)\s*\(\s*(?:"tcp"\s*,\s*)?["'`](?:0\.0\.0\.0|localhost|127\.0\.0\.1)?:(\d{2,5})["'`]/,
  /\bInetSocketAddress\s*\(\s*(\d{2,5})\s*\)/,
  /^\s*EXPOSE\s+(\d{2,5})\b/i,
];

/** The first line of the sources that matches one of the patterns, with the match's first group. */
function firstMatch(
  sources: [string, string][],
  patterns: RegExp[],
): { evidence: Evidence; group?: string } | undefined {
  for (const [file, text] of sources) {
    const lines = text.split("\n");
    for (const [index, line] of lines.entries()) {
      if (isComment(line, file)) continue;
      for (const pattern of patterns) {
        const match = pattern.exec(line);
        if (match)
          return {
            evidence: { file, line: index + 1, text: line.trim().slice(0, 120) },
            ...(match[1] === undefined ? {} : { group: match[1] }),
          };
      }
    }
  }
  return undefined;
}

/** A comment line: `//`, `/*`, ` *` everywhere, `#` in Python and Dockerfiles (in JavaScript it starts a private name). */
function isComment(line: string, file: string): boolean {
  const hashComments = file.endsWith(".py") || DOCKERFILES.includes(posix.basename(file));
  return /^\s*(\/\/|\/\*|\*)/.test(line) || (hashComments && /^\s*#/.test(line));
}

function firstEvidence(sources: [string, string][], patterns: RegExp[]): Evidence | undefined {
  return firstMatch(sources, patterns)?.evidence;
}

function portOf(sources: [string, string][]): Detection["port"] {
  const found = firstMatch(sources, PORTS);
  const value = Number(found?.group);
  if (!found || !(value >= 1 && value <= 65535)) return undefined;
  return { value, evidence: found.evidence };
}

/** Health routes, most preferred first: what ECS should ask is whether the process is alive. */
const HEALTH_ROUTES = ["/health", "/healthz", "/livez", "/ready", "/readyz"];

function healthRouteOf(sources: [string, string][]): Detection["healthRoute"] {
  for (const path of HEALTH_ROUTES) {
    const quoted = new RegExp(`["'\`]${path.replace("/", "\\/")}["'\`]`);
    const found = firstMatch(sources, [quoted]);
    if (found) return { path, evidence: found.evidence };
  }
  return undefined;
}

/** The program a runtime image has to run an HTTP check with: the buildpacks' images, or a Dockerfile's last FROM. */
function healthCheckFor(files: ProjectFiles, packaging: Packaging, route: string): Detection["healthCheck"] {
  let runtime: "node" | "python" | undefined;
  let image: string;
  if (packaging.type === "buildpack") {
    const language = packaging.language;
    runtime =
      language === "javascript" || language === "typescript"
        ? "node"
        : language === "python"
          ? "python"
          : undefined;
    image = `the ${LANGUAGE_NAMES[language]} buildpack's runtime image`;
  } else {
    const froms = [...(files.get(packaging.dockerfile) ?? "").matchAll(/^\s*FROM\s+(?:--\S+\s+)*(\S+)/gim)];
    image = froms.at(-1)?.[1] ?? "";
    const name = image.split("/").at(-1) ?? "";
    runtime = /^node(?:[:@]|$)/.test(name) ? "node" : /^python(?:[:@]|$)/.test(name) ? "python" : undefined;
    image = image ? `the image ${image}` : "the Dockerfile's image";
  }
  if (runtime === "node")
    return {
      command: [
        "CMD",
        "node",
        "-e",
        `fetch('http://127.0.0.1:' + process.env.PORT + '${route}').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))`,
      ],
    };
  if (runtime === "python")
    return {
      command: [
        "CMD",
        "python3",
        "-c",
        `import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ['PORT'] + '${route}', timeout=4)`,
      ],
    };
  return {
    unavailable: `berth init knows no program in ${image} to ask ${route} with (it uses node or python3)`,
  };
}

// Names ---------------------------------------------------------------------------------------

function projectName(files: ProjectFiles): string | undefined {
  const fromPackage = parseJson(files.get("package.json"))?.name;
  if (typeof fromPackage === "string") return fromPackage.replace(/^@[^/]+\//, "");
  const module = /^module\s+(\S+)/m.exec(files.get("go.mod") ?? "")?.[1];
  if (module) return module.split("/").at(-1);
  const artifact = /<artifactId>([^<]+)<\/artifactId>/.exec(
    (files.get("pom.xml") ?? "").replace(/<parent>[\s\S]*?<\/parent>/, ""),
  )?.[1];
  return artifact;
}

/** A stack-file resource name (letters and digits, starting with a letter) from any name: `my-api` → `myApi`. */
export function resourceName(name: string): string {
  const words = name.split(/[^A-Za-z0-9]+/).filter(Boolean);
  const camel = words
    .map((word, index) =>
      index === 0
        ? word.charAt(0).toLowerCase() + word.slice(1)
        : word.charAt(0).toUpperCase() + word.slice(1),
    )
    .join("")
    .replace(/^[0-9]+/, "");
  return camel.slice(0, 63) || "app";
}

/** A stack name (a DNS label) from any name: `My_API` → `my-api`. */
export function stackName(name: string): string {
  const label = name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^[^a-z]+/, "")
    .slice(0, 63)
    .replace(/-+$/, "");
  return label || "app";
}

// The stack file --------------------------------------------------------------------------------

export interface Choices {
  type: ServiceType;
  name: string;
  /** The URL (or path) of the stack file's JSON Schema, for berth.yml's first line. */
  schemaUrl: string;
}

/** Defaults for a first deployment: the smallest Fargate size. */
const SIZE = { cpu: 0.25, memory: 512 };
export const DEFAULT_PORT = 3000;

/** The resource the detection and choices make, as the stack file writes it. */
export function resourceFor(detection: Detection, choices: Choices): Spec.ResourceInput {
  const packaging =
    detection.packaging.type === "buildpack"
      ? {
          type: "stacktape-image-buildpack" as const,
          properties: { entryfilePath: detection.packaging.entry },
        }
      : {
          type: "custom-dockerfile" as const,
          properties: {
            buildContextPath: ".",
            ...(detection.packaging.dockerfile === "Dockerfile"
              ? {}
              : { dockerfilePath: detection.packaging.dockerfile }),
          },
        };
  if (choices.type === "worker-service")
    return { type: "worker-service", properties: { packaging, resources: { ...SIZE } } };
  const healthCheck =
    detection.healthRoute && "command" in detection.healthCheck
      ? {
          internalHealthCheck: {
            healthCheckCommand: detection.healthCheck.command,
            intervalSeconds: 10,
            timeoutSeconds: 5,
            retries: 3,
            startPeriodSeconds: 10,
          },
        }
      : {};
  return {
    type: "web-service",
    properties: {
      packaging,
      resources: { ...SIZE },
      port: detection.port?.value ?? DEFAULT_PORT,
      ...healthCheck,
    },
  };
}

/** `berth.yml`: the schema line, a note of where it came from, and the stack. */
export function renderYaml(stack: Spec.StackFileInput, choices: Choices, summary: string): string {
  return [
    `# yaml-language-server: $schema=${choices.schemaUrl}`,
    `# Written by berth init: ${summary}.`,
    "# Every property: docs/stack-file.md in the Berth repository. Check with: berth validate -f berth.yml",
    stringify(stack, { lineWidth: 0 }),
  ].join("\n");
}

const HELPERS: Record<ServiceType, string> = {
  "web-service": "webService",
  "worker-service": "workerService",
};

/** `berth.ts`: the same stack through @berth/config's defineStack and helpers. */
export function renderTs(resource: Spec.ResourceInput, choices: Choices, summary: string): string {
  const helper = HELPERS[choices.type];
  const { packaging, ...rest } = resource.properties as {
    packaging: { type: string; properties: Record<string, unknown> };
  } & Record<string, unknown>;
  const packagingHelper =
    packaging.type === "stacktape-image-buildpack"
      ? { name: "buildpack", call: `buildpack(${JSON.stringify(packaging.properties.entryfilePath)})` }
      : { name: "dockerfile", call: `dockerfile(${literal(packaging.properties, 3)})` };
  const properties = literal({ packaging: "\0", ...rest }, 2).replace('"\\u0000"', packagingHelper.call);
  return [
    `// Written by berth init: ${summary}.`,
    "// Check with: berth validate -f berth.ts (and tsc --noEmit for the types).",
    `import { ${[packagingHelper.name, "defineStack", helper].sort().join(", ")} } from "@berth/config";`,
    "",
    "export default defineStack({",
    "  resources: {",
    `    ${choices.name}: ${helper}(${properties}),`,
    "  },",
    "});",
    "",
  ].join("\n");
}

/** A value as a TypeScript literal, indented for nesting level `level`, with identifier keys unquoted. */
function literal(value: unknown, level: number): string {
  const pad = "  ".repeat(level);
  if (Array.isArray(value)) {
    const flat = value.map((item) => JSON.stringify(item));
    if (value.every((item) => typeof item !== "object") && flat.join(", ").length <= 60)
      return `[${flat.join(", ")}]`;
    return `[\n${value.map((item) => `${pad}  ${literal(item, level + 1)},`).join("\n")}\n${pad}]`;
  }
  if (value && typeof value === "object") {
    const entries = Object.entries(value).map(
      ([key, item]) =>
        `${pad}  ${/^[A-Za-z_$][\w$]*$/.test(key) ? key : JSON.stringify(key)}: ${literal(item, level + 1)},`,
    );
    return `{\n${entries.join("\n")}\n${pad}}`;
  }
  return JSON.stringify(value);
}

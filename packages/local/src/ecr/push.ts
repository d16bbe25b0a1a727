import { randomUUID } from "node:crypto";
import { access, cp, mkdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { isAbsolute, join } from "node:path";
import { Buildpack } from "@berth/core/buildpacks";
import { z } from "zod";
import type { EventBus } from "../events.ts";
import { RepositoryName } from "./service.ts";
import type { ArtifactStore, TagStore } from "./store.ts";

/**
 * `berth push DIR --image berth.local/REPO:TAG`: a directory stored as an image of Berth Local's
 * ECR, content-addressed like a build's artifact (the same content gives the same digest), the
 * tag moved to it, and the `ECR Image Action` event ECR publishes after a push put on the bus, so
 * the rules deliver it to the registry-push function as EventBridge would.
 */

const PushRequest = z.strictObject({
  /** Absolute: Berth Local runs on the machine the CLI runs on, and reads the directory itself. */
  directory: z.string().refine(isAbsolute, "must be an absolute path"),
  repository: RepositoryName,
  tag: z
    .string()
    .regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/, "must be a tag: letters, digits, _ . -, at most 128"),
  /** The start command, when the directory has no manifest.json that gives one. */
  command: z.array(z.string().min(1)).min(1).optional(),
});
export type PushRequest = z.infer<typeof PushRequest>;

export interface PushResult {
  repository: string;
  tag: string;
  digest: string;
  /** The store held this content already. */
  reused: boolean;
  /** The tag named this digest before the push. */
  unchanged: boolean;
}

export interface PushOptions {
  account: string;
  region: string;
  artifacts: ArtifactStore;
  tags: TagStore;
  bus: EventBus;
}

class PushError extends Error {}

const NOT_COPIED = new Set([".git"]);
/** The start command of an image pushed without one: it says what is missing, and exits. */
const NO_COMMAND = [
  "/bin/sh",
  "-c",
  "echo 'this image was pushed without a start command: set command in the stack file, or push with --command' >&2; exit 64",
];

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

/** Copies the directory into a scratch directory, writes its manifest, and moves it into the store by digest. */
async function pushDirectory(options: PushOptions, input: unknown): Promise<PushResult> {
  const parsed = PushRequest.safeParse(input);
  if (!parsed.success) throw new PushError(`invalid push: ${z.prettifyError(parsed.error)}`);
  const request = parsed.data;
  if (!(await isDirectory(request.directory))) {
    throw new PushError(`${request.directory} does not exist or is not a directory`);
  }
  const storeDir = options.artifacts.directory;
  const scratch = join(storeDir, "..", "tmp", `push-${randomUUID()}`);
  try {
    await mkdir(join(storeDir, "..", "tmp"), { recursive: true });
    await cp(request.directory, scratch, {
      recursive: true,
      verbatimSymlinks: true,
      filter: (source) => !NOT_COPIED.has(source.slice(request.directory.length + 1).split("/")[0] ?? ""),
    });
    const manifestPath = join(scratch, Buildpack.MANIFEST_FILE);
    const existing = await readManifest(manifestPath);
    if (request.command || !existing) {
      const manifest = {
        schemaVersion: 1,
        start: {
          command: request.command ?? existing?.start.command ?? NO_COMMAND,
          workingDirectory: ".",
          env: {},
        },
        createdAt: new Date().toISOString(),
      };
      await writeFile(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);
    }
    const digest = await Buildpack.contentDigest(scratch);
    const hex = digest.slice("sha256:".length);
    await mkdir(storeDir, { recursive: true });
    let reused = false;
    try {
      await access(join(storeDir, hex, Buildpack.MANIFEST_FILE));
      reused = true;
    } catch {
      try {
        await rename(scratch, join(storeDir, hex));
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code !== "ENOTEMPTY" && code !== "EEXIST") throw error;
        reused = true;
      }
    }
    const unchanged = options.tags.get(request.repository, request.tag)?.hex === hex;
    options.tags.put(request.repository, request.tag, hex);
    // ECR publishes an event for every successful push, including one of a digest it holds.
    options.bus.publish(
      "aws.ecr",
      "ECR Image Action",
      [`arn:aws:ecr:${options.region}:${options.account}:repository/${request.repository}`],
      {
        result: "SUCCESS",
        "repository-name": request.repository,
        "image-digest": digest,
        "action-type": "PUSH",
        "image-tag": request.tag,
      },
    );
    return { repository: request.repository, tag: request.tag, digest, reused, unchanged };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

async function readManifest(path: string): Promise<{ start: { command: string[] } } | undefined> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch {
    return undefined;
  }
  try {
    const value = JSON.parse(text) as { schemaVersion?: unknown; start?: { command?: unknown } };
    const command = value.start?.command;
    if (
      value.schemaVersion === 1 &&
      Array.isArray(command) &&
      command.length > 0 &&
      command.every((c) => typeof c === "string")
    ) {
      return { start: { command } };
    }
  } catch {
    // not JSON: the directory's own file, not a manifest; refused below
  }
  throw new PushError(
    `${Buildpack.MANIFEST_FILE} in the pushed directory is not an artifact manifest ({"schemaVersion": 1, "start": {"command": [...]}}); rename it, or pass --command`,
  );
}

/** `POST /_local/ecr/push`: what `berth push` calls. */
export function pushRoute(options: PushOptions) {
  return async (request: IncomingMessage, response: ServerResponse, body: Buffer): Promise<boolean> => {
    if (request.method !== "POST" || request.url !== "/_local/ecr/push") return false;
    const reply = (status: number, value: unknown) => {
      const text = JSON.stringify(value);
      response.writeHead(status, { "content-type": "application/json" });
      response.end(text);
    };
    let input: unknown;
    try {
      input = JSON.parse(body.toString("utf8"));
    } catch {
      reply(400, { error: "the body must be JSON" });
      return true;
    }
    try {
      reply(200, await pushDirectory(options, input));
    } catch (error) {
      if (error instanceof PushError) reply(400, { error: error.message });
      else reply(500, { error: `the push failed: ${(error as Error).message}` });
    }
    return true;
  };
}

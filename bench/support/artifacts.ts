import { cpSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Buildpack } from "@berth/core/buildpacks";

/**
 * Puts a directory into Berth Local's artifact store as a local build leaves it
 * (`<data dir>/artifacts/sha256/<hex>/` with its `manifest.json`), so that
 * `berth.local/<repository>@sha256:<hex>` names a real image: ECS runs it, ECR's DescribeImages
 * finds it, and the API's redeploy-with-image route accepts the reference (it refuses
 * `file://` directories). `label` goes into the artifact as a file, so each label is an image of
 * its own; `env` is the image's environment (as a Dockerfile's ENV).
 */
export async function storeArtifact(
  dataDir: string,
  sourceDir: string,
  label: string,
  env: Record<string, string> = {},
): Promise<string> {
  const artifacts = join(dataDir, "artifacts");
  mkdirSync(join(artifacts, "tmp"), { recursive: true });
  mkdirSync(join(artifacts, "sha256"), { recursive: true });
  const staging = mkdtempSync(join(artifacts, "tmp", "bench-"));
  cpSync(sourceDir, staging, { recursive: true });
  writeFileSync(join(staging, "label.txt"), `${label}\n`);
  const manifest: Buildpack.ArtifactManifest = {
    schemaVersion: 1,
    language: "javascript",
    start: { command: ["node", "server.mjs"], workingDirectory: ".", env },
    createdAt: new Date().toISOString(),
  };
  writeFileSync(join(staging, "manifest.json"), `${JSON.stringify(manifest, null, 2)}\n`);
  const digest = await Buildpack.contentDigest(staging);
  const target = join(artifacts, "sha256", digest.slice("sha256:".length));
  rmSync(target, { recursive: true, force: true });
  renameSync(staging, target);
  return digest;
}

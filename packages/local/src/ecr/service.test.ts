import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  BatchGetImageCommand,
  CreateRepositoryCommand,
  DescribeImagesCommand,
  DescribeRepositoriesCommand,
  ECRClient,
  ImageNotFoundException,
  InvalidParameterException,
  RepositoryAlreadyExistsException,
  RepositoryNotFoundException,
} from "@aws-sdk/client-ecr";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { z } from "zod";
import { inputMembersOf } from "../../../../test/support/botocore.ts";
import type { AwsEndpoint } from "../server.ts";
import { awsCli, failure, serve } from "../test-support.ts";
import { ArtifactStore, ecrService, RepositoryStore, TagStore } from "./service.ts";

const ACCOUNT = "000000000000";
const REGION = "us-east-1";

let dir: string;
let endpoint: AwsEndpoint;
let ecr: ECRClient;

function hexOf(name: string): string {
  return createHash("sha256").update(name).digest("hex");
}

/** An artifact as a local build leaves it: its files and, last, its manifest. */
function writeArtifact(name: string, pushedAt?: Date): string {
  const hex = hexOf(name);
  const artifactDir = join(dir, "artifacts", "sha256", hex);
  mkdirSync(join(artifactDir, "app"), { recursive: true });
  writeFileSync(join(artifactDir, "app", "server.js"), "console.log('hi')\n");
  const manifest = join(artifactDir, "manifest.json");
  writeFileSync(
    manifest,
    JSON.stringify({ schemaVersion: 1, start: { command: ["node", "server.js"], workingDirectory: "app" } }),
  );
  if (pushedAt) utimesSync(manifest, pushedAt, pushedAt);
  return `sha256:${hex}`;
}

function service() {
  return ecrService({
    account: ACCOUNT,
    region: REGION,
    repositories: new RepositoryStore(join(dir, "ecr", "repositories.json")),
    artifacts: new ArtifactStore(join(dir, "artifacts")),
    tags: new TagStore(join(dir, "ecr", "tags.json")),
  });
}

async function open(): Promise<void> {
  endpoint = await serve(service());
  ecr = new ECRClient({
    endpoint: endpoint.url,
    region: REGION,
    credentials: { accessKeyId: "berth", secretAccessKey: "berth" },
    maxAttempts: 1,
  });
}

async function close(): Promise<void> {
  ecr.destroy();
  await endpoint.close();
}

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "berth-ecr-"));
  await open();
});

afterEach(async () => {
  await close();
  rmSync(dir, { recursive: true, force: true });
});

const aws = (...args: string[]) => awsCli(endpoint.url, dir, args);

describe("DescribeImages", () => {
  it("finds built artifacts by digest in a repository nobody created", async () => {
    const pushedAt = new Date(Date.UTC(2025, 0, 15, 12, 0, 0));
    const web = writeArtifact("web", pushedAt);
    const worker = writeArtifact("worker");
    const { imageDetails } = await ecr.send(
      new DescribeImagesCommand({
        repositoryName: "berth/shop/web",
        imageIds: [{ imageDigest: web }, { imageDigest: worker }],
      }),
    );
    expect(imageDetails?.map((image) => image.imageDigest)).toEqual([web, worker]);
    expect(imageDetails?.[0]).toMatchObject({
      registryId: ACCOUNT,
      repositoryName: "berth/shop/web",
      imageDigest: web,
      imagePushedAt: pushedAt,
    });
    expect(imageDetails?.[0]?.imageTags).toBeUndefined();
    // Describing did not create the repository.
    const { repositories } = await ecr.send(new DescribeRepositoriesCommand({}));
    expect(repositories).toEqual([]);
  });

  it("fails the whole call with ImageNotFoundException when one digest has no artifact", async () => {
    const web = writeArtifact("web");
    const missing = `sha256:${hexOf("never built")}`;
    const error = await failure(
      ecr.send(
        new DescribeImagesCommand({
          repositoryName: "berth/shop/web",
          imageIds: [{ imageDigest: web }, { imageDigest: missing }],
        }),
      ),
    );
    expect(error).toBeInstanceOf(ImageNotFoundException);
    expect(error.message).toBe(
      `The image with imageId {imageDigest:'${missing}', imageTag:'null'} does not exist within the repository with name 'berth/shop/web' in the registry with id '${ACCOUNT}'`,
    );
    expect((error as ImageNotFoundException).$metadata.httpStatusCode).toBe(400);
  });

  it("does not count an artifact directory without its manifest as an image", async () => {
    const hex = hexOf("unfinished");
    mkdirSync(join(dir, "artifacts", "sha256", hex, "app"), { recursive: true });
    const error = await failure(
      ecr.send(
        new DescribeImagesCommand({ repositoryName: "web", imageIds: [{ imageDigest: `sha256:${hex}` }] }),
      ),
    );
    expect(error).toBeInstanceOf(ImageNotFoundException);
    const { imageDetails } = await ecr.send(new DescribeImagesCommand({ repositoryName: "web" }));
    expect(imageDetails).toEqual([]);
  });

  it("answers ImageNotFoundException for a tag nobody pushed, saying how to push one", async () => {
    writeArtifact("web");
    const error = await failure(
      ecr.send(new DescribeImagesCommand({ repositoryName: "web", imageIds: [{ imageTag: "latest" }] })),
    );
    expect(error).toBeInstanceOf(ImageNotFoundException);
    expect(error.message).toContain("imageTag:'latest'");
    expect(error.message).toContain("berth push DIR --image berth.local/web:latest");
  });

  it("answers a pushed tag with its digest, in DescribeImages and BatchGetImage, per repository", async () => {
    const digest = writeArtifact("web");
    new TagStore(join(dir, "ecr", "tags.json")).put("web", "stable", digest.slice("sha256:".length));
    // A new service instance reads the tags from the file, as a restarted Berth Local does.
    await close();
    await open();
    const described = await ecr.send(
      new DescribeImagesCommand({ repositoryName: "web", imageIds: [{ imageTag: "stable" }] }),
    );
    expect(described.imageDetails?.[0]).toMatchObject({ imageDigest: digest, imageTags: ["stable"] });
    const got = await ecr.send(
      new BatchGetImageCommand({
        repositoryName: "web",
        imageIds: [
          { imageTag: "stable" },
          { imageTag: "stable", imageDigest: `sha256:${"0".repeat(64)}` },
          { imageTag: "gone" },
        ],
      }),
    );
    expect(got.images?.map((image) => image.imageId)).toEqual([{ imageDigest: digest, imageTag: "stable" }]);
    expect(JSON.parse(got.images?.[0]?.imageManifest ?? "{}").schemaVersion).toBe(1);
    expect(got.failures?.map((failed) => failed.failureCode)).toEqual([
      "ImageTagDoesNotMatchDigest",
      "ImageNotFound",
    ]);
    // Another repository's tag of the same name names nothing.
    await expect(
      ecr.send(new DescribeImagesCommand({ repositoryName: "api", imageIds: [{ imageTag: "stable" }] })),
    ).rejects.toBeInstanceOf(ImageNotFoundException);
  });

  it("rejects malformed digests and repository names with InvalidParameterException", async () => {
    const badDigest = await failure(
      ecr.send(
        new DescribeImagesCommand({ repositoryName: "web", imageIds: [{ imageDigest: "sha256:../../etc" }] }),
      ),
    );
    expect(badDigest).toBeInstanceOf(InvalidParameterException);
    expect(badDigest.message).toContain("imageDigest");
    const badName = await failure(ecr.send(new DescribeImagesCommand({ repositoryName: "Web" })));
    expect(badName).toBeInstanceOf(InvalidParameterException);
    expect(badName.message).toContain("repositoryName");
  });

  it("lists every artifact when no imageIds are given, a page at a time", async () => {
    const digests = ["a", "b", "c"].map((name) => writeArtifact(name)).sort();
    const first = await ecr.send(new DescribeImagesCommand({ repositoryName: "web", maxResults: 2 }));
    expect(first.imageDetails?.map((image) => image.imageDigest)).toEqual(digests.slice(0, 2));
    expect(first.nextToken).toBeDefined();
    const second = await ecr.send(
      new DescribeImagesCommand({ repositoryName: "web", maxResults: 2, nextToken: first.nextToken }),
    );
    expect(second.imageDetails?.map((image) => image.imageDigest)).toEqual(digests.slice(2));
    expect(second.nextToken).toBeUndefined();
    // Artifacts carry no tags.
    const tagged = await ecr.send(
      new DescribeImagesCommand({ repositoryName: "web", filter: { tagStatus: "TAGGED" } }),
    );
    expect(tagged.imageDetails).toEqual([]);
  });

  it("has only the account's registry", async () => {
    const web = writeArtifact("web");
    const error = await failure(
      ecr.send(
        new DescribeImagesCommand({
          registryId: "123456789012",
          repositoryName: "web",
          imageIds: [{ imageDigest: web }],
        }),
      ),
    );
    expect(error).toBeInstanceOf(RepositoryNotFoundException);
    expect(error.message).toContain("'123456789012'");
  });
});

describe("repositories", () => {
  it("creates a repository whose URI is on berth.local, and refuses to create it twice", async () => {
    const { repository } = await ecr.send(new CreateRepositoryCommand({ repositoryName: "berth/shop/web" }));
    expect(repository).toMatchObject({
      repositoryName: "berth/shop/web",
      repositoryUri: "berth.local/berth/shop/web",
      repositoryArn: `arn:aws:ecr:${REGION}:${ACCOUNT}:repository/berth/shop/web`,
      registryId: ACCOUNT,
      imageTagMutability: "MUTABLE",
    });
    expect(repository?.createdAt).toBeInstanceOf(Date);
    const again = await failure(ecr.send(new CreateRepositoryCommand({ repositoryName: "berth/shop/web" })));
    expect(again).toBeInstanceOf(RepositoryAlreadyExistsException);
    expect(again.message).toBe(
      `The repository with name 'berth/shop/web' already exists in the registry with id '${ACCOUNT}'`,
    );
  });

  it("describes created repositories, by name or all, and keeps them across a restart", async () => {
    await ecr.send(
      new CreateRepositoryCommand({ repositoryName: "b-repo", imageTagMutability: "IMMUTABLE" }),
    );
    await ecr.send(new CreateRepositoryCommand({ repositoryName: "a-repo" }));
    await close();
    await open();
    const all = await ecr.send(new DescribeRepositoriesCommand({}));
    expect(all.repositories?.map((repository) => repository.repositoryName)).toEqual(["a-repo", "b-repo"]);
    const named = await ecr.send(new DescribeRepositoriesCommand({ repositoryNames: ["b-repo"] }));
    expect(named.repositories?.[0]).toMatchObject({
      repositoryName: "b-repo",
      imageTagMutability: "IMMUTABLE",
    });
    const paged = await ecr.send(new DescribeRepositoriesCommand({ maxResults: 1 }));
    expect(paged.repositories?.map((repository) => repository.repositoryName)).toEqual(["a-repo"]);
    const rest = await ecr.send(
      new DescribeRepositoriesCommand({ maxResults: 1, nextToken: paged.nextToken }),
    );
    expect(rest.repositories?.map((repository) => repository.repositoryName)).toEqual(["b-repo"]);
  });

  it("answers RepositoryNotFoundException for a repository that was not created", async () => {
    await ecr.send(new CreateRepositoryCommand({ repositoryName: "known" }));
    const error = await failure(
      ecr.send(new DescribeRepositoriesCommand({ repositoryNames: ["known", "unknown"] })),
    );
    expect(error).toBeInstanceOf(RepositoryNotFoundException);
    expect(error.message).toBe(
      `The repository with name 'unknown' does not exist in the registry with id '${ACCOUNT}'`,
    );
  });
});

describe("the aws CLI", () => {
  it("describes an artifact by digest (aws ecr describe-images)", async () => {
    const web = writeArtifact("web");
    const { stdout } = await aws(
      "ecr",
      "describe-images",
      "--repository-name",
      "berth/shop/web",
      "--image-ids",
      `imageDigest=${web}`,
    );
    const output = JSON.parse(stdout);
    expect(output.imageDetails).toHaveLength(1);
    expect(output.imageDetails[0]).toMatchObject({ repositoryName: "berth/shop/web", imageDigest: web });
  });

  it("reports a tag lookup as ImageNotFoundException", async () => {
    const error = (await failure(
      aws("ecr", "describe-images", "--repository-name", "web", "--image-ids", "imageTag=latest"),
    )) as Error & { stderr: string };
    expect(error.stderr).toContain("(ImageNotFoundException)");
    expect(error.stderr).toContain("berth push");
  });
});

describe("ECR's model", () => {
  it("accepts exactly the members botocore's ECR model gives each operation, with the same required ones", async () => {
    const operations = service().operations;
    const model = inputMembersOf("ecr", Object.keys(operations));
    for (const [name, operation] of Object.entries(operations)) {
      const shape = (operation.input as z.ZodObject).shape as Record<string, z.ZodType>;
      const members = Object.keys(shape).sort();
      const required = members.filter((member) => !shape[member]?.safeParse(undefined).success);
      expect({ name, members, required }).toEqual({ name, ...model[name] });
    }
  });
});

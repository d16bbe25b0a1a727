import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import { AwsError, type AwsJsonService, operation } from "../protocol.ts";
import type { Artifact, ArtifactStore, RepositoryRecord, RepositoryStore, TagStore } from "./store.ts";

export { ArtifactStore, RepositoryStore, TagStore } from "./store.ts";

/** The registry host of the image references local builds produce: `berth.local/<repository>@sha256:…`. */
const REGISTRY_HOST = "berth.local";
const DEFAULT_MAX_RESULTS = 100;

const RegistryId = z.string().regex(/^[0-9]{12}$/, "must be a 12-digit account ID");
/** An ECR repository name, as ECR checks it. */
export const RepositoryName = z
  .string()
  .min(2)
  .max(256)
  .regex(
    /^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$/,
    "must be lowercase letters and digits, separated by . _ __ - and /",
  );
const MaxResults = z.number().int().min(1).max(1000);

const DescribeImagesInput = z.object({
  registryId: RegistryId.optional(),
  repositoryName: RepositoryName,
  imageIds: z
    .array(z.object({ imageDigest: z.string().optional(), imageTag: z.string().min(1).max(300).optional() }))
    .min(1)
    .max(100)
    .optional(),
  nextToken: z.string().optional(),
  maxResults: MaxResults.optional(),
  filter: z
    .object({
      tagStatus: z.enum(["TAGGED", "UNTAGGED", "ANY"]).optional(),
      imageStatus: z.enum(["ACTIVE", "ARCHIVED", "ACTIVATING", "ANY"]).optional(),
    })
    .optional(),
});
const DescribeRepositoriesInput = z.object({
  registryId: RegistryId.optional(),
  repositoryNames: z.array(RepositoryName).min(1).max(100).optional(),
  nextToken: z.string().optional(),
  maxResults: MaxResults.optional(),
});
const CreateRepositoryInput = z.object({
  registryId: RegistryId.optional(),
  repositoryName: RepositoryName,
  tags: z.array(z.object({ Key: z.string(), Value: z.string() })).optional(),
  imageTagMutability: z
    .enum(["MUTABLE", "IMMUTABLE", "IMMUTABLE_WITH_EXCLUSION", "MUTABLE_WITH_EXCLUSION"])
    .optional(),
  imageTagMutabilityExclusionFilters: z
    .array(z.object({ filterType: z.enum(["WILDCARD"]), filter: z.string().min(1).max(128) }))
    .min(1)
    .max(5)
    .optional(),
  imageScanningConfiguration: z.object({ scanOnPush: z.boolean().optional() }).optional(),
  encryptionConfiguration: z
    .object({
      encryptionType: z.enum(["AES256", "KMS", "KMS_DSSE"]),
      kmsKey: z.string().min(1).max(2048).optional(),
    })
    .optional(),
});

const BatchGetImageInput = z.object({
  registryId: RegistryId.optional(),
  repositoryName: RepositoryName,
  imageIds: z
    .array(z.object({ imageDigest: z.string().optional(), imageTag: z.string().min(1).max(300).optional() }))
    .min(1)
    .max(100),
  acceptedMediaTypes: z.array(z.string()).min(1).max(100).optional(),
});

const DIGEST = /^sha256:([0-9a-f]{64})$/;
/** What BatchGetImage answers as an artifact's manifest: its `manifest.json`. */
const LOCAL_MANIFEST_MEDIA_TYPE = "application/vnd.berth.local.artifact.v1+json";

export interface EcrOptions {
  account: string;
  region: string;
  repositories: RepositoryStore;
  artifacts: ArtifactStore;
  /** The tags `berth push` gave artifacts. */
  tags: TagStore;
}

/** Opaque to callers: the key of the next item, so a page stays valid when items come and go. */
function nextToken(key: string): string {
  return Buffer.from(`next:${key}`, "utf8").toString("base64url");
}

function pageStart<T>(items: readonly T[], key: (item: T) => string, token: string | undefined): number {
  if (token === undefined) return 0;
  const decoded = Buffer.from(token, "base64url").toString("utf8");
  if (!decoded.startsWith("next:"))
    throw new AwsError("InvalidParameterException", "Invalid parameter: nextToken");
  const from = decoded.slice("next:".length);
  const start = items.findIndex((item) => key(item) >= from);
  return start === -1 ? items.length : start;
}

function page<T>(
  items: readonly T[],
  key: (item: T) => string,
  token: string | undefined,
  maxResults: number | undefined,
): { items: T[]; nextToken?: string } {
  const start = pageStart(items, key, token);
  const end = start + (maxResults ?? DEFAULT_MAX_RESULTS);
  const following = items[end];
  return {
    items: items.slice(start, end),
    ...(following === undefined ? {} : { nextToken: nextToken(key(following)) }),
  };
}

/** `maxResults` and `nextToken` page through everything; ECR refuses them beside an explicit list. */
function refusePagingWith(
  list: unknown[] | undefined,
  listName: string,
  input: { maxResults?: number; nextToken?: string },
) {
  if (list === undefined) return;
  if (input.maxResults !== undefined || input.nextToken !== undefined) {
    throw new AwsError(
      "InvalidParameterException",
      `maxResults and nextToken cannot be used together with ${listName}`,
    );
  }
}

/**
 * ECR's API over Berth Local's artifact store. Builds write artifacts by digest without creating
 * repositories, and artifacts do not record the repository of their reference, so DescribeImages
 * answers for any repository name (created or not, and without creating it) with every artifact;
 * only the digest decides whether an image exists. Tags do not exist: an artifact is addressed as
 * `berth.local/<repository>@sha256:<digest>`. CreateRepository and DescribeRepositories keep a list
 * of names, for callers that create the repository before pushing, as a deploy on AWS does.
 */
export function ecrService(options: EcrOptions): AwsJsonService {
  const { account, region, repositories, artifacts, tags } = options;
  const repositoryNotFound = (name: string) =>
    new AwsError(
      "RepositoryNotFoundException",
      `The repository with name '${name}' does not exist in the registry with id '${account}'`,
    );
  // Berth Local is one registry, the account's; another account's registry has no repositories here.
  const checkRegistry = (registryId: string | undefined, repositoryName: string) => {
    if (registryId !== undefined && registryId !== account) {
      throw new AwsError(
        "RepositoryNotFoundException",
        `The repository with name '${repositoryName}' does not exist in the registry with id '${registryId}'`,
      );
    }
  };
  const imageDetail = (repositoryName: string, artifact: Artifact) => {
    const imageTags = tags.tagsOf(repositoryName, artifact.hex);
    return {
      registryId: account,
      repositoryName,
      imageDigest: `sha256:${artifact.hex}`,
      ...(imageTags.length > 0 ? { imageTags } : {}),
      imagePushedAt: artifact.pushedAt / 1000,
    };
  };
  /** The artifact an image id names: by tag (pushed with `berth push`), by digest, or both, which must agree. */
  const lookUp = async (
    repositoryName: string,
    imageId: { imageDigest?: string | undefined; imageTag?: string | undefined },
  ): Promise<{
    artifact?: Artifact;
    failure?: "ImageNotFound" | "ImageTagDoesNotMatchDigest" | "InvalidImageDigest";
  }> => {
    let hex: string | undefined;
    if (imageId.imageDigest !== undefined) {
      hex = DIGEST.exec(imageId.imageDigest)?.[1];
      if (hex === undefined) return { failure: "InvalidImageDigest" };
    }
    if (imageId.imageTag !== undefined) {
      const tagged = tags.get(repositoryName, imageId.imageTag);
      if (!tagged) return { failure: "ImageNotFound" };
      if (hex !== undefined && hex !== tagged.hex) return { failure: "ImageTagDoesNotMatchDigest" };
      hex = tagged.hex;
    }
    const artifact = hex === undefined ? undefined : await artifacts.get(hex);
    return artifact ? { artifact } : { failure: "ImageNotFound" };
  };
  const repository = (record: RepositoryRecord) => ({
    repositoryArn: `arn:aws:ecr:${region}:${account}:repository/${record.name}`,
    registryId: account,
    repositoryName: record.name,
    repositoryUri: `${REGISTRY_HOST}/${record.name}`,
    createdAt: record.createdAt / 1000,
    imageTagMutability: record.imageTagMutability,
    imageScanningConfiguration: { scanOnPush: record.scanOnPush },
    encryptionConfiguration: {
      encryptionType: record.encryptionType,
      ...(record.kmsKey !== undefined ? { kmsKey: record.kmsKey } : {}),
    },
  });

  return {
    name: "ecr",
    targetPrefix: "AmazonEC2ContainerRegistry_V20150921",
    validationError: "InvalidParameterException",
    operations: {
      DescribeImages: operation(DescribeImagesInput, async (input) => {
        checkRegistry(input.registryId, input.repositoryName);
        refusePagingWith(input.imageIds, "imageIds", input);
        if (input.imageIds === undefined) {
          // Artifacts have no tags: TAGGED matches none of them.
          const all = input.filter?.tagStatus === "TAGGED" ? [] : await artifacts.list();
          const found = page(all, (artifact) => artifact.hex, input.nextToken, input.maxResults);
          return {
            imageDetails: found.items.map((artifact) => imageDetail(input.repositoryName, artifact)),
            ...(found.nextToken ? { nextToken: found.nextToken } : {}),
          };
        }
        const details = new Map<string, ReturnType<typeof imageDetail>>();
        for (const imageId of input.imageIds) {
          if (imageId.imageDigest === undefined && imageId.imageTag === undefined) {
            throw new AwsError("InvalidParameterException", "an imageId needs an imageDigest or an imageTag");
          }
          const notFound = (why: string) =>
            new AwsError(
              "ImageNotFoundException",
              `The image with imageId {imageDigest:'${imageId.imageDigest ?? "null"}', imageTag:'${imageId.imageTag ?? "null"}'} does not exist within the repository with name '${input.repositoryName}' in the registry with id '${account}'${why}`,
            );
          if (imageId.imageTag !== undefined) {
            const found = await lookUp(input.repositoryName, imageId);
            if (!found.artifact) {
              throw notFound(
                found.failure === "ImageTagDoesNotMatchDigest"
                  ? ": the tag names another digest"
                  : ` (tags exist once pushed with: berth push DIR --image ${REGISTRY_HOST}/${input.repositoryName}:${imageId.imageTag})`,
              );
            }
            details.set(found.artifact.hex, imageDetail(input.repositoryName, found.artifact));
            continue;
          }
          const hex = DIGEST.exec(imageId.imageDigest ?? "")?.[1];
          if (hex === undefined) {
            throw new AwsError(
              "InvalidParameterException",
              `Invalid parameter at 'imageDigest' failed to satisfy constraint: 'sha256:<64 lowercase hex digits>': ${imageId.imageDigest}`,
            );
          }
          const artifact = await artifacts.get(hex);
          if (!artifact) throw notFound("");
          details.set(hex, imageDetail(input.repositoryName, artifact));
        }
        return { imageDetails: [...details.values()] };
      }),
      BatchGetImage: operation(BatchGetImageInput, async (input) => {
        checkRegistry(input.registryId, input.repositoryName);
        const images: unknown[] = [];
        const failures: unknown[] = [];
        for (const imageId of input.imageIds) {
          if (imageId.imageDigest === undefined && imageId.imageTag === undefined) {
            failures.push({
              imageId,
              failureCode: "MissingDigestAndTag",
              failureReason: "Missing digest and tag",
            });
            continue;
          }
          const found = await lookUp(input.repositoryName, imageId);
          if (!found.artifact) {
            const reasons = {
              ImageNotFound: "Requested image not found",
              ImageTagDoesNotMatchDigest: "Requested image tag does not match the digest",
              InvalidImageDigest: "Invalid image digest",
            } as const;
            const code = found.failure ?? "ImageNotFound";
            failures.push({ imageId, failureCode: code, failureReason: reasons[code] });
            continue;
          }
          const manifest = await readFile(
            join(artifacts.directory, found.artifact.hex, "manifest.json"),
            "utf8",
          );
          images.push({
            registryId: account,
            repositoryName: input.repositoryName,
            imageId: {
              imageDigest: `sha256:${found.artifact.hex}`,
              ...(imageId.imageTag !== undefined ? { imageTag: imageId.imageTag } : {}),
            },
            imageManifest: manifest,
            imageManifestMediaType: LOCAL_MANIFEST_MEDIA_TYPE,
          });
        }
        return { images, failures };
      }),
      DescribeRepositories: operation(DescribeRepositoriesInput, (input) => {
        refusePagingWith(input.repositoryNames, "repositoryNames", input);
        if (input.repositoryNames !== undefined) {
          const found = input.repositoryNames.map((name) => {
            checkRegistry(input.registryId, name);
            const record = repositories.get(name);
            if (!record) throw repositoryNotFound(name);
            return repository(record);
          });
          return { repositories: found };
        }
        if (input.registryId !== undefined && input.registryId !== account) return { repositories: [] };
        const found = page(repositories.list(), (record) => record.name, input.nextToken, input.maxResults);
        return {
          repositories: found.items.map(repository),
          ...(found.nextToken ? { nextToken: found.nextToken } : {}),
        };
      }),
      CreateRepository: operation(CreateRepositoryInput, (input) => {
        if (input.registryId !== undefined && input.registryId !== account) {
          throw new AwsError(
            "InvalidParameterException",
            `Berth Local serves only the registry of account ${account}, not ${input.registryId}`,
          );
        }
        if (repositories.get(input.repositoryName)) {
          throw new AwsError(
            "RepositoryAlreadyExistsException",
            `The repository with name '${input.repositoryName}' already exists in the registry with id '${account}'`,
          );
        }
        const record: RepositoryRecord = {
          name: input.repositoryName,
          createdAt: Date.now(),
          imageTagMutability: input.imageTagMutability ?? "MUTABLE",
          scanOnPush: input.imageScanningConfiguration?.scanOnPush ?? false,
          encryptionType: input.encryptionConfiguration?.encryptionType ?? "AES256",
          ...(input.encryptionConfiguration?.kmsKey !== undefined
            ? { kmsKey: input.encryptionConfiguration.kmsKey }
            : {}),
        };
        repositories.create(record);
        return { repository: repository(record) };
      }),
    },
  };
}

import { z } from "zod";
import { AwsError, type AwsJsonService, operation } from "../protocol.ts";
import type { SecretDescription, SecretStore, SecretValue } from "./store.ts";

/** Secrets Manager's limit for SecretString and (decoded) SecretBinary. */
const MAX_VALUE_LENGTH = 65_536;
const DEFAULT_PAGE_SIZE = 100;

// --- input members, with the constraints of the Secrets Manager model ---

const SecretName = z
  .string()
  .min(1)
  .max(512)
  .regex(/^[a-zA-Z0-9/_+=.@-]+$/, "must contain only letters, digits and / _ + = . @ -");
const SecretId = z.string().min(1).max(2048);
const ClientRequestToken = z.string().min(32).max(64);
const VersionId = z.string().min(32).max(64);
const VersionStage = z.string().min(1).max(256);
const Description = z.string().max(2048);
const KmsKeyId = z.string().max(2048);
const SecretString = z.string().max(MAX_VALUE_LENGTH);
const SecretBinary = z.base64().refine((text) => Buffer.byteLength(text, "base64") <= MAX_VALUE_LENGTH, {
  message: `must be at most ${MAX_VALUE_LENGTH} bytes`,
});
const Tag = z.object({ Key: z.string().min(1).max(128), Value: z.string().max(256) });

const ValueMembers = { SecretString: SecretString.optional(), SecretBinary: SecretBinary.optional() };

const CreateSecretInput = z.object({
  Name: SecretName,
  ClientRequestToken: ClientRequestToken.optional(),
  Description: Description.optional(),
  KmsKeyId: KmsKeyId.optional(),
  ...ValueMembers,
  Tags: z.array(Tag).max(50).optional(),
});
const PutSecretValueInput = z.object({
  SecretId,
  ClientRequestToken: ClientRequestToken.optional(),
  ...ValueMembers,
  VersionStages: z.array(VersionStage).min(1).max(20).optional(),
});
const UpdateSecretInput = z.object({
  SecretId,
  ClientRequestToken: ClientRequestToken.optional(),
  Description: Description.optional(),
  KmsKeyId: KmsKeyId.optional(),
  ...ValueMembers,
});
const GetSecretValueInput = z.object({
  SecretId,
  VersionId: VersionId.optional(),
  VersionStage: VersionStage.optional(),
});
const SecretIdInput = z.object({ SecretId });
const DeleteSecretInput = z.object({
  SecretId,
  RecoveryWindowInDays: z.number().int().optional(),
  ForceDeleteWithoutRecovery: z.boolean().optional(),
});
const FILTER_KEYS = [
  "description",
  "name",
  "tag-key",
  "tag-value",
  "primary-region",
  "owning-service",
  "all",
] as const;
const SORT_BY = ["created-date", "last-accessed-date", "last-changed-date", "name"] as const;
const ListSecretsInput = z.object({
  IncludePlannedDeletion: z.boolean().optional(),
  MaxResults: z.number().int().min(1).max(100).optional(),
  NextToken: z.string().min(1).max(4096).optional(),
  Filters: z
    .array(
      z.object({
        Key: z.enum(FILTER_KEYS),
        Values: z
          .array(
            z
              .string()
              .max(512)
              .regex(/^!?[a-zA-Z0-9 :_@/+=.\-!]*$/, "contains a character that filters do not accept"),
          )
          .min(1)
          .max(10),
      }),
    )
    .max(10)
    .optional(),
  SortOrder: z.enum(["asc", "desc"]).optional(),
  SortBy: z.enum(SORT_BY).optional(),
});

/** The one value of a request, refusing both kinds at once. */
function requestValue(input: { SecretString?: string | undefined; SecretBinary?: string | undefined }) {
  if (input.SecretString !== undefined && input.SecretBinary !== undefined) {
    throw new AwsError(
      "InvalidParameterException",
      "You can't specify both a binary secret value and a string secret value in the same secret.",
    );
  }
  if (input.SecretString !== undefined) return { secretString: input.SecretString } satisfies SecretValue;
  if (input.SecretBinary !== undefined) return { secretBinary: input.SecretBinary } satisfies SecretValue;
  return undefined;
}

// --- response shapes: dates are epoch seconds ---

function seconds(milliseconds: number): number {
  return milliseconds / 1000;
}

function versionsToStages(secret: SecretDescription): Record<string, string[]> {
  return Object.fromEntries(secret.versions.map((version) => [version.versionId, version.stages]));
}

/** The members DescribeSecret and a ListSecrets entry share (they differ in the versions' member name). */
function metadataShape(secret: SecretDescription) {
  return {
    ARN: secret.arn,
    Name: secret.name,
    ...(secret.description === undefined ? {} : { Description: secret.description }),
    ...(secret.kmsKeyId === undefined ? {} : { KmsKeyId: secret.kmsKeyId }),
    LastChangedDate: seconds(secret.lastChangedDate),
    ...(secret.lastAccessedDate === undefined ? {} : { LastAccessedDate: seconds(secret.lastAccessedDate) }),
    ...(secret.deletedDate === undefined ? {} : { DeletedDate: seconds(secret.deletedDate) }),
    ...(secret.tags.length === 0 ? {} : { Tags: secret.tags }),
    CreatedDate: seconds(secret.createdDate),
  };
}

// --- ListSecrets ---

type FilterKey = (typeof FILTER_KEYS)[number];

/** Words as Secrets Manager's free-text search sees them: split at case changes, digits and punctuation. */
function words(text: string): string[] {
  return text.match(/[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+/g)?.map((word) => word.toLowerCase()) ?? [];
}

function termMatches(secret: SecretDescription, key: FilterKey, term: string): boolean {
  switch (key) {
    case "name":
      return secret.name.startsWith(term);
    case "description":
      return secret.description?.toLowerCase().startsWith(term.toLowerCase()) ?? false;
    case "tag-key":
      return secret.tags.some((tag) => tag.Key.startsWith(term));
    case "tag-value":
      return secret.tags.some((tag) => tag.Value.startsWith(term));
    case "all": {
      const attributes = [
        secret.name,
        secret.description ?? "",
        ...secret.tags.flatMap((tag) => [tag.Key, tag.Value]),
      ].flatMap(words);
      return words(term).some((word) => attributes.some((attribute) => attribute.startsWith(word)));
    }
    // Berth Local has no replicas and no secrets owned by other services.
    case "primary-region":
    case "owning-service":
      return false;
  }
}

/** Values of one filter: a `!`-value that matches excludes the secret; otherwise any plain value must match. */
function filterMatches(secret: SecretDescription, key: FilterKey, values: readonly string[]): boolean {
  const negated = values.filter((value) => value.startsWith("!")).map((value) => value.slice(1));
  const plain = values.filter((value) => !value.startsWith("!"));
  if (negated.some((term) => termMatches(secret, key, term))) return false;
  return plain.length === 0 || plain.some((term) => termMatches(secret, key, term));
}

type SortBy = (typeof SORT_BY)[number];

function sortKey(secret: SecretDescription, by: SortBy): number | string {
  switch (by) {
    case "created-date":
      return secret.createdDate;
    case "last-accessed-date":
      return secret.lastAccessedDate ?? 0;
    case "last-changed-date":
      return secret.lastChangedDate;
    case "name":
      return secret.name;
  }
}

/** A page ends after a secret; the token names its sort key and name (names are unique). */
const ListCursor = z.object({ key: z.union([z.number(), z.string()]), name: z.string() });
type ListCursor = z.infer<typeof ListCursor>;

function compareCursors(a: ListCursor, b: ListCursor): number {
  if (a.key !== b.key) return a.key < b.key ? -1 : 1;
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

function encodeToken(cursor: ListCursor): string {
  return Buffer.from(JSON.stringify(cursor), "utf8").toString("base64url");
}

function decodeToken(token: string): ListCursor {
  try {
    return ListCursor.parse(JSON.parse(Buffer.from(token, "base64url").toString("utf8")));
  } catch {
    throw new AwsError("InvalidNextTokenException", "The NextToken value is invalid.");
  }
}

/**
 * Berth Local's Secrets Manager API over a SecretStore, with AWS's request and response shapes
 * (dates in epoch seconds, SecretBinary in base64). Rotation, replication and resource policies
 * are not served.
 */
export function secretsService(store: SecretStore): AwsJsonService {
  return {
    name: "secretsmanager",
    targetPrefix: "secretsmanager",
    validationError: "InvalidParameterException",
    operations: {
      CreateSecret: operation(CreateSecretInput, (input) => {
        const value = requestValue(input);
        const created = store.create({
          name: input.Name,
          value,
          description: input.Description,
          kmsKeyId: input.KmsKeyId,
          tags: input.Tags,
          clientRequestToken: input.ClientRequestToken,
        });
        return {
          ARN: created.arn,
          Name: created.name,
          ...(created.versionId === undefined ? {} : { VersionId: created.versionId }),
        };
      }),

      PutSecretValue: operation(PutSecretValueInput, (input) => {
        const value = requestValue(input);
        if (!value) {
          throw new AwsError(
            "InvalidRequestException",
            "You must provide either SecretString or SecretBinary.",
          );
        }
        const version = store.putValue(input.SecretId, {
          value,
          clientRequestToken: input.ClientRequestToken,
          versionStages: input.VersionStages,
        });
        return {
          ARN: version.arn,
          Name: version.name,
          VersionId: version.versionId,
          VersionStages: version.stages,
        };
      }),

      UpdateSecret: operation(UpdateSecretInput, (input) => {
        const value = requestValue(input);
        const updated = store.update(input.SecretId, {
          value,
          description: input.Description,
          kmsKeyId: input.KmsKeyId,
          clientRequestToken: input.ClientRequestToken,
        });
        return {
          ARN: updated.arn,
          Name: updated.name,
          ...(updated.versionId === undefined ? {} : { VersionId: updated.versionId }),
        };
      }),

      GetSecretValue: operation(GetSecretValueInput, (input) => {
        const version = store.getValue(input.SecretId, {
          versionId: input.VersionId,
          versionStage: input.VersionStage,
        });
        return {
          ARN: version.arn,
          Name: version.name,
          VersionId: version.versionId,
          ...(version.secretString === undefined ? {} : { SecretString: version.secretString }),
          ...(version.secretBinary === undefined ? {} : { SecretBinary: version.secretBinary }),
          VersionStages: version.stages,
          CreatedDate: seconds(version.createdDate),
        };
      }),

      DescribeSecret: operation(SecretIdInput, (input) => {
        const secret = store.describe(input.SecretId);
        return {
          ...metadataShape(secret),
          ...(secret.versions.length === 0 ? {} : { VersionIdsToStages: versionsToStages(secret) }),
        };
      }),

      ListSecrets: operation(ListSecretsInput, (input) => {
        const by = input.SortBy ?? "created-date";
        const direction = input.SortOrder === "asc" ? 1 : -1;
        const cursorOf = (secret: SecretDescription): ListCursor => ({
          key: sortKey(secret, by),
          name: secret.name,
        });
        const secrets = store
          .list()
          .filter(
            (secret) =>
              (input.IncludePlannedDeletion === true || secret.deletedDate === undefined) &&
              (input.Filters ?? []).every((filter) => filterMatches(secret, filter.Key, filter.Values)),
          )
          .sort((a, b) => direction * compareCursors(cursorOf(a), cursorOf(b)));
        const after = input.NextToken === undefined ? undefined : decodeToken(input.NextToken);
        const start =
          after === undefined
            ? 0
            : secrets.findIndex((secret) => direction * compareCursors(cursorOf(secret), after) > 0);
        const pageSize = input.MaxResults ?? DEFAULT_PAGE_SIZE;
        const page = start === -1 ? [] : secrets.slice(start, start + pageSize);
        const last = page.at(-1);
        const more = start !== -1 && start + pageSize < secrets.length;
        return {
          SecretList: page.map((secret) => ({
            ...metadataShape(secret),
            ...(secret.versions.length === 0 ? {} : { SecretVersionsToStages: versionsToStages(secret) }),
          })),
          ...(more && last ? { NextToken: encodeToken(cursorOf(last)) } : {}),
        };
      }),

      DeleteSecret: operation(DeleteSecretInput, (input) => {
        const deleted = store.delete(input.SecretId, {
          recoveryWindowInDays: input.RecoveryWindowInDays,
          forceDeleteWithoutRecovery: input.ForceDeleteWithoutRecovery,
        });
        return { ARN: deleted.arn, Name: deleted.name, DeletionDate: seconds(deleted.deletionDate) };
      }),

      RestoreSecret: operation(SecretIdInput, (input) => {
        const restored = store.restore(input.SecretId);
        return { ARN: restored.arn, Name: restored.name };
      }),
    },
  };
}

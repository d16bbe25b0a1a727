import { randomInt, randomUUID } from "node:crypto";
import { chmodSync, existsSync } from "node:fs";
import { z } from "zod";
import { AwsError } from "../protocol.ts";
import { JsonFile } from "../state.ts";

export const AWSCURRENT = "AWSCURRENT";
export const AWSPREVIOUS = "AWSPREVIOUS";

const DAY_MS = 86_400_000;
/** The file holds secret values in plain text: only its owner may read it. */
const FILE_MODE = 0o600;
/** Secrets Manager keeps about 100 versions; beyond that it drops the oldest unlabelled ones. */
const MAX_VERSIONS = 100;
const SUFFIX_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const MIN_RECOVERY_WINDOW_DAYS = 7;
const MAX_RECOVERY_WINDOW_DAYS = 30;
const DEFAULT_RECOVERY_WINDOW_DAYS = 30;

export interface SecretStoreOptions {
  account: string;
  region: string;
  /** The store's clock (epoch milliseconds): dates and the end of recovery windows are measured by it. */
  now?: () => number;
}

/** A secret value: text, or bytes as base64 (as the JSON protocol carries SecretBinary). */
export type SecretValue = { secretString: string } | { secretBinary: string };

export interface Tag {
  Key: string;
  Value: string;
}

/** A secret without its values. Dates are epoch milliseconds. */
export interface SecretDescription {
  arn: string;
  name: string;
  description?: string;
  kmsKeyId?: string;
  tags: Tag[];
  createdDate: number;
  lastChangedDate: number;
  /** Day-granular, as Secrets Manager reports it. */
  lastAccessedDate?: number;
  /** When DeleteSecret was called; present while the secret is scheduled for deletion. */
  deletedDate?: number;
  /** When the secret will be removed for good. */
  deletionDate?: number;
  /** Versions that carry staging labels, oldest first (unlabelled versions are deprecated). */
  versions: { versionId: string; stages: string[] }[];
}

export interface SecretVersionValue {
  arn: string;
  name: string;
  versionId: string;
  stages: string[];
  createdDate: number;
  secretString?: string;
  secretBinary?: string;
}

export interface VersionResult {
  arn: string;
  name: string;
  versionId: string;
  stages: string[];
}

const PersistedVersion = z.object({
  versionId: z.string(),
  stages: z.array(z.string()),
  createdDate: z.number(),
  secretString: z.string().optional(),
  secretBinary: z.string().optional(),
});
type VersionState = z.infer<typeof PersistedVersion>;

// Tags are pairs, not a record: `__proto__` is a valid tag key (and secret name).
const PersistedSecret = z.object({
  name: z.string(),
  arn: z.string(),
  description: z.string().optional(),
  kmsKeyId: z.string().optional(),
  tags: z.array(z.tuple([z.string(), z.string()])),
  createdDate: z.number(),
  lastChangedDate: z.number(),
  lastAccessedDate: z.number().optional(),
  deletedDate: z.number().optional(),
  deletionDate: z.number().optional(),
  versions: z.array(PersistedVersion),
});
type SecretState = z.infer<typeof PersistedSecret>;

const PersistedState = z.object({ version: z.literal(1), secrets: z.array(PersistedSecret) });
type PersistedState = z.infer<typeof PersistedState>;

function secretNotFound(): AwsError {
  return new AwsError("ResourceNotFoundException", "Secrets Manager can't find the specified secret.");
}

function markedForDeletion(): AwsError {
  return new AwsError(
    "InvalidRequestException",
    "You can't perform this operation on the secret because it was marked for deletion.",
  );
}

function versionNotFound(what: "VersionId" | "staging label", which: string): AwsError {
  return new AwsError(
    "ResourceNotFoundException",
    `Secrets Manager can't find the specified secret value for ${what}: ${which}`,
  );
}

function randomSuffix(): string {
  let suffix = "";
  for (let index = 0; index < 6; index++) suffix += SUFFIX_ALPHABET[randomInt(SUFFIX_ALPHABET.length)];
  return suffix;
}

function normalizedValue(value: SecretValue): SecretValue {
  return "secretString" in value
    ? { secretString: value.secretString }
    : { secretBinary: Buffer.from(value.secretBinary, "base64").toString("base64") };
}

function sameValue(version: VersionState, value: SecretValue): boolean {
  return "secretString" in value
    ? version.secretString === value.secretString
    : version.secretBinary === value.secretBinary;
}

/** A task definition's reference to a Secrets Manager value (`secrets[].valueFrom`), parsed as ECS's agent does. */
export interface SecretReference {
  /** A secret name or ARN (full or partial), as GetSecretValue's SecretId. */
  secretId: string;
  /** Empty for the whole SecretString. */
  jsonKey: string;
  versionStage?: string;
  versionId?: string;
}

/**
 * ECS accepts a secret's name, its ARN (full, or partial: without the 6-character suffix), and
 * `<arn>:<json-key>:<version-stage>:<version-id>` with each of the last three possibly empty. An ARN
 * with any other number of fields is refused, as the ECS agent refuses it.
 */
export function parseSecretReference(valueFrom: string): SecretReference | undefined {
  if (valueFrom === "") return undefined;
  if (!valueFrom.startsWith("arn:")) return { secretId: valueFrom, jsonKey: "" };
  const fields = valueFrom.split(":");
  if (fields[2] !== "secretsmanager" || fields[5] !== "secret" || !fields[6]) return undefined;
  if (fields.length === 7) return { secretId: valueFrom, jsonKey: "" };
  if (fields.length !== 10) return undefined;
  const [jsonKey = "", versionStage, versionId] = fields.slice(7);
  return {
    secretId: fields.slice(0, 7).join(":"),
    jsonKey,
    ...(versionStage ? { versionStage } : {}),
    ...(versionId ? { versionId } : {}),
  };
}

/**
 * A JSON value as the ECS agent turns a secret's JSON key into an environment value: Go's `%v` of
 * what `encoding/json` decodes (float64 numbers in `%g` form, so 1000000 becomes `1e+06`; objects
 * as `map[k:v]` with sorted keys; `null` as `<nil>`).
 */
export function goFormat(value: unknown): string {
  if (value === null || value === undefined) return "<nil>";
  if (typeof value === "string") return value;
  if (typeof value === "boolean") return String(value);
  if (typeof value === "number") return goFloat(value);
  if (Array.isArray(value)) return `[${value.map(goFormat).join(" ")}]`;
  const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) =>
    Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8")),
  );
  return `map[${entries.map(([key, item]) => `${key}:${goFormat(item)}`).join(" ")}]`;
}

function goFloat(value: number): string {
  if (Object.is(value, -0)) return "-0";
  const [mantissa = "", exponentText = "0"] = value.toExponential().split("e");
  const exponent = Number(exponentText);
  // Go's shortest %g switches to an exponent below 1e-4 and from 1e6 on; JS's decimal form is the same digits.
  if (exponent < -4 || exponent >= 6) {
    return `${mantissa}e${exponent < 0 ? "-" : "+"}${String(Math.abs(exponent)).padStart(2, "0")}`;
  }
  return String(value);
}

/**
 * Berth Local's Secrets Manager store: every secret with its versions in one JSON file, readable
 * by its owner only (mode 0600). Values are never logged and never put in an error message.
 *
 * Secrets scheduled for deletion stay (DescribeSecret shows them, GetSecretValue refuses them)
 * until their recovery window ends; they are removed the next time the store is used after that.
 * State is kept in memory and written through on every change: one SecretStore per file at a time.
 */
export class SecretStore {
  readonly path: string;
  readonly account: string;
  readonly region: string;
  readonly now: () => number;
  private readonly file: JsonFile<unknown>;
  private readonly secrets = new Map<string, SecretState>();

  constructor(path: string, options: SecretStoreOptions) {
    this.path = path;
    this.account = options.account;
    this.region = options.region;
    this.now = options.now ?? Date.now;
    this.file = new JsonFile<unknown>(path);
    if (existsSync(path)) chmodSync(path, FILE_MODE);
    for (const secret of this.load().secrets) this.secrets.set(secret.name, secret);
  }

  /** `arn:aws:secretsmanager:<region>:<account>:secret:`: a secret's ARN is this, its name, `-` and 6 characters. */
  get arnPrefix(): string {
    return `arn:aws:secretsmanager:${this.region}:${this.account}:secret:`;
  }

  create(input: {
    name: string;
    value?: SecretValue;
    description?: string;
    kmsKeyId?: string;
    tags?: Tag[];
    clientRequestToken?: string;
  }): { arn: string; name: string; versionId?: string } {
    this.purgeExpired();
    const value = input.value && normalizedValue(input.value);
    const existing = this.secrets.get(input.name);
    if (existing?.deletedDate !== undefined) {
      throw new AwsError(
        "InvalidRequestException",
        "You can't create this secret because a secret with this name is already scheduled for deletion.",
      );
    }
    if (existing) {
      // A retry of the same request (same token, same value) is answered again, as AWS documents.
      const retried = existing.versions.find((version) => version.versionId === input.clientRequestToken);
      if (value && retried && sameValue(retried, value)) {
        return { arn: existing.arn, name: existing.name, versionId: retried.versionId };
      }
      throw new AwsError(
        "ResourceExistsException",
        `The operation failed because the secret ${input.name} already exists.`,
      );
    }
    const now = this.now();
    const secret: SecretState = {
      name: input.name,
      arn: `${this.arnPrefix}${input.name}-${randomSuffix()}`,
      ...(input.description === undefined ? {} : { description: input.description }),
      ...(input.kmsKeyId === undefined ? {} : { kmsKeyId: input.kmsKeyId }),
      tags: [...new Map((input.tags ?? []).map((tag) => [tag.Key, tag.Value] as const))],
      createdDate: now,
      lastChangedDate: now,
      versions: [],
    };
    const version =
      value && this.addVersion(secret, input.clientRequestToken ?? randomUUID(), value, [AWSCURRENT]);
    this.secrets.set(secret.name, secret);
    this.save();
    return { arn: secret.arn, name: secret.name, ...(version ? { versionId: version.versionId } : {}) };
  }

  /** A new version; with no stages given it becomes AWSCURRENT and the previous current one AWSPREVIOUS. */
  putValue(
    secretId: string,
    input: { value: SecretValue; clientRequestToken?: string; versionStages?: string[] },
  ): VersionResult {
    const secret = this.active(secretId);
    const value = normalizedValue(input.value);
    const versionId = input.clientRequestToken ?? randomUUID();
    const existing = secret.versions.find((version) => version.versionId === versionId);
    if (existing) {
      if (!sameValue(existing, value)) {
        throw new AwsError(
          "ResourceExistsException",
          "You can't modify an existing version, you can only create new versions.",
        );
      }
      return { arn: secret.arn, name: secret.name, versionId, stages: [...existing.stages] };
    }
    const version = this.addVersion(secret, versionId, value, input.versionStages ?? [AWSCURRENT]);
    secret.lastChangedDate = this.now();
    this.save();
    return { arn: secret.arn, name: secret.name, versionId, stages: [...version.stages] };
  }

  /** UpdateSecret: metadata, and a new AWSCURRENT version when a value is given. */
  update(
    secretId: string,
    input: { description?: string; kmsKeyId?: string; value?: SecretValue; clientRequestToken?: string },
  ): { arn: string; name: string; versionId?: string } {
    const secret = this.active(secretId);
    const version =
      input.value &&
      this.putValue(secret.arn, { value: input.value, clientRequestToken: input.clientRequestToken });
    if (input.description !== undefined) secret.description = input.description;
    if (input.kmsKeyId !== undefined) secret.kmsKeyId = input.kmsKeyId;
    secret.lastChangedDate = this.now();
    this.save();
    return { arn: secret.arn, name: secret.name, ...(version ? { versionId: version.versionId } : {}) };
  }

  /** GetSecretValue: AWSCURRENT unless a version id or stage is given (both must then name one version). */
  getValue(secretId: string, input: { versionId?: string; versionStage?: string } = {}): SecretVersionValue {
    const secret = this.active(secretId);
    const version = this.selectVersion(secret, input.versionId, input.versionStage);
    this.markAccessed(secret);
    return {
      arn: secret.arn,
      name: secret.name,
      versionId: version.versionId,
      stages: [...version.stages],
      createdDate: version.createdDate,
      ...(version.secretString === undefined ? {} : { secretString: version.secretString }),
      ...(version.secretBinary === undefined ? {} : { secretBinary: version.secretBinary }),
    };
  }

  /** A secret, also while it is scheduled for deletion. */
  describe(secretId: string): SecretDescription {
    const secret = this.find(secretId);
    if (!secret) throw secretNotFound();
    return describeState(secret);
  }

  /** Every secret, including those scheduled for deletion, in creation order. */
  list(): SecretDescription[] {
    this.purgeExpired();
    return [...this.secrets.values()].map(describeState);
  }

  /**
   * DeleteSecret: scheduled after a recovery window (7 to 30 days, 30 by default), or at once with
   * `forceDeleteWithoutRecovery`, which (as on AWS) also succeeds for a secret that does not exist.
   */
  delete(
    secretId: string,
    input: { recoveryWindowInDays?: number; forceDeleteWithoutRecovery?: boolean } = {},
  ): { arn: string; name: string; deletionDate: number } {
    const force = input.forceDeleteWithoutRecovery === true;
    if (force && input.recoveryWindowInDays !== undefined) {
      throw new AwsError(
        "InvalidParameterException",
        "You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.",
      );
    }
    const days = input.recoveryWindowInDays ?? DEFAULT_RECOVERY_WINDOW_DAYS;
    if (!Number.isInteger(days) || days < MIN_RECOVERY_WINDOW_DAYS || days > MAX_RECOVERY_WINDOW_DAYS) {
      throw new AwsError(
        "InvalidParameterException",
        `The RecoveryWindowInDays value must be between ${MIN_RECOVERY_WINDOW_DAYS} and ${MAX_RECOVERY_WINDOW_DAYS} days (inclusive).`,
      );
    }
    const now = this.now();
    const secret = this.find(secretId);
    if (!secret) {
      if (!force) throw secretNotFound();
      const name = secretId.startsWith("arn:") ? (secretId.split(":")[6] ?? secretId) : secretId;
      const arn = secretId.startsWith("arn:") ? secretId : `${this.arnPrefix}${name}-${randomSuffix()}`;
      return { arn, name, deletionDate: now };
    }
    if (force) {
      this.secrets.delete(secret.name);
      this.save();
      return { arn: secret.arn, name: secret.name, deletionDate: now };
    }
    if (secret.deletedDate !== undefined) throw markedForDeletion();
    secret.deletedDate = now;
    secret.deletionDate = now + days * DAY_MS;
    secret.lastChangedDate = now;
    this.save();
    return { arn: secret.arn, name: secret.name, deletionDate: secret.deletionDate };
  }

  /** RestoreSecret: cancels a scheduled deletion (and does nothing to a secret that is not scheduled). */
  restore(secretId: string): { arn: string; name: string } {
    const secret = this.find(secretId);
    if (!secret) throw secretNotFound();
    if (secret.deletedDate !== undefined) {
      delete secret.deletedDate;
      delete secret.deletionDate;
      secret.lastChangedDate = this.now();
      this.save();
    }
    return { arn: secret.arn, name: secret.name };
  }

  /**
   * The value ECS would inject for a task definition's `secrets[].valueFrom` (see
   * `parseSecretReference`), or undefined when the secret, the version or the JSON key does not
   * exist, the secret is scheduled for deletion, the value is binary (ECS supports text secrets
   * only), or a JSON key is asked of a value that is not a JSON object. An arrow property, so it
   * can be handed over as a callback.
   */
  readonly resolveValueFrom = (valueFrom: string): string | undefined => {
    const reference = parseSecretReference(valueFrom);
    if (!reference) return undefined;
    const secret = this.find(reference.secretId);
    if (!secret || secret.deletedDate !== undefined) return undefined;
    let version: VersionState;
    try {
      version = this.selectVersion(secret, reference.versionId, reference.versionStage);
    } catch (error) {
      if (error instanceof AwsError) return undefined;
      throw error;
    }
    if (version.secretString === undefined) return undefined;
    this.markAccessed(secret);
    if (reference.jsonKey === "") return version.secretString;
    let document: unknown;
    try {
      document = JSON.parse(version.secretString);
    } catch {
      return undefined;
    }
    if (typeof document !== "object" || document === null || Array.isArray(document)) return undefined;
    return Object.hasOwn(document, reference.jsonKey)
      ? goFormat((document as Record<string, unknown>)[reference.jsonKey])
      : undefined;
  };

  // --- internals ---

  private load(): PersistedState {
    let raw: unknown;
    try {
      raw = this.file.read({ version: 1, secrets: [] });
    } catch {
      // The parser's message quotes the file's text, which holds secret values.
      throw new Error(`Berth Local cannot read its secret store ${this.path}: the file is not valid JSON`);
    }
    const parsed = PersistedState.safeParse(raw);
    if (!parsed.success) {
      throw new Error(`Berth Local cannot read its secret store ${this.path}: unexpected content`);
    }
    return parsed.data;
  }

  private save(): void {
    const state: PersistedState = { version: 1, secrets: [...this.secrets.values()] };
    this.file.write(state, FILE_MODE);
    // The write creates its file with FILE_MODE, unless a stale temporary file was reused.
    chmodSync(this.path, FILE_MODE);
  }

  /** Removes secrets whose recovery window has ended. */
  private purgeExpired(): void {
    const now = this.now();
    let removed = false;
    for (const secret of this.secrets.values()) {
      if (secret.deletionDate !== undefined && secret.deletionDate <= now) {
        this.secrets.delete(secret.name);
        removed = true;
      }
    }
    if (removed) this.save();
  }

  /**
   * A SecretId is a name, a full ARN, or a partial ARN (no suffix). A full ARN is tried first: a
   * name may itself end in `-` and six characters.
   */
  private find(secretId: string): SecretState | undefined {
    this.purgeExpired();
    if (!secretId.startsWith("arn:")) return this.secrets.get(secretId);
    for (const secret of this.secrets.values()) if (secret.arn === secretId) return secret;
    return secretId.startsWith(this.arnPrefix)
      ? this.secrets.get(secretId.slice(this.arnPrefix.length))
      : undefined;
  }

  private active(secretId: string): SecretState {
    const secret = this.find(secretId);
    if (!secret) throw secretNotFound();
    if (secret.deletedDate !== undefined) throw markedForDeletion();
    return secret;
  }

  private selectVersion(secret: SecretState, versionId?: string, versionStage?: string): VersionState {
    if (versionId !== undefined) {
      const version = secret.versions.find((candidate) => candidate.versionId === versionId);
      if (!version) throw versionNotFound("VersionId", versionId);
      if (versionStage !== undefined && !version.stages.includes(versionStage)) {
        throw versionNotFound("staging label", versionStage);
      }
      return version;
    }
    const stage = versionStage ?? AWSCURRENT;
    const version = secret.versions.find((candidate) => candidate.stages.includes(stage));
    if (!version) throw versionNotFound("staging label", stage);
    return version;
  }

  private addVersion(
    secret: SecretState,
    versionId: string,
    value: SecretValue,
    stages: readonly string[],
  ): VersionState {
    const version: VersionState = { versionId, stages: [], createdDate: this.now(), ...value };
    secret.versions.push(version);
    for (const stage of new Set(stages)) moveStage(secret, stage, version);
    while (secret.versions.length > MAX_VERSIONS) {
      const deprecated = secret.versions.findIndex((candidate) => candidate.stages.length === 0);
      if (deprecated === -1) break;
      secret.versions.splice(deprecated, 1);
    }
    return version;
  }

  /** Secrets Manager records the day of the last access only, so this writes at most once a day per secret. */
  private markAccessed(secret: SecretState): void {
    const today = Math.floor(this.now() / DAY_MS) * DAY_MS;
    if (secret.lastAccessedDate === today) return;
    secret.lastAccessedDate = today;
    this.save();
  }
}

/** Gives `stage` to `target`, taking it from the version that had it; AWSCURRENT leaves AWSPREVIOUS behind. */
function moveStage(secret: SecretState, stage: string, target: VersionState): void {
  const holder = secret.versions.find((version) => version.stages.includes(stage));
  if (holder === target) return;
  if (holder) holder.stages = holder.stages.filter((label) => label !== stage);
  if (!target.stages.includes(stage)) target.stages.push(stage);
  if (stage === AWSCURRENT && holder) moveStage(secret, AWSPREVIOUS, holder);
}

function describeState(secret: SecretState): SecretDescription {
  return {
    arn: secret.arn,
    name: secret.name,
    ...(secret.description === undefined ? {} : { description: secret.description }),
    ...(secret.kmsKeyId === undefined ? {} : { kmsKeyId: secret.kmsKeyId }),
    tags: secret.tags.map(([Key, Value]) => ({ Key, Value })),
    createdDate: secret.createdDate,
    lastChangedDate: secret.lastChangedDate,
    ...(secret.lastAccessedDate === undefined ? {} : { lastAccessedDate: secret.lastAccessedDate }),
    ...(secret.deletedDate === undefined ? {} : { deletedDate: secret.deletedDate }),
    ...(secret.deletionDate === undefined ? {} : { deletionDate: secret.deletionDate }),
    versions: secret.versions
      .filter((version) => version.stages.length > 0)
      .map((version) => ({ versionId: version.versionId, stages: [...version.stages] })),
  };
}

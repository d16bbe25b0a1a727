import { createHmac, timingSafeEqual } from "node:crypto";
import { z } from "zod";
import { parseImageRef } from "../spec/image-ref.ts";
import { hashSecret, type Provider } from "../store/receiver-record.ts";

/**
 * What each registry sends a receiver, and how it proves who sent it. Pure: a delivery (headers
 * and the raw body) in, whether it is authentic and what it pushed out. The receiving verb
 * (`receiver.ts`) does the rest through `ImagePush.receive`.
 */

/** Lower-cased header names, as the API hands them over. */
export type Headers = Readonly<Record<string, string | undefined>>;

export interface Delivery {
  headers: Headers;
  body: Buffer;
  /** The last segment of the receiver's URL, for providers that sign nothing. */
  pathSecret?: string;
}

/** The credential a receiver keeps: the secret itself (signing providers), or its SHA-256. */
export interface Credential {
  secret?: string;
  secretHash?: string;
}

export interface PushedTag {
  registry: string;
  repository: string;
  tag: string;
  digest?: string;
}

export type Parsed =
  /** Pushes to handle; `trustDigest` when the payload's digest is covered by the authentication. */
  | { kind: "push"; event: string; deliveryKey?: string; trustDigest: boolean; pushes: PushedTag[] }
  /** An authentic delivery about something else (a ping, a deletion): recorded as ignored. */
  | { kind: "other"; event: string; deliveryKey?: string; reason: string }
  /** Not what this provider sends: refused, and recorded as such. */
  | { kind: "malformed"; event: string; reason: string };

const equalSecrets = (a: Buffer, b: Buffer) => a.length === b.length && timingSafeEqual(a, b);

/** `sha256=<hex>` of the body under the secret, compared in constant time. */
function hmacMatches(secret: string | undefined, body: Buffer, header: string | undefined): boolean {
  if (!secret || !header) return false;
  const match = /^sha256=([0-9a-fA-F]{64})$/.exec(header.trim());
  if (!match?.[1]) return false;
  const expected = createHmac("sha256", secret).update(body).digest();
  return equalSecrets(expected, Buffer.from(match[1].toLowerCase(), "hex"));
}

/** A presented secret against the stored hash, in constant time. */
function secretMatches(credential: Credential, presented: string | undefined): boolean {
  if (!credential.secretHash || !presented) return false;
  return equalSecrets(Buffer.from(hashSecret(presented), "hex"), Buffer.from(credential.secretHash, "hex"));
}

/** `Authorization: <secret>` or `Authorization: Bearer <secret>`, as Harbor's and the registry's settings send it. */
function authorizationSecret(headers: Headers): string | undefined {
  const value = headers.authorization?.trim();
  if (!value) return undefined;
  return /^Bearer\s+/i.test(value) ? value.replace(/^Bearer\s+/i, "") : value;
}

/** Whether the delivery proves it comes from whoever holds the receiver's secret. */
export function authenticate(provider: Provider, credential: Credential, delivery: Delivery): boolean {
  switch (provider) {
    case "github":
      return hmacMatches(credential.secret, delivery.body, delivery.headers["x-hub-signature-256"]);
    case "generic":
      return hmacMatches(credential.secret, delivery.body, delivery.headers["x-signature"]);
    case "harbor":
      return secretMatches(credential, authorizationSecret(delivery.headers));
    case "gitlab":
      return (
        secretMatches(credential, authorizationSecret(delivery.headers)) ||
        secretMatches(credential, delivery.headers["x-gitlab-token"])
      );
    case "dockerhub":
    case "quay":
      return secretMatches(credential, delivery.pathSecret);
  }
}

function json(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString("utf8"));
  } catch {
    return undefined;
  }
}

const Digest = z.string().regex(/^sha256:[0-9a-f]{64}$/);
const Tag = z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/);

/** `registry/repository` (any tag or digest dropped) read as Docker reads it. */
function repositoryOf(image: string): { registry: string; repository: string } | undefined {
  const ref = parseImageRef(image.replace(/^https?:\/\//, ""));
  return ref ? { registry: ref.registry, repository: ref.repository } : undefined;
}

function malformed(event: string, error: z.ZodError | string): Parsed {
  const reason =
    typeof error === "string"
      ? error
      : error.issues.map((issue) => `${issue.path.join(".") || "body"}: ${issue.message}`).join("; ");
  return { kind: "malformed", event, reason: `not a ${event} payload: ${reason}`.slice(0, 1000) };
}

// GitHub: `package` and `registry_package` events; only `published` container versions push.
const GithubContainerVersion = z.looseObject({
  package_url: z.string().optional(),
  container_metadata: z.looseObject({
    tag: z.looseObject({ name: z.string(), digest: z.string() }),
  }),
});
const GithubPackage = z.looseObject({
  name: z.string().min(1),
  namespace: z.string().optional(),
  package_type: z.string(),
  owner: z.looseObject({ login: z.string() }).optional(),
  package_version: GithubContainerVersion,
});
const GithubEvent = z.looseObject({
  action: z.string(),
  package: GithubPackage.optional(),
  registry_package: GithubPackage.optional(),
});

function parseGithub(delivery: Delivery): Parsed {
  const name = delivery.headers["x-github-event"] ?? "unknown";
  const deliveryKey = delivery.headers["x-github-delivery"];
  const keyed = deliveryKey ? { deliveryKey } : {};
  if (name === "ping")
    return { kind: "other", event: "ping", ...keyed, reason: "GitHub's ping: the receiver works" };
  if (name !== "package" && name !== "registry_package") {
    return { kind: "other", event: name, ...keyed, reason: `a ${name} event pushes no image` };
  }
  const action = (json(delivery.body) as { action?: unknown } | undefined)?.action;
  const event = `${name} ${typeof action === "string" ? action : ""}`.trim();
  if (action !== "published") {
    return {
      kind: "other",
      event,
      ...keyed,
      reason: `only published package versions are pushes, not ${String(action)}`,
    };
  }
  const parsed = GithubEvent.safeParse(json(delivery.body));
  if (!parsed.success) return malformed(event, parsed.error);
  const pkg = parsed.data.registry_package ?? parsed.data.package;
  if (!pkg) return malformed(event, "it names no package");
  if (pkg.package_type.toLowerCase() !== "container") {
    return { kind: "other", event, ...keyed, reason: `a ${pkg.package_type} package is no container image` };
  }
  const { name: tag, digest } = pkg.package_version.container_metadata.tag;
  if (!tag) return { kind: "other", event, ...keyed, reason: "the version has no tag (a digest only)" };
  const owner = pkg.namespace ?? pkg.owner?.login;
  const where =
    (pkg.package_version.package_url ? repositoryOf(pkg.package_version.package_url) : undefined) ??
    (owner ? repositoryOf(`ghcr.io/${owner.toLowerCase()}/${pkg.name.toLowerCase()}`) : undefined);
  if (!where)
    return malformed(event, "neither package_url nor the package's owner and name make an image name");
  if (!Tag.safeParse(tag).success || !Digest.safeParse(digest).success) {
    return malformed(event, `tag ${JSON.stringify(tag)} or digest ${JSON.stringify(digest)} is not valid`);
  }
  return { kind: "push", event, ...keyed, trustDigest: true, pushes: [{ ...where, tag, digest }] };
}

// Generic: Berth's own shape, signed with X-Signature.
const GenericPush = z.strictObject({
  image: z.string().min(1).max(1024),
  digest: Digest.optional(),
  /** The sender's delivery id; without one, the digest (or the digest the registry names) identifies it. */
  id: z
    .string()
    .min(1)
    .max(200)
    .regex(/^[\x21-\x7e]+$/)
    .optional(),
});

function parseGeneric(delivery: Delivery): Parsed {
  const event = "push";
  const parsed = GenericPush.safeParse(json(delivery.body));
  if (!parsed.success) return malformed(event, parsed.error);
  const ref = parseImageRef(parsed.data.image);
  if (!ref?.tag || parsed.data.image.includes("@")) {
    return malformed(event, `image ${JSON.stringify(parsed.data.image)} must be registry/repository:tag`);
  }
  const deliveryKey = parsed.data.id ?? delivery.headers["x-delivery-id"];
  return {
    kind: "push",
    event,
    ...(deliveryKey ? { deliveryKey } : {}),
    trustDigest: true,
    pushes: [
      {
        registry: ref.registry,
        repository: ref.repository,
        tag: ref.tag,
        ...(parsed.data.digest ? { digest: parsed.data.digest } : {}),
      },
    ],
  };
}

// Harbor: the default payload format's PUSH_ARTIFACT.
const HarborEvent = z.looseObject({
  type: z.string(),
  occur_at: z.number().optional(),
  event_data: z
    .looseObject({
      resources: z
        .array(
          z.looseObject({
            digest: z.string().optional(),
            tag: z.string().optional(),
            resource_url: z.string().optional(),
          }),
        )
        .default([]),
      repository: z.looseObject({
        repo_full_name: z.string().optional(),
        namespace: z.string().optional(),
        name: z.string().optional(),
      }),
    })
    .optional(),
});

function parseHarbor(delivery: Delivery): Parsed {
  const parsed = HarborEvent.safeParse(json(delivery.body));
  if (!parsed.success) return malformed("Harbor event", parsed.error);
  const event = parsed.data.type;
  if (event !== "PUSH_ARTIFACT") return { kind: "other", event, reason: `a ${event} event pushes no image` };
  const resources = parsed.data.event_data?.resources ?? [];
  const pushes: PushedTag[] = [];
  for (const resource of resources) {
    if (!resource.tag || !resource.resource_url) continue;
    const where = repositoryOf(resource.resource_url);
    if (!where || !Tag.safeParse(resource.tag).success)
      return malformed(event, `resource ${resource.resource_url} is no image`);
    const digest = Digest.safeParse(resource.digest).success ? resource.digest : undefined;
    pushes.push({ ...where, tag: resource.tag, ...(digest ? { digest } : {}) });
  }
  if (pushes.length === 0) return { kind: "other", event, reason: "the artifact was pushed without a tag" };
  return { kind: "push", event, trustDigest: true, pushes };
}

// GitLab's container registry: the registry's notification envelope (CNCF Distribution).
const RegistryEnvelope = z.looseObject({
  events: z.array(
    z.looseObject({
      id: z.string().min(1).max(200),
      action: z.string(),
      target: z.looseObject({
        mediaType: z.string().optional(),
        digest: z.string().optional(),
        repository: z.string(),
        tag: z.string().optional(),
      }),
      request: z.looseObject({ host: z.string().optional() }).optional(),
    }),
  ),
});

function parseGitlab(delivery: Delivery): Parsed {
  const parsed = RegistryEnvelope.safeParse(json(delivery.body));
  if (!parsed.success) return malformed("registry notification", parsed.error);
  const pushes = parsed.data.events.filter((event) => event.action === "push" && event.target.tag);
  if (pushes.length === 0) {
    const actions = [...new Set(parsed.data.events.map((event) => event.action))].join(", ") || "none";
    return {
      kind: "other",
      event: "registry notification",
      reason: `no tag was pushed (actions: ${actions})`,
    };
  }
  const tags: PushedTag[] = [];
  for (const event of pushes) {
    const host = event.request?.host;
    const where = host ? repositoryOf(`${host}/${event.target.repository}`) : undefined;
    if (!where) return malformed("registry notification", `event ${event.id} names no registry host`);
    const digest = Digest.safeParse(event.target.digest).success ? event.target.digest : undefined;
    tags.push({ ...where, tag: event.target.tag as string, ...(digest ? { digest } : {}) });
  }
  return {
    kind: "push",
    event: "registry notification push",
    // One envelope is one delivery: its events' ids together identify it.
    deliveryKey: pushes
      .map((event) => event.id)
      .join(",")
      .slice(0, 300),
    trustDigest: true,
    pushes: tags,
  };
}

// Docker Hub: a repository's push, with no digest.
const DockerHubPush = z.looseObject({
  callback_url: z.string().optional(),
  push_data: z.looseObject({ tag: z.string(), pushed_at: z.number().optional() }),
  repository: z.looseObject({ repo_name: z.string().min(1) }),
});

function parseDockerHub(delivery: Delivery): Parsed {
  const event = "push";
  const parsed = DockerHubPush.safeParse(json(delivery.body));
  if (!parsed.success) return malformed(event, parsed.error);
  const where = repositoryOf(`docker.io/${parsed.data.repository.repo_name}`);
  if (!where || !Tag.safeParse(parsed.data.push_data.tag).success) {
    return malformed(event, `${parsed.data.repository.repo_name}:${parsed.data.push_data.tag} is no image`);
  }
  return { kind: "push", event, trustDigest: false, pushes: [{ ...where, tag: parsed.data.push_data.tag }] };
}

// Quay: repository push notifications; `updated_tags` is a list (older Quay: tag → image id).
const QuayPush = z.looseObject({
  docker_url: z.string().min(1),
  updated_tags: z.union([z.array(z.string()), z.record(z.string(), z.unknown())]),
});

function parseQuay(delivery: Delivery): Parsed {
  const event = "repo_push";
  const parsed = QuayPush.safeParse(json(delivery.body));
  if (!parsed.success) return malformed(event, parsed.error);
  const where = repositoryOf(parsed.data.docker_url);
  if (!where) return malformed(event, `docker_url ${parsed.data.docker_url} is no image name`);
  const tags = Array.isArray(parsed.data.updated_tags)
    ? parsed.data.updated_tags
    : Object.keys(parsed.data.updated_tags);
  const valid = tags.filter((tag) => Tag.safeParse(tag).success);
  if (valid.length === 0) return { kind: "other", event, reason: "no tag was updated" };
  return { kind: "push", event, trustDigest: false, pushes: valid.map((tag) => ({ ...where, tag })) };
}

/** What an authentic delivery says. */
export function parse(provider: Provider, delivery: Delivery): Parsed {
  switch (provider) {
    case "github":
      return parseGithub(delivery);
    case "generic":
      return parseGeneric(delivery);
    case "harbor":
      return parseHarbor(delivery);
    case "gitlab":
      return parseGitlab(delivery);
    case "dockerhub":
      return parseDockerHub(delivery);
    case "quay":
      return parseQuay(delivery);
  }
}

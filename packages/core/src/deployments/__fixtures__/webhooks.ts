import { createHmac } from "node:crypto";
import { ServiceRecord, StackRecord, type Store } from "../../store/index.ts";

/**
 * One push per provider, in the shape each provider documents for it (written for these tests,
 * with made-up names, ids and digests). Each function returns the body a provider would send
 * for `repository:tag` (and the digest where the provider sends one) and the headers that are
 * not credentials.
 */

export interface Fixture {
  body: string;
  headers: Record<string, string>;
}

export const hmacHeader = (secret: string, body: string | Buffer) =>
  `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;

/** GitHub `registry_package` (or `package`), action `published`, a container version on ghcr.io. */
export function githubPackagePublished(options: {
  owner: string;
  name: string;
  tag: string;
  digest: string;
  delivery: string;
  event?: "registry_package" | "package";
  action?: string;
}): Fixture {
  const event = options.event ?? "registry_package";
  const pkg = {
    id: 4417001,
    name: options.name,
    namespace: options.owner,
    description: "",
    ecosystem: "CONTAINER",
    package_type: "CONTAINER",
    html_url: `https://github.com/${options.owner}/${options.name}/pkgs/container/${options.name}`,
    created_at: "2026-11-02T09:14:07Z",
    updated_at: "2026-12-01T16:40:51Z",
    owner: { login: options.owner, id: 90210, type: "Organization" },
    package_version: {
      id: 300100200,
      version: options.digest,
      name: options.digest,
      description: "",
      summary: "",
      body: "",
      manifest: "",
      html_url: `https://github.com/${options.owner}/${options.name}/pkgs/container/${options.name}/300100200`,
      target_commitish: "main",
      target_oid: "4c1d2e7f9a0b3c5d6e7f8a9b0c1d2e3f4a5b6c7d",
      created_at: "2026-12-01T16:40:50Z",
      updated_at: "2026-12-01T16:40:51Z",
      metadata: [],
      container_metadata: {
        tag: { name: options.tag, digest: options.digest },
        labels: {
          description: "",
          source: `https://github.com/${options.owner}/${options.name}`,
          revision: "",
        },
        manifest: {
          digest: options.digest,
          media_type: "application/vnd.oci.image.index.v1+json",
          size: 1609,
        },
      },
      package_files: [],
      installation_command: `docker pull ghcr.io/${options.owner}/${options.name}:${options.tag}`,
      package_url: `ghcr.io/${options.owner}/${options.name}:${options.tag}`,
    },
    registry: {
      about_url: "https://docs.github.com/packages/learn-github-packages/introduction-to-github-packages",
      name: "GitHub CoNtainer registry",
      type: "docker",
      url: `https://ghcr.io/${options.owner}`,
      vendor: "GitHub Inc",
    },
  };
  const body = {
    action: options.action ?? "published",
    [event]: pkg,
    repository: {
      id: 771122,
      name: options.name,
      full_name: `${options.owner}/${options.name}`,
      private: true,
    },
    organization: { login: options.owner, id: 90210 },
    sender: { login: "release-bot", id: 5150, type: "Bot" },
  };
  return {
    body: JSON.stringify(body),
    headers: {
      "content-type": "application/json",
      "user-agent": "GitHub-Hookshot/5e1f2a3",
      "x-github-event": event,
      "x-github-delivery": options.delivery,
      "x-github-hook-id": "512345678",
    },
  };
}

/** Docker Hub's repository webhook: the pushed tag, no digest. */
export function dockerHubPush(options: { repoName: string; tag: string }): Fixture {
  const [namespace = "library", name = options.repoName] = options.repoName.includes("/")
    ? options.repoName.split("/")
    : ["library", options.repoName];
  const body = {
    callback_url: `https://registry.hub.docker.com/u/${namespace}/${name}/hook/3d9a7c2e1b0f4a6c8e2d1f0a9b8c7d6e/`,
    push_data: { pushed_at: 1764607251, pusher: "release-bot", tag: options.tag },
    repository: {
      comment_count: 0,
      date_created: 1730537647,
      description: "",
      dockerfile: "",
      full_description: "",
      is_official: false,
      is_private: true,
      is_trusted: false,
      name,
      namespace,
      owner: namespace,
      repo_name: options.repoName,
      repo_url: `https://hub.docker.com/r/${options.repoName}`,
      star_count: 0,
      status: "Active",
    },
  };
  return { body: JSON.stringify(body), headers: { "content-type": "application/json" } };
}

/** Harbor's default payload format, PUSH_ARTIFACT. */
export function harborPushArtifact(options: {
  host: string;
  project: string;
  name: string;
  tag: string;
  digest: string;
}): Fixture {
  const body = {
    type: "PUSH_ARTIFACT",
    occur_at: 1764607251,
    operator: "robot$ci",
    event_data: {
      resources: [
        {
          digest: options.digest,
          tag: options.tag,
          resource_url: `${options.host}/${options.project}/${options.name}:${options.tag}`,
        },
      ],
      repository: {
        date_created: 1730537647,
        name: options.name,
        namespace: options.project,
        repo_full_name: `${options.project}/${options.name}`,
        repo_type: "private",
      },
    },
  };
  return { body: JSON.stringify(body), headers: { "content-type": "application/json" } };
}

/** Quay's repository push notification (current form: `updated_tags` is a list). */
export function quayRepoPush(options: { namespace: string; name: string; tags: string[] }): Fixture {
  const body = {
    name: options.name,
    repository: `${options.namespace}/${options.name}`,
    namespace: options.namespace,
    docker_url: `quay.io/${options.namespace}/${options.name}`,
    homepage: `https://quay.io/repository/${options.namespace}/${options.name}`,
    updated_tags: options.tags,
  };
  return { body: JSON.stringify(body), headers: { "content-type": "application/json" } };
}

/** GitLab's container registry notification: the registry's event envelope, one manifest push. */
export function gitlabRegistryPush(options: {
  host: string;
  repository: string;
  tag: string;
  digest: string;
  id: string;
}): Fixture {
  const body = {
    events: [
      {
        id: options.id,
        timestamp: "2026-12-01T16:40:51.127Z",
        action: "push",
        target: {
          mediaType: "application/vnd.docker.distribution.manifest.v2+json",
          digest: options.digest,
          size: 1578,
          length: 1578,
          repository: options.repository,
          url: `https://${options.host}/v2/${options.repository}/manifests/${options.digest}`,
          tag: options.tag,
        },
        request: {
          id: "b2f6c1de-0a4e-4c8b-9f3d-7e6a5b4c3d2e",
          addr: "10.20.30.40:51234",
          host: options.host,
          method: "PUT",
          useragent: "docker/27.3.1 go/go1.22.7",
        },
        actor: { name: "ci-runner" },
        source: { addr: "registry-7c9d5:5000", instanceID: "e4d3c2b1-a098-4f7e-8d6c-5b4a39281706" },
      },
    ],
  };
  return {
    body: JSON.stringify(body),
    headers: { "content-type": "application/vnd.docker.distribution.events.v2+json" },
  };
}

/** Berth's generic shape. */
export function genericPush(options: { image: string; digest?: string; id?: string }): Fixture {
  return {
    body: JSON.stringify({
      image: options.image,
      ...(options.digest ? { digest: options.digest } : {}),
      ...(options.id ? { id: options.id } : {}),
    }),
    headers: { "content-type": "application/json" },
  };
}

/** A worker service whose container runs a prebuilt image (which it follows when it names a tag). */
export const followingResource = (image: string, follow?: Record<string, unknown>) => ({
  type: "worker-service",
  properties: {
    packaging: { type: "prebuilt-image", properties: { image, ...(follow ? { follow } : {}) } },
    resources: { cpu: 0.25, memory: 512 },
  },
});

const TASK_DEFINITION = "arn:aws:ecs:us-east-1:123456789012:task-definition/berth-followed:3";

/**
 * Stores a stack and its services as an apply would leave them, each deployed once (a live task
 * definition) unless `deployed` is false: what a push needs to find followers.
 */
export async function storeFollowers(
  store: Store,
  stack: string,
  services: Record<string, ReturnType<typeof followingResource>>,
  deployed = true,
  stackFile = "resources: {}\n",
): Promise<void> {
  await StackRecord.put(store, { name: stack, stage: "test", stackFile });
  for (const [name, spec] of Object.entries(services)) {
    const created = await ServiceRecord.create(store, { stack, name, spec });
    if (deployed) {
      await ServiceRecord.update(
        store,
        { stack, name, expectedVersion: created.version },
        { liveTaskDefinitionArn: TASK_DEFINITION },
      );
    }
  }
}

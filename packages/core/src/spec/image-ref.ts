/**
 * An image reference taken apart: `[registry/]repository[:tag][@sha256:…]`. A first part with a
 * dot or a port, or `localhost`, is a registry host; without one the image is Docker Hub's
 * (`docker.io`, with `library/` before a one-part name), as Docker reads it.
 */
export interface ImageRef {
  registry: string;
  repository: string;
  tag?: string;
  digest?: string;
}

const DOCKER_HUB = "docker.io";
const DIGEST = /^sha256:[0-9a-f]{64}$/;

export function parseImageRef(image: string): ImageRef | undefined {
  if (image.length === 0 || /\s/.test(image) || image.includes("://")) return undefined;
  let rest = image;
  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    digest = rest.slice(at + 1);
    if (!DIGEST.test(digest)) return undefined;
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(":");
  if (colon > rest.lastIndexOf("/")) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/.test(tag)) return undefined;
  }
  const slash = rest.indexOf("/");
  const first = slash >= 0 ? rest.slice(0, slash) : "";
  const hasRegistry = slash >= 0 && (first.includes(".") || first.includes(":") || first === "localhost");
  let registry = hasRegistry ? first : DOCKER_HUB;
  let repository = hasRegistry ? rest.slice(slash + 1) : rest;
  if (registry === "index.docker.io" || registry === "registry-1.docker.io") registry = DOCKER_HUB;
  if (registry === DOCKER_HUB && !repository.includes("/")) repository = `library/${repository}`;
  if (
    !/^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/.test(repository)
  ) {
    return undefined;
  }
  return {
    registry: registry.toLowerCase(),
    repository,
    ...(tag !== undefined ? { tag } : digest === undefined ? { tag: "latest" } : {}),
    ...(digest !== undefined ? { digest } : {}),
  };
}

/** `registry/repository@sha256:…`: the form a task definition names a followed image by. */
export function pinnedImage(ref: Pick<ImageRef, "registry" | "repository">, digest: string): string {
  const repository =
    ref.registry === DOCKER_HUB && ref.repository.startsWith("library/")
      ? ref.repository.slice("library/".length)
      : ref.repository;
  return `${ref.registry}/${repository}@${digest}`;
}

import { describe, expect, it } from "vitest";
import { parseImageRef, pinnedImage } from "./image-ref.ts";

const DIGEST = `sha256:${"ab".repeat(32)}`;

/** A reference by tag, as parseImageRef answers it. */
const tagged = (registry: string, repository: string, tag: string) => ({ registry, repository, tag });

describe("image references", () => {
  it("reads Docker Hub names as Docker does: docker.io, library/ before a one-part name, latest by default", () => {
    expect(parseImageRef("nginx")).toEqual(tagged("docker.io", "library/nginx", "latest"));
    expect(parseImageRef("bitnami/redis:7.2")).toEqual(tagged("docker.io", "bitnami/redis", "7.2"));
    expect(parseImageRef("index.docker.io/library/nginx:1")?.registry).toBe("docker.io");
    expect(parseImageRef("registry-1.docker.io/acme/app:1")).toEqual(tagged("docker.io", "acme/app", "1"));
  });

  it("takes a first part with a dot, a port or localhost as the registry host, lower-cased", () => {
    expect(parseImageRef("123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop/web:v2")).toEqual(
      tagged("123456789012.dkr.ecr.eu-west-1.amazonaws.com", "shop/web", "v2"),
    );
    expect(parseImageRef("localhost:5000/app:dev")).toEqual(tagged("localhost:5000", "app", "dev"));
    expect(parseImageRef("GHCR.IO/acme/app:1")?.registry).toBe("ghcr.io");
    // A port is not a tag: the colon is before the last slash.
    expect(parseImageRef("registry.example:8443/team/app")).toEqual(
      tagged("registry.example:8443", "team/app", "latest"),
    );
  });

  it("keeps a digest, with or without a tag", () => {
    expect(parseImageRef(`ghcr.io/acme/app@${DIGEST}`)).toEqual({
      registry: "ghcr.io",
      repository: "acme/app",
      digest: DIGEST,
    });
    expect(parseImageRef(`ghcr.io/acme/app:1.4.2@${DIGEST}`)).toEqual({
      registry: "ghcr.io",
      repository: "acme/app",
      tag: "1.4.2",
      digest: DIGEST,
    });
  });

  it("refuses what is no image reference", () => {
    for (const bad of [
      "",
      "has space:1",
      "file:///tmp/app",
      "ghcr.io/acme/App:1",
      "ghcr.io/acme/app:-bad",
      `ghcr.io/acme/app:${"t".repeat(129)}`,
      "ghcr.io/acme/app@sha256:short",
      "ghcr.io/acme//app",
    ]) {
      expect(parseImageRef(bad), bad).toBeUndefined();
    }
  });

  it("pins a followed image to a digest, in the form Docker Hub names it", () => {
    const hub = parseImageRef("nginx:1.27");
    if (!hub) throw new Error("nginx:1.27 is a reference");
    expect(pinnedImage(hub, DIGEST)).toBe(`docker.io/nginx@${DIGEST}`);
    expect(pinnedImage({ registry: "ghcr.io", repository: "acme/app" }, DIGEST)).toBe(
      `ghcr.io/acme/app@${DIGEST}`,
    );
  });
});

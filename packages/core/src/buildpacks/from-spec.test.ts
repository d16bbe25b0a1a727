import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { Spec } from "../spec/index.ts";
import { Buildpack } from "./index.ts";

const kitchenSink = Spec.parse(
  readFileSync(new URL("../render/__fixtures__/kitchen-sink.yml", import.meta.url), "utf8"),
);

describe("builds for a stack file's packaging", () => {
  if (!kitchenSink.ok) throw new Error("kitchen-sink fixture must be valid");
  const containers = Object.entries(kitchenSink.stack.resources).flatMap(([name, resource]) =>
    Spec.isCompute(resource)
      ? Spec.containersOf(name, resource).map((container) => ({ resource, container }))
      : [],
  );

  it("plans a build for every buildpack and Dockerfile container, none for prebuilt images", () => {
    const kinds = containers.map(({ resource, container }) => {
      const built = Buildpack.planForPackaging(
        container.packaging,
        resource.properties.resources.architecture,
      );
      return [container.name, container.packaging.type, built?.language ?? (built ? "dockerfile" : "none")];
    });
    expect(kinds).toEqual([
      ["privateApi", "stacktape-image-buildpack", "typescript"],
      ["publicService", "prebuilt-image", "none"],
      ["albService", "custom-dockerfile", "dockerfile"],
      ["mailer", "stacktape-image-buildpack", "python"],
      ["frontend", "stacktape-image-buildpack", "typescript"],
      ["backend", "stacktape-image-buildpack", "typescript"],
      ["migrate", "prebuilt-image", "none"],
      ["report", "stacktape-image-buildpack", "typescript"],
    ]);
  });

  it("passes a Dockerfile's path and build arguments through", () => {
    const alb = containers.find(({ container }) => container.name === "albService");
    const built = alb && Buildpack.planForPackaging(alb.container.packaging, "arm64");
    expect(built?.buildspec).toContain("--build-arg NODE_ENV=production");
    expect(built?.buildspec).toContain("linux/arm64");
    expect(built?.local).toMatchObject({ supported: false });
  });
});

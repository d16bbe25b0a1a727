import { version as esbuildVersion } from "esbuild";
import { describe, expect, it } from "vitest";
import { Buildpack } from "./index.ts";
import { catchError } from "./test-support.ts";

const ENTRIES: Record<Buildpack.Language, string> = {
  typescript: "src/main.ts",
  javascript: "server/index.mjs",
  python: "app/main.py",
  go: "cmd/api/main.go",
  java: "src/main/java/com/example/App.java",
};
const ARCHITECTURES = ["x86_64", "arm64"] as const;

const buildpack = (entryfilePath: string, architecture: Buildpack.Architecture = "x86_64") =>
  Buildpack.plan({ packaging: { type: "stacktape-image-buildpack", entryfilePath }, architecture });

const customDockerfile = (architecture: Buildpack.Architecture) =>
  Buildpack.plan({
    packaging: {
      type: "custom-dockerfile",
      buildContextPath: "services/api",
      dockerfilePath: "docker/Dockerfile.prod",
      buildArgs: [
        { argName: "NODE_VERSION", value: "22" },
        { argName: "GREETING", value: `it's "quoted", spaced and $(rm -rf /)` },
      ],
    },
    architecture,
  });

describe("plan: golden files", () => {
  for (const [language, entry] of Object.entries(ENTRIES)) {
    it(`writes the ${language} Dockerfile`, async () => {
      const plan = buildpack(entry);
      expect(plan.language).toBe(language);
      await expect(plan.dockerfile).toMatchFileSnapshot(`./__golden__/${language}.Dockerfile`);
    });

    for (const architecture of ARCHITECTURES) {
      it(`writes the ${language} buildspec for ${architecture}`, async () => {
        await expect(buildpack(entry, architecture).buildspec).toMatchFileSnapshot(
          `./__golden__/buildspec-${language}-${architecture}.yml`,
        );
      });
    }
  }

  for (const architecture of ARCHITECTURES) {
    it(`writes the custom-dockerfile buildspec with build args for ${architecture}`, async () => {
      await expect(customDockerfile(architecture).buildspec).toMatchFileSnapshot(
        `./__golden__/buildspec-custom-dockerfile-${architecture}.yml`,
      );
    });
  }

  it("writes the local plans", async () => {
    const plans = Object.fromEntries(
      Object.entries(ENTRIES).map(([language, entry]) => [language, buildpack(entry).local]),
    );
    plans["custom-dockerfile"] = customDockerfile("x86_64").local;
    await expect(`${JSON.stringify(plans, null, 2)}\n`).toMatchFileSnapshot("./__golden__/local-plans.json");
  });
});

describe("plan", () => {
  it("keeps the platform out of the Dockerfile and in the build command", () => {
    for (const entry of Object.values(ENTRIES)) {
      const x86 = buildpack(entry, "x86_64");
      const arm = buildpack(entry, "arm64");
      expect(arm.dockerfile).toBe(x86.dockerfile);
      expect(x86.dockerfile).not.toMatch(/FROM --platform|linux\//);
      expect([x86.platform, arm.platform]).toEqual(["linux/amd64", "linux/arm64"]);
      expect(x86.buildspec).toContain("docker buildx build --platform linux/amd64 ");
      expect(arm.buildspec).toContain("docker buildx build --platform linux/arm64 ");
    }
  });

  it.each(Object.entries(ENTRIES))("starts a local %s artifact with the image's CMD", (_language, entry) => {
    const plan = buildpack(entry);
    if (!plan.local.supported) throw new Error("expected a local build");
    expect(cmdOf(plan.dockerfile ?? "")).toEqual(plan.local.start.command);
  });

  it("bundles TypeScript with the same esbuild, options and banner locally and in the image", () => {
    const plan = buildpack("src/main.ts");
    if (!plan.local.supported) throw new Error("expected a local build");
    const bundle = plan.local.steps.find((step) => step.kind === "esbuild");
    expect(bundle).toMatchObject({
      entry: "src/main.ts",
      outfile: "dist/app.mjs",
      target: "node22",
      format: "esm",
    });
    const run = plan.dockerfile?.split("\n").find((line) => line.includes(" esbuild@"));
    expect(run).toContain(`esbuild@${esbuildVersion} src/main.ts --bundle --platform=node --target=node22`);
    expect(run).toContain("--format=esm --outfile=dist/app.mjs");
    expect(run).toContain(
      Buildpack.shellQuote(`--banner:js=${bundle?.kind === "esbuild" ? bundle.banner : ""}`),
    );
    expect(bundle?.kind === "esbuild" && bundle.banner).toContain("createRequire");
    expect(plan.dockerfile).toContain("USER node\n");
    expect(plan.dockerfile).toContain("ENV NODE_ENV=production\n");
    expect(plan.dockerfile).toContain("COPY --from=build /app/dist ./dist\n");
  });

  it("normalizes the entry path, and quotes one the shell would otherwise read", () => {
    expect(buildpack("./src//main.ts").dockerfile).toContain(" src/main.ts --bundle");
    const spaced = buildpack("src/my app's main.ts");
    expect(spaced.dockerfile).toContain(` 'src/my app'\\''s main.ts' --bundle`);
    expect(cmdOf(buildpack("tools/$(id) main.py").dockerfile ?? "")).toEqual([
      "python3",
      "tools/$(id) main.py",
    ]);
  });

  it("derives the Maven module and main class from a Java entry file", () => {
    const plan = buildpack("services/billing/src/main/java/com/acme/billing/Main.java");
    expect(plan.dockerfile).toContain("RUN cd services/billing && mvn ");
    expect(cmdOf(plan.dockerfile ?? "")).toEqual(["java", "-cp", "app.jar:lib/*", "com.acme.billing.Main"]);
    const error = catchError(() => buildpack("Main.java"));
    expect(error.code).toBe("INVALID_INPUT");
    expect(error.message).toContain("src/main/java");
  });

  it("points a custom Dockerfile's build at the user's file and has no local build", () => {
    const plan = customDockerfile("x86_64");
    expect(plan.dockerfile).toBeUndefined();
    expect(plan.language).toBeUndefined();
    expect(plan.buildContextPath).toBe("services/api");
    expect(plan.dockerfilePath).toBe("services/api/docker/Dockerfile.prod");
    expect(plan.buildspec).toContain("--file services/api/docker/Dockerfile.prod ");
    expect(plan.buildspec).not.toContain("BERTH_DOCKERFILE");
    expect(plan.local).toEqual({ supported: false, reason: expect.stringContaining("no Docker engine") });
  });

  it("defaults the Dockerfile to the context's, and allows one beside the context", () => {
    const defaulted = Buildpack.plan({
      packaging: { type: "custom-dockerfile", buildContextPath: "." },
      architecture: "arm64",
    });
    expect(defaulted.dockerfilePath).toBe("Dockerfile");
    const beside = Buildpack.plan({
      packaging: {
        type: "custom-dockerfile",
        buildContextPath: "app",
        dockerfilePath: "../docker/app.Dockerfile",
      },
      architecture: "arm64",
    });
    expect(beside.dockerfilePath).toBe("docker/app.Dockerfile");
  });

  it.each([
    [
      { type: "stacktape-image-buildpack", entryfilePath: "/etc/passwd.py" },
      "packaging.entryfilePath",
      "absolute",
    ],
    [
      { type: "stacktape-image-buildpack", entryfilePath: "../other/main.ts" },
      "packaging.entryfilePath",
      "inside",
    ],
    [
      { type: "stacktape-image-buildpack", entryfilePath: "src/main.ts\nRUN id" },
      "packaging.entryfilePath",
      "control",
    ],
    [
      { type: "custom-dockerfile", buildContextPath: ".", dockerfilePath: "../Dockerfile" },
      "packaging.dockerfilePath",
      "inside",
    ],
    [
      { type: "custom-dockerfile", buildContextPath: ".", buildArgs: [{ argName: "A B", value: "x" }] },
      "packaging.buildArgs[0].argName",
      "letters",
    ],
    [{ type: "prebuilt-image", image: "nginx" }, "packaging.type", "a prebuilt image needs no build"],
    [{ type: "stacktape-image-buildpack", entryfilePath: "a.ts", extra: 1 }, "packaging", "extra"],
  ])("rejects %j at %s", (packaging, path, message) => {
    const error = catchError(() => Buildpack.plan({ packaging, architecture: "x86_64" } as never));
    expect(error.code).toBe("INVALID_INPUT");
    expect(error.details).toContainEqual({ path, message: expect.stringContaining(message) });
  });

  it("rejects an entry file of an unsupported language", () => {
    expect(catchError(() => buildpack("main.rb")).code).toBe("UNSUPPORTED_LANGUAGE");
  });
});

/** The exec-form CMD of a Dockerfile's last stage. */
function cmdOf(dockerfile: string): string[] {
  const line = dockerfile.split("\n").findLast((candidate) => candidate.startsWith("CMD "));
  if (line === undefined) throw new Error("the Dockerfile has no CMD");
  return JSON.parse(line.slice("CMD ".length));
}

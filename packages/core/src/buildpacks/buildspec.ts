import { Document } from "yaml";
import type { Architecture, BuildArg } from "./input.ts";
import { shellCommand, shellQuote } from "./shell.ts";

export const PLATFORMS = { x86_64: "linux/amd64", arm64: "linux/arm64" } as const satisfies Record<
  Architecture,
  string
>;
export type Platform = (typeof PLATFORMS)[Architecture];

/** Scratch space of the CodeBuild build, outside the source so no user file is overwritten. */
const BUILD_DIR = "/tmp/berth-build";
export const GENERATED_DOCKERFILE_PATH = `${BUILD_DIR}/Dockerfile`;
export const DIGEST_VARIABLE = "IMAGE_DIGEST";

export interface BuildspecInput {
  architecture: Architecture;
  /** Relative to the source root, where CodeBuild starts every command. */
  buildContextPath: string;
  /** Relative to the source root; ignored when `generatedDockerfile` is given. */
  dockerfilePath: string;
  buildArgs: readonly BuildArg[];
  /** A Dockerfile Berth wrote, carried inside the buildspec. */
  generatedDockerfile?: string;
}

/**
 * A CodeBuild buildspec that builds the image for one platform, pushes it to `$REPOSITORY_URI`
 * and exports the pushed digest as `IMAGE_DIGEST`, so a deployment refers to exactly the
 * image that was built. It needs `REPOSITORY_URI` and `AWS_REGION`; `IMAGE_TAG` is optional;
 * a `BERTH_SOURCE` of `s3://…` (a gzipped tar) is unpacked into the source directory first.
 *
 * For an architecture without emulation, the CodeBuild project should run on the same one
 * (an ARM environment for arm64): `--platform` then only states what the host already is.
 */
export function renderBuildspec(input: BuildspecInput): string {
  const variables: Record<string, string> = { BERTH_BUILD_DIR: BUILD_DIR };
  const preBuild = [
    // Fail at the first command with the variable's name, not at a confusing docker error later.
    `: "\${REPOSITORY_URI:?must be the ECR repository URI}" "\${AWS_REGION:?must be set}"`,
    'mkdir -p "$BERTH_BUILD_DIR"',
    // The project has no source of its own: an uploaded source (AWS) is fetched into the directory
    // every command starts in, so the build context path means the same as in Berth Local, where
    // BERTH_SOURCE is a file:// directory the local builder reads. `;`, not `&&`: bash ignores
    // `set -e` for a failure inside an `&&` list, and a failed download must stop the phase.
    `if [[ "\${BERTH_SOURCE:-}" == s3://* ]]; then aws s3 cp --no-progress "$BERTH_SOURCE" "$BERTH_BUILD_DIR/source.tar.gz"; tar -xzf "$BERTH_BUILD_DIR/source.tar.gz" -C "$CODEBUILD_SRC_DIR"; fi`,
  ];
  let dockerfile = `"$BERTH_BUILD_DIR/Dockerfile"`;
  if (input.generatedDockerfile === undefined) {
    dockerfile = shellQuote(input.dockerfilePath);
  } else {
    // Base64 only has characters that YAML, the shell and CodeBuild's variable handling all
    // leave alone, so the Dockerfile arrives byte for byte; a heredoc would instead depend on
    // how YAML folds a block scalar and would end early at a line equal to its delimiter.
    variables.BERTH_DOCKERFILE = Buffer.from(input.generatedDockerfile, "utf8").toString("base64");
    preBuild.push(`printf '%s' "$BERTH_DOCKERFILE" | base64 --decode > ${dockerfile}`);
  }
  preBuild.push(
    // The registry host is the repository URI up to its first slash.
    `set -o pipefail; aws ecr get-login-password --region "$AWS_REGION" | docker login --username AWS --password-stdin "\${REPOSITORY_URI%%/*}"`,
    // The default `docker` driver cannot export a registry cache; a BuildKit container can.
    "docker buildx create --name berth --driver docker-container --use --bootstrap",
  );

  const cacheRef = "type=registry,ref=$REPOSITORY_URI:buildcache";
  const build = [
    "docker buildx build",
    `--platform ${PLATFORMS[input.architecture]}`,
    `--file ${dockerfile}`,
    ...input.buildArgs.map((arg) => `--build-arg ${shellQuote(`${arg.argName}=${arg.value}`)}`),
    `--cache-from "${cacheRef}"`,
    // ECR stores a cache only as an image manifest with OCI media types.
    `--cache-to "${cacheRef},mode=max,image-manifest=true,oci-mediatypes=true"`,
    // Without an attestation manifest the pushed digest is the image's own manifest.
    "--provenance=false",
    '--metadata-file "$BERTH_BUILD_DIR/metadata.json"',
    `--tag "$REPOSITORY_URI:\${IMAGE_TAG:-build-$CODEBUILD_BUILD_NUMBER}"`,
    "--push",
    shellCommand([input.buildContextPath]),
  ].join(" ");

  const spec = {
    version: 0.2,
    env: {
      // bash for `pipefail` and `${VAR%%pattern}`; CodeBuild's default is sh.
      shell: "bash",
      variables,
      "exported-variables": [DIGEST_VARIABLE],
    },
    phases: {
      pre_build: { commands: preBuild },
      build: {
        commands: [
          build,
          // Exported so that CodeBuild finds it in the environment when the phase ends.
          `export ${DIGEST_VARIABLE}="$(jq -r '."containerimage.digest" // empty' "$BERTH_BUILD_DIR/metadata.json")"`,
          `[[ "$${DIGEST_VARIABLE}" == sha256:* ]] || { echo "berth: the build reported no pushed image digest" >&2; false; }`,
          `echo "$REPOSITORY_URI@$${DIGEST_VARIABLE}"`,
        ],
      },
    },
  };
  const document = new Document(spec);
  document.commentBefore =
    " Generated by Berth. Needs REPOSITORY_URI and AWS_REGION; exports IMAGE_DIGEST (the pushed image's digest).";
  // Folding long commands over several lines would be correct YAML, but hard to read and diff.
  return document.toString({ lineWidth: 0 });
}

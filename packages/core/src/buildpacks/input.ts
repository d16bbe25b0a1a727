import { posix } from "node:path";
import { z } from "zod";
import { formatPath } from "../spec/issues.ts";
import { BuildpackError } from "./errors.ts";
import { Language } from "./language.ts";
import { normalizeRelativePath, pathSyntaxProblem, RelativePath } from "./paths.ts";

export const Architecture = z.enum(["x86_64", "arm64"]);
export type Architecture = z.infer<typeof Architecture>;

export const BuildArg = z.strictObject({
  // The name is written unquoted after `--build-arg` and referenced as `${NAME}` in Dockerfiles.
  argName: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "must be letters, digits and underscores, not starting with a digit"),
  // A shell argument cannot carry a NUL byte; everything else is quoted.
  value: z.string().refine((value) => !value.includes("\0"), "must not contain a NUL character"),
});
export type BuildArg = z.infer<typeof BuildArg>;

const BuildpackPackaging = z.strictObject({
  type: z.literal("stacktape-image-buildpack"),
  /** Relative to the source root, which is also the build context. */
  entryfilePath: RelativePath,
  /** Overrides the language the entry file's extension implies. */
  language: Language.optional(),
});

export const CustomDockerfilePackaging = z
  .strictObject({
    type: z.literal("custom-dockerfile"),
    /** Relative to the source root. */
    buildContextPath: RelativePath,
    /** Relative to the build context; may lie outside it, never outside the source root. */
    dockerfilePath: z.string().default("Dockerfile"),
    buildArgs: z.array(BuildArg).default([]),
  })
  .superRefine((packaging, ctx) => {
    const problem =
      pathSyntaxProblem(packaging.dockerfilePath) ??
      problemOf(normalizeRelativePath(dockerfileFromSourceRoot(packaging)));
    if (problem) ctx.addIssue({ code: "custom", path: ["dockerfilePath"], message: problem });
  });

/** The Dockerfile's path relative to the source root, which is where the build runs. */
export function dockerfileFromSourceRoot(packaging: { buildContextPath: string; dockerfilePath: string }) {
  return posix.join(packaging.buildContextPath, packaging.dockerfilePath);
}

function problemOf(result: { path: string } | { problem: string }): string | undefined {
  return "problem" in result ? result.problem : undefined;
}

export const PlanInput = z.strictObject({
  packaging: z.discriminatedUnion("type", [BuildpackPackaging, CustomDockerfilePackaging], {
    error: (issue) =>
      issue.code === "invalid_union"
        ? "packaging type must be stacktape-image-buildpack or custom-dockerfile (a prebuilt image needs no build)"
        : undefined,
  }),
  architecture: Architecture,
});
export type PlanInput = z.infer<typeof PlanInput>;
export type PlanInputDraft = z.input<typeof PlanInput>;

/** `input` validated, or a `BuildpackError` that names every offending field. */
export function parsePlanInput(input: unknown): PlanInput {
  const result = PlanInput.safeParse(input);
  if (result.success) return result.data;
  const details = result.error.issues.map((issue) => ({
    path: formatPath(issue.path.filter((segment) => typeof segment !== "symbol")),
    message: issue.message,
  }));
  const summary = details.map((detail) => `${detail.path || "(input)"}: ${detail.message}`).join("; ");
  throw new BuildpackError("INVALID_INPUT", `invalid build input: ${summary}`, details);
}

import { stat } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { Buildpack } from "../buildpacks/index.ts";
import { BerthError, type ErrorDetail } from "../errors.ts";
import { Spec } from "../spec/index.ts";

/** Where a container's packaging sits in the stack file, from `resources`. */
function packagingPath(resourceName: string, resource: Spec.ComputeResource, index: number): string {
  switch (resource.type) {
    case "multi-container-workload":
      return `resources.${resourceName}.properties.containers[${index}].packaging`;
    case "batch-job":
      return `resources.${resourceName}.properties.container.packaging`;
    default:
      return `resources.${resourceName}.properties.packaging`;
  }
}

/**
 * Refuses an apply whose builds would be refused: the same checks Berth Local's builder makes,
 * made where the API can read the source (a `file://` directory). An `s3://` archive is checked
 * by the client that packed it, and by the build.
 */
export async function checkSources(stack: Spec.Stack, source: string | undefined): Promise<void> {
  if (source === undefined || !source.startsWith("file:")) return;
  const built = Object.entries(stack.resources).flatMap(([name, resource]) =>
    Spec.isCompute(resource)
      ? Spec.containersOf(name, resource).flatMap((container, index) =>
          container.packaging.type === "prebuilt-image"
            ? []
            : [{ path: packagingPath(name, resource, index), packaging: container.packaging }],
        )
      : [],
  );
  if (built.length === 0) return;
  let directory: string;
  try {
    directory = fileURLToPath(source);
  } catch (error) {
    throw new BerthError(
      "INVALID_INPUT",
      `source ${source} is not a file URL of an absolute directory`,
      [{ path: "query.source", message: (error as Error).message }],
      { cause: error },
    );
  }
  if (!(await stat(directory).catch(() => undefined))?.isDirectory()) {
    throw new BerthError("INVALID_INPUT", `the source directory ${directory} does not exist`, [
      { path: "query.source", message: `${directory} does not exist or is not a directory` },
    ]);
  }
  const details: ErrorDetail[] = [];
  for (const { path, packaging } of built) {
    for (const problem of await Buildpack.sourceProblems(directory, packaging)) {
      details.push({
        path: problem.property ? `${path}.${problem.property}` : path,
        message: problem.message,
      });
    }
  }
  if (details.length > 0) {
    const count = details.length === 1 ? "1 problem" : `${details.length} problems`;
    throw new BerthError("INVALID_INPUT", `the source in ${directory} cannot be built: ${count}`, details);
  }
}

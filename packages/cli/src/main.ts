import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { Render } from "@berth/core/render";
import { Spec } from "@berth/core/spec";
import { parse as parseYaml } from "yaml";

const USAGE = `Usage: berth <command> [options]

Commands:
  validate -f FILE                 check a stack file; print every problem as FILE:LINE:COL path: message
  render -f FILE [--resource NAME] [--stack NAME] [--env FILE] [--update]
                                   print the AWS requests the stack becomes, as JSON
  help                             show this text

Options:
  -f, --file FILE    stack file (default: ${Spec.DEFAULT_FILE_NAME})
  --resource NAME    render one resource only
  --stack NAME       stack name used in AWS names (default: demo)
  --env FILE         environment (YAML or JSON): account, region, cluster, network, roles...
                     (default: Berth Local's)
  --update           render UpdateService instead of CreateService

Exit status: 0 when valid, 1 when the stack file has problems, 2 on usage or I/O errors.`;

/** What the CLI writes; tests pass their own to capture it. */
export interface Output {
  out: (text: string) => void;
  err: (text: string) => void;
}

const processOutput: Output = {
  out: (text) => process.stdout.write(`${text}\n`),
  err: (text) => process.stderr.write(`${text}\n`),
};

class UsageError extends Error {}

export async function main(argv: string[], io: Output = processOutput): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case "validate":
        return validate(rest, io);
      case "render":
        return render(rest, io);
      case undefined:
      case "help":
      case "--help":
      case "-h":
        io.out(USAGE);
        return command === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command "${command}"`);
    }
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(`berth: ${error.message}\n\n${USAGE}`);
      return 2;
    }
    if (error instanceof Render.RenderError) {
      io.err(`berth: ${error.message}`);
      return 1;
    }
    throw error;
  }
}

function options(args: string[], extra: Record<string, { type: "string" | "boolean" }> = {}) {
  try {
    return parseArgs({
      args,
      options: { file: { type: "string", short: "f" }, ...extra },
      allowPositionals: false,
      strict: true,
    }).values as Record<string, string | boolean | undefined>;
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

function readText(fileName: string): string {
  try {
    return readFileSync(fileName, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new UsageError(
      code === "ENOENT" ? `${fileName}: no such file` : `${fileName}: ${(error as Error).message}`,
    );
  }
}

/** Parses the stack file, printing its problems; undefined when it has any. */
function load(fileName: string, io: Output): Spec.Stack | undefined {
  const result = Spec.parse(readText(fileName));
  if (result.ok) return result.stack;
  for (const issue of result.issues) io.err(Spec.formatIssue(fileName, issue));
  io.err(`${fileName}: ${result.issues.length} problem${result.issues.length === 1 ? "" : "s"}`);
  return undefined;
}

function validate(args: string[], io: Output): number {
  const values = options(args);
  const fileName = (values.file as string | undefined) ?? Spec.DEFAULT_FILE_NAME;
  const stack = load(fileName, io);
  if (!stack) return 1;
  const names = Object.entries(stack.resources).map(([name, resource]) => `${name} (${resource.type})`);
  io.out(`${fileName}: valid, ${names.length} resource${names.length === 1 ? "" : "s"}: ${names.join(", ")}`);
  return 0;
}

function render(args: string[], io: Output): number {
  const values = options(args, {
    resource: { type: "string" },
    stack: { type: "string" },
    env: { type: "string" },
    update: { type: "boolean" },
  });
  const fileName = (values.file as string | undefined) ?? Spec.DEFAULT_FILE_NAME;
  const stack = load(fileName, io);
  if (!stack) return 1;
  const stackName = values.stack as string | undefined;
  let env: Render.Environment;
  if (typeof values.env === "string") {
    const parsed = Render.Environment.safeParse({
      ...(parseYaml(readText(values.env)) as object),
      ...(stackName ? { stack: stackName } : {}),
    });
    if (!parsed.success) {
      for (const issue of parsed.error.issues)
        io.err(`${values.env} ${issue.path.join(".") || "(file)"}: ${issue.message}`);
      return 1;
    }
    env = parsed.data;
  } else {
    env = Render.localEnvironment(stack, stackName ? { stack: stackName } : {});
  }
  const resource = values.resource as string | undefined;
  const requests = Render.renderStack(stack, env, {
    ...(resource ? { resource } : {}),
    mode: values.update ? "update" : "create",
  });
  io.out(JSON.stringify(requests, null, 2));
  return 0;
}

import { Render } from "@berth/core/render";
import { Spec } from "@berth/core/spec";
import { parse as parseYaml } from "yaml";
import { type Context, FILE_OPTION, parseOptions, readText, stringOption, UsageError } from "./command.ts";
import { loadStackSource } from "./stack-source.ts";

// `berth validate` and `berth render`: the commands that read a stack file here. Loaded on demand
// (main.ts), as the API commands are: core's spec and render modules, and zod with them, take
// about half a second of CPU to import, which `berth status` or `berth logs` does not need.

export async function validate(args: string[], io: Context): Promise<number> {
  const { values } = parseOptions(args, FILE_OPTION);
  const fileName = stringOption(values, "file") ?? Spec.DEFAULT_FILE_NAME;
  const stack = (await loadStackSource(fileName, io.cwd, io))?.stack;
  if (!stack) return 1;
  const names = Object.entries(stack.resources).map(([name, resource]) => `${name} (${resource.type})`);
  io.out(`${fileName}: valid, ${names.length} resource${names.length === 1 ? "" : "s"}: ${names.join(", ")}`);
  return 0;
}

export async function render(args: string[], io: Context): Promise<number> {
  const { values } = parseOptions(args, {
    ...FILE_OPTION,
    resource: { type: "string" },
    stack: { type: "string" },
    env: { type: "string" },
    update: { type: "boolean" },
  });
  const fileName = stringOption(values, "file") ?? Spec.DEFAULT_FILE_NAME;
  const stack = (await loadStackSource(fileName, io.cwd, io))?.stack;
  if (!stack) return 1;
  const stackName = values.stack as string | undefined;
  let env: Render.Environment;
  if (typeof values.env === "string") {
    let fields: unknown;
    try {
      fields = parseYaml(readText(values.env, io.cwd));
    } catch (error) {
      if (error instanceof UsageError) throw error;
      throw new UsageError(`${values.env}: ${(error as Error).message.split("\n")[0]}`);
    }
    const parsed = Render.Environment.safeParse({
      ...(fields as object),
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
  let requests: ReturnType<typeof Render.renderStack>;
  try {
    requests = Render.renderStack(stack, env, {
      ...(resource ? { resource } : {}),
      mode: values.update ? "update" : "create",
    });
  } catch (error) {
    if (!(error instanceof Render.RenderError)) throw error;
    io.err(`berth: ${error.message}`);
    return 1;
  }
  io.out(JSON.stringify(requests, null, 2));
  return 0;
}

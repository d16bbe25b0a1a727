import { resolve } from "node:path";
import { type Context, parseOptions, stringOption, UsageError } from "./command.ts";

/** Berth Local's AWS-compatible endpoint, where its ECR lives. */
const DEFAULT_LOCAL_AWS_URL = "http://127.0.0.1:4566";

const IMAGE =
  /^berth\.local\/([a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*):([A-Za-z0-9_][A-Za-z0-9_.-]{0,127})$/;

/**
 * `berth push DIR --image berth.local/REPO:TAG [--command "CMD ARG..."]`: stores DIR as an image
 * in Berth Local's ECR under that tag (content-addressed), which publishes the push event ECR
 * would; services that follow the tag are deployed from it. Berth Local only: on AWS, push with
 * docker to ECR.
 */
export async function push(args: string[], context: Context): Promise<number> {
  const { values, positionals } = parseOptions(
    args,
    { image: { type: "string" }, command: { type: "string" } },
    true,
  );
  const [directory, ...extra] = positionals;
  if (!directory || extra.length > 0)
    throw new UsageError("push takes one directory: berth push DIR --image berth.local/REPO:TAG");
  const image = stringOption(values, "image");
  if (!image) throw new UsageError("push needs --image berth.local/REPO:TAG");
  const match = IMAGE.exec(image);
  if (!match) {
    throw new UsageError(
      `--image ${image} is not berth.local/REPO:TAG (REPO: lowercase letters, digits, . _ - and /; TAG: up to 128 letters, digits, _ . -). berth push stores images in Berth Local only; on AWS, push with docker to ECR`,
    );
  }
  const command = stringOption(values, "command");
  const base = (context.env.AWS_ENDPOINT_URL?.trim() || DEFAULT_LOCAL_AWS_URL).replace(/\/+$/, "");
  let response: Response;
  try {
    response = await fetch(`${base}/_local/ecr/push`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        directory: resolve(context.cwd, directory),
        repository: match[1],
        tag: match[2],
        ...(command ? { command: command.split(/\s+/).filter((part) => part.length > 0) } : {}),
      }),
      signal: context.signal,
    });
  } catch (error) {
    context.err(
      `berth: cannot reach Berth Local's endpoint at ${base} (${(error as Error).message}); start it with npm start, or set AWS_ENDPOINT_URL`,
    );
    return 1;
  }
  const text = await response.text();
  let body: { error?: string; digest?: string; reused?: boolean; unchanged?: boolean } = {};
  try {
    body = JSON.parse(text);
  } catch {
    // not Berth Local: reported below
  }
  if (response.status === 404 || (!body.digest && !body.error)) {
    context.err(
      `berth: ${base} is not Berth Local's endpoint (it answered ${response.status}); berth push works with Berth Local only`,
    );
    return 1;
  }
  if (!response.ok || !body.digest) {
    context.err(`berth: push refused: ${body.error ?? text}`);
    return response.status >= 400 && response.status < 500 ? 2 : 1;
  }
  context.out(
    `pushed ${image} → ${body.digest}${body.unchanged ? " (the tag already named this content)" : body.reused ? " (content already stored)" : ""}`,
  );
  context.out("services that follow this tag are deployed by the push event; see berth status");
  return 0;
}

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureConsoleBuilt } from "@berth/web/build";
import { App } from "sst/constructs/App.js";
import { setProject } from "sst/project.js";
import { installBerth } from "./index.ts";
import type { StageSettings } from "./settings.ts";

/** The account and region of every offline synthesis: fixed, so templates are reproducible. */
export const OFFLINE_ACCOUNT = "123456789012";
export const OFFLINE_REGION = "us-east-1";

export interface OfflineSynthesis {
  settings: StageSettings;
  /** CloudFormation stack name → template, in deployment order. */
  templates: Map<string, Template>;
  /** The stack function's name (`Store`) → CloudFormation stack name (`test-berth-Store`). */
  stackNames: Map<string, string>;
  /** Context lookups nothing answered: their constructs were synthesized with dummy values. */
  missingContext: string[];
}

// biome-ignore lint/suspicious/noExplicitAny: a CloudFormation template is arbitrary JSON.
export type Template = Record<string, any>;

/**
 * Synthesizes the SST app in this process, with no AWS credentials and no network: the same
 * stacks `sst deploy` creates, from the same `installBerth`.
 *
 * What `sst deploy` does first is stood in for: the project SST would load from sst.config.ts
 * (`setProject`), the account it would ask STS for (a fixed one). Function bundling is skipped
 * (`aws:cdk:bundling-stacks` empty, see stacks/bundling.ts) and assets are left where they are
 * (`aws:cdk:disable-asset-staging`), so nothing is built or copied: templates only.
 */
export async function synthesizeOffline(options: {
  stage: string;
  settings?: Parameters<typeof installBerth>[1];
  /** Answers to context lookups `sst deploy` would make in the account (an existing VPC). */
  context?: Record<string, unknown>;
}): Promise<OfflineSynthesis> {
  // The Console stack uploads the console's build: build it first when missing or stale.
  await ensureConsoleBuilt((line) => console.error(line));
  const work = mkdtempSync(join(tmpdir(), "berth-synth-"));
  // SST's logger keeps writing its debug.log here after synthesis returns.
  process.once("exit", () => rmSync(work, { recursive: true, force: true }));
  const previousNodeEnv = process.env.NODE_ENV;
  try {
    setProject({
      config: {
        name: "berth",
        stage: options.stage,
        region: OFFLINE_REGION,
        ssmPrefix: `/sst/berth/${options.stage}/`,
      },
      version: "offline",
      cdkVersion: "offline",
      constructsVersion: "offline",
      paths: { root: process.cwd(), config: "sst.config.ts", out: work, artifacts: join(work, "artifacts") },
      metafile: { inputs: {}, outputs: {} },
      stacks: () => {},
    });
    const app = new App(
      {
        mode: "deploy",
        stage: options.stage,
        name: "berth",
        region: OFFLINE_REGION,
        account: OFFLINE_ACCOUNT,
      },
      {
        outdir: join(work, "out"),
        context: {
          "aws:cdk:bundling-stacks": [],
          "aws:cdk:disable-asset-staging": true,
          // What `sst deploy` would look up in the account: the region's availability zones.
          [`availability-zones:account=${OFFLINE_ACCOUNT}:region=${OFFLINE_REGION}`]: [
            `${OFFLINE_REGION}a`,
            `${OFFLINE_REGION}b`,
            `${OFFLINE_REGION}c`,
          ],
          ...options.context,
        },
      },
    );
    const settings = installBerth(app, options.settings);
    // SST skips the bootstrap lookup (an AWS call) when it believes a test runs it.
    process.env.NODE_ENV = "test";
    await app.finish();
    const assembly = app.synth();
    const templates = new Map<string, Template>();
    const stackNames = new Map<string, string>();
    for (const artifact of assembly.stacks) {
      templates.set(artifact.stackName, artifact.template as Template);
      stackNames.set(artifact.stackName.replace(`${options.stage}-berth-`, ""), artifact.stackName);
    }
    const missingContext = (assembly.manifest.missing ?? []).map((missing) => missing.key);
    return { settings, templates, stackNames, missingContext };
  } finally {
    if (previousNodeEnv === undefined) delete process.env.NODE_ENV;
    else process.env.NODE_ENV = previousNodeEnv;
  }
}

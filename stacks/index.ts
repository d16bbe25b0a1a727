import type { App } from "sst/constructs/App.js";
import { Api } from "./api.ts";
import { Cluster } from "./cluster.ts";
import { Console } from "./console.ts";
import { Events } from "./events.ts";
import { Functions } from "./functions.ts";
import { Iam } from "./iam.ts";
import { suppress } from "./nag.ts";
import { Network } from "./network.ts";
import { Registry } from "./registry.ts";
import { provideSettings, resolveSettings, type StageSettings } from "./settings.ts";
import { Store } from "./store.ts";
import { Workflows } from "./workflows.ts";

/** In dependency order: a stack may `use` only the ones before it. */
export const STACKS = [
  Network,
  Cluster,
  Store,
  Registry,
  Iam,
  Functions,
  Workflows,
  Console,
  Api,
  Events,
] as const;

type Overrides = Parameters<typeof resolveSettings>[1];

/** Adds Berth's stacks to an SST app: from `sst.config.ts`, and offline from the tests and `npm run synth`. */
export function installBerth(app: App, overrides?: Overrides): StageSettings {
  const settings = resolveSettings(app.stage, overrides);
  provideSettings(app, settings);
  for (const stack of STACKS) app.stack(stack);
  for (const child of app.node.children) {
    // SST gives every stack a custom resource handler whether or not a construct uses it;
    // Berth uses none of SST's constructs, so it is never invoked.
    const handler = child.node.tryFindChild("CustomResourceHandler");
    if (handler) {
      suppress(handler, [
        {
          id: "AwsSolutions-IAM4",
          reason:
            "SST's per-stack custom resource handler (unused by Berth) has the managed basic execution policy",
        },
        {
          id: "AwsSolutions-L1",
          reason: "The runtime of SST's per-stack custom resource handler (unused by Berth) is SST's choice",
        },
      ]);
    }
  }
  return settings;
}

import type { SSTConfig } from "sst";
import { installBerth } from "./stacks/index.ts";

/**
 * The SST v2 app that installs Berth in an AWS account: `npx sst deploy --stage <stage>
 * [--region <region>]`. Stage settings live in stacks/settings.ts; the stacks, one per concern,
 * in stacks/ (see stacks/README.md).
 */
export default {
  config() {
    return { name: "berth", region: "us-east-1" };
  },
  stacks(app) {
    installBerth(app);
  },
} satisfies SSTConfig;

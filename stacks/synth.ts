import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { REPOSITORY_ROOT } from "./bundling.ts";
import { synthesizeOffline } from "./offline.ts";

/**
 * `npm run synth [-- --stage <stage>]`: every stack's CloudFormation template, as `sst deploy`
 * would create it, in infra.out/<stack>.template.json. Offline: no AWS account, no credentials.
 */
const { values } = parseArgs({ options: { stage: { type: "string", default: "dev" } } });
const stage = values.stage ?? "dev";
const out = join(REPOSITORY_ROOT, "infra.out");

const started = Date.now();
const { templates } = await synthesizeOffline({ stage });
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
for (const [stackName, template] of templates) {
  writeFileSync(join(out, `${stackName}.template.json`), `${JSON.stringify(template, null, 2)}\n`);
  console.log(`infra.out/${stackName}.template.json`);
}
console.log(`${templates.size} templates for stage ${stage} in ${Date.now() - started} ms`);

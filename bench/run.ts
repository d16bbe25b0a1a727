/** `npm run bench [-- NAME...]`: runs every benchmark in bench/ (or the named ones), one after another. */
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";

const dir = fileURLToPath(new URL(".", import.meta.url));
const helpers = new Set(["run.ts", "machine.ts"]);
const all = readdirSync(dir)
  .filter((name) => name.endsWith(".ts") && !helpers.has(name))
  .map((name) => name.replace(/\.ts$/, ""));
const chosen = process.argv.slice(2).length > 0 ? process.argv.slice(2) : all;
let failed = 0;
for (const name of chosen) {
  if (!all.includes(name)) {
    console.error(`no benchmark "${name}"; there are: ${all.join(", ")}`);
    process.exit(2);
  }
  console.log(`\n== ${name}`);
  const run = spawnSync("npx", ["tsx", `${dir}${name}.ts`], { stdio: "inherit" });
  if (run.status !== 0) failed += 1;
}
process.exit(failed > 0 ? 1 : 0);

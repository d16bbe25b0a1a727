import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { AssetHashType } from "aws-cdk-lib";
import * as lambda from "aws-cdk-lib/aws-lambda";

/**
 * The directory of sst.config.ts. Found by walking up rather than from this file's place: SST
 * bundles sst.config.ts and everything it imports into one file at the repository root.
 */
export const REPOSITORY_ROOT = (() => {
  let directory = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(directory, "sst.config.ts"))) {
    const parent = dirname(directory);
    if (parent === directory) throw new Error("no sst.config.ts above stacks/");
    directory = parent;
  }
  return directory;
})();

/**
 * esbuild, loaded when a handler is bundled. Through `createRequire` so that SST's bundling of
 * sst.config.ts leaves it out: esbuild's API cannot run from inside a bundle.
 */
function esbuild(): typeof import("esbuild") {
  return createRequire(join(REPOSITORY_ROOT, "package.json"))("esbuild") as typeof import("esbuild");
}

/** The manifest's `packages/functions/src/<path>.handler` as a source file and an export name. */
function handlerSource(handler: string): { file: string; exportName: string } {
  const dot = handler.lastIndexOf(".");
  if (dot <= 0) throw new Error(`handler ${handler} is not <path>.<export>`);
  return { file: `${handler.slice(0, dot)}.ts`, exportName: handler.slice(dot + 1) };
}

/**
 * The handler's code, bundled by esbuild into one ES module when the asset is staged.
 *
 * The bundling is CDK's own asset bundling, done locally: CDK skips it, and with it esbuild,
 * for stacks outside the `aws:cdk:bundling-stacks` context, which the offline synthesis
 * (`stacks/offline.ts`, used by `npm run synth` and the tests) sets to none — so templates come
 * out in seconds and a handler that does not exist yet fails only a real deploy. Asset hashes
 * are then placeholders; `sst deploy` bundles and hashes the real output.
 */
export function handlerCode(handler: string): { code: lambda.Code; handler: string } {
  const { file, exportName } = handlerSource(handler);
  const entry = join(REPOSITORY_ROOT, file);
  const code = lambda.Code.fromAsset(REPOSITORY_ROOT, {
    // Hashing the repository would be slow and meaningless: the bundle is what is deployed.
    assetHashType: AssetHashType.OUTPUT,
    bundling: {
      // Required by the type, never run: local bundling below either succeeds or throws.
      image: lambda.Runtime.NODEJS_22_X.bundlingImage,
      // CDK caches staged assets by source path and bundling options, and the local bundler (a
      // function) is not part of that key: without this, every function would get the first
      // one's bundle.
      environment: { BERTH_HANDLER: handler },
      local: {
        tryBundle(outputDir: string): boolean {
          if (!existsSync(entry)) throw new Error(`${handler}: ${file} does not exist`);
          const result = esbuild().buildSync({
            entryPoints: [entry],
            absWorkingDir: REPOSITORY_ROOT,
            outfile: join(outputDir, "index.mjs"),
            bundle: true,
            platform: "node",
            target: "node22",
            format: "esm",
            mainFields: ["module", "main"],
            // The SDK is bundled rather than taken from the runtime, so the deployed code runs
            // exactly the client versions the tests ran.
            external: [],
            // Some dependencies still `require` Node built-ins; ESM output has no `require`.
            banner: {
              js: "import { createRequire as berthCreateRequire } from 'node:module'; const require = berthCreateRequire(import.meta.url);",
            },
            keepNames: true,
            legalComments: "none",
            logLevel: "warning",
          });
          if (result.errors.length > 0) throw new Error(`${handler}: esbuild failed`);
          return true;
        },
      },
    },
  });
  return { code, handler: `index.${exportName}` };
}

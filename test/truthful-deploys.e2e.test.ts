import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { HEALTH_CHECK_TIMING, HTTP_HEALTH_CHECK } from "./support/apps.ts";
import type { BerthApi, Deployment, DeploymentEvent } from "./support/berth-api.ts";
import type { BerthLocalProcess } from "./support/berth-local-process.ts";
import { berthLocalForFile, e2eWorkspace, runBerth, TEST_STABILITY_SECONDS } from "./support/e2e.ts";

/**
 * "Truthful deploys" end to end on Berth Local, through the `berth` CLI and the HTTP API: a change
 * to source alone is deployed and no change is not; a failed first deployment is retried by the
 * same file and can be redeployed; a dry run refuses what the deployment would refuse.
 */

const workspace = e2eWorkspace("berth-truthful-");
const { work, adminToken } = workspace;

let local: BerthLocalProcess | undefined;
let api: BerthApi;

/** A TypeScript app built by the buildpack: answers its VERSION (from source) and refuses to start without `gate`. */
function writeApp(name: string, version: string, gate?: string): string {
  const dir = join(work, "apps", name);
  mkdirSync(join(dir, "src"), { recursive: true });
  writeFileSync(join(dir, "src", "version.ts"), `export const VERSION = ${JSON.stringify(version)};\n`);
  writeFileSync(
    join(dir, "src", "main.ts"),
    [
      'import { existsSync } from "node:fs";',
      'import { createServer } from "node:http";',
      'import { VERSION } from "./version.ts";',
      "if (process.env.GATE && !existsSync(process.env.GATE)) {",
      '  console.error("no gate: " + process.env.GATE);',
      "  process.exit(3);",
      "}",
      'createServer((_request, response) => response.end(VERSION)).listen(Number(process.env.PORT), "127.0.0.1");',
    ].join("\n"),
  );
  writeFileSync(join(dir, ".gitignore"), "notes/\n");
  writeFileSync(
    join(dir, "berth.yml"),
    stringify({
      resources: {
        api: {
          type: "private-service",
          properties: {
            packaging: { type: "stacktape-image-buildpack", properties: { entryfilePath: "src/main.ts" } },
            resources: { cpu: 0.25, memory: 512 },
            failFast: { stabilitySeconds: TEST_STABILITY_SECONDS },
            environment: gate ? [{ name: "GATE", value: gate }] : [],
            internalHealthCheck: {
              healthCheckCommand: HTTP_HEALTH_CHECK,
              ...HEALTH_CHECK_TIMING,
              retries: 1,
              startPeriodSeconds: 0,
            },
          },
        },
      },
    }),
  );
  return dir;
}

function berth(args: string[]): Promise<{ code: number; output: string }> {
  return runBerth(args, { apiUrl: local?.apiUrl ?? "", token: adminToken, cwd: work });
}

async function deployments(stack: string, service: string): Promise<Deployment[]> {
  const { deployments: found } = await api.request<{ deployments: Deployment[] }>(
    "GET",
    `/v1/stacks/${stack}/services/${service}/deployments?limit=100`,
  );
  return found;
}

async function builtEvents(id: string): Promise<DeploymentEvent[]> {
  const { events } = await api.deployment(id);
  return events.filter((event) => event.type === "built");
}

berthLocalForFile(workspace, (running) => {
  local = running.local;
  api = running.api;
});

describe("truthful deploys on Berth Local", () => {
  it("deploys a change to source alone, deploys nothing when nothing changed, and rebuilds everything with --force", async () => {
    const dir = writeApp("source", "v1");
    const file = join(dir, "berth.yml");
    const deploy = (...extra: string[]) =>
      berth(["deploy", "-f", file, "--stack", "src", "--timeout", "3m", ...extra]);

    const first = await deploy();
    expect(first.code, first.output).toBe(0);
    expect(await deployments("src", "api")).toHaveLength(1);

    const again = await deploy();
    expect(again.code, again.output).toBe(0);
    expect(again.output).toContain("Nothing to deploy");
    // What .gitignore leaves out is no build input.
    mkdirSync(join(dir, "notes"));
    writeFileSync(join(dir, "notes", "todo.txt"), "not part of the build");
    expect((await deploy()).output).toContain("Nothing to deploy");
    expect(await deployments("src", "api")).toHaveLength(1);

    writeFileSync(join(dir, "src", "version.ts"), 'export const VERSION = "v2";\n');
    const changed = await deploy();
    expect(changed.code, changed.output).toBe(0);
    expect(changed.output).toMatch(/^\s+api\s+updated\s+\S+\s+active\s+source\.api$/m);
    const [newest] = await deployments("src", "api");
    expect(newest?.status).toBe("SUCCEEDED");
    expect(await builtEvents(newest?.id ?? "")).toHaveLength(1);

    const forced = await deploy("--force");
    expect(forced.code, forced.output).toBe(0);
    expect(forced.output).toMatch(/^\s+api\s+forced\s/m);
    const all = await deployments("src", "api");
    expect(all).toHaveLength(3);
    expect(await builtEvents(all[0]?.id ?? "")).toHaveLength(1);
  }, 400_000);

  it("retries a failed first deployment when the same file is deployed again", async () => {
    const gate = join(work, "gate-retry");
    const dir = writeApp("retry", "v1", gate);
    const file = join(dir, "berth.yml");
    const deploy = () => berth(["deploy", "-f", file, "--stack", "retry", "--timeout", "3m"]);

    const failed = await deploy();
    expect(failed.code, failed.output).toBe(1);
    const [first] = await deployments("retry", "api");
    expect(["FAILED", "ROLLED_BACK"]).toContain(first?.status);

    // What was wrong lay outside the file and its source: the same file is deployed again.
    writeFileSync(gate, "open");
    const retried = await deploy();
    expect(retried.code, retried.output).toBe(0);
    expect(retried.output).toMatch(
      new RegExp(`^\\s+api\\s+retry\\s.*its last deployment ${first?.id} ended`, "m"),
    );
    expect((await deployments("retry", "api"))[0]?.status).toBe("SUCCEEDED");
    expect((await deploy()).output).toContain("Nothing to deploy");
  }, 400_000);

  it("redeploys with the CLI a service whose first build failed, from the source it was applied with", async () => {
    const dir = writeApp("redeploy", "v1");
    writeFileSync(join(dir, "src", "version.ts"), 'export { VERSION } from "./missing.ts";\n');
    const failed = await berth(["deploy", "-f", join(dir, "berth.yml"), "--stack", "rd", "--timeout", "3m"]);
    expect(failed.code, failed.output).toBe(1);
    expect((await deployments("rd", "api"))[0]?.status).toBe("FAILED");

    writeFileSync(join(dir, "src", "missing.ts"), 'export const VERSION = "fixed";\n');
    const redeployed = await berth(["redeploy", "--stack", "rd", "--service", "api", "--timeout", "3m"]);
    expect(redeployed.code, redeployed.output).toBe(0);
    expect(redeployed.output).toMatch(/api: SUCCEEDED/);
    const [newest] = await deployments("rd", "api");
    expect(await builtEvents(newest?.id ?? "")).toHaveLength(1);
  }, 400_000);

  it("refuses in a dry run what the deployment would refuse: paths out of the source, a missing source, links out", async () => {
    const dir = writeApp("refused", "v1");
    const source = pathToFileURL(dir).href;
    const dryRun = async (yaml: string, from = source) =>
      (
        await api.request<{ error: { code: string; details: { path: string; message: string }[] } }>(
          "PUT",
          `/v1/stacks/refused?dryRun=true&source=${encodeURIComponent(from)}`,
          { body: yaml, contentType: "application/yaml", expect: [400, 422] },
        )
      ).error;
    const withEntry = (entry: string) =>
      stringify({
        resources: {
          api: {
            type: "worker-service",
            properties: {
              packaging: { type: "stacktape-image-buildpack", properties: { entryfilePath: entry } },
              resources: { cpu: 0.25, memory: 512 },
            },
          },
        },
      });
    const entryPath = "resources.api.properties.packaging.properties.entryfilePath";

    for (const entry of ["../../etc/passwd", "/etc/passwd"]) {
      const refused = await dryRun(withEntry(entry));
      expect(refused.code).toBe("INVALID_STACK_FILE");
      expect(refused.details.map((detail) => detail.path)).toEqual([entryPath]);
    }
    const missing = await dryRun(withEntry("src/main.ts"), "file:///nonexistent");
    expect(missing.code).toBe("INVALID_INPUT");
    expect(missing.details.map((detail) => detail.path)).toEqual(["query.source"]);

    const outside = join(work, "outside.ts");
    writeFileSync(outside, 'console.log("outside the source");\n');
    symlinkSync(outside, join(dir, "src", "link.ts"));
    const linked = await dryRun(withEntry("src/link.ts"));
    expect(linked.code).toBe("INVALID_INPUT");
    expect(linked.details).toEqual([
      { path: entryPath, message: expect.stringContaining("leads outside the source") },
    ]);

    // The CLI refuses it before sending anything.
    writeFileSync(join(dir, "berth.yml"), withEntry("src/main.ts"));
    const cli = await berth(["deploy", "-f", join(dir, "berth.yml"), "--stack", "refused"]);
    expect(cli.code, cli.output).toBe(2);
    expect(cli.output).toContain("the symbolic link src/link.ts leads outside the source directory");
    await api.request("GET", "/v1/stacks/refused", { expect: [404] });
  });
});

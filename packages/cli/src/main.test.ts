import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { PRIVATE_API_HEAD } from "@berth/core/test-support";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { main } from "./main.ts";

const dir = mkdtempSync(join(tmpdir(), "berth-cli-"));
const root = fileURLToPath(new URL("../../..", import.meta.url));
const kitchenSink = join(root, "packages/core/src/render/__fixtures__/kitchen-sink.yml");

async function run(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { out: (text) => out.push(text), err: (text) => err.push(text) });
  return { code, out: out.join("\n"), err: err.join("\n") };
}

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

const fiveMistakes = file(
  "five.yml",
  [
    ...PRIVATE_API_HEAD, // 1-8
    "      resources:", // 9
    "        cpu: 0.25", // 10
    "        memory: 3000", // 11  Fargate size
    "      stopTimout: 10", // 12  typo
    "      environment:", // 13
    "        - name: PEER", // 14
    "          value: $ResourceParam('web', 'arn')", // 15  no such parameter
    "  web:", // 16
    "    type: web-service", // 17
    "    properties:", // 18
    "      packaging: {type: prebuilt-image, properties: {image: nginx}}", // 19
    "      resources: {cpu: 1, memory: 2048}", // 20
    "      port: 99999", // 21  range
    "      connectTo: [databse]", // 22  unknown resource
  ].join("\n"),
);

describe("berth validate", () => {
  it("reports all five mistakes, each as FILE:LINE:COL path: message, and exits 1", async () => {
    const result = await run("validate", "-f", fiveMistakes);
    expect(result.code).toBe(1);
    const lines = result.err.split("\n");
    expect(lines.slice(0, 5).map((line) => line.replace(`${fiveMistakes}:`, "").split(" ")[0])).toEqual([
      "11:17",
      "12:7",
      "15:18",
      "21:13",
      "22:19",
    ]);
    expect(lines[0]).toBe(
      `${fiveMistakes}:11:17 resources.api.properties.resources.memory: Fargate does not run 0.25 vCPU with 3000 MiB; with 0.25 vCPU it accepts 512, 1024, 2048 MiB`,
    );
    expect(lines[1]).toContain('(did you mean "stopTimeout"?)');
    expect(lines[2]).toContain('web-service "web" has no parameter "arn"; referenceable: address, url');
    expect(lines[3]).toContain("resources.web.properties.port: must be at most 65535");
    expect(lines[4]).toContain('connectTo target "databse" is not a resource of this stack');
    expect(lines[5]).toBe(`${fiveMistakes}: 5 problems`);
  });

  it("exits 0 on a valid file and lists its resources", async () => {
    const result = await run("validate", "-f", kitchenSink);
    expect(result.code).toBe(0);
    expect(result.out).toContain("valid, 9 resources: gateway (http-api-gateway)");
  });

  it("refuses a cyclic alias at FILE:LINE:COL instead of crashing", async () => {
    const cyclic = file("cyclic.yml", "resources: &r\n  api: *r\n");
    const result = await run("validate", "-f", cyclic);
    expect(result.code).toBe(1);
    expect(result.err.split("\n")[0]).toBe(
      `${cyclic}:2:8 resources.api: alias *r refers to a node that contains it; a stack file cannot be cyclic`,
    );
  });

  it("exits 2 for a file that does not exist and for an unknown option", async () => {
    expect(await run("validate", "-f", join(dir, "missing.yml"))).toMatchObject({ code: 2 });
    expect((await run("validate", "--nope")).code).toBe(2);
    expect((await run("deploy-everything")).err).toContain('unknown command "deploy-everything"');
  });
});

describe("berth render", () => {
  it("prints the requests as a JSON array with botocore's service and operation names", async () => {
    const result = await run("render", "-f", kitchenSink, "--stack", "shop");
    expect(result.code).toBe(0);
    const requests = JSON.parse(result.out) as {
      service: string;
      operation: string;
      input: Record<string, unknown>;
    }[];
    expect(requests.every((request) => request.service && request.operation && request.input)).toBe(true);
    expect(requests.find((request) => request.operation === "CreateService")?.input.serviceName).toBe(
      "shop-privateApi",
    );
  });

  it("renders one resource, and UpdateService with --update", async () => {
    const result = await run("render", "-f", kitchenSink, "--resource", "report");
    expect((JSON.parse(result.out) as { operation: string }[]).map((request) => request.operation)).toEqual([
      "CreateLogGroup",
      "PutRetentionPolicy",
      "CreateRole",
      "RegisterTaskDefinition",
    ]);
    const update = await run("render", "-f", kitchenSink, "--resource", "privateApi", "--update");
    expect(update.out).toContain('"operation": "UpdateService"');
    expect(update.out).not.toContain('"operation": "CreateService"');
  });

  it("refuses a resource that is not in the stack", async () => {
    const result = await run("render", "-f", kitchenSink, "--resource", "nope");
    expect(result.code).toBe(1);
    expect(result.err).toContain('"nope" is not a compute resource of this stack');
  });

  it("renders for the environment of an --env file, and reports a bad one", async () => {
    const stack = file(
      "one.yml",
      stringify({
        resources: {
          api: {
            type: "worker-service",
            properties: {
              packaging: { type: "prebuilt-image", properties: { image: "x" } },
              resources: { cpu: 0.25, memory: 512 },
            },
          },
        },
      }),
    );
    const env = file(
      "env.yml",
      stringify({
        stack: "prod",
        stage: "production",
        region: "eu-west-1",
        account: "123456789012",
        cluster: "berth-prod",
        network: { privateSubnets: ["subnet-1"], securityGroups: ["sg-1"] },
        serviceConnectNamespace: "arn:aws:servicediscovery:eu-west-1:123456789012:namespace/ns-1",
        executionRoleArn: "arn:aws:iam::123456789012:role/berth/exec",
        registry: "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
      }),
    );
    const result = await run("render", "-f", stack, "--env", env);
    expect(result.code).toBe(0);
    expect(result.out).toContain('"cluster": "berth-prod"');
    expect(result.out).toContain("arn:aws:iam::123456789012:role/berth/berth-prod-api");
    const bad = file("bad-env.yml", stringify({ stack: "prod", account: "12" }));
    const refused = await run("render", "-f", stack, "--env", bad);
    expect(refused.code).toBe(1);
    expect(refused.err).toContain("account: must be a 12-digit AWS account id");
    const broken = await run("render", "-f", stack, "--env", file("broken-env.yml", "a: [\n"));
    expect(broken.code).toBe(2);
    expect(broken.err).toMatch(/^berth: .*broken-env\.yml: /);
  });
});

describe("the berth binary", () => {
  it("runs from a directory outside the repository, by its path or through a link on PATH", () => {
    const elsewhere = mkdtempSync(join(tmpdir(), "berth-elsewhere-"));
    writeFileSync(join(elsewhere, "berth.yml"), readFileSync(kitchenSink, "utf8"));
    const bin = join(root, "packages/cli/bin/berth.js");
    const byPath = spawnSync(process.execPath, [bin, "validate"], { cwd: elsewhere, encoding: "utf8" });
    expect(byPath.stdout).toContain("berth.yml: valid, 9 resources");
    const links = mkdtempSync(join(tmpdir(), "berth-bin-"));
    symlinkSync(bin, join(links, "berth"));
    const linked = spawnSync("berth", ["validate"], {
      cwd: elsewhere,
      encoding: "utf8",
      env: { ...process.env, PATH: `${links}:${process.env.PATH}` },
    });
    expect(linked.stdout).toContain("berth.yml: valid, 9 resources");
  });

  it("runs with npx from the repository root", () => {
    const result = spawnSync("npx", ["--no-install", "berth", "validate", "-f", kitchenSink], {
      cwd: root,
      encoding: "utf8",
    });
    expect(result.status).toBe(0);
    expect(result.stdout).toContain("valid, 9 resources");
    expect(readFileSync(join(root, "packages/cli/bin/berth.js"), "utf8")).toMatch(/^#!\/usr\/bin\/env node/);
  });
});

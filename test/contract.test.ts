import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { Render } from "../packages/core/src/render/index.ts";
import { Spec } from "../packages/core/src/spec/index.ts";
import { type ContractRequest, validateWithBotocore } from "./support/botocore.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const fixtures = join(root, "packages/core/src/spec/__fixtures__");

function yamlFiles(dir: string): string[] {
  try {
    return readdirSync(dir)
      .filter((name) => name.endsWith(".yml") || name.endsWith(".yaml"))
      .map((name) => join(dir, name));
  } catch {
    return [];
  }
}

const exampleFiles = readdirSync(join(root, "examples"), { withFileTypes: true })
  .filter((entry) => entry.isDirectory())
  .map((entry) => join(root, "examples", entry.name, "berth.yml"));
const referenceFiles = yamlFiles(join(fixtures, "reference"));
const unsupportedFiles = yamlFiles(join(fixtures, "reference-unsupported"));
const validFiles = [
  ...exampleFiles,
  ...referenceFiles,
  join(root, "packages/core/src/render/__fixtures__/kitchen-sink.yml"),
];

const relative = (file: string) => file.slice(root.length);

function parseFile(file: string): Spec.ParseResult {
  return Spec.parse(readFileSync(file, "utf8"));
}

describe("stack files that must validate", () => {
  it("has the examples and the retyped reference docs' examples", () => {
    expect(exampleFiles.length).toBeGreaterThanOrEqual(3);
    expect(referenceFiles.length).toBeGreaterThanOrEqual(10);
  });

  it.each(validFiles.map((file) => [relative(file), file]))("%s validates", (_name, file) => {
    const result = parseFile(file);
    const problems = result.ok ? [] : result.issues.map((issue) => Spec.formatIssue(relative(file), issue));
    expect(problems).toEqual([]);
  });
});

describe("reference examples Berth refuses", () => {
  it.each(
    unsupportedFiles.map((file) => [relative(file), file]),
  )("%s fails with the codes it expects", (_name, file) => {
    const text = readFileSync(file, "utf8");
    const expected = [...text.matchAll(/^# expect: (\w+)/gm)].map((match) => match[1]).sort();
    expect(expected.length).toBeGreaterThan(0);
    const result = Spec.parse(text);
    expect(result.ok).toBe(false);
    const codes = result.ok ? [] : [...new Set(result.issues.map((issue) => issue.code))].sort();
    expect(codes).toEqual([...new Set(expected)]);
  });
});

describe("rendered requests against AWS's own models (botocore ParamValidator)", () => {
  const requests: (ContractRequest & { origin: string })[] = [];
  for (const file of validFiles) {
    const result = parseFile(file);
    if (!result.ok) continue;
    const env = Render.localEnvironment(result.stack);
    for (const mode of ["create", "update"] as const) {
      for (const request of Render.renderStack(result.stack, env, { mode })) {
        requests.push({ ...request, origin: `${relative(file)} ${request.operation}` });
      }
    }
  }
  const checked = validateWithBotocore(requests);

  it("renders requests for every operation Berth sends", () => {
    const operations = new Set(requests.map((request) => `${request.service}:${request.operation}`));
    expect([...operations].sort()).toEqual([
      "application-autoscaling:PutScalingPolicy",
      "application-autoscaling:RegisterScalableTarget",
      "ecs:CreateService",
      "ecs:RegisterTaskDefinition",
      "ecs:UpdateService",
      "iam:CreateRole",
      "iam:PutRolePolicy",
      "logs:CreateLogGroup",
      "logs:PutRetentionPolicy",
    ]);
  });

  it("every request is valid", () => {
    const invalid = checked.results
      .map((problems, index) => ({ origin: requests[index]?.origin, problems }))
      .filter((entry) => entry.problems.length > 0);
    expect(invalid).toEqual([]);
    expect(checked.results).toHaveLength(requests.length);
  });

  it("the check catches unknown members, wrong types and missing required members", () => {
    const [unknown, wrongType, missing, noSuchOperation] = validateWithBotocore([
      {
        service: "ecs",
        operation: "RegisterTaskDefinition",
        input: { family: "x", containerDefinitions: [], stopTimeout: 3 },
      },
      { service: "ecs", operation: "CreateService", input: { serviceName: "x", desiredCount: "one" } },
      { service: "logs", operation: "PutRetentionPolicy", input: { logGroupName: "x" } },
      { service: "ecs", operation: "RegisterTaskDefinitions", input: {} },
    ]).results;
    expect(unknown?.join("\n")).toContain('Unknown parameter in input: "stopTimeout"');
    expect(wrongType?.join("\n")).toContain("Invalid type for parameter desiredCount");
    expect(missing?.join("\n")).toContain('Missing required parameter in input: "retentionInDays"');
    expect(noSuchOperation?.join("\n")).toContain("OperationNotFound");
  });
});

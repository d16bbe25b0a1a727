import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import Ajv2020 from "ajv/dist/2020.js";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { Spec } from "./index.ts";
import { buildStackFileJsonSchema } from "./json-schema.ts";
import { DOCS_URL, expectedSchemaText, SCHEMA_URL } from "./write-json-schema.ts";

/**
 * What `berth validate` checks that the JSON Schema cannot: rules that span resources or
 * properties, and the directives inside strings. A file the schema accepts may still fail
 * `berth validate` with these codes, and only these; the list is in docs/stack-file.md
 * ("Authoring"), which this test also checks.
 */
const BEYOND_THE_SCHEMA = [
  "UNKNOWN_RESOURCE",
  "WRONG_RESOURCE_TYPE",
  "INVALID_REFERENCE",
  "UNKNOWN_PARAMETER",
  "INVALID_FARGATE_SIZE",
  "INVALID_RESOURCES",
  "ARCHITECTURE_MISMATCH",
  "INVALID_SCALING",
  "DUPLICATE_NAME",
  "PORT_CONFLICT",
  "NO_ESSENTIAL_CONTAINER",
  "UNKNOWN_CONTAINER",
  "DEPENDENCY_CYCLE",
  "INVALID_DEPENDENCY",
  "DUPLICATE_PRIORITY",
  "UNKNOWN_LISTENER",
  "INVALID_ALIAS",
  "DUPLICATE_ALIAS",
  "INVALID_DEPLOYMENT",
  "INVALID_DIRECTIVE",
  "UNSUPPORTED_DIRECTIVE",
  "DIRECTIVE_NOT_ALLOWED",
  "MISSING_PROPERTY",
  "INVALID_VALUE",
];

/**
 * Codes the schema does check, except at these paths: Fargate needs cpu and memory (EC2 does
 * not), and a source path must stay inside the source directory once `..` is resolved.
 */
const BEYOND_THE_SCHEMA_AT: Partial<Record<string, RegExp>> = {
  MISSING_PROPERTY: /\.resources\.(cpu|memory)$/,
  INVALID_VALUE: /\.(entryfilePath|buildContextPath|dockerfilePath)$/,
};

function beyondTheSchema(issue: { code: string; path: string }): boolean {
  if (!BEYOND_THE_SCHEMA.includes(issue.code)) return false;
  return BEYOND_THE_SCHEMA_AT[issue.code]?.test(issue.path) ?? true;
}

const root = fileURLToPath(new URL("../../../../", import.meta.url));
const fixtures = fileURLToPath(new URL("./__fixtures__/", import.meta.url));

function stackFiles(): { name: string; text: string }[] {
  const examples = readdirSync(`${root}examples`).map((dir) => `examples/${dir}/berth.yml`);
  const fixtureFiles = ["reference", "reference-unsupported"].flatMap((dir) =>
    readdirSync(`${fixtures}${dir}`).map((file) => `packages/core/src/spec/__fixtures__/${dir}/${file}`),
  );
  return [...examples, ...fixtureFiles].map((name) => ({
    name,
    text: readFileSync(`${root}${name}`, "utf8"),
  }));
}

const ajv = new Ajv2020.default({ allErrors: true, strict: true, strictTypes: false });
const validateWithSchema = ajv.compile(Spec.stackFileJsonSchema());

/** What each side says of one file: valid, or the codes (Berth) and the errors (the schema). */
function judge(text: string) {
  const berth = Spec.parse(text);
  const schemaValid = validateWithSchema(parseYaml(text));
  return {
    berthValid: berth.ok,
    issues: berth.ok ? [] : berth.issues,
    codes: berth.ok ? [] : [...new Set(berth.issues.map((issue) => issue.code))],
    schemaValid,
    schemaErrors: (validateWithSchema.errors ?? []).map((error) => `${error.instancePath} ${error.message}`),
  };
}

function expectSameVerdict(name: string, text: string) {
  const verdict = judge(text);
  if (verdict.berthValid) {
    // The schema never refuses a file Berth accepts: an editor must not flag a valid file.
    expect(verdict.schemaErrors, `${name}: the schema refuses a file berth validate accepts`).toEqual([]);
  } else if (verdict.schemaValid) {
    // Berth refuses it, the schema does not: only for the rules beyond the schema.
    expect(
      verdict.issues.filter((issue) => !beyondTheSchema(issue)),
      `${name}: the schema accepts a file berth validate refuses with ${verdict.codes.join(", ")}`,
    ).toEqual([]);
  }
  return verdict;
}

describe("the stack file's JSON Schema", () => {
  it("is the one `npm run schema` writes from the zod schemas and docs/stack-file.md (run it if this fails)", () => {
    // Compared as data: the formatter may lay the file out its own way.
    expect(JSON.parse(readFileSync(SCHEMA_URL, "utf8"))).toEqual(JSON.parse(expectedSchemaText()));
  });

  it("is draft 2020-12 and takes its descriptions, defaults and enums from the docs and zod", () => {
    const schema = Spec.stackFileJsonSchema() as {
      $schema: string;
      examples: unknown[];
      $defs: Record<
        string,
        { properties: Record<string, { description?: string; default?: unknown; enum?: unknown[] }> }
      >;
    };
    expect(schema.$schema).toBe("https://json-schema.org/draft/2020-12/schema");
    const port = schema.$defs.PrivateServiceProperties?.properties.port;
    expect(port?.default).toBe(3000);
    expect(port?.description).toContain("Berth injects it as `PORT`");
    expect(schema.$defs.ComputeResources?.properties.architecture?.enum).toEqual(["x86_64", "arm64"]);
    // Every example of the docs' introduction is a valid stack file.
    expect(schema.examples.length).toBeGreaterThan(0);
    for (const example of schema.examples) expect(validateWithSchema(example)).toBe(true);
  });

  it("fails to build when the docs describe a property the schema does not have", () => {
    const docs = readFileSync(DOCS_URL, "utf8").replace("`stopTimeout`", "`stopTimeot`");
    expect(() => buildStackFileJsonSchema(docs)).toThrow(/stopTimeot/);
  });

  it("accepts and refuses the examples and fixtures as berth validate does", () => {
    const files = stackFiles();
    expect(files.length).toBeGreaterThan(30);
    const verdicts = files.map(({ name, text }) => ({ name, ...expectSameVerdict(name, text) }));
    // Both sides refuse something, and both accept the examples.
    expect(
      verdicts.filter((v) => v.name.startsWith("examples/")).every((v) => v.berthValid && v.schemaValid),
    ).toBe(true);
    expect(verdicts.some((v) => !v.berthValid && !v.schemaValid)).toBe(true);
  });

  it("accepts what Fargate sizes and source paths leave to berth validate, and nothing else", () => {
    const base = readFileSync(`${fixtures}reference/private-service--basic-usage.yml`, "utf8");
    expectSameVerdict("no memory", base.replace(/^\s+memory: .*\n/m, ""));
    expectSameVerdict("leaves the source", base.replace(/entryfilePath: .*/, "entryfilePath: ../outside.ts"));
    expect(judge(base.replace(/entryfilePath: .*/, "entryfilePath: ../outside.ts")).berthValid).toBe(false);
  });

  it("refuses the mistakes of one resource that berth validate refuses", () => {
    const mistakes: [string, (resource: Record<string, unknown>) => void][] = [
      ["a typo in a property", (resource) => Object.assign(resource.properties as object, { stopTimout: 5 })],
      ["an unknown type", (resource) => Object.assign(resource, { type: "private-servce" })],
      [
        "a string for a number",
        (resource) => Object.assign(resource.properties as object, { stopTimeout: "5" }),
      ],
      [
        "a number out of range",
        (resource) => Object.assign(resource.properties as object, { stopTimeout: 500 }),
      ],
      ["no properties", (resource) => delete resource.properties],
      [
        "an unknown retention",
        (resource) => Object.assign(resource.properties as object, { logging: { retentionDays: 2 } }),
      ],
      [
        "an environment variable name with a dash",
        (resource) =>
          Object.assign(resource.properties as object, { environment: [{ name: "A-B", value: "1" }] }),
      ],
    ];
    const base = readFileSync(`${fixtures}reference/private-service--basic-usage.yml`, "utf8");
    for (const [what, mutate] of mistakes) {
      const file = parseYaml(base) as { resources: Record<string, Record<string, unknown>> };
      const [first] = Object.values(file.resources);
      if (first) mutate(first);
      const text = JSON.stringify(file, null, 2);
      const verdict = judge(text);
      expect({ what, berth: verdict.berthValid, schema: verdict.schemaValid }).toEqual({
        what,
        berth: false,
        schema: false,
      });
    }
    const badName = base.replace(/^( {2})(\w+):$/m, "$1my-api:");
    expect(judge(badName)).toMatchObject({ berthValid: false, schemaValid: false });
  });

  it("names every rule beyond the schema in docs/stack-file.md", () => {
    const docs = readFileSync(DOCS_URL, "utf8");
    const start = docs.indexOf("\n## Authoring");
    expect(start).toBeGreaterThan(0);
    const text = docs.slice(start, docs.indexOf("\n## ", start + 1));
    for (const code of BEYOND_THE_SCHEMA) expect(text, code).toContain(code);
  });
});

import { describe, expect, it } from "vitest";
import { locateInModule } from "./module-location.ts";
import { berth, configProject, typecheck } from "./test-support.ts";

/** An app's package.json that makes its .ts files ES modules. */
const ESM = { "package.json": JSON.stringify({ type: "module" }) };

const VALID = `import { buildpack, defineStack, privateService, workerService } from "@berth/config";

const size = { cpu: 0.25, memory: 512 };

export default defineStack({
  resources: {
    api: privateService({
      packaging: buildpack("src/main.ts"),
      resources: size,
      port: 8080,
    }),
    worker: {
      type: "worker-service",
      properties: {
        packaging: { type: "stacktape-image-buildpack", properties: { entryfilePath: "src/worker.ts" } },
        resources: size,
        connectTo: ["api"],
      },
    },
    jobs: workerService({ packaging: buildpack("src/worker.ts"), resources: { ...size } }),
  },
});
`;

/** Line 10 misspells stopTimeout; line 16 has a wrong value's type. */
const TYPO = `import { buildpack, defineStack, privateService } from "@berth/config";

export default defineStack({
  resources: {
    api: privateService({
      packaging: buildpack("src/main.ts"),
      resources: { cpu: 0.25, memory: 512 },
      port: 8080,
      // a typo:
      stopTimout: 10,
    }),
    web: {
      type: "web-service",
      properties: {
        packaging: buildpack("src/main.ts"),
        resources: { cpu: "a lot", memory: 512 },
      },
    },
  },
});
`;

describe("berth.ts", () => {
  it("type-checks a valid stack and refuses a misspelled property or a wrong value with tsc", async () => {
    // Both files in one tsc run: every error (each starts a line, its details are indented) is typo.ts's.
    const dir = configProject({ "berth.ts": VALID, "typo.ts": TYPO, ...ESM });
    const checked = await typecheck(dir, "berth.ts", "typo.ts");
    expect(checked.code).not.toBe(0);
    expect(checked.output).not.toMatch(/^(?!typo\.ts\()\S/m);
    expect(checked.output).toMatch(/^typo\.ts\(10,7\): error TS\d+: .*'stopTimout'/m);
    expect(checked.output).toMatch(
      /^typo\.ts\(16,\d+\): error TS\d+: Type 'string' is not assignable to type 'number/m,
    );
  }, 180_000);

  it("validates and renders with no build step, as berth.yml would", async () => {
    const dir = configProject({ "berth.ts": VALID, ...ESM });
    const validated = await berth(["validate", "-f", "berth.ts"], dir);
    expect(validated).toMatchObject({ code: 0, err: "" });
    expect(validated.out).toBe(
      "berth.ts: valid, 3 resources: api (private-service), worker (worker-service), jobs (worker-service)",
    );
    const rendered = await berth(["render", "-f", "berth.ts", "--resource", "worker"], dir);
    expect(rendered.code).toBe(0);
    const environment = JSON.parse(rendered.out).find(
      (request: { operation: string }) => request.operation === "RegisterTaskDefinition",
    ).input.containerDefinitions[0].environment;
    expect(environment).toContainEqual({ name: "STP_API_ADDRESS", value: "api.demo:8080" });
  });

  it("reports a problem at the line of berth.ts where the property is written", async () => {
    const dir = configProject({ "berth.ts": TYPO, ...ESM });
    const result = await berth(["validate", "-f", "berth.ts"], dir);
    expect(result.code).toBe(1);
    expect(result.err).toContain(
      'berth.ts:10:7 resources.api.properties.stopTimout: unknown property "stopTimout"; valid here:',
    );
    expect(result.err).toContain('(did you mean "stopTimeout"?)');
    expect(result.err).toContain(
      'berth.ts:16:22 resources.web.properties.resources.cpu: must be a number, got "a lot"',
    );
    expect(result.err).toContain("berth.ts: 2 problems");
  });

  it("takes a function, async too, as the default export", async () => {
    const dir = configProject({
      "berth.ts": `import { defineStack, prebuiltImage, workerService } from "@berth/config";
export default defineStack(async () => {
  const replicas = await Promise.resolve(2);
  return {
    resources: {
      worker: workerService({
        packaging: prebuiltImage("nginx:1.27"),
        resources: { cpu: 0.25, memory: 512 },
        scaling: { minInstances: replicas, maxInstances: 1 },
      }),
    },
  };
});
`,
    });
    const result = await berth(["validate", "-f", "berth.ts"], dir);
    expect(result.code).toBe(1);
    expect(result.err).toContain(
      "berth.ts:9:44 resources.worker.properties.scaling.maxInstances: must be at least minInstances (2)",
    );
  });

  it.each([
    ["no default export", "export const stack = {};\n", /^berth\.ts: has no default export/],
    [
      "a default export that is not a stack",
      "export default 42;\n",
      /^berth\.ts: the default export must be a stack.*got number/,
    ],
    [
      "a syntax error",
      "export default {\n  resources: {\n    api: {,\n};\n",
      /^berth\.ts:3: cannot be loaded: /,
    ],
    [
      "a function that throws",
      'export default () => {\n  throw new Error("no STAGE set");\n};\n',
      /^berth\.ts: its default export threw: no STAGE set$/m,
    ],
  ])("names the file when it has %s", async (_what, text, expected) => {
    // Both module systems: a project without "type": "module" runs berth.ts as CommonJS.
    for (const extra of [ESM, {}]) {
      const dir = configProject({ "berth.ts": text, ...extra });
      const result = await berth(["validate", "-f", "berth.ts"], dir);
      expect(result.code).toBe(1);
      expect(result.err).toMatch(expected);
    }
  });

  it("finds properties through constants, spreads and helpers, and else the closest parent", () => {
    const text = VALID;
    expect(locateInModule(text, "resources.api.properties.port")).toEqual({ line: 10, column: 7 });
    expect(locateInModule(text, "resources.worker.properties.connectTo[0]")).toEqual({
      line: 17,
      column: 21,
    });
    expect(locateInModule(text, "resources.jobs.properties.resources.cpu")).toEqual({ line: 3, column: 16 });
    expect(locateInModule(text, "resources.api.properties.nothing")).toEqual({ line: 7, column: 5 });
  });
});

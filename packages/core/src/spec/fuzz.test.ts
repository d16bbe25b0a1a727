import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Document, isMap, isSeq, type Node, stringify, visit } from "yaml";
import { Render } from "../render/index.ts";
import { Spec } from "./index.ts";

/** A valid stack with every resource type, the seed the mutations start from. */
const seed = {
  resources: {
    gateway: { type: "http-api-gateway" },
    lb: { type: "application-load-balancer" },
    api: {
      type: "private-service",
      properties: {
        packaging: { type: "stacktape-image-buildpack", properties: { entryfilePath: "src/main.ts" } },
        resources: { cpu: 0.25, memory: 512 },
        environment: [{ name: "SECRET", value: "$Secret('db.password')" }],
        internalHealthCheck: { healthCheckCommand: ["CMD", "true"], intervalSeconds: 10 },
        scaling: { minInstances: 1, maxInstances: 3, scalingPolicy: { keepAvgCpuUtilizationUnder: 60 } },
      },
    },
    web: {
      type: "web-service",
      properties: {
        packaging: { type: "prebuilt-image", properties: { image: "nginx", command: ["nginx"] } },
        resources: { cpu: 1, memory: 2048 },
        environment: [{ name: "API", value: "http://$ResourceParam('api', 'address')" }],
        connectTo: ["api", "job", "aws:ses"],
      },
    },
    app: {
      type: "multi-container-workload",
      properties: {
        resources: { instanceTypes: ["c5.large"] },
        containers: [
          {
            name: "front",
            packaging: { type: "custom-dockerfile", properties: { buildContextPath: "." } },
            dependsOn: [{ containerName: "back", condition: "HEALTHY" }],
            events: [
              {
                type: "http-api-gateway",
                properties: { httpApiGatewayName: "gateway", containerPort: 80, path: "/", method: "GET" },
              },
              {
                type: "application-load-balancer",
                properties: { loadBalancerName: "lb", containerPort: 80, priority: 1 },
              },
              { type: "service-connect", properties: { containerPort: 80 } },
            ],
          },
          {
            name: "back",
            packaging: { type: "prebuilt-image", properties: { image: "redis" } },
            internalHealthCheck: { healthCheckCommand: ["CMD-SHELL", "redis-cli ping"] },
            events: [{ type: "workload-internal", properties: { containerPort: 6379 } }],
          },
        ],
      },
    },
    job: {
      type: "batch-job",
      properties: {
        container: { packaging: { type: "prebuilt-image", properties: { image: "alpine" } } },
        resources: { cpu: 0.5, memory: 1024 },
      },
    },
  },
};

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Every path to a value inside a JSON tree. */
function paths(value: Json, prefix: (string | number)[] = []): (string | number)[][] {
  const here = [prefix];
  if (Array.isArray(value))
    return here.concat(value.flatMap((item, index) => paths(item, [...prefix, index])));
  if (value && typeof value === "object") {
    return here.concat(Object.entries(value).flatMap(([key, item]) => paths(item, [...prefix, key])));
  }
  return here;
}

type Mutation =
  | { kind: "replace"; value: Json }
  | { kind: "delete" }
  | { kind: "rename"; name: string }
  | { kind: "add"; name: string; value: Json };

function mutate(root: Json, path: (string | number)[], mutation: Mutation): Json {
  const copy = structuredClone(root);
  if (path.length === 0) return mutation.kind === "replace" ? mutation.value : copy;
  const parent = path
    .slice(0, -1)
    .reduce<Json>((node, key) => (node as Record<string, Json>)[key as string] as Json, copy);
  const key = path[path.length - 1] as string | number;
  const container = parent as Record<string | number, Json>;
  if (mutation.kind === "replace") container[key] = mutation.value;
  else if (mutation.kind === "delete") {
    if (Array.isArray(parent)) parent.splice(key as number, 1);
    else delete container[key];
  } else if (mutation.kind === "rename" && !Array.isArray(parent)) {
    container[mutation.name] = container[key] as Json;
    delete container[key];
  } else if (mutation.kind === "add" && !Array.isArray(parent)) {
    container[mutation.name] = mutation.value;
  }
  return copy;
}

const seedPaths = paths(seed as unknown as Json);
const interestingStrings = fc.constantFrom(
  "",
  "private-service",
  "multi-container-workload",
  "$ResourceParam('api', 'address')",
  "$ResourceParam('nope')",
  "$Secret('')",
  "$Secret('a.b.c')",
  "$Cf('x')",
  "CMD",
  "api",
  "__proto__",
  "constructor",
  "0.25",
);
const smallJson: fc.Arbitrary<Json> = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<Json>,
  interestingStrings,
  fc.integer({ min: -5, max: 70000 }),
  fc.constantFrom(0.25, 0.5, 1, 3, -1, Number.POSITIVE_INFINITY, Number.NaN),
);
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant("replace" as const), value: smallJson }),
  fc.record({ kind: fc.constant("delete" as const) }),
  fc.record({
    kind: fc.constant("rename" as const),
    name: fc.oneof(fc.string({ maxLength: 12 }), interestingStrings),
  }),
  fc.record({
    kind: fc.constant("add" as const),
    name: fc.oneof(fc.string({ maxLength: 12 }), interestingStrings),
    value: smallJson,
  }),
);

/** Parsing returns a result; a valid result also renders with Berth Local's environment. */
function checkNeverThrows(text: string): void {
  const result = Spec.parse(text);
  if (result.ok) {
    const requests = Render.renderStack(result.stack, Render.localEnvironment(result.stack));
    expect(Array.isArray(requests)).toBe(true);
  } else {
    expect(result.issues.length).toBeGreaterThan(0);
    for (const issue of result.issues) {
      expect(typeof issue.code).toBe("string");
      expect(typeof issue.message).toBe("string");
      expect(issue.message.length).toBeGreaterThan(0);
    }
  }
}

// Each property runs a fixed number of cases, all synchronous: seconds on a quiet machine, minutes
// when the whole suite runs at load 30. The bound is against a hang, not a measure.
describe("the parser only ever returns results", { timeout: 900_000 }, () => {
  it("the seed is valid (so the mutations start from a stack that renders)", () => {
    const result = Spec.parse(stringify(seed));
    expect(result.ok).toBe(true);
  });

  it("on mutated stack files", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom(...seedPaths), mutation), { minLength: 1, maxLength: 4 }),
        (steps) => {
          let document = seed as unknown as Json;
          for (const [path, step] of steps) {
            try {
              document = mutate(document, path, step);
            } catch {
              // an earlier step removed this path: skip it
            }
          }
          checkNeverThrows(stringify(document));
          checkNeverThrows(JSON.stringify(document));
        },
      ),
      { numRuns: 1500 },
    );
  });

  it("on random text and random YAML", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 200 }),
          fc.jsonValue().map((value) => stringify({ resources: value })),
        ),
        (text) => {
          checkNeverThrows(text);
        },
      ),
      { numRuns: 1000 },
    );
  });

  it("on stack files with anchors, aliases (cyclic ones too) and merge keys", () => {
    // Each step anchors one node of the seed and puts an alias to it somewhere: as a new key, in
    // place of a value (often inside the anchored node itself, a cycle) or as a merge key.
    const step = fc.tuple(fc.nat(), fc.nat(), fc.constantFrom("add", "replace", "merge", "append"));
    let cycles = 0;
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 4 }), (steps) => {
        const document = new Document(seed);
        const nodes: Node[] = [];
        visit(document, {
          Node(_key, node) {
            nodes.push(node);
          },
        });
        for (const [target, place, how] of steps) {
          const anchored = nodes[target % nodes.length] as Node;
          const at = nodes[place % nodes.length] as Node;
          const alias = document.createAlias(anchored as never, `a${target % nodes.length}`);
          if (isMap(at)) {
            const pair = at.items[target % Math.max(at.items.length, 1)];
            if (how === "replace" && pair) pair.value = alias;
            else at.items.push(document.createPair(how === "merge" ? "<<" : `k${place}`, alias));
          } else if (isSeq(at)) {
            if (how === "replace" && at.items.length > 0) at.items[0] = alias;
            else at.items.push(alias);
          }
        }
        let text: string;
        try {
          text = document.toString();
        } catch {
          return; // an alias placed before its anchor: not a YAML document
        }
        checkNeverThrows(text);
        const result = Spec.parse(text);
        if (!result.ok && result.issues.some((issue) => issue.code === "CYCLIC_ALIAS")) cycles++;
      }),
      { numRuns: 400 },
    );
    // The generator does reach cycles, so the property covers them.
    expect(cycles).toBeGreaterThan(0);
  });

  it("refuses an alias inside the node it names, at the alias", () => {
    const result = Spec.parse("resources: &r\n  api: *r\n");
    expect(result).toEqual({
      ok: false,
      issues: [
        {
          code: "CYCLIC_ALIAS",
          path: "resources.api",
          line: 2,
          column: 8,
          message: "alias *r refers to a node that contains it; a stack file cannot be cyclic",
        },
      ],
    });
    const nested = Spec.parse("resources:\n  a: &a\n    type: private-service\n    properties: [1, [*a]]\n");
    expect(nested.ok === false && nested.issues.map((issue) => [issue.code, issue.path, issue.line])).toEqual(
      [["CYCLIC_ALIAS", "resources.a.properties[1][0]", 4]],
    );
  });

  it("keeps aliases that do not form a cycle", () => {
    const result = Spec.parse("resources:\n  a: &g {type: http-api-gateway}\n  b: *g\n");
    expect(result.ok).toBe(true);
  });

  it("on YAML edge cases", () => {
    const cases = [
      "",
      "~",
      "[]",
      "resources: ~",
      "resources: []",
      "resources: {a: 1}",
      "a: &x [*x]",
      "resources: &r\n  api: *r",
      "resources:\n  api: &a\n    type: private-service\n    properties:\n      <<: *a",
      "a: &a {b: &b {c: *a}}\nresources: *b",
      "resources: !!binary aGVsbG8=",
      `resources:\n  a: &a {type: http-api-gateway}\n  b: *a\n  c: {<<: *a}`,
      `x: &a [1,1,1,1,1,1,1,1,1]\ny: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nz: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nw: [*c,*c,*c,*c,*c,*c,*c,*c,*c]\nv: [*c,*c,*c,*c,*c,*c,*c,*c,*c]`,
      "resources:\n  __proto__: {type: http-api-gateway}",
      "\t\tresources:",
      "resources:\n  a:\n    type: private-service\n    properties: {packaging: {type: prebuilt-image, properties: {image: 1}}}",
    ];
    for (const text of cases) checkNeverThrows(text);
  });
});

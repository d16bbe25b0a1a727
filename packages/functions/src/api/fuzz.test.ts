import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROUTES } from "./router.ts";
import { type ApiRequestSpec, type Harness, stackFile, startHarness } from "./test-support.ts";

let harness: Harness;

beforeAll(async () => {
  harness = await startHarness();
  await harness.call({
    method: "PUT",
    path: "/v1/stacks/fuzz",
    headers: { "content-type": "application/yaml" },
    body: stackFile(),
    token: harness.tokens.admin,
  });
});

afterAll(async () => {
  await harness.stop();
});

const awkwardText = fc.oneof(
  fc.string(),
  fc.string({ unit: "grapheme" }),
  fc.string({ unit: "binary" }),
  fc.constantFrom(
    "",
    ".",
    "..",
    "%",
    "%zz",
    "%2F",
    "%23",
    "__proto__",
    "constructor",
    "a".repeat(300),
    "fuzz",
    "api",
  ),
);

/** Segments that are sometimes valid, so requests get past validation into the handlers. */
const pathValue = fc.oneof(
  awkwardText.map((text) => encodeURIComponent(text)),
  awkwardText,
  fc.constantFrom("fuzz", "api", "worker", "01ARZ3NDEKTSV4RRFFQ69G5FAV", "01M813YCDQQGJ4947YZ2P4SAPQ"),
);

const anyMethod = fc.oneof(
  fc.constantFrom("GET", "PUT", "POST", "DELETE", "PATCH", "HEAD", "OPTIONS"),
  fc.string(),
);

/** Mostly a route's own method and template, so requests get past routing into validation and handlers. */
const routeTarget = fc
  .tuple(fc.constantFrom(...ROUTES), fc.array(pathValue, { minLength: 3, maxLength: 3 }), fc.nat({ max: 9 }))
  .chain(([route, values, dice]) => {
    let index = 0;
    const path = route.path.replace(/\{\w+\}/g, () => values[index++ % values.length] as string);
    return dice < 8
      ? fc.constant({ method: route.method as string, path })
      : anyMethod.map((method) => ({ method, path }));
  });

const target = fc.oneof(
  { weight: 8, arbitrary: routeTarget },
  { weight: 1, arbitrary: fc.record({ method: anyMethod, path: awkwardText.map((text) => `/${text}`) }) },
  { weight: 1, arbitrary: fc.record({ method: anyMethod, path: fc.webPath() }) },
);

const queryValue = fc.oneof(
  awkwardText,
  fc.constantFrom(
    "true",
    "false",
    "0",
    "1",
    "100",
    "101",
    "-1",
    "1e3",
    "15m",
    "2026-01-01T00:00:00Z",
    "eyJ9",
  ),
);
const query = fc.oneof(
  { weight: 5, arbitrary: fc.constant("") },
  fc
    .array(
      fc.tuple(
        fc.oneof(fc.constantFrom("dryRun", "limit", "cursor", "since", "nextToken"), awkwardText),
        queryValue,
      ),
      { maxLength: 4 },
    )
    .map((pairs) => new URLSearchParams(pairs).toString()),
  awkwardText,
);

const OVERSIZED = `# ${"x".repeat(1024 * 1024)}\n`;

const body = fc.oneof(
  fc.constant(undefined),
  fc.json(),
  fc.jsonValue().map((value) => JSON.stringify(value)),
  awkwardText,
  fc.constantFrom(
    JSON.stringify({ image: { api: "nginx:1" } }),
    JSON.stringify({ min: 1, max: 3, desired: 2 }),
    JSON.stringify({ name: "fuzz", scopes: ["read"] }),
    JSON.stringify({ deploymentId: "01ARZ3NDEKTSV4RRFFQ69G5FAV" }),
    stackFile(),
  ),
  fc
    .tuple(fc.nat({ max: stackFile().length }), awkwardText)
    .map(([at, inserted]) => stackFile().slice(0, at) + inserted + stackFile().slice(at)),
  fc.uint8Array({ maxLength: 64 }).map((bytes) => Buffer.from(bytes)),
  fc.constant(OVERSIZED),
);

const headers = fc.record(
  {
    "content-type": fc.oneof(
      { weight: 4, arbitrary: fc.constantFrom("application/json", "application/yaml") },
      fc.constantFrom(
        "application/json",
        "application/yaml",
        "text/yaml; charset=utf-8",
        "application/json; charset=latin1",
        "text/plain",
      ),
      awkwardText,
    ),
    "idempotency-key": fc.oneof(fc.constantFrom("retry-1", "retry-2"), awkwardText),
    authorization: fc.oneof(awkwardText, fc.constantFrom("Bearer", "Bearer berth_", "Basic x")),
  },
  { requiredKeys: [] },
);

const token = fc.constantFrom<keyof Harness["tokens"] | undefined>("admin", "deploy", "read", undefined);

const request = fc.record({
  target,
  query,
  headers,
  body,
  base64: fc.boolean(),
  token,
});

describe("fuzzed requests", () => {
  it("never answer 5xx, and every refusal is a well-formed error body", async () => {
    const statuses = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(request, async (generated) => {
        const spec: ApiRequestSpec = {
          method: generated.target.method,
          path: generated.query ? `${generated.target.path}?${generated.query}` : generated.target.path,
          headers: generated.headers as Record<string, string>,
          ...(generated.body === undefined ? {} : { body: generated.body, base64: generated.base64 }),
          ...(generated.token ? { token: harness.tokens[generated.token] } : {}),
        };
        // `call` checks every reply against its documented schema, and error bodies against the error shape.
        const reply = await harness.call(spec);
        statuses.set(reply.status, (statuses.get(reply.status) ?? 0) + 1);
        expect(reply.status).toBeLessThan(500);
      }),
      { numRuns: 1_000 },
    );
    // The generators reach past validation, not only into it.
    expect([...statuses.keys()].filter((status) => status < 300).length).toBeGreaterThan(0);
    expect(statuses.get(401)).toBeGreaterThan(0);
    expect(statuses.get(400)).toBeGreaterThan(0);
  });
});

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

/** Request targets as a client could put them on the request line, valid or not (`//[`, `*`, absolute-form). */
const rawTarget = fc.oneof(
  fc.constantFrom(
    "//[",
    "//",
    "/[",
    "/v1//stacks",
    "//v1/health",
    "*",
    "http://x/v1/health",
    "v1/health",
    "",
  ),
  fc.tuple(fc.constantFrom("", "/", "//", "/v1/"), awkwardText).map(([prefix, text]) => prefix + text),
);

const target = fc.oneof(
  { weight: 8, arbitrary: routeTarget },
  { weight: 1, arbitrary: fc.record({ method: anyMethod, path: rawTarget }) },
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
    "resources: &r\n  api: *r\n",
    "resources:\n  api: &a\n    type: private-service\n    properties: {<<: *a}\n",
    "a: &a {b: &b {c: *a}}\nresources: *b\n",
    `x: &a [1,1,1,1,1,1,1,1,1]\ny: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nresources: [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n`,
  ),
  // An anchor on one line of the stack file and an alias to it on a later one: often a cycle.
  fc.tuple(fc.nat(), fc.nat()).map(([first, second]) => {
    const lines = stackFile().split("\n");
    const [anchorAt, aliasAt] = [first % lines.length, second % lines.length].sort((a, b) => a - b);
    lines[anchorAt as number] = (lines[anchorAt as number] as string).replace(/:\s*$/, ": &x");
    lines[aliasAt as number] = (lines[aliasAt as number] as string).replace(/:.*$/, ": *x");
    return lines.join("\n");
  }),
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

describe("malformed request targets", () => {
  it("answer 400 BAD_REQUEST with a request id, whatever the method and token", async () => {
    for (const path of ["//[", "/[", "/v1/stacks/a b", "*", "http://x/v1/health", "v1/health"]) {
      const reply = await harness.call({ method: "GET", path, token: harness.tokens.admin });
      expect({ path, status: reply.status, code: reply.json?.error?.code }).toEqual({
        path,
        status: 400,
        code: "BAD_REQUEST",
      });
      expect(reply.headers["x-request-id"]).toMatch(/\S/);
    }
  });

  it("do not hide routes whose paths are valid", async () => {
    const health = await harness.call({ method: "GET", path: "/v1/health" });
    expect(health.status).toBe(200);
    const escaped = await harness.call({
      method: "GET",
      path: "/v1/stacks/no-such%20stack/services/a",
      token: harness.tokens.read,
    });
    expect(escaped.json?.error?.code).not.toBe("BAD_REQUEST");
  });
});

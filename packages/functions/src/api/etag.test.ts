import { DeploymentEventRecord } from "@berth/core/store";
import { describe, expect, it } from "vitest";
import { openApiDocument } from "./openapi.ts";
import { ROUTES } from "./router.ts";
import { harnessForFile, stackFile, YAML } from "./test-support.ts";

const harness = harnessForFile();

/** GET `path` with a read token, sending `tag` as If-None-Match. */
const getUnless = (path: string, tag: string) =>
  harness.call({ method: "GET", path, token: harness.tokens.read, headers: { "if-none-match": tag } });

describe("conditional GETs (ETag, If-None-Match)", () => {
  it("answers 304 while a deployment is unchanged, and 200 with a new tag once an event is added", async () => {
    const applied = await harness.call({
      method: "PUT",
      path: "/v1/stacks/etags",
      headers: YAML,
      body: stackFile(),
      token: harness.tokens.deploy,
    });
    const id: string = applied.json.plan[0].deployment.deployment.id;
    const path = `/v1/deployments/${id}`;
    const first = await harness.call({ method: "GET", path, token: harness.tokens.read });
    expect(first.status).toBe(200);
    const etag = first.headers.etag;
    expect(etag).toMatch(/^W\/"[A-Za-z0-9_-]+"$/);

    const unchanged = await getUnless(path, etag as string);
    expect(unchanged.status).toBe(304);
    expect(unchanged.json).toBeUndefined();
    expect(unchanged.headers.etag).toBe(etag);

    await DeploymentEventRecord.append(harness.store, id, { type: "status", message: "building" });
    const changed = await getUnless(path, etag as string);
    expect(changed.status).toBe(200);
    expect(changed.headers.etag).not.toBe(etag);
    expect(changed.json.events.at(-1)).toMatchObject({ type: "status", message: "building" });
  });

  it("matches any tag of a list, a strong form of the tag, and *; a stale tag gets the body", async () => {
    const path = "/v1/stacks";
    const first = await harness.call({ method: "GET", path, token: harness.tokens.read });
    const etag = first.headers.etag as string;
    const ask = (tag: string) => getUnless(path, tag);
    expect((await ask(`W/"other", ${etag}`)).status).toBe(304);
    expect((await ask(etag.replace(/^W\//, ""))).status).toBe(304);
    expect((await ask("*")).status).toBe(304);
    expect((await ask('W/"stale"')).status).toBe(200);
  });

  it("never answers 304 to a refused request or tags a write", async () => {
    const refused = await harness.call({
      method: "GET",
      path: "/v1/stacks",
      headers: { "if-none-match": "*" },
    });
    expect(refused.status).toBe(401);
    const write = await harness.call({
      method: "POST",
      path: "/v1/tokens",
      headers: { "content-type": "application/json", "if-none-match": "*" },
      body: JSON.stringify({ name: "etag", scopes: ["read"] }),
      token: harness.tokens.admin,
    });
    expect(write.status).toBe(201);
    expect(write.headers.etag).toBeUndefined();
  });

  it("documents If-None-Match, ETag and 304 on every GET", () => {
    const document = openApiDocument(ROUTES) as {
      paths: Record<
        string,
        Record<string, { parameters: { name: string }[]; responses: Record<string, unknown> }>
      >;
    };
    const gets = Object.values(document.paths).flatMap((item) => (item.get ? [item.get] : []));
    expect(gets.length).toBeGreaterThan(5);
    for (const operation of gets) {
      expect(operation.parameters.map((parameter) => parameter.name)).toContain("If-None-Match");
      expect(Object.keys(operation.responses)).toContain("304");
    }
  });
});

import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { goFormat, parseSecretReference, SecretStore } from "./store.ts";

const ACCOUNT = "123456789012";
const REGION = "eu-west-1";
const PREFIX = `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:`;

let dir: string;
let path: string;

function thrownBy(action: () => unknown): Error {
  try {
    action();
  } catch (error) {
    return error as Error;
  }
  throw new Error("expected an error");
}

function open(): SecretStore {
  return new SecretStore(path, { account: ACCOUNT, region: REGION });
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "berth-secret-store-"));
  path = join(dir, "secrets.json");
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe("resolveValueFrom", () => {
  let store: SecretStore;
  let dbArn: string;
  let previousId: string;
  let pendingId: string;

  beforeEach(() => {
    store = open();
    const created = store.create({
      name: "shop/db",
      value: { secretString: JSON.stringify({ username: "shop", password: "old-pw" }) },
    });
    dbArn = created.arn;
    previousId = created.versionId ?? "";
    store.putValue("shop/db", {
      value: {
        secretString: JSON.stringify({
          username: "shop",
          password: "pa:ss",
          port: 5432,
          big: 1234567,
          tiny: 0.00001,
          ratio: 0.25,
          on: true,
          none: null,
          list: [1, "a"],
          nested: { b: 2, a: "x" },
        }),
      },
    });
    pendingId = store.putValue("shop/db", {
      value: { secretString: JSON.stringify({ password: "next-pw" }) },
      versionStages: ["AWSPENDING"],
    }).versionId;
    store.create({ name: "plain", value: { secretString: "just text" } });
    store.create({ name: "array", value: { secretString: "[1,2]" } });
    store.create({ name: "binary", value: { secretBinary: Buffer.from("bytes").toString("base64") } });
    store.create({ name: "no-value" });
  });

  it("resolves a name, a full ARN and a partial ARN to the AWSCURRENT value", () => {
    expect(store.resolveValueFrom("plain")).toBe("just text");
    const plainArn = store.describe("plain").arn;
    expect(store.resolveValueFrom(plainArn)).toBe("just text");
    expect(store.resolveValueFrom(`${PREFIX}plain`)).toBe("just text");
    expect(JSON.parse(store.resolveValueFrom(`${PREFIX}shop/db`) ?? "")).toMatchObject({ password: "pa:ss" });
  });

  it("resolves the JSON-key form, with the stage and version id optional", () => {
    expect(store.resolveValueFrom(`${dbArn}:password::`)).toBe("pa:ss");
    expect(store.resolveValueFrom(`${PREFIX}shop/db:password::`)).toBe("pa:ss");
    expect(store.resolveValueFrom(`${dbArn}:password:AWSPREVIOUS:`)).toBe("old-pw");
    expect(store.resolveValueFrom(`${dbArn}:password::${previousId}`)).toBe("old-pw");
    expect(store.resolveValueFrom(`${dbArn}:password:AWSPENDING:${pendingId}`)).toBe("next-pw");
    // An empty key is the whole value of that version.
    expect(JSON.parse(store.resolveValueFrom(`${dbArn}::AWSPREVIOUS:`) ?? "")).toEqual({
      username: "shop",
      password: "old-pw",
    });
  });

  it("renders non-string JSON values as the ECS agent (Go's %v) does", () => {
    const key = (name: string) => store.resolveValueFrom(`${dbArn}:${name}::`);
    expect(key("port")).toBe("5432");
    expect(key("big")).toBe("1.234567e+06");
    expect(key("tiny")).toBe("1e-05");
    expect(key("ratio")).toBe("0.25");
    expect(key("on")).toBe("true");
    expect(key("none")).toBe("<nil>");
    expect(key("list")).toBe("[1 a]");
    expect(key("nested")).toBe("map[a:x b:2]");
  });

  it("returns undefined for a missing secret, version, stage or key, and for a key of a non-object value", () => {
    expect(store.resolveValueFrom("missing")).toBeUndefined();
    expect(store.resolveValueFrom(`${PREFIX}missing`)).toBeUndefined();
    expect(store.resolveValueFrom(`${PREFIX}missing:password::`)).toBeUndefined();
    expect(store.resolveValueFrom(`${dbArn}:nope::`)).toBeUndefined();
    expect(store.resolveValueFrom(`${dbArn}:password:AWSNOPE:`)).toBeUndefined();
    expect(store.resolveValueFrom(`${dbArn}:password::00000000-0000-0000-0000-000000000000`)).toBeUndefined();
    // Both given: they must name the same version.
    expect(store.resolveValueFrom(`${dbArn}:password:AWSCURRENT:${previousId}`)).toBeUndefined();
    expect(store.resolveValueFrom(`${PREFIX}plain:key::`)).toBeUndefined();
    expect(store.resolveValueFrom(`${PREFIX}array:0::`)).toBeUndefined();
    expect(store.resolveValueFrom("no-value")).toBeUndefined();
  });

  it("returns undefined for what ECS refuses: binary secrets, other regions, malformed ARNs, deleted secrets", () => {
    expect(store.resolveValueFrom("binary")).toBeUndefined();
    expect(store.resolveValueFrom(dbArn.replace(REGION, "us-east-1"))).toBeUndefined();
    expect(store.resolveValueFrom(`${dbArn}:password`)).toBeUndefined();
    expect(store.resolveValueFrom(`${dbArn}:password:AWSCURRENT`)).toBeUndefined();
    expect(store.resolveValueFrom(`arn:aws:ssm:${REGION}:${ACCOUNT}:parameter/plain`)).toBeUndefined();
    expect(store.resolveValueFrom("")).toBeUndefined();
    store.delete("plain", { recoveryWindowInDays: 7 });
    expect(store.resolveValueFrom("plain")).toBeUndefined();
  });

  it("works when detached from the store, as a callback", () => {
    const { resolveValueFrom } = store;
    expect(resolveValueFrom("plain")).toBe("just text");
  });
});

describe("parseSecretReference", () => {
  it("splits ECS's forms into SecretId, JSON key, stage and version", () => {
    expect(parseSecretReference("db")).toEqual({ secretId: "db", jsonKey: "" });
    expect(parseSecretReference(`${PREFIX}db-AbCdEf`)).toEqual({
      secretId: `${PREFIX}db-AbCdEf`,
      jsonKey: "",
    });
    expect(parseSecretReference(`${PREFIX}db:user:AWSPREVIOUS:v1`)).toEqual({
      secretId: `${PREFIX}db`,
      jsonKey: "user",
      versionStage: "AWSPREVIOUS",
      versionId: "v1",
    });
    expect(parseSecretReference(`${PREFIX}db:user::`)).toEqual({ secretId: `${PREFIX}db`, jsonKey: "user" });
    expect(parseSecretReference(`${PREFIX}db:user:`)).toBeUndefined();
    expect(parseSecretReference(`arn:aws:ssm:${REGION}:${ACCOUNT}:parameter/db`)).toBeUndefined();
  });
});

describe("goFormat", () => {
  it("follows Go's shortest %g switch to exponents", () => {
    expect([100000, 1e6, 0.0001, 1e-5, -2.5, -0, 1e21, 123456789].map(goFormat)).toEqual([
      "100000",
      "1e+06",
      "0.0001",
      "1e-05",
      "-2.5",
      "-0",
      "1e+21",
      "1.23456789e+08",
    ]);
  });
});

describe("the file", () => {
  it("is written with mode 0600, and an existing file is narrowed to 0600 on open", () => {
    const store = open();
    store.create({ name: "a", value: { secretString: "x" } });
    expect(statSync(path).mode & 0o777).toBe(0o600);

    const contents = readFileSync(path);
    rmSync(path);
    writeFileSync(path, contents, { mode: 0o644 });
    expect(statSync(path).mode & 0o777).toBe(0o644);
    const reopened = open();
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(reopened.getValue("a").secretString).toBe("x");
  });

  it("keeps every secret, version, stage and deletion across a new store on the same path", () => {
    const first = open();
    const created = first.create({
      name: "kept",
      value: { secretString: "one" },
      description: "d",
      tags: [{ Key: "k", Value: "v" }],
    });
    first.putValue("kept", { value: { secretString: "two" } });
    first.create({ name: "scheduled", value: { secretString: "s" } });
    first.delete("scheduled", { recoveryWindowInDays: 7 });

    const second = open();
    expect(second.getValue("kept")).toMatchObject({ secretString: "two", stages: ["AWSCURRENT"] });
    expect(second.getValue("kept", { versionStage: "AWSPREVIOUS" })).toMatchObject({
      secretString: "one",
      versionId: created.versionId,
    });
    expect(second.describe(created.arn)).toMatchObject({
      description: "d",
      tags: [{ Key: "k", Value: "v" }],
    });
    expect(second.describe("scheduled").deletedDate).toBeDefined();
  });

  it("creates the data directory, and refuses a damaged file without quoting its content", () => {
    path = join(dir, "nested", "dir", "secrets.json");
    open().create({ name: "a", value: { secretString: "x" } });
    expect(statSync(path).isFile()).toBe(true);

    mkdirSync(join(dir, "broken"));
    path = join(dir, "broken", "secrets.json");
    // Node's parse error would quote the text around the fault: here, the value.
    writeFileSync(path, '{"version":1,"secrets":[{"SecretString":leaky-value-123}]}');
    const unparsable = thrownBy(open);
    expect(unparsable.message).toContain("not valid JSON");
    expect(unparsable.message).not.toContain("leaky-val");

    writeFileSync(
      path,
      JSON.stringify({ version: 1, secrets: [{ name: "a", secretString: "leaky-value-123" }] }),
    );
    const unexpected = thrownBy(open);
    expect(unexpected.message).toContain("unexpected content");
    expect(unexpected.message).not.toContain("leaky-val");
  });
});

describe("versions", () => {
  it("drops the oldest unlabelled versions beyond 100 and keeps labelled ones", () => {
    const store = open();
    const first = store.create({ name: "busy", value: { secretString: "v0" } });
    store.putValue("busy", { value: { secretString: "pinned" }, versionStages: ["PINNED"] });
    for (let index = 1; index <= 120; index++)
      store.putValue("busy", { value: { secretString: `v${index}` } });

    const stored = JSON.parse(readFileSync(path, "utf8")) as { secrets: { versions: unknown[] }[] };
    expect(stored.secrets[0]?.versions).toHaveLength(100);
    expect(store.getValue("busy", { versionStage: "PINNED" }).secretString).toBe("pinned");
    expect(store.getValue("busy").secretString).toBe("v120");
    expect(() => store.getValue("busy", { versionId: first.versionId ?? "" })).toThrow(/VersionId/);
  });
});

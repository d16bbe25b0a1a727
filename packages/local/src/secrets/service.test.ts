import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  CreateSecretCommand,
  DeleteSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  InvalidNextTokenException,
  InvalidParameterException,
  InvalidRequestException,
  ListSecretsCommand,
  type ListSecretsCommandInput,
  PutSecretValueCommand,
  ResourceExistsException,
  ResourceNotFoundException,
  RestoreSecretCommand,
  SecretsManagerClient,
  UpdateSecretCommand,
} from "@aws-sdk/client-secrets-manager";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { dispatch } from "../protocol.ts";
import { failure, serve } from "../test-support.ts";
import { secretsService } from "./service.ts";
import { SecretStore } from "./store.ts";

const ACCOUNT = "000000000000";
const REGION = "us-east-1";
const DAY_MS = 86_400_000;
const START = Date.UTC(2025, 0, 15, 12, 0, 0);

let dir: string;
let path: string;
let clock: number;
let store: SecretStore;
let endpoint: { url: string; close: () => Promise<void> };
let secrets: SecretsManagerClient;

async function open(): Promise<void> {
  store = new SecretStore(path, { account: ACCOUNT, region: REGION, now: () => clock });
  endpoint = await serve(secretsService(store));
  secrets = new SecretsManagerClient({
    endpoint: endpoint.url,
    region: REGION,
    credentials: { accessKeyId: "berth", secretAccessKey: "berth" },
    maxAttempts: 1,
  });
}

async function close(): Promise<void> {
  secrets.destroy();
  await endpoint.close();
}

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "berth-secrets-"));
  path = join(dir, "secrets", "secrets.json");
  clock = START;
  await open();
});

afterEach(async () => {
  await close();
  rmSync(dir, { recursive: true, force: true });
});

async function readString(secretId: string, options: { VersionId?: string; VersionStage?: string } = {}) {
  const output = await secrets.send(new GetSecretValueCommand({ SecretId: secretId, ...options }));
  return output.SecretString;
}

describe("CreateSecret and GetSecretValue", () => {
  it("creates a secret whose ARN carries a 6-character suffix, and reads it by name, full ARN and partial ARN", async () => {
    const created = await secrets.send(
      new CreateSecretCommand({ Name: "shop/db", SecretString: "s3cret-create", Description: "the db" }),
    );
    expect(created.Name).toBe("shop/db");
    expect(created.ARN).toMatch(
      /^arn:aws:secretsmanager:us-east-1:000000000000:secret:shop\/db-[A-Za-z0-9]{6}$/,
    );
    expect(created.VersionId).toMatch(/^[0-9a-f-]{36}$/);

    const partial = `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:shop/db`;
    for (const id of ["shop/db", created.ARN ?? "", partial]) {
      const output = await secrets.send(new GetSecretValueCommand({ SecretId: id }));
      expect(output).toMatchObject({
        ARN: created.ARN,
        Name: "shop/db",
        VersionId: created.VersionId,
        SecretString: "s3cret-create",
        VersionStages: ["AWSCURRENT"],
        CreatedDate: new Date(START),
      });
    }
  });

  it("uses the ClientRequestToken as the VersionId and answers a retried request again", async () => {
    const token = "11111111-2222-3333-4444-555555555555";
    const first = await secrets.send(
      new CreateSecretCommand({ Name: "token", SecretString: "v", ClientRequestToken: token }),
    );
    const retried = await secrets.send(
      new CreateSecretCommand({ Name: "token", SecretString: "v", ClientRequestToken: token }),
    );
    expect(first.VersionId).toBe(token);
    expect(retried).toMatchObject({ ARN: first.ARN, VersionId: token });
  });

  it("keeps binary values as bytes", async () => {
    const bytes = Uint8Array.from([0, 1, 2, 250, 255]);
    await secrets.send(new CreateSecretCommand({ Name: "binary", SecretBinary: bytes }));
    const output = await secrets.send(new GetSecretValueCommand({ SecretId: "binary" }));
    expect(output.SecretString).toBeUndefined();
    expect(Array.from(output.SecretBinary ?? [])).toEqual(Array.from(bytes));
  });

  it("creates a secret without a value, which has no version to read yet", async () => {
    const created = await secrets.send(new CreateSecretCommand({ Name: "empty" }));
    expect(created.VersionId).toBeUndefined();
    const error = await failure(secrets.send(new GetSecretValueCommand({ SecretId: "empty" })));
    expect(error).toBeInstanceOf(ResourceNotFoundException);
    expect(error.message).toBe(
      "Secrets Manager can't find the specified secret value for staging label: AWSCURRENT",
    );
  });

  it("refuses an existing name, a missing secret, a wrong ARN suffix and malformed input with AWS's exceptions", async () => {
    const created = await secrets.send(new CreateSecretCommand({ Name: "db", SecretString: "one" }));

    const exists = await failure(secrets.send(new CreateSecretCommand({ Name: "db", SecretString: "two" })));
    expect(exists).toBeInstanceOf(ResourceExistsException);
    expect(exists.name).toBe("ResourceExistsException");
    expect(exists.message).toBe("The operation failed because the secret db already exists.");

    const missing = await failure(secrets.send(new GetSecretValueCommand({ SecretId: "nope" })));
    expect(missing).toBeInstanceOf(ResourceNotFoundException);
    expect(missing.name).toBe("ResourceNotFoundException");
    expect(missing.message).toBe("Secrets Manager can't find the specified secret.");

    // Another suffix is another secret (e.g. one deleted and created again), not this one.
    const otherSuffix = `${created.ARN?.slice(0, -6)}${created.ARN?.endsWith("AAAAAA") ? "BBBBBB" : "AAAAAA"}`;
    expect(await failure(readString(otherSuffix))).toBeInstanceOf(ResourceNotFoundException);
    const otherRegion = created.ARN?.replace(REGION, "eu-west-1") ?? "";
    expect(await failure(readString(otherRegion))).toBeInstanceOf(ResourceNotFoundException);

    const badName = await failure(secrets.send(new CreateSecretCommand({ Name: "bad name!" })));
    expect(badName).toBeInstanceOf(InvalidParameterException);
    expect(badName.message).toContain("Name");

    const both = await failure(
      secrets.send(
        new CreateSecretCommand({ Name: "both", SecretString: "a", SecretBinary: Uint8Array.from([1]) }),
      ),
    );
    expect(both).toBeInstanceOf(InvalidParameterException);
    expect(both.message).toContain("both a binary secret value and a string secret value");
  });
});

describe("PutSecretValue", () => {
  it("makes the new version AWSCURRENT and the previous one AWSPREVIOUS, by name, full ARN or partial ARN", async () => {
    const created = await secrets.send(new CreateSecretCommand({ Name: "api-key", SecretString: "v1" }));
    clock += 1000;
    const second = await secrets.send(new PutSecretValueCommand({ SecretId: "api-key", SecretString: "v2" }));
    expect(second).toMatchObject({ ARN: created.ARN, Name: "api-key", VersionStages: ["AWSCURRENT"] });
    clock += 1000;
    const partial = `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:api-key`;
    const third = await secrets.send(new PutSecretValueCommand({ SecretId: partial, SecretString: "v3" }));
    clock += 1000;
    const fourth = await secrets.send(
      new PutSecretValueCommand({ SecretId: created.ARN ?? "", SecretString: "v4" }),
    );

    expect(await readString("api-key")).toBe("v4");
    expect(await readString("api-key", { VersionStage: "AWSPREVIOUS" })).toBe("v3");
    expect(await readString("api-key", { VersionId: second.VersionId ?? "" })).toBe("v2");
    const previous = await secrets.send(
      new GetSecretValueCommand({ SecretId: "api-key", VersionStage: "AWSPREVIOUS" }),
    );
    expect(previous.VersionId).toBe(third.VersionId);
    expect(previous.CreatedDate).toEqual(new Date(START + 2000));

    const described = await secrets.send(new DescribeSecretCommand({ SecretId: "api-key" }));
    // Versions without a label are deprecated and no longer listed.
    expect(described.VersionIdsToStages).toEqual({
      [third.VersionId ?? ""]: ["AWSPREVIOUS"],
      [fourth.VersionId ?? ""]: ["AWSCURRENT"],
    });
  });

  it("moves custom stages without touching AWSCURRENT", async () => {
    await secrets.send(new CreateSecretCommand({ Name: "rotating", SecretString: "current" }));
    const pending = await secrets.send(
      new PutSecretValueCommand({
        SecretId: "rotating",
        SecretString: "next",
        VersionStages: ["AWSPENDING"],
      }),
    );
    expect(pending.VersionStages).toEqual(["AWSPENDING"]);
    expect(await readString("rotating")).toBe("current");
    expect(await readString("rotating", { VersionStage: "AWSPENDING" })).toBe("next");
    const mismatch = await failure(
      readString("rotating", { VersionId: pending.VersionId ?? "", VersionStage: "AWSCURRENT" }),
    );
    expect(mismatch).toBeInstanceOf(ResourceNotFoundException);
  });

  it("treats a repeated token as a retry, and refuses to change an existing version", async () => {
    await secrets.send(new CreateSecretCommand({ Name: "idem", SecretString: "a" }));
    const token = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";
    await secrets.send(
      new PutSecretValueCommand({ SecretId: "idem", SecretString: "b", ClientRequestToken: token }),
    );
    const retried = await secrets.send(
      new PutSecretValueCommand({ SecretId: "idem", SecretString: "b", ClientRequestToken: token }),
    );
    expect(retried).toMatchObject({ VersionId: token, VersionStages: ["AWSCURRENT"] });
    expect(await readString("idem", { VersionStage: "AWSPREVIOUS" })).toBe("a");

    const changed = await failure(
      secrets.send(
        new PutSecretValueCommand({ SecretId: "idem", SecretString: "c", ClientRequestToken: token }),
      ),
    );
    expect(changed).toBeInstanceOf(ResourceExistsException);
    const noValue = await failure(secrets.send(new PutSecretValueCommand({ SecretId: "idem" })));
    expect(noValue).toBeInstanceOf(InvalidRequestException);
    const missing = await failure(
      secrets.send(new PutSecretValueCommand({ SecretId: "gone", SecretString: "x" })),
    );
    expect(missing).toBeInstanceOf(ResourceNotFoundException);
  });
});

describe("UpdateSecret", () => {
  it("changes the description and, with a value, adds an AWSCURRENT version", async () => {
    await secrets.send(new CreateSecretCommand({ Name: "svc", SecretString: "one", Description: "old" }));
    const metadataOnly = await secrets.send(new UpdateSecretCommand({ SecretId: "svc", Description: "new" }));
    expect(metadataOnly.VersionId).toBeUndefined();
    const withValue = await secrets.send(new UpdateSecretCommand({ SecretId: "svc", SecretString: "two" }));
    expect(withValue.VersionId).toBeDefined();
    expect(await readString("svc")).toBe("two");
    expect(await readString("svc", { VersionStage: "AWSPREVIOUS" })).toBe("one");
    const described = await secrets.send(new DescribeSecretCommand({ SecretId: "svc" }));
    expect(described.Description).toBe("new");
  });
});

describe("DescribeSecret", () => {
  it("shows metadata, tags, dates and stages, never the value", async () => {
    const created = await secrets.send(
      new CreateSecretCommand({
        Name: "described",
        SecretString: "never-in-describe",
        Description: "what it is",
        Tags: [
          { Key: "team", Value: "shop" },
          { Key: "__proto__", Value: "odd but valid" },
        ],
      }),
    );
    clock += DAY_MS + 5_000;
    await readString("described");
    const output = await secrets.send(new DescribeSecretCommand({ SecretId: created.ARN ?? "" }));
    expect(output).toMatchObject({
      ARN: created.ARN,
      Name: "described",
      Description: "what it is",
      Tags: [
        { Key: "team", Value: "shop" },
        { Key: "__proto__", Value: "odd but valid" },
      ],
      CreatedDate: new Date(START),
      LastChangedDate: new Date(START),
      // Secrets Manager records the day of the last access only.
      LastAccessedDate: new Date(Date.UTC(2025, 0, 16)),
      VersionIdsToStages: { [created.VersionId ?? ""]: ["AWSCURRENT"] },
    });
    expect(output.DeletedDate).toBeUndefined();
    expect(JSON.stringify(output)).not.toContain("never-in-describe");
  });
});

describe("ListSecrets", () => {
  async function names(input: ListSecretsCommandInput = {}): Promise<string[]> {
    const output = await secrets.send(new ListSecretsCommand(input));
    return (output.SecretList ?? []).map((secret) => secret.Name ?? "");
  }

  beforeEach(async () => {
    for (const [index, name] of ["shop/db", "shop/api-key", "blog/db", "Shop/upper"].entries()) {
      clock = START + index * 1000;
      await secrets.send(
        new CreateSecretCommand({
          Name: name,
          SecretString: `value-${index}`,
          Description: index === 0 ? "Primary database" : undefined,
          Tags: [{ Key: "team", Value: name.split("/")[0] ?? "" }],
        }),
      );
    }
  });

  it("lists without values, newest first by default, with each secret's versions", async () => {
    const output = await secrets.send(new ListSecretsCommand({}));
    expect(output.SecretList?.map((secret) => secret.Name)).toEqual([
      "Shop/upper",
      "blog/db",
      "shop/api-key",
      "shop/db",
    ]);
    const entry = output.SecretList?.[3];
    expect(entry).toMatchObject({
      Name: "shop/db",
      Description: "Primary database",
      CreatedDate: new Date(START),
    });
    expect(Object.values(entry?.SecretVersionsToStages ?? {})).toEqual([["AWSCURRENT"]]);
    expect(JSON.stringify(output)).not.toMatch(/value-\d/);
    expect(output.NextToken).toBeUndefined();
    expect(await names({ SortOrder: "asc" })).toEqual(["shop/db", "shop/api-key", "blog/db", "Shop/upper"]);
    expect(await names({ SortBy: "name", SortOrder: "asc" })).toEqual([
      "Shop/upper",
      "blog/db",
      "shop/api-key",
      "shop/db",
    ]);
  });

  it("filters by name prefix (case-sensitive), description, tags, negation and free text", async () => {
    expect(await names({ Filters: [{ Key: "name", Values: ["shop/"] }], SortOrder: "asc" })).toEqual([
      "shop/db",
      "shop/api-key",
    ]);
    expect(await names({ Filters: [{ Key: "name", Values: ["shop/", "blog/"] }], SortOrder: "asc" })).toEqual(
      ["shop/db", "shop/api-key", "blog/db"],
    );
    expect(await names({ Filters: [{ Key: "name", Values: ["!shop/"] }], SortOrder: "asc" })).toEqual([
      "blog/db",
      "Shop/upper",
    ]);
    expect(await names({ Filters: [{ Key: "description", Values: ["primary"] }] })).toEqual(["shop/db"]);
    expect(
      await names({
        Filters: [
          { Key: "tag-value", Values: ["shop"] },
          { Key: "name", Values: ["shop/d"] },
        ],
      }),
    ).toEqual(["shop/db"]);
    expect(await names({ Filters: [{ Key: "tag-key", Values: ["nope"] }] })).toEqual([]);
    expect(await names({ Filters: [{ Key: "all", Values: ["API"] }] })).toEqual(["shop/api-key"]);
    const bad = await failure(names({ Filters: [{ Key: "name", Values: ["semi;colon"] }] }));
    expect(bad).toBeInstanceOf(InvalidParameterException);
  });

  it("pages with MaxResults and NextToken, and refuses a forged token", async () => {
    const first = await secrets.send(new ListSecretsCommand({ MaxResults: 3, SortOrder: "asc" }));
    expect(first.SecretList?.map((secret) => secret.Name)).toEqual(["shop/db", "shop/api-key", "blog/db"]);
    expect(first.NextToken).toBeDefined();
    const second = await secrets.send(
      new ListSecretsCommand({ MaxResults: 3, SortOrder: "asc", NextToken: first.NextToken }),
    );
    expect(second.SecretList?.map((secret) => secret.Name)).toEqual(["Shop/upper"]);
    expect(second.NextToken).toBeUndefined();

    const forged = await failure(secrets.send(new ListSecretsCommand({ NextToken: "not-a-token" })));
    expect(forged).toBeInstanceOf(InvalidNextTokenException);
    const tooMany = await failure(secrets.send(new ListSecretsCommand({ MaxResults: 101 })));
    expect(tooMany).toBeInstanceOf(InvalidParameterException);
  });

  it("hides secrets scheduled for deletion unless IncludePlannedDeletion", async () => {
    await secrets.send(new DeleteSecretCommand({ SecretId: "blog/db" }));
    expect(await names()).not.toContain("blog/db");
    const output = await secrets.send(
      new ListSecretsCommand({ IncludePlannedDeletion: true, Filters: [{ Key: "name", Values: ["blog/"] }] }),
    );
    expect(output.SecretList?.[0]).toMatchObject({ Name: "blog/db", DeletedDate: new Date(clock) });
  });
});

describe("DeleteSecret", () => {
  it("schedules deletion after the recovery window: reads fail, describe shows it, restore brings it back", async () => {
    const created = await secrets.send(new CreateSecretCommand({ Name: "doomed", SecretString: "bye" }));
    const deleted = await secrets.send(
      new DeleteSecretCommand({ SecretId: "doomed", RecoveryWindowInDays: 7 }),
    );
    expect(deleted).toMatchObject({
      ARN: created.ARN,
      Name: "doomed",
      DeletionDate: new Date(START + 7 * DAY_MS),
    });

    const read = await failure(readString("doomed"));
    expect(read).toBeInstanceOf(InvalidRequestException);
    expect(read.name).toBe("InvalidRequestException");
    expect(read.message).toContain("marked for deletion");
    const put = await failure(
      secrets.send(new PutSecretValueCommand({ SecretId: "doomed", SecretString: "x" })),
    );
    expect(put).toBeInstanceOf(InvalidRequestException);
    const again = await failure(secrets.send(new DeleteSecretCommand({ SecretId: "doomed" })));
    expect(again).toBeInstanceOf(InvalidRequestException);
    const recreate = await failure(
      secrets.send(new CreateSecretCommand({ Name: "doomed", SecretString: "x" })),
    );
    expect(recreate).toBeInstanceOf(InvalidRequestException);

    const described = await secrets.send(new DescribeSecretCommand({ SecretId: "doomed" }));
    expect(described.DeletedDate).toEqual(new Date(START));

    await secrets.send(new RestoreSecretCommand({ SecretId: "doomed" }));
    expect(await readString("doomed")).toBe("bye");
  });

  it("defaults to 30 days and removes the secret for good when the window has passed", async () => {
    await secrets.send(new CreateSecretCommand({ Name: "later", SecretString: "x" }));
    const deleted = await secrets.send(new DeleteSecretCommand({ SecretId: "later" }));
    expect(deleted.DeletionDate).toEqual(new Date(START + 30 * DAY_MS));
    clock += 30 * DAY_MS - 1;
    expect((await secrets.send(new DescribeSecretCommand({ SecretId: "later" }))).DeletedDate).toBeDefined();
    clock += 1;
    expect(await failure(secrets.send(new DescribeSecretCommand({ SecretId: "later" })))).toBeInstanceOf(
      ResourceNotFoundException,
    );
    const recreated = await secrets.send(new CreateSecretCommand({ Name: "later", SecretString: "y" }));
    expect(recreated.Name).toBe("later");
  });

  it("deletes at once with ForceDeleteWithoutRecovery, and the name can be used again with a new ARN", async () => {
    const created = await secrets.send(new CreateSecretCommand({ Name: "now", SecretString: "x" }));
    const deleted = await secrets.send(
      new DeleteSecretCommand({ SecretId: "now", ForceDeleteWithoutRecovery: true }),
    );
    expect(deleted).toMatchObject({ ARN: created.ARN, DeletionDate: new Date(START) });
    expect(await failure(readString("now"))).toBeInstanceOf(ResourceNotFoundException);
    expect(await failure(readString(created.ARN ?? ""))).toBeInstanceOf(ResourceNotFoundException);
    const again = await secrets.send(new CreateSecretCommand({ Name: "now", SecretString: "y" }));
    expect(again.ARN).not.toBe(created.ARN);
  });

  it("validates the recovery window and its combination with force, and force-deletes what is missing as AWS does", async () => {
    await secrets.send(new CreateSecretCommand({ Name: "kept", SecretString: "x" }));
    for (const days of [6, 31]) {
      const error = await failure(
        secrets.send(new DeleteSecretCommand({ SecretId: "kept", RecoveryWindowInDays: days })),
      );
      expect(error).toBeInstanceOf(InvalidParameterException);
      expect(error.message).toContain("between 7 and 30 days");
    }
    const both = await failure(
      secrets.send(
        new DeleteSecretCommand({
          SecretId: "kept",
          RecoveryWindowInDays: 7,
          ForceDeleteWithoutRecovery: true,
        }),
      ),
    );
    expect(both).toBeInstanceOf(InvalidParameterException);
    expect(await readString("kept")).toBe("x");

    const missing = await failure(secrets.send(new DeleteSecretCommand({ SecretId: "never" })));
    expect(missing).toBeInstanceOf(ResourceNotFoundException);
    const forced = await secrets.send(
      new DeleteSecretCommand({ SecretId: "never", ForceDeleteWithoutRecovery: true }),
    );
    expect(forced.Name).toBe("never");
  });
});

describe("the file on disk", () => {
  it("has mode 0600 and survives a new store on the same path", async () => {
    const created = await secrets.send(new CreateSecretCommand({ Name: "durable", SecretString: "kept" }));
    await secrets.send(new PutSecretValueCommand({ SecretId: "durable", SecretString: "kept-2" }));
    await secrets.send(new CreateSecretCommand({ Name: "scheduled", SecretString: "s" }));
    await secrets.send(new DeleteSecretCommand({ SecretId: "scheduled", RecoveryWindowInDays: 10 }));
    expect(statSync(path).mode & 0o777).toBe(0o600);

    await close();
    await open();
    expect(await readString("durable")).toBe("kept-2");
    expect(await readString(created.ARN ?? "", { VersionStage: "AWSPREVIOUS" })).toBe("kept");
    expect(await failure(readString("scheduled"))).toBeInstanceOf(InvalidRequestException);
    const described = await secrets.send(new DescribeSecretCommand({ SecretId: "durable" }));
    expect(described.ARN).toBe(created.ARN);
    expect(JSON.parse(readFileSync(path, "utf8"))).toMatchObject({ version: 1 });
  });
});

describe("values stay secret", () => {
  it("never appear in an error message or on the console", async () => {
    const value = "hunter2-7f3a9c-super-secret";
    const printed: string[] = [];
    const spies = (["log", "info", "warn", "error", "debug", "trace"] as const).map((method) =>
      vi.spyOn(console, method).mockImplementation((...args: unknown[]) => {
        printed.push(args.map(String).join(" "));
      }),
    );
    try {
      const messages: string[] = [];
      const collect = async (promise: Promise<unknown>) => {
        const error = await failure(promise);
        messages.push(`${error.name}: ${error.message}`);
      };
      const created = await secrets.send(new CreateSecretCommand({ Name: "guarded", SecretString: value }));
      await collect(secrets.send(new CreateSecretCommand({ Name: "guarded", SecretString: value })));
      await collect(
        secrets.send(
          new PutSecretValueCommand({
            SecretId: "guarded",
            SecretString: `${value}-changed`,
            ClientRequestToken: created.VersionId,
          }),
        ),
      );
      await collect(
        secrets.send(new CreateSecretCommand({ Name: "too-long", SecretString: value.repeat(3000) })),
      );
      await collect(
        secrets.send(
          new CreateSecretCommand({ Name: "both", SecretString: value, SecretBinary: Buffer.from(value) }),
        ),
      );
      await collect(secrets.send(new PutSecretValueCommand({ SecretId: "missing", SecretString: value })));
      await collect(
        secrets.send(new GetSecretValueCommand({ SecretId: "guarded", VersionStage: "AWSPENDING" })),
      );
      await secrets.send(new DeleteSecretCommand({ SecretId: "guarded" }));
      await collect(secrets.send(new GetSecretValueCommand({ SecretId: "guarded" })));
      await collect(secrets.send(new PutSecretValueCommand({ SecretId: "guarded", SecretString: value })));
      // A raw request with a value of the wrong type: the validation message names the member, not the value.
      await collect(dispatch(secretsService(store), "CreateSecret", { Name: "raw", SecretString: [value] }));

      expect(messages).toHaveLength(9);
      for (const message of messages) expect(message).not.toContain("hunter2");
      for (const line of printed) expect(line).not.toContain("hunter2");
    } finally {
      for (const spy of spies) spy.mockRestore();
    }
  });
});

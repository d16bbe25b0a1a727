import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DescribeRepositoriesCommand, ECRClient } from "@aws-sdk/client-ecr";
import {
  AttachRolePolicyCommand,
  CreateRoleCommand,
  DeleteConflictException,
  DeleteRoleCommand,
  DeleteRolePolicyCommand,
  EntityAlreadyExistsException,
  GetRoleCommand,
  GetRolePolicyCommand,
  IAMClient,
  InvalidInputException,
  LimitExceededException,
  ListRolePoliciesCommand,
  ListRolesCommand,
  MalformedPolicyDocumentException,
  NoSuchEntityException,
  PutRolePolicyCommand,
  TagRoleCommand,
  UpdateAssumeRolePolicyCommand,
} from "@aws-sdk/client-iam";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { z } from "zod";
import { inputMembersOf } from "../../../../test/support/botocore.ts";
import { ArtifactStore, ecrService, RepositoryStore, TagStore } from "../ecr/service.ts";
import { type AwsEndpoint, startAwsEndpoint } from "../server.ts";
import { awsCli, failure, localClientConfig } from "../test-support.ts";
import { IAM_INPUTS, iamRoute } from "./service.ts";
import { RoleStore } from "./store.ts";

const ACCOUNT = "000000000000";

const TRUST = JSON.stringify({
  Version: "2012-10-17",
  Statement: [
    { Effect: "Allow", Principal: { Service: "ecs-tasks.amazonaws.com" }, Action: "sts:AssumeRole" },
  ],
});
const POLICY = JSON.stringify({
  Version: "2012-10-17",
  Statement: [{ Sid: "Run", Effect: "Allow", Action: ["ecs:RunTask"], Resource: ["*"] }],
});

/** IAM encodes documents per RFC 3986: only unreserved characters stay as they are. */
const RFC3986_ENCODED = /^[A-Za-z0-9\-._~%]+$/;

let dir: string;
let endpoint: AwsEndpoint;
let iam: IAMClient;

function rolesFile(): string {
  return join(dir, "iam", "roles.json");
}

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "berth-iam-"));
  // Beside a JSON service, as in Berth Local: the IAM route must take IAM's requests and only those.
  endpoint = await startAwsEndpoint({
    port: 0,
    services: [
      ecrService({
        account: ACCOUNT,
        region: "us-east-1",
        repositories: new RepositoryStore(join(dir, "ecr", "repositories.json")),
        artifacts: new ArtifactStore(join(dir, "artifacts")),
        tags: new TagStore(join(dir, "ecr", "tags.json")),
      }),
    ],
    routes: [iamRoute(new RoleStore(rolesFile(), { account: ACCOUNT }))],
  });
  iam = new IAMClient({ ...localClientConfig(endpoint.url), maxAttempts: 1 });
});

afterEach(async () => {
  iam.destroy();
  await endpoint.close();
  rmSync(dir, { recursive: true, force: true });
});

function createRole(name: string, extra: Partial<ConstructorParameters<typeof CreateRoleCommand>[0]> = {}) {
  return iam.send(new CreateRoleCommand({ RoleName: name, AssumeRolePolicyDocument: TRUST, ...extra }));
}

const aws = (...args: string[]) => awsCli(endpoint.url, dir, args);

describe("roles", () => {
  it("creates a role with IAM's ARN, ID and members, and returns the same role from GetRole", async () => {
    const boundary = `arn:aws:iam::${ACCOUNT}:policy/berth-boundary`;
    const { Role: created } = await createRole("berth-shop-web", {
      Path: "/berth/tasks/",
      Description: "Berth task role of web",
      MaxSessionDuration: 7200,
      PermissionsBoundary: boundary,
      Tags: [
        { Key: "berth:stack", Value: "shop" },
        { Key: "berth:resource", Value: "web" },
      ],
    });
    expect(created?.Arn).toBe(`arn:aws:iam::${ACCOUNT}:role/berth/tasks/berth-shop-web`);
    expect(created?.RoleId).toMatch(/^AROA[A-Z0-9]{17}$/);
    expect(created?.CreateDate).toBeInstanceOf(Date);
    expect(Math.abs((created?.CreateDate?.getTime() ?? 0) - Date.now())).toBeLessThan(5000);

    const { Role: role } = await iam.send(new GetRoleCommand({ RoleName: "berth-shop-web" }));
    expect(role).toMatchObject({
      RoleName: "berth-shop-web",
      Path: "/berth/tasks/",
      Arn: created?.Arn,
      RoleId: created?.RoleId,
      Description: "Berth task role of web",
      MaxSessionDuration: 7200,
      PermissionsBoundary: {
        PermissionsBoundaryType: "PermissionsBoundaryPolicy",
        PermissionsBoundaryArn: boundary,
      },
      Tags: [
        { Key: "berth:stack", Value: "shop" },
        { Key: "berth:resource", Value: "web" },
      ],
    });
    // IAM answers with the document URL-encoded; the SDK hands it over as it came.
    expect(role?.AssumeRolePolicyDocument).toMatch(RFC3986_ENCODED);
    expect(decodeURIComponent(role?.AssumeRolePolicyDocument ?? "")).toBe(TRUST);
  });

  it("defaults the path to / and the session duration to an hour", async () => {
    const { Role: role } = await createRole("plain");
    expect(role?.Path).toBe("/");
    expect(role?.Arn).toBe(`arn:aws:iam::${ACCOUNT}:role/plain`);
    expect(role?.MaxSessionDuration).toBe(3600);
    expect(role?.Tags).toBeUndefined();
  });

  it("refuses a second role of the same name, whatever its case, with EntityAlreadyExists (409)", async () => {
    await createRole("Deployer");
    for (const name of ["Deployer", "deployer"]) {
      const error = await failure(createRole(name, { Description: "second" }));
      expect(error).toBeInstanceOf(EntityAlreadyExistsException);
      expect(error.message).toBe("Role with name Deployer already exists.");
      expect((error as EntityAlreadyExistsException).$metadata.httpStatusCode).toBe(409);
    }
    const { Role: role } = await iam.send(new GetRoleCommand({ RoleName: "deployer" }));
    expect(role?.RoleName).toBe("Deployer");
    expect(role?.Description).toBeUndefined();
  });

  it("answers NoSuchEntity (404) for a role that does not exist", async () => {
    const error = await failure(iam.send(new GetRoleCommand({ RoleName: "ghost" })));
    expect(error).toBeInstanceOf(NoSuchEntityException);
    expect(error.message).toBe("The role with name ghost cannot be found.");
    expect((error as NoSuchEntityException).$metadata.httpStatusCode).toBe(404);
    expect(await failure(iam.send(new DeleteRoleCommand({ RoleName: "ghost" })))).toBeInstanceOf(
      NoSuchEntityException,
    );
  });

  it("rejects malformed members with IAM's ValidationError and creates nothing", async () => {
    const badName = await failure(createRole("not a name"));
    expect(badName.name).toBe("ValidationError");
    expect(badName.message).toContain("Value 'not a name' at 'roleName' failed to satisfy constraint");
    expect((badName as NoSuchEntityException).$metadata.httpStatusCode).toBe(400);
    const shortSession = await failure(createRole("short", { MaxSessionDuration: 60 }));
    expect(shortSession.name).toBe("ValidationError");
    expect(shortSession.message).toContain("Member must have value greater than or equal to 3600");
    const badPath = await failure(createRole("pathless", { Path: "berth" }));
    expect(badPath.name).toBe("ValidationError");
    const { Roles } = await iam.send(new ListRolesCommand({}));
    expect(Roles).toEqual([]);
  });

  it("rejects trust policies that are not JSON policies with MalformedPolicyDocument", async () => {
    const notJson = await failure(createRole("broken", { AssumeRolePolicyDocument: "{not json" }));
    expect(notJson).toBeInstanceOf(MalformedPolicyDocumentException);
    expect(notJson.message).toBe("This policy contains invalid Json");
    const noStatement = await failure(
      createRole("broken", { AssumeRolePolicyDocument: '{"Version":"2012-10-17"}' }),
    );
    expect(noStatement).toBeInstanceOf(MalformedPolicyDocumentException);
    expect(await failure(iam.send(new GetRoleCommand({ RoleName: "broken" })))).toBeInstanceOf(
      NoSuchEntityException,
    );
  });

  it("accepts a URL-encoded document and returns it encoded once, as IAM does", async () => {
    await createRole("encoded", { AssumeRolePolicyDocument: encodeURIComponent(TRUST) });
    const { Role: role } = await iam.send(new GetRoleCommand({ RoleName: "encoded" }));
    expect(decodeURIComponent(role?.AssumeRolePolicyDocument ?? "")).toBe(TRUST);
  });

  it("replaces the trust policy with UpdateAssumeRolePolicy", async () => {
    await createRole("trusting");
    const lambdaTrust = TRUST.replace("ecs-tasks.amazonaws.com", "lambda.amazonaws.com");
    await iam.send(new UpdateAssumeRolePolicyCommand({ RoleName: "trusting", PolicyDocument: lambdaTrust }));
    const { Role: role } = await iam.send(new GetRoleCommand({ RoleName: "trusting" }));
    expect(decodeURIComponent(role?.AssumeRolePolicyDocument ?? "")).toBe(lambdaTrust);
    const missing = await failure(
      iam.send(new UpdateAssumeRolePolicyCommand({ RoleName: "nobody", PolicyDocument: lambdaTrust })),
    );
    expect(missing).toBeInstanceOf(NoSuchEntityException);
  });

  it("lists roles by path prefix, a page at a time", async () => {
    for (const name of ["c-task", "a-task", "b-task"]) await createRole(name, { Path: "/berth/tasks/" });
    await createRole("deployer", { Path: "/berth/" });
    await createRole("other");
    const tasks = await iam.send(new ListRolesCommand({ PathPrefix: "/berth/tasks/" }));
    expect(tasks.Roles?.map((role) => role.RoleName)).toEqual(["a-task", "b-task", "c-task"]);
    expect(tasks.IsTruncated).toBe(false);
    const berth = await iam.send(new ListRolesCommand({ PathPrefix: "/berth/" }));
    expect(berth.Roles?.map((role) => role.RoleName)).toEqual(["a-task", "b-task", "c-task", "deployer"]);
    // Listed roles carry the trust policy but not the tags, as in IAM.
    expect(decodeURIComponent(berth.Roles?.[0]?.AssumeRolePolicyDocument ?? "")).toBe(TRUST);

    const first = await iam.send(new ListRolesCommand({ MaxItems: 2 }));
    expect(first.Roles?.map((role) => role.RoleName)).toEqual(["a-task", "b-task"]);
    expect(first.IsTruncated).toBe(true);
    const second = await iam.send(new ListRolesCommand({ MaxItems: 2, Marker: first.Marker }));
    expect(second.Roles?.map((role) => role.RoleName)).toEqual(["c-task", "deployer"]);
    const third = await iam.send(new ListRolesCommand({ MaxItems: 2, Marker: second.Marker }));
    expect(third.Roles?.map((role) => role.RoleName)).toEqual(["other"]);
    expect(third.IsTruncated).toBe(false);
    expect(third.Marker).toBeUndefined();
  });
});

describe("inline policies", () => {
  it("puts, reads, lists and deletes a role's policies; a role with policies cannot be deleted", async () => {
    await createRole("worker");
    await iam.send(
      new PutRolePolicyCommand({ RoleName: "worker", PolicyName: "berth-task", PolicyDocument: POLICY }),
    );
    await iam.send(
      new PutRolePolicyCommand({ RoleName: "worker", PolicyName: "audit", PolicyDocument: POLICY }),
    );

    const got = await iam.send(new GetRolePolicyCommand({ RoleName: "worker", PolicyName: "berth-task" }));
    expect(got).toMatchObject({ RoleName: "worker", PolicyName: "berth-task" });
    expect(got.PolicyDocument).toMatch(RFC3986_ENCODED);
    expect(decodeURIComponent(got.PolicyDocument ?? "")).toBe(POLICY);
    const listed = await iam.send(new ListRolePoliciesCommand({ RoleName: "worker" }));
    expect(listed.PolicyNames).toEqual(["audit", "berth-task"]);

    const conflict = await failure(iam.send(new DeleteRoleCommand({ RoleName: "worker" })));
    expect(conflict).toBeInstanceOf(DeleteConflictException);
    expect(conflict.message).toBe("Cannot delete entity, must delete policies first.");
    expect((conflict as DeleteConflictException).$metadata.httpStatusCode).toBe(409);

    await iam.send(new DeleteRolePolicyCommand({ RoleName: "worker", PolicyName: "berth-task" }));
    await iam.send(new DeleteRolePolicyCommand({ RoleName: "worker", PolicyName: "audit" }));
    expect((await iam.send(new ListRolePoliciesCommand({ RoleName: "worker" }))).PolicyNames).toEqual([]);
    await iam.send(new DeleteRoleCommand({ RoleName: "worker" }));
    expect(await failure(iam.send(new GetRoleCommand({ RoleName: "worker" })))).toBeInstanceOf(
      NoSuchEntityException,
    );
  });

  it("replaces a policy of the same name", async () => {
    await createRole("worker");
    await iam.send(new PutRolePolicyCommand({ RoleName: "worker", PolicyName: "p", PolicyDocument: POLICY }));
    const wider = POLICY.replace('["ecs:RunTask"]', '["ecs:RunTask","ecs:StopTask"]');
    await iam.send(new PutRolePolicyCommand({ RoleName: "worker", PolicyName: "p", PolicyDocument: wider }));
    const got = await iam.send(new GetRolePolicyCommand({ RoleName: "worker", PolicyName: "p" }));
    expect(decodeURIComponent(got.PolicyDocument ?? "")).toBe(wider);
    expect((await iam.send(new ListRolePoliciesCommand({ RoleName: "worker" }))).PolicyNames).toEqual(["p"]);
  });

  it("answers NoSuchEntity for a missing policy or role", async () => {
    await createRole("worker");
    const missingPolicy = await failure(
      iam.send(new GetRolePolicyCommand({ RoleName: "worker", PolicyName: "p" })),
    );
    expect(missingPolicy).toBeInstanceOf(NoSuchEntityException);
    expect(missingPolicy.message).toBe("The role policy with name p cannot be found.");
    expect(
      await failure(iam.send(new DeleteRolePolicyCommand({ RoleName: "worker", PolicyName: "p" }))),
    ).toBeInstanceOf(NoSuchEntityException);
    const missingRole = await failure(
      iam.send(new PutRolePolicyCommand({ RoleName: "nobody", PolicyName: "p", PolicyDocument: POLICY })),
    );
    expect(missingRole).toBeInstanceOf(NoSuchEntityException);
    expect(missingRole.message).toBe("The role with name nobody cannot be found.");
  });

  it("enforces IAM's 10,240-character quota on a role's inline policies together", async () => {
    await createRole("worker");
    const statement = (sid: string) => ({
      Sid: sid,
      Effect: "Allow",
      Action: ["s3:GetObject"],
      Resource: ["*"],
    });
    const large = (prefix: string) =>
      JSON.stringify({
        Version: "2012-10-17",
        Statement: Array.from({ length: 80 }, (_, i) => statement(`${prefix}${i}`)),
      });
    expect(large("a").length).toBeGreaterThan(5120);
    await iam.send(
      new PutRolePolicyCommand({ RoleName: "worker", PolicyName: "one", PolicyDocument: large("a") }),
    );
    const error = await failure(
      iam.send(
        new PutRolePolicyCommand({ RoleName: "worker", PolicyName: "two", PolicyDocument: large("b") }),
      ),
    );
    expect(error).toBeInstanceOf(LimitExceededException);
    expect(error.message).toBe("Maximum policy size of 10240 bytes exceeded for role worker");
    expect((await iam.send(new ListRolePoliciesCommand({ RoleName: "worker" }))).PolicyNames).toEqual([
      "one",
    ]);
  });
});

describe("tags", () => {
  it("adds tags and replaces values of keys that differ only in case", async () => {
    await createRole("tagged", { Tags: [{ Key: "team", Value: "a" }] });
    await iam.send(
      new TagRoleCommand({
        RoleName: "tagged",
        Tags: [
          { Key: "Team", Value: "b" },
          { Key: "cost", Value: "1" },
        ],
      }),
    );
    const { Role: role } = await iam.send(new GetRoleCommand({ RoleName: "tagged" }));
    expect(role?.Tags).toEqual([
      { Key: "Team", Value: "b" },
      { Key: "cost", Value: "1" },
    ]);
  });

  it("refuses duplicate keys (InvalidInput) and more than 50 tags (LimitExceeded)", async () => {
    await createRole("tagged");
    const duplicate = await failure(
      iam.send(
        new TagRoleCommand({
          RoleName: "tagged",
          Tags: [
            { Key: "a", Value: "1" },
            { Key: "A", Value: "2" },
          ],
        }),
      ),
    );
    expect(duplicate).toBeInstanceOf(InvalidInputException);
    const many = (prefix: string, count: number) =>
      Array.from({ length: count }, (_, i) => ({ Key: `${prefix}${i}`, Value: "v" }));
    await iam.send(new TagRoleCommand({ RoleName: "tagged", Tags: many("a", 30) }));
    const tooMany = await failure(iam.send(new TagRoleCommand({ RoleName: "tagged", Tags: many("b", 21) })));
    expect(tooMany).toBeInstanceOf(LimitExceededException);
    expect(tooMany.message).toBe("Cannot exceed quota for TagsPerRole: 50.");
    expect((await iam.send(new GetRoleCommand({ RoleName: "tagged" }))).Role?.Tags).toHaveLength(30);
  });
});

describe("the endpoint", () => {
  it("keeps roles and policies across a restart (in <dataDir>/iam/roles.json)", async () => {
    await createRole("durable", { Path: "/berth/" });
    await iam.send(
      new PutRolePolicyCommand({ RoleName: "durable", PolicyName: "p", PolicyDocument: POLICY }),
    );
    const { Role: before } = await iam.send(new GetRoleCommand({ RoleName: "durable" }));
    iam.destroy();
    await endpoint.close();

    endpoint = await startAwsEndpoint({
      port: 0,
      services: [],
      routes: [iamRoute(new RoleStore(rolesFile(), { account: ACCOUNT }))],
    });
    iam = new IAMClient({ ...localClientConfig(endpoint.url), maxAttempts: 1 });
    const { Role: after } = await iam.send(new GetRoleCommand({ RoleName: "durable" }));
    expect(after).toEqual(before);
    const got = await iam.send(new GetRolePolicyCommand({ RoleName: "durable", PolicyName: "p" }));
    expect(decodeURIComponent(got.PolicyDocument ?? "")).toBe(POLICY);
  });

  it("names the IAM actions it serves when asked for another (InvalidAction)", async () => {
    await createRole("attached");
    const error = await failure(
      iam.send(
        new AttachRolePolicyCommand({
          RoleName: "attached",
          PolicyArn: "arn:aws:iam::aws:policy/ReadOnlyAccess",
        }),
      ),
    );
    expect(error.name).toBe("InvalidAction");
    expect(error.message).toContain("does not implement AttachRolePolicy");
    expect(error.message).toContain("PutRolePolicy");
  });

  it("leaves JSON requests and other Query services to the rest of the endpoint", async () => {
    const ecr = new ECRClient({
      endpoint: endpoint.url,
      region: "us-east-1",
      credentials: { accessKeyId: "berth", secretAccessKey: "berth" },
      maxAttempts: 1,
    });
    try {
      expect((await ecr.send(new DescribeRepositoriesCommand({}))).repositories).toEqual([]);
    } finally {
      ecr.destroy();
    }
    // An STS Query request is not IAM's: it reaches the JSON dispatcher, which does not know it.
    const sts = await fetch(endpoint.url, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: "Action=GetCallerIdentity&Version=2011-06-15",
    });
    expect(sts.status).toBe(404);
    expect(sts.headers.get("content-type")).toBe("application/x-amz-json-1.1");
    // A request signed for iam is IAM's even without the Version parameter.
    const signed = await fetch(endpoint.url, {
      method: "POST",
      headers: {
        "content-type": "application/x-www-form-urlencoded; charset=utf-8",
        authorization:
          "AWS4-HMAC-SHA256 Credential=berth/20250101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0",
      },
      body: "Action=GetRole&RoleName=ghost",
    });
    expect(signed.status).toBe(404);
    const xml = await signed.text();
    expect(xml).toContain("<Type>Sender</Type><Code>NoSuchEntity</Code>");
    expect(xml).toMatch(/<RequestId>[0-9a-f-]{36}<\/RequestId><\/ErrorResponse>/);
  });
});

describe("the aws CLI", () => {
  it("reads a role and its policy as the control plane wrote them (aws iam get-role, get-role-policy)", async () => {
    await createRole("cli-role", { Path: "/berth/" });
    await iam.send(
      new PutRolePolicyCommand({ RoleName: "cli-role", PolicyName: "berth-task", PolicyDocument: POLICY }),
    );
    const role = JSON.parse((await aws("iam", "get-role", "--role-name", "cli-role")).stdout);
    expect(role.Role.Arn).toBe(`arn:aws:iam::${ACCOUNT}:role/berth/cli-role`);
    // The CLI URL-decodes and parses policy documents, as it does with what IAM answers.
    expect(role.Role.AssumeRolePolicyDocument).toEqual(JSON.parse(TRUST));
    const policy = JSON.parse(
      (await aws("iam", "get-role-policy", "--role-name", "cli-role", "--policy-name", "berth-task")).stdout,
    );
    expect(policy.PolicyDocument).toEqual(JSON.parse(POLICY));
  });

  it("reports a missing role as NoSuchEntity", async () => {
    const error = (await failure(aws("iam", "get-role", "--role-name", "ghost"))) as Error & {
      stderr: string;
    };
    expect(error.stderr).toContain("(NoSuchEntity)");
    expect(error.stderr).toContain("The role with name ghost cannot be found.");
  });
});

describe("IAM's model", () => {
  it("accepts exactly the members botocore's IAM model gives each operation, with the same required ones", async () => {
    const model = inputMembersOf("iam", Object.keys(IAM_INPUTS));
    for (const [name, schema] of Object.entries(IAM_INPUTS)) {
      const members = Object.keys(schema.shape).sort();
      const shape = schema.shape as Record<string, z.ZodType>;
      const required = members.filter((member) => !shape[member]?.safeParse(undefined).success);
      expect({ name, members, required }).toEqual({ name, ...model[name] });
    }
  });
});

import { z } from "zod";
import { AwsError } from "../protocol.ts";
import type { Route } from "../server.ts";
import { type Child, element, list, optional, queryRoute, type Xml } from "./query.ts";
import { compareNames, type RoleRecord, type RoleStore, type Tag } from "./store.ts";

export { RoleStore } from "./store.ts";

const IAM_API_VERSION = "2010-05-08";
const NAMESPACE = "https://iam.amazonaws.com/doc/2010-05-08/";
const DEFAULT_MAX_SESSION_DURATION = 3600;
const DEFAULT_MAX_ITEMS = 100;
const MAX_TAGS_PER_ROLE = 50;
/** IAM's hard quota on a role's inline policies together, counted without whitespace. */
const MAX_INLINE_POLICY_CHARS = 10_240;

// Constraints and their wording follow IAM's model, so a request that fails here fails on AWS too.
const pattern = (regex: RegExp, shown: string) =>
  z.string().regex(regex, `Member must satisfy regular expression pattern: ${shown}`);
const length = (schema: z.ZodString, min: number, max: number) =>
  schema
    .min(min, `Member must have length greater than or equal to ${min}`)
    .max(max, `Member must have length less than or equal to ${max}`);

const RoleName = length(pattern(/^[\w+=,.@-]+$/, "[\\w+=,.@-]+"), 1, 64);
const PolicyName = length(pattern(/^[\w+=,.@-]+$/, "[\\w+=,.@-]+"), 1, 128);
const PolicyDocumentText = length(
  pattern(/^[\t\n\r\u0020-\u00FF]+$/, "[\\u0009\\u000A\\u000D\\u0020-\\u00FF]+"),
  1,
  131_072,
);
const Path = length(
  pattern(/^(\/|\/[\u0021-\u007E]+\/)$/, "(\\u002F)|(\\u002F[\\u0021-\\u007E]+\\u002F)"),
  1,
  512,
);
const PathPrefix = length(pattern(/^\/[\u0021-\u007F]*$/, "\\u002F[\\u0021-\\u007F]*"), 1, 512);
const Description = length(
  pattern(/^[\t\n\r\u0020-\u007E\u00A1-\u00FF]*$/, "[\\u0009\\u000A\\u000D\\u0020-\\u007E\\u00A1-\\u00FF]*"),
  0,
  1000,
);
const Arn = length(z.string(), 20, 2048);
const Marker = length(pattern(/^[\u0020-\u00FF]+$/, "[\\u0020-\\u00FF]+"), 1, 320);

/** Query sends numbers as text. */
const integer = (min: number, max: number) =>
  z.preprocess(
    (value) => (typeof value === "string" && /^-?\d+$/.test(value) ? Number(value) : value),
    z
      .number()
      .int()
      .min(min, `Member must have value greater than or equal to ${min}`)
      .max(max, `Member must have value less than or equal to ${max}`),
  );
/** Query sends an empty list as the bare member name (`Tags=`). */
const queryList = <Item extends z.ZodType>(item: Item, max: number) =>
  z.preprocess(
    (value) => (value === "" ? [] : value),
    z.array(item).max(max, `Member must have length less than or equal to ${max}`),
  );

const Tags = queryList(
  z.object({
    Key: length(pattern(/^[\p{L}\p{Z}\p{N}_.:/=+\-@]+$/u, "[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]+"), 1, 128),
    Value: length(pattern(/^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$/u, "[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*"), 0, 256),
  }),
  MAX_TAGS_PER_ROLE,
);
const MaxItems = integer(1, 1000);

/**
 * The inputs Berth Local accepts, member for member as IAM's model has them (the tests compare
 * them with botocore's copy of the model).
 */
export const IAM_INPUTS = {
  CreateRole: z.object({
    Path: Path.optional(),
    RoleName,
    AssumeRolePolicyDocument: PolicyDocumentText,
    Description: Description.optional(),
    MaxSessionDuration: integer(3600, 43_200).optional(),
    PermissionsBoundary: Arn.optional(),
    Tags: Tags.optional(),
  }),
  GetRole: z.object({ RoleName }),
  DeleteRole: z.object({ RoleName }),
  UpdateAssumeRolePolicy: z.object({ RoleName, PolicyDocument: PolicyDocumentText }),
  PutRolePolicy: z.object({ RoleName, PolicyName, PolicyDocument: PolicyDocumentText }),
  GetRolePolicy: z.object({ RoleName, PolicyName }),
  ListRolePolicies: z.object({ RoleName, Marker: Marker.optional(), MaxItems: MaxItems.optional() }),
  DeleteRolePolicy: z.object({ RoleName, PolicyName }),
  TagRole: z.object({ RoleName, Tags }),
  ListRoles: z.object({
    PathPrefix: PathPrefix.optional(),
    Marker: Marker.optional(),
    MaxItems: MaxItems.optional(),
  }),
} as const;

type Inputs = { [Action in keyof typeof IAM_INPUTS]: z.infer<(typeof IAM_INPUTS)[Action]> };
/** An operation's result members, or undefined for the operations whose response has no result. */
type Handlers = { [Action in keyof Inputs]: (input: Inputs[Action]) => Xml[] | undefined };

const noSuchRole = (name: string) =>
  new AwsError("NoSuchEntity", `The role with name ${name} cannot be found.`, 404);
const noSuchPolicy = (name: string) =>
  new AwsError("NoSuchEntity", `The role policy with name ${name} cannot be found.`, 404);
const malformed = (message: string) => new AwsError("MalformedPolicyDocument", message, 400);

/**
 * A policy document as IAM takes it: JSON text, or the same text URL-encoded. Returns the JSON
 * text. Only the shape IAM checks before anything else is checked here (a JSON object with a
 * Statement); the policy's grammar and meaning are not, since Berth Local does not enforce it.
 */
function policyDocument(text: string): string {
  const candidates = [text];
  try {
    const decoded = decodeURIComponent(text);
    if (decoded !== text) candidates.push(decoded);
  } catch {
    // not URL-encoded
  }
  for (const candidate of candidates) {
    let value: unknown;
    try {
      value = JSON.parse(candidate);
    } catch {
      continue;
    }
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      throw malformed("Syntax errors in policy.");
    }
    const statement = (value as Record<string, unknown>).Statement;
    if (typeof statement !== "object" || statement === null) {
      throw malformed("Syntax errors in policy.");
    }
    return candidate;
  }
  throw malformed("This policy contains invalid Json");
}

/** IAM's responses carry policy documents URL-encoded (RFC 3986). */
function encodedPolicy(json: string): string {
  return encodeURIComponent(json).replace(
    /[!'()*]/g,
    (char) => `%${char.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

function checkInlinePolicySize(role: RoleRecord, policies: Record<string, string>): void {
  const size = Object.values(policies).reduce((sum, policy) => sum + policy.replace(/\s/g, "").length, 0);
  if (size > MAX_INLINE_POLICY_CHARS) {
    throw new AwsError(
      "LimitExceeded",
      `Maximum policy size of ${MAX_INLINE_POLICY_CHARS} bytes exceeded for role ${role.roleName}`,
      409,
    );
  }
}

/** Tag keys are unique regardless of case in IAM. */
function checkTagKeys(tags: readonly Tag[]): void {
  const keys = new Set(tags.map((tag) => tag.Key.toLowerCase()));
  if (keys.size !== tags.length) {
    throw new AwsError(
      "InvalidInput",
      "Duplicate tag keys found. Please note that Tag keys are case insensitive.",
      400,
    );
  }
}

function tagsXml(tags: readonly Tag[]): Xml | undefined {
  return tags.length === 0
    ? undefined
    : list("Tags", tags, (tag) => [element("Key", tag.Key), element("Value", tag.Value)]);
}

/** A Role's members. ListRoles leaves out tags and the permissions boundary, as IAM does. */
function roleMembers(role: RoleRecord, detail: "full" | "listed"): Child[] {
  return [
    element("Path", role.path),
    element("RoleName", role.roleName),
    element("RoleId", role.roleId),
    element("Arn", role.arn),
    element("CreateDate", role.createDate),
    element("AssumeRolePolicyDocument", encodedPolicy(role.assumeRolePolicyDocument)),
    optional("Description", role.description),
    element("MaxSessionDuration", role.maxSessionDuration),
    ...(detail === "full"
      ? [
          role.permissionsBoundary === undefined
            ? undefined
            : element(
                "PermissionsBoundary",
                element("PermissionsBoundaryType", "PermissionsBoundaryPolicy"),
                element("PermissionsBoundaryArn", role.permissionsBoundary),
              ),
          tagsXml(role.tags),
        ]
      : []),
  ];
}

/**
 * One page of names sorted as IAM lists them. The marker is the next name to return, so a page
 * stays valid when entries before it are deleted meanwhile.
 */
function page<T>(
  items: readonly T[],
  name: (item: T) => string,
  marker: string | undefined,
  maxItems: number | undefined,
): { items: T[]; next?: string } {
  let start = 0;
  if (marker !== undefined) {
    const decoded = Buffer.from(marker, "base64url").toString("utf8");
    if (!decoded.startsWith("next:")) throw new AwsError("ValidationError", "Invalid Marker.", 400);
    const from = decoded.slice("next:".length);
    start = items.findIndex((item) => compareNames(name(item), from) >= 0);
    if (start === -1) start = items.length;
  }
  const limit = maxItems ?? DEFAULT_MAX_ITEMS;
  const selected = items.slice(start, start + limit);
  const following = items[start + limit];
  return following === undefined
    ? { items: selected }
    : { items: selected, next: Buffer.from(`next:${name(following)}`, "utf8").toString("base64url") };
}

function pageMembers(next: string | undefined): Xml[] {
  return next === undefined
    ? [element("IsTruncated", false)]
    : [element("IsTruncated", true), element("Marker", next)];
}

function handlers(store: RoleStore): Handlers {
  const role = (name: string): RoleRecord => {
    const found = store.get(name);
    if (!found) throw noSuchRole(name);
    return found;
  };
  return {
    CreateRole: (input) => {
      const existing = store.get(input.RoleName);
      if (existing) {
        throw new AwsError("EntityAlreadyExists", `Role with name ${existing.roleName} already exists.`, 409);
      }
      const trust = policyDocument(input.AssumeRolePolicyDocument);
      const tags = input.Tags ?? [];
      checkTagKeys(tags);
      // Berth Local has no managed policies to look the boundary up in; it checks the ARN's form.
      if (
        input.PermissionsBoundary !== undefined &&
        !/^arn:aws[a-z-]*:iam::(aws|\d{12}):policy\/.+$/.test(input.PermissionsBoundary)
      ) {
        throw new AwsError("InvalidInput", `ARN ${input.PermissionsBoundary} is not valid.`, 400);
      }
      const created = store.create({
        roleName: input.RoleName,
        path: input.Path ?? "/",
        assumeRolePolicyDocument: trust,
        description: input.Description,
        maxSessionDuration: input.MaxSessionDuration ?? DEFAULT_MAX_SESSION_DURATION,
        permissionsBoundary: input.PermissionsBoundary,
        tags,
      });
      return [element("Role", ...roleMembers(created, "full"))];
    },
    GetRole: (input) => [element("Role", ...roleMembers(role(input.RoleName), "full"))],
    DeleteRole: (input) => {
      const found = role(input.RoleName);
      if (Object.keys(found.policies).length > 0) {
        throw new AwsError("DeleteConflict", "Cannot delete entity, must delete policies first.", 409);
      }
      store.delete(found.roleName);
      return undefined;
    },
    UpdateAssumeRolePolicy: (input) => {
      const found = role(input.RoleName);
      const trust = policyDocument(input.PolicyDocument);
      store.update(found, (record) => {
        record.assumeRolePolicyDocument = trust;
      });
      return undefined;
    },
    PutRolePolicy: (input) => {
      const found = role(input.RoleName);
      const document = policyDocument(input.PolicyDocument);
      const policies = { ...found.policies, [input.PolicyName]: document };
      checkInlinePolicySize(found, policies);
      store.update(found, (record) => {
        record.policies = policies;
      });
      return undefined;
    },
    GetRolePolicy: (input) => {
      const found = role(input.RoleName);
      if (!Object.hasOwn(found.policies, input.PolicyName)) throw noSuchPolicy(input.PolicyName);
      return [
        element("RoleName", found.roleName),
        element("PolicyName", input.PolicyName),
        element("PolicyDocument", encodedPolicy(found.policies[input.PolicyName] ?? "")),
      ];
    },
    ListRolePolicies: (input) => {
      const names = Object.keys(role(input.RoleName).policies).sort(compareNames);
      const { items, next } = page(names, (name) => name, input.Marker, input.MaxItems);
      return [list("PolicyNames", items, (name) => [name]), ...pageMembers(next)];
    },
    DeleteRolePolicy: (input) => {
      const found = role(input.RoleName);
      if (!Object.hasOwn(found.policies, input.PolicyName)) throw noSuchPolicy(input.PolicyName);
      store.update(found, (record) => {
        const { [input.PolicyName]: _deleted, ...kept } = record.policies;
        record.policies = kept;
      });
      return undefined;
    },
    TagRole: (input) => {
      const found = role(input.RoleName);
      checkTagKeys(input.Tags);
      const replaced = new Set(input.Tags.map((tag) => tag.Key.toLowerCase()));
      const tags = [...found.tags.filter((tag) => !replaced.has(tag.Key.toLowerCase())), ...input.Tags];
      if (tags.length > MAX_TAGS_PER_ROLE) {
        throw new AwsError(
          "LimitExceeded",
          `Cannot exceed quota for TagsPerRole: ${MAX_TAGS_PER_ROLE}.`,
          409,
        );
      }
      store.update(found, (record) => {
        record.tags = tags;
      });
      return undefined;
    },
    ListRoles: (input) => {
      const prefix = input.PathPrefix ?? "/";
      const roles = store.list().filter((candidate) => candidate.path.startsWith(prefix));
      const { items, next } = page(roles, (candidate) => candidate.roleName, input.Marker, input.MaxItems);
      return [list("Roles", items, (candidate) => roleMembers(candidate, "listed")), ...pageMembers(next)];
    },
  };
}

/** IAM's wording for a malformed member: `Value 'x' at 'roleName' failed to satisfy constraint: …`. */
function validationError(issues: readonly z.core.$ZodIssue[], params: Record<string, unknown>): AwsError {
  const problems = issues.map((issue) => {
    const path = issue.path
      .map((segment) =>
        typeof segment === "number"
          ? `member.${segment + 1}`
          : String(segment).charAt(0).toLowerCase() + String(segment).slice(1),
      )
      .join(".");
    let value: unknown = params;
    for (const segment of issue.path) {
      value =
        typeof value === "object" && value !== null
          ? (value as Record<PropertyKey, unknown>)[segment as PropertyKey]
          : undefined;
    }
    if (value === undefined) {
      return `Value null at '${path}' failed to satisfy constraint: Member must not be null`;
    }
    // Policy documents can be long; their value adds nothing to the constraint's message.
    const shown = typeof value === "string" && value.length <= 128 ? ` '${value}'` : "";
    return `Value${shown} at '${path}' failed to satisfy constraint: ${issue.message}`;
  });
  const count = `${problems.length} validation error${problems.length === 1 ? "" : "s"} detected`;
  return new AwsError("ValidationError", `${count}: ${problems.join("; ")}`, 400);
}

export interface IamRouteOptions {
  /** Failures that are not IAM errors (a Berth Local bug); default: stderr. */
  onInternalError?: (error: unknown) => void;
}

/**
 * IAM's Query API on the endpoint root, for roles and their inline policies. SDK clients and the
 * aws CLI POST form-encoded `Action=…&Version=2010-05-08` to `/`; other services' traffic at `/`
 * is JSON with an X-Amz-Target, so the form encoding plus IAM's API version (or a signature scoped
 * to `iam`) tells IAM requests apart. Policies are stored and returned, not enforced.
 */
export function iamRoute(store: RoleStore, options: IamRouteOptions = {}): Route {
  const operations = handlers(store);
  const onInternalError =
    options.onInternalError ??
    ((error: unknown) => process.stderr.write(`iam: internal error: ${(error as Error).stack ?? error}\n`));

  return queryRoute({
    signingName: "iam",
    version: IAM_API_VERSION,
    namespace: NAMESPACE,
    internalErrorCode: "ServiceFailure",
    onInternalError,
    handle(action, params) {
      if (!Object.hasOwn(operations, action)) {
        throw new AwsError(
          "InvalidAction",
          `Berth Local's IAM does not implement ${action}; it serves ${Object.keys(operations).join(", ")}.`,
          400,
        );
      }
      const name = action as keyof Handlers;
      const parsed = IAM_INPUTS[name].safeParse(params);
      if (!parsed.success) throw validationError(parsed.error.issues, params);
      const handle = operations[name] as (input: unknown) => Xml[] | undefined;
      return handle(parsed.data);
    },
  });
}

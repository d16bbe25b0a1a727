import { randomInt } from "node:crypto";
import { JsonFile } from "../state.ts";

export interface Tag {
  Key: string;
  Value: string;
}

export interface RoleRecord {
  roleName: string;
  roleId: string;
  path: string;
  arn: string;
  /** ISO 8601. */
  createDate: string;
  /** The trust policy as the caller sent it (JSON text, not URL-encoded). */
  assumeRolePolicyDocument: string;
  description?: string;
  maxSessionDuration: number;
  permissionsBoundary?: string;
  tags: Tag[];
  /** Inline policies by name, in the order they were first put; documents as JSON text. */
  policies: Record<string, string>;
}

export interface NewRole {
  roleName: string;
  path: string;
  assumeRolePolicyDocument: string;
  description?: string | undefined;
  maxSessionDuration: number;
  permissionsBoundary?: string | undefined;
  tags: Tag[];
}

interface Document {
  roles: RoleRecord[];
}

const ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/** IAM's unique IDs: a 4-letter prefix for the kind of entity (AROA for roles), 17 more characters. */
function roleId(): string {
  let id = "AROA";
  for (let i = 0; i < 17; i++) id += ID_ALPHABET[randomInt(ID_ALPHABET.length)];
  return id;
}

/**
 * IAM roles and their inline policies, kept in memory and written to a JSON file on every change.
 * Role names are unique regardless of case, as in IAM ("ADMIN" and "admin" cannot both exist),
 * and lookups ignore case too.
 */
export class RoleStore {
  readonly account: string;
  private readonly file: JsonFile<Document>;
  private readonly roles: Map<string, RoleRecord>;

  constructor(path: string, options: { account: string }) {
    this.account = options.account;
    this.file = new JsonFile<Document>(path);
    this.roles = new Map(
      this.file.read({ roles: [] }).roles.map((role) => [role.roleName.toLowerCase(), role]),
    );
  }

  get(roleName: string): RoleRecord | undefined {
    return this.roles.get(roleName.toLowerCase());
  }

  /** Every role, ordered by name. */
  list(): RoleRecord[] {
    return [...this.roles.values()].sort((a, b) => compareNames(a.roleName, b.roleName));
  }

  /** Creates a role; the caller has checked that no role of that name exists. */
  create(role: NewRole, now = new Date()): RoleRecord {
    const record: RoleRecord = {
      roleName: role.roleName,
      roleId: roleId(),
      path: role.path,
      arn: `arn:aws:iam::${this.account}:role${role.path}${role.roleName}`,
      createDate: now.toISOString().replace(/\.\d{3}Z$/, "Z"),
      assumeRolePolicyDocument: role.assumeRolePolicyDocument,
      ...(role.description !== undefined ? { description: role.description } : {}),
      maxSessionDuration: role.maxSessionDuration,
      ...(role.permissionsBoundary !== undefined ? { permissionsBoundary: role.permissionsBoundary } : {}),
      tags: role.tags,
      policies: {},
    };
    this.roles.set(role.roleName.toLowerCase(), record);
    this.save();
    return record;
  }

  delete(roleName: string): void {
    if (this.roles.delete(roleName.toLowerCase())) this.save();
  }

  /** Applies a change to an existing role and persists it. */
  update(role: RoleRecord, change: (role: RoleRecord) => void): void {
    change(role);
    this.save();
  }

  private save(): void {
    this.file.write({ roles: [...this.roles.values()] });
  }
}

export function compareNames(a: string, b: string): number {
  const left = a.toLowerCase();
  const right = b.toLowerCase();
  return left < right ? -1 : left > right ? 1 : 0;
}

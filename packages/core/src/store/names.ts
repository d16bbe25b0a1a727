import { z } from "zod";

// Names become parts of keys joined with "#", so every schema here excludes "#" by construction.

/** Stack names follow DNS-label rules: they end up in ECS, IAM and Service Connect names. */
export const StackName = z
  .string()
  .regex(
    /^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$/,
    "must be a DNS label: lowercase letters, digits and hyphens, starting with a letter, at most 63 characters",
  );

/** Service names are stack-file resource names (letters and digits), which DNS labels also allow. */
export const ServiceName = z
  .string()
  .regex(
    /^[A-Za-z]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/,
    "must be letters, digits and hyphens, starting with a letter, at most 63 characters",
  );

/** Time-ordered identifiers (ULID: Crockford base32, 48-bit millisecond time then 80 random bits). */
export const RecordId = z.string().regex(/^[0-9A-HJKMNP-TV-Z]{26}$/, "must be a record id");

export const Sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, "must be a lowercase hex SHA-256 digest");

export const Timestamp = z.iso.datetime();

/**
 * What AWS or a caller hands back and Berth only passes on (an ARN, an id, a DNS name, a URL): it
 * must not be empty, and is never part of a key.
 */
export const Given = z.string().min(1);

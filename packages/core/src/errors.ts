/**
 * Every code a BerthError carries, in one list. The HTTP API answers each one a client can
 * cause with its status (packages/functions/src/api/errors.ts); any other that reaches it is a
 * bug and answers 500.
 */
export type ErrorCode =
  // The store and the deployments' lifecycle.
  | "INVALID_INPUT"
  | "INVALID_CURSOR"
  | "NOT_FOUND"
  | "CONFLICT"
  | "INVALID_TRANSITION"
  // Rendering a service for ECS.
  | "MISSING_ENVIRONMENT"
  | "MISSING_INGRESS"
  | "UNKNOWN_RESOURCE"
  | "UNKNOWN_PARAMETER"
  | "INVALID_RESOURCES"
  // Planning and running builds.
  | "UNSUPPORTED_LANGUAGE"
  | "LOCAL_BUILD_UNSUPPORTED"
  | "OUT_DIR_NOT_EMPTY"
  | "BUILD_FAILED"
  // Only the HTTP API raises these.
  | "BAD_REQUEST"
  | "INVALID_JSON"
  | "UNAUTHORIZED"
  | "FORBIDDEN"
  | "METHOD_NOT_ALLOWED"
  | "IDEMPOTENCY_KEY_REUSED"
  | "IDEMPOTENCY_KEY_IN_USE"
  | "SOURCES_UNSUPPORTED"
  | "PAYLOAD_TOO_LARGE"
  | "TOO_MANY_REQUESTS"
  | "UNSUPPORTED_MEDIA_TYPE"
  | "INVALID_STACK_FILE";

/**
 * The one error base class of the domain. Every error Berth raises on purpose carries a stable
 * `code` that callers (the HTTP API, the CLI) map to a response; anything else is a bug. An
 * error that describes another it caught carries that one as `cause`.
 */
export class BerthError extends Error {
  readonly code: ErrorCode;
  readonly details: readonly ErrorDetail[];
  /**
   * Set on a refusal that only says "busy right now" (nothing was changed): when to try again.
   * The HTTP API sends it as `Retry-After`.
   */
  readonly retryAfterSeconds: number | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    details: readonly ErrorDetail[] = [],
    options?: { cause?: unknown; retryAfterSeconds?: number },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.details = details;
    this.retryAfterSeconds = options?.retryAfterSeconds;
  }
}

export interface ErrorDetail {
  path: string;
  line?: number;
  column?: number;
  message: string;
}

/** A conditional write lost to another writer (or a record already there): read again and retry. */
export function isConflict(error: unknown): error is BerthError {
  return error instanceof BerthError && error.code === "CONFLICT";
}

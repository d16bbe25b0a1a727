import { BerthError, type ErrorCode, type ErrorDetail } from "@berth/core/errors";
import { z } from "zod";

/**
 * Every error code the API answers with, and its status: the subset of core's ErrorCode a
 * client can cause. Domain errors from core keep their codes (INVALID_INPUT, NOT_FOUND,
 * CONFLICT…); the API raises the ones only HTTP has. A BerthError whose code is missing here is
 * a bug and answers 500, so a new domain code cannot leak out as a 4xx nobody documented.
 */
const STATUS_BY_CODE = {
  BAD_REQUEST: 400,
  INVALID_INPUT: 400,
  INVALID_CURSOR: 400,
  INVALID_JSON: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  CONFLICT: 409,
  INVALID_TRANSITION: 409,
  IDEMPOTENCY_KEY_REUSED: 409,
  IDEMPOTENCY_KEY_IN_USE: 409,
  /** The installation has nowhere to keep uploaded sources (Berth Local builds from file:// directories). */
  SOURCES_UNSUPPORTED: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  /** A webhook receiver's deliveries beyond its rate (with Retry-After). */
  TOO_MANY_REQUESTS: 429,
  INVALID_STACK_FILE: 422,
} as const satisfies Partial<Record<ErrorCode, number>>;

export type ApiErrorCode = keyof typeof STATUS_BY_CODE;

/** An error the API raises on purpose; `headers` go out with the response (WWW-Authenticate, Allow). */
export class ApiError extends BerthError {
  readonly headers: Readonly<Record<string, string>>;

  constructor(
    code: ApiErrorCode,
    message: string,
    details: readonly ErrorDetail[] = [],
    headers: Record<string, string> = {},
    options?: { cause?: unknown },
  ) {
    super(code, message, details, options);
    this.headers = headers;
  }
}

const ErrorDetailBody = z.object({
  path: z.string(),
  line: z.number().int().positive().optional(),
  column: z.number().int().positive().optional(),
  message: z.string(),
});

export const ErrorBody = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    details: z.array(ErrorDetailBody).optional(),
    /** Only on 5xx: what to quote when reporting the failure. */
    requestId: z.string().optional(),
  }),
});
export type ErrorBody = z.infer<typeof ErrorBody>;

export interface ErrorResponse {
  status: number;
  body: ErrorBody;
  headers: Record<string, string>;
  /** False when the error is a bug: the caller logs it in full, the client sees none of it. */
  expected: boolean;
}

function statusOf(code: string): number | undefined {
  return Object.hasOwn(STATUS_BY_CODE, code) ? STATUS_BY_CODE[code as ApiErrorCode] : undefined;
}

/** The one place where errors become HTTP responses. */
export function errorResponse(error: unknown, requestId: string): ErrorResponse {
  const status = error instanceof BerthError ? statusOf(error.code) : undefined;
  if (error instanceof BerthError && status !== undefined) {
    const details = error.details.map((detail) => ({
      path: detail.path,
      ...(detail.line === undefined ? {} : { line: detail.line }),
      ...(detail.column === undefined ? {} : { column: detail.column }),
      message: detail.message,
    }));
    return {
      status,
      body: {
        error: { code: error.code, message: error.message, ...(details.length > 0 ? { details } : {}) },
      },
      headers: {
        ...(error.retryAfterSeconds === undefined ? {} : { "retry-after": String(error.retryAfterSeconds) }),
        ...(error instanceof ApiError ? error.headers : {}),
      },
      expected: true,
    };
  }
  return {
    status: 500,
    body: { error: { code: "INTERNAL", message: "internal error", requestId } },
    headers: {},
    expected: false,
  };
}

/** Turns zod issues of request input into error details whose paths name where the input was. */
export function invalidInput(where: string, error: z.ZodError): ApiError {
  const details = error.issues.map((issue) => ({
    path: [where, ...issue.path.map(String)].filter((part) => part !== "").join("."),
    message: issue.message,
  }));
  const summary = details.map((detail) => `${detail.path}: ${detail.message}`).join("; ");
  return new ApiError("INVALID_INPUT", `invalid ${where}: ${summary}`, details);
}

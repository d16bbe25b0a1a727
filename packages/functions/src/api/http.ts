import { createHash } from "node:crypto";
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from "aws-lambda";
import { ApiError } from "./errors.ts";

/** Request bodies above this are refused before anything reads them. */
export const MAX_BODY_BYTES = 1024 * 1024;

/** What the routes see of an API Gateway v2 event: names normalised, body decoded to bytes. */
export interface ApiRequest {
  requestId: string;
  method: string;
  /** The path as sent (still percent-encoded), without a trailing slash. */
  path: string;
  rawQueryString: string;
  /** Lower-cased names; API Gateway already joins repeated headers with commas. */
  headers: Readonly<Record<string, string>>;
  body: Buffer;
}

export interface ApiResponse {
  status: number;
  /** Serialised as JSON; absent for bodiless answers (204). */
  json?: unknown;
  headers?: Record<string, string>;
}

export function toApiRequest(event: APIGatewayProxyEventV2, requestId: string): ApiRequest {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(event.headers ?? {})) {
    if (value !== undefined) headers[name.toLowerCase()] = value;
  }
  const rawPath = event.rawPath || event.requestContext?.http?.path || "/";
  const path = rawPath.length > 1 && rawPath.endsWith("/") ? rawPath.slice(0, -1) : rawPath;
  const rawBody = event.body ?? "";
  return {
    requestId,
    method: (event.requestContext?.http?.method ?? "GET").toUpperCase(),
    path,
    rawQueryString: event.rawQueryString ?? "",
    headers,
    body: event.isBase64Encoded ? Buffer.from(rawBody, "base64") : Buffer.from(rawBody, "utf8"),
  };
}

export function toLambdaResult(response: ApiResponse, requestId: string): APIGatewayProxyStructuredResultV2 {
  const headers: Record<string, string> = {
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
    "x-request-id": requestId,
    ...response.headers,
  };
  if (response.json === undefined) return { statusCode: response.status, headers, body: "" };
  return {
    statusCode: response.status,
    headers: { "content-type": "application/json; charset=utf-8", ...headers },
    body: JSON.stringify(response.json),
    isBase64Encoded: false,
  };
}

export function checkBodySize(request: ApiRequest): void {
  if (request.body.length > MAX_BODY_BYTES) {
    throw new ApiError(
      "PAYLOAD_TOO_LARGE",
      `the request body is ${request.body.length} bytes; at most ${MAX_BODY_BYTES} are accepted`,
    );
  }
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

export function bodyText(request: ApiRequest): string {
  try {
    return utf8.decode(request.body);
  } catch (error) {
    throw new ApiError("BAD_REQUEST", "the request body is not valid UTF-8", [], {}, { cause: error });
  }
}

export interface MediaType {
  /** `type/subtype`, lower-cased, without parameters. */
  essence: string;
  charset?: string;
}

function mediaTypeOf(request: ApiRequest): MediaType | undefined {
  const header = request.headers["content-type"];
  if (!header) return undefined;
  const [essence = "", ...parameters] = header.split(";").map((part) => part.trim());
  const charset = parameters
    .map((parameter) => /^charset\s*=\s*"?([^"]*)"?$/i.exec(parameter)?.[1])
    .find((value) => value !== undefined);
  return { essence: essence.toLowerCase(), ...(charset ? { charset: charset.toLowerCase() } : {}) };
}

/** Refuses a body whose declared media type is not one of `accepted` (415). */
export function requireMediaType(request: ApiRequest, accepted: readonly string[]): MediaType {
  const mediaType = mediaTypeOf(request);
  const isAccepted = mediaType !== undefined && accepted.includes(mediaType.essence);
  if (!isAccepted) {
    const sent = mediaType ? `"${mediaType.essence}"` : "no Content-Type";
    throw new ApiError(
      "UNSUPPORTED_MEDIA_TYPE",
      `this route takes ${accepted.join(", ")}; the request has ${sent}`,
      [{ path: "headers.content-type", message: `must be one of ${accepted.join(", ")}` }],
    );
  }
  if (mediaType.charset !== undefined && mediaType.charset !== "utf-8" && mediaType.charset !== "utf8") {
    throw new ApiError("UNSUPPORTED_MEDIA_TYPE", `only UTF-8 bodies are accepted, not ${mediaType.charset}`, [
      { path: "headers.content-type", message: "charset must be utf-8" },
    ]);
  }
  return mediaType;
}

export const JSON_MEDIA_TYPES = ["application/json"] as const;

/** JSON is YAML too; both parse with `Spec.parse`, which reports lines either way. */
export const STACK_FILE_MEDIA_TYPES = [
  "application/yaml",
  "application/x-yaml",
  "text/yaml",
  "text/x-yaml",
  "application/json",
] as const;

/** Parses a JSON body; an empty body is `undefined`, for routes whose body is optional. */
export function jsonBody(request: ApiRequest): unknown {
  if (request.body.length === 0) return undefined;
  requireMediaType(request, JSON_MEDIA_TYPES);
  const text = bodyText(request);
  try {
    return JSON.parse(text);
  } catch (error) {
    const reason = error instanceof SyntaxError ? error.message : "it cannot be parsed";
    throw new ApiError(
      "INVALID_JSON",
      `the request body is not valid JSON: ${reason}`,
      [{ path: "body", message: reason }],
      {},
      { cause: error },
    );
  }
}

/**
 * The query string as an object of strings. A parameter given twice becomes an array, which no
 * query schema accepts, so the ambiguity is reported instead of one value silently winning.
 */
export function queryObject(request: ApiRequest): Record<string, string | string[]> {
  const query: Record<string, string | string[]> = Object.create(null);
  for (const [name, value] of new URLSearchParams(request.rawQueryString)) {
    const previous = query[name];
    query[name] =
      previous === undefined ? value : [...(Array.isArray(previous) ? previous : [previous]), value];
  }
  return query;
}

/**
 * Conditional GETs: a 200 answer carries a weak `ETag` of its body, and a request whose
 * `If-None-Match` names it gets 304 with no body, so a client polling something that has not
 * changed (a deployment's timeline) costs a round trip and no payload.
 */
export function withEtag(request: ApiRequest, response: ApiResponse): ApiResponse {
  if (request.method !== "GET" || response.status !== 200 || response.json === undefined) return response;
  const digest = createHash("sha256").update(JSON.stringify(response.json)).digest("base64url").slice(0, 27);
  const etag = `W/"${digest}"`;
  const headers = { ...response.headers, etag };
  const asked = request.headers["if-none-match"];
  const matches = asked?.split(",").some((tag) => {
    const trimmed = tag.trim();
    return trimmed === "*" || trimmed.replace(/^W\//, "") === etag.replace(/^W\//, "");
  });
  return matches ? { status: 304, headers } : { ...response, headers };
}

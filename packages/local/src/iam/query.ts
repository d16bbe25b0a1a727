import { randomUUID } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { AwsError } from "../protocol.ts";
import type { Route } from "../server.ts";

/**
 * AWS's Query protocol, the parts IAM and Elastic Load Balancing need: form-encoded requests (`Action=…&Version=…` plus
 * the members, lists as `Name.member.N`) and XML responses in the service's namespace.
 */

/** Segments that would reach Object.prototype if used as keys of a decoded request. */
const UNSAFE_KEYS = new Set(["__proto__", "constructor", "prototype"]);

export interface QueryRequest {
  action: string;
  version: string | undefined;
  /** The members, nested as the SDK flattened them; `X.member.N` lists become arrays. */
  params: Record<string, unknown>;
}

function isFormEncoded(request: IncomingMessage): boolean {
  const type = request.headers["content-type"];
  return typeof type === "string" && type.toLowerCase().startsWith("application/x-www-form-urlencoded");
}

/** The service of a SigV4 credential scope (`Credential=AKID/20250101/us-east-1/iam/aws4_request`). */
function signingService(request: IncomingMessage): string | undefined {
  const authorization = request.headers.authorization;
  if (typeof authorization !== "string") return undefined;
  return /Credential=[^/,\s]+\/\d{8}\/[^/,\s]+\/([^/,\s]+)\/aws4_request/.exec(authorization)?.[1];
}

/** Decodes a form body; undefined when it carries no `Action` (so it is not a Query request). */
function parseQuery(body: string): QueryRequest | undefined {
  const form = new URLSearchParams(body);
  const action = form.get("Action");
  if (!action) return undefined;
  const root: Record<string, unknown> = {};
  for (const [key, value] of form) {
    if (key === "Action" || key === "Version") continue;
    const segments = key.split(".");
    if (segments.some((segment) => segment === "" || UNSAFE_KEYS.has(segment))) continue;
    let node = root;
    segments.forEach((segment, index) => {
      if (index === segments.length - 1) {
        // A member present both as a value and as a parent keeps the structured form.
        if (typeof node[segment] !== "object") node[segment] = value;
        return;
      }
      const next = node[segment];
      if (typeof next === "object" && next !== null) {
        node = next as Record<string, unknown>;
      } else {
        const created: Record<string, unknown> = {};
        node[segment] = created;
        node = created;
      }
    });
  }
  return {
    action,
    version: form.get("Version") ?? undefined,
    params: listify(root) as Record<string, unknown>,
  };
}

/** `{member: {"2": b, "1": a}}` → `[a, b]`, recursively. */
function listify(value: unknown): unknown {
  if (typeof value !== "object" || value === null) return value;
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record);
  const members = record.member;
  if (keys.length === 1 && typeof members === "object" && members !== null) {
    const entries = Object.entries(members as Record<string, unknown>);
    if (entries.every(([index]) => /^[1-9]\d*$/.test(index))) {
      return entries.sort(([a], [b]) => Number(a) - Number(b)).map(([, item]) => listify(item));
    }
  }
  return Object.fromEntries(keys.map((key) => [key, listify(record[key])]));
}

/** A piece of XML, already escaped: build responses only from `element` and `escapeXml`. */
export type Xml = { readonly xml: string };

function escapeXml(text: string): string {
  return text
    .replaceAll("&", "&amp;")
    .replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;")
    .replaceAll("'", "&apos;")
    .replaceAll("\r", "&#13;");
}

export type Child = Xml | string | number | boolean | undefined;

/**
 * `<name>…</name>`. Children that are undefined are left out, as AWS leaves out unset members;
 * strings, numbers and booleans are written as text.
 */
export function element(name: string, ...children: Child[]): Xml {
  const inner = children
    .filter((child) => child !== undefined)
    .map((child) => (typeof child === "object" ? child.xml : escapeXml(String(child))))
    .join("");
  return { xml: `<${name}>${inner}</${name}>` };
}

/** An optional member: left out when its value is undefined. */
export function optional(name: string, value: string | number | boolean | undefined): Xml | undefined {
  return value === undefined ? undefined : element(name, value);
}

/** The members of a structure that it has, each as an element named after it, in the order given. */
export function members<T extends object>(structure: T, names: readonly (keyof T & string)[]): Child[] {
  return names.map((name) => optional(name, structure[name] as string | number | boolean | undefined));
}

/** A Query list: `<name><member>…</member>…</name>`, each member built from its children. */
export function list<T>(name: string, items: readonly T[], member: (item: T) => Child[]): Xml {
  return element(name, ...items.map((item) => element("member", ...member(item))));
}

/** `<ActionResponse xmlns=…><ActionResult>…</ActionResult><ResponseMetadata>…` */
function responseDocument(
  action: string,
  namespace: string,
  requestId: string,
  result: Xml[] | undefined,
): string {
  const resultElement = result === undefined ? "" : element(`${action}Result`, ...result).xml;
  const metadata = element("ResponseMetadata", element("RequestId", requestId)).xml;
  return `<${action}Response xmlns="${escapeXml(namespace)}">${resultElement}${metadata}</${action}Response>\n`;
}

/** The Query error envelope; `Sender` for the caller's errors, `Receiver` for the service's. */
function errorDocument(
  namespace: string,
  requestId: string,
  error: { code: string; message: string; status: number },
): string {
  const detail = element(
    "Error",
    element("Type", error.status >= 500 ? "Receiver" : "Sender"),
    element("Code", error.code),
    element("Message", error.message),
  ).xml;
  return `<ErrorResponse xmlns="${escapeXml(namespace)}">${detail}${element("RequestId", requestId).xml}</ErrorResponse>\n`;
}

/** A Query API served on the endpoint root, and how it tells its requests apart from other services'. */
export interface QueryService {
  /** The service in a SigV4 credential scope (`iam`, `elasticloadbalancing`). */
  signingName: string;
  /** The API version its requests name (`Version=…`). */
  version: string;
  /** Its XML namespace. */
  namespace: string;
  /** The error code AWS gives when the service itself fails (`ServiceFailure`, `InternalFailure`). */
  internalErrorCode: string;
  /** Told about a failure that is not an AwsError: a bug, answered as the internal error. */
  onInternalError: (error: unknown) => void;
  /** The action's result members; throws an AwsError for an answer other than 200. */
  handle(action: string, params: Record<string, unknown>): Xml[] | undefined | Promise<Xml[] | undefined>;
}

/**
 * The service's Query API on `/`: a form-encoded POST whose version is the service's (or whose
 * signature is scoped to it) is answered with its response document or its error document;
 * anything else is left to the other routes.
 */
export function queryRoute(service: QueryService): Route {
  return async (request, response, body) => {
    if (request.method !== "POST" || !isFormEncoded(request)) return false;
    if (new URL(request.url ?? "/", "http://localhost").pathname !== "/") return false;
    const query = parseQuery(body.toString("utf8"));
    if (!query) return false;
    if (query.version !== service.version && signingService(request) !== service.signingName) return false;
    const requestId = randomUUID();
    let status = 200;
    let xml: string;
    try {
      const result = await service.handle(query.action, query.params);
      xml = responseDocument(query.action, service.namespace, requestId, result);
    } catch (error) {
      const known =
        error instanceof AwsError
          ? error
          : new AwsError(service.internalErrorCode, "internal error in Berth Local", 500);
      if (!(error instanceof AwsError)) service.onInternalError(error);
      status = known.status;
      xml = errorDocument(service.namespace, requestId, { code: known.type, message: known.message, status });
    }
    response.writeHead(status, {
      "content-type": "text/xml",
      "content-length": Buffer.byteLength(xml),
      "x-amzn-requestid": requestId,
    });
    response.end(xml);
    return true;
  };
}

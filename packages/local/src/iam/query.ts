import type { IncomingMessage } from "node:http";

/**
 * AWS's Query protocol, the parts IAM needs: form-encoded requests (`Action=…&Version=…` plus
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

export function isFormEncoded(request: IncomingMessage): boolean {
  const type = request.headers["content-type"];
  return typeof type === "string" && type.toLowerCase().startsWith("application/x-www-form-urlencoded");
}

/** The service of a SigV4 credential scope (`Credential=AKID/20250101/us-east-1/iam/aws4_request`). */
export function signingService(request: IncomingMessage): string | undefined {
  const authorization = request.headers.authorization;
  if (typeof authorization !== "string") return undefined;
  return /Credential=[^/,\s]+\/\d{8}\/[^/,\s]+\/([^/,\s]+)\/aws4_request/.exec(authorization)?.[1];
}

/** Decodes a form body; undefined when it carries no `Action` (so it is not a Query request). */
export function parseQuery(body: string): QueryRequest | undefined {
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

export function escapeXml(text: string): string {
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

/** A Query list: `<name><member>…</member>…</name>`, each member built from its children. */
export function list<T>(name: string, items: readonly T[], member: (item: T) => Child[]): Xml {
  return element(name, ...items.map((item) => element("member", ...member(item))));
}

/** `<ActionResponse xmlns=…><ActionResult>…</ActionResult><ResponseMetadata>…` */
export function responseDocument(
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
export function errorDocument(
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

import type { RequestHead } from "../proxy/http1.ts";

/** A listener rule's condition, as ELB describes it. */
export interface RuleCondition {
  Field: string;
  PathPatternConfig?: { Values: string[] };
  HostHeaderConfig?: { Values: string[] };
  HttpRequestMethodConfig?: { Values: string[] };
  SourceIpConfig?: { Values: string[] };
  HttpHeaderConfig?: { HttpHeaderName: string; Values: string[] };
  QueryStringConfig?: { Values: { Key?: string; Value: string }[] };
}

/** ELB's wildcards: `*` any characters, `?` one; `caseless` for host names and header values. */
export function wildcardMatch(pattern: string, value: string, caseless = false): boolean {
  const key = `${caseless ? "i" : "-"}${pattern}`;
  let compiled = compiledPatterns.get(key);
  if (!compiled) {
    const source = pattern
      .replace(/[.+^${}()|[\]\\]/g, "\\$&")
      .replace(/\*/g, ".*")
      .replace(/\?/g, ".");
    compiled = new RegExp(`^${source}$`, caseless ? "i" : "");
    // The patterns are the rules' (few), but kept within bounds all the same.
    if (compiledPatterns.size >= MAX_PATTERNS) compiledPatterns.clear();
    compiledPatterns.set(key, compiled);
  }
  return compiled.test(value);
}

/** Wildcard patterns as regular expressions, compiled once (`i` or `-` for the case, then the pattern). */
const compiledPatterns = new Map<string, RegExp>();
const MAX_PATTERNS = 1024;

function ipv4(address: string): number | undefined {
  const parts = address.replace(/^::ffff:/, "").split(".");
  if (parts.length !== 4 || parts.some((part) => !/^\d{1,3}$/.test(part) || Number(part) > 255))
    return undefined;
  return parts.reduce((sum, part) => sum * 256 + Number(part), 0);
}

/** Whether an IPv4 address is in a CIDR block (`10.0.0.0/8`). */
export function inCidr(address: string, cidr: string): boolean {
  const [base = "", bits = "32"] = cidr.split("/");
  const ip = ipv4(address);
  const network = ipv4(base);
  if (ip === undefined || network === undefined) return false;
  const size = 2 ** (32 - Number(bits));
  return Math.floor(ip / size) === Math.floor(network / size);
}

/** Whether a request meets every condition of a rule (each condition: any of its values). */
export function matchesRule(conditions: RuleCondition[], request: RequestHead): boolean {
  // Parsed only for a condition on the path or the query string.
  let parsed: URL | undefined;
  for (const condition of conditions) {
    if (!parsed && (condition.Field === "path-pattern" || condition.Field === "query-string"))
      parsed = new URL(request.url ?? "/", "http://local");
    if (!matchesCondition(condition, request, parsed as URL)) return false;
  }
  return true;
}

/** Whether a request meets one condition (`url`: the request's, when the condition reads it). */
function matchesCondition(condition: RuleCondition, request: RequestHead, url: URL): boolean {
  switch (condition.Field) {
    case "path-pattern": {
      const { pathname } = url;
      return (condition.PathPatternConfig?.Values ?? []).some((pattern) => wildcardMatch(pattern, pathname));
    }
    case "host-header": {
      const host = String(request.headers.host ?? "").replace(/:\d+$/, "");
      return (condition.HostHeaderConfig?.Values ?? []).some((pattern) => wildcardMatch(pattern, host, true));
    }
    case "http-request-method":
      return (condition.HttpRequestMethodConfig?.Values ?? []).includes(request.method ?? "");
    case "source-ip":
      return (condition.SourceIpConfig?.Values ?? []).some((cidr) =>
        inCidr(request.socket.remoteAddress ?? "", cidr),
      );
    case "http-header": {
      const config = condition.HttpHeaderConfig;
      const value = request.headers[config?.HttpHeaderName.toLowerCase() ?? ""];
      const values = Array.isArray(value) ? value : value === undefined ? [] : [value];
      return (config?.Values ?? []).some((pattern) => values.some((v) => wildcardMatch(pattern, v, true)));
    }
    case "query-string":
      return (condition.QueryStringConfig?.Values ?? []).some((pair) =>
        [...url.searchParams].some(
          ([key, value]) =>
            (pair.Key === undefined || wildcardMatch(pair.Key, key, true)) &&
            wildcardMatch(pair.Value, value, true),
        ),
      );
    default:
      return false;
  }
}

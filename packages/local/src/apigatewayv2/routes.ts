/**
 * API Gateway HTTP API route selection: a route key is `$default` or `METHOD /path`, where
 * METHOD may be `ANY`, a path segment `{name}` matches one segment and a last `{name+}` the rest
 * of the path. The most specific route wins: an exact method before ANY, then more literal
 * segments, then a route without a greedy segment; `$default` catches what nothing matched.
 */

export interface RouteLike {
  routeKey: string;
}

interface Parsed<Route> {
  route: Route;
  method: string;
  segments: string[];
  greedy: boolean;
}

function parse<Route extends RouteLike>(route: Route): Parsed<Route> | undefined {
  const space = route.routeKey.indexOf(" ");
  if (space < 0) return undefined;
  const method = route.routeKey.slice(0, space).toUpperCase();
  const segments = route.routeKey
    .slice(space + 1)
    .split("/")
    .filter((segment) => segment.length > 0);
  const last = segments.at(-1);
  const greedy = last !== undefined && /^\{[^}]+\+\}$/.test(last);
  return { route, method, segments: greedy ? segments.slice(0, -1) : segments, greedy };
}

function matchesPath(parsed: Parsed<RouteLike>, parts: string[]): boolean {
  if (parsed.greedy ? parts.length <= parsed.segments.length : parts.length !== parsed.segments.length) {
    return false;
  }
  return parsed.segments.every((segment, index) => /^\{[^}]+\}$/.test(segment) || segment === parts[index]);
}

export function selectRoute<Route extends RouteLike>(
  routes: Route[],
  method: string,
  path: string,
): Route | undefined {
  const parts =
    path
      .split("?")[0]
      ?.split("/")
      .filter((part) => part.length > 0)
      .map((part) => {
        try {
          return decodeURIComponent(part);
        } catch {
          return part;
        }
      }) ?? [];
  const candidates = routes
    .map((route) => parse(route))
    .filter((parsed): parsed is Parsed<Route> => parsed !== undefined)
    .filter(
      (parsed) =>
        (parsed.method === "ANY" || parsed.method === method.toUpperCase()) && matchesPath(parsed, parts),
    );
  const literal = (parsed: Parsed<Route>) =>
    parsed.segments.filter((segment) => !segment.startsWith("{")).length;
  candidates.sort(
    (a, b) =>
      Number(a.greedy) - Number(b.greedy) ||
      literal(b) - literal(a) ||
      b.segments.length - a.segments.length ||
      Number(b.method !== "ANY") - Number(a.method !== "ANY"),
  );
  return candidates[0]?.route ?? routes.find((route) => route.routeKey === "$default");
}

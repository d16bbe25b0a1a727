import type { ComponentChildren } from "preact";
import { useEffect, useState } from "preact/hooks";

/** Client-side routes; the server answers index.html for every one of them, so a reload keeps the page. */
export type Route =
  | { page: "sign-in" }
  | { page: "stacks" }
  | { page: "stack"; stack: string }
  | { page: "service"; stack: string; service: string }
  | { page: "job"; stack: string; job: string }
  | { page: "tokens" }
  | { page: "webhooks" }
  | { page: "webhook"; id: string }
  | { page: "not-found"; path: string };

export function parseRoute(pathname: string): Route {
  const parts = pathname
    .split("/")
    .filter((part) => part !== "")
    .map((part) => {
      try {
        return decodeURIComponent(part);
      } catch {
        return part;
      }
    });
  const [first, stack, kind, name] = parts;
  if (parts.length === 0) return { page: "stacks" };
  if (first === "sign-in" && parts.length === 1) return { page: "sign-in" };
  if (first === "tokens" && parts.length === 1) return { page: "tokens" };
  if (first === "webhooks" && parts.length === 1) return { page: "webhooks" };
  if (first === "webhooks" && stack !== undefined && parts.length === 2)
    return { page: "webhook", id: stack };
  if (first === "stacks" && parts.length === 1) return { page: "stacks" };
  if (first === "stacks" && stack !== undefined && parts.length === 2) return { page: "stack", stack };
  if (first === "stacks" && stack !== undefined && name !== undefined && parts.length === 4) {
    if (kind === "services") return { page: "service", stack, service: name };
    if (kind === "jobs") return { page: "job", stack, job: name };
  }
  return { page: "not-found", path: pathname };
}

export const paths = {
  stacks: () => "/stacks",
  stack: (stack: string) => `/stacks/${encodeURIComponent(stack)}`,
  service: (stack: string, service: string) =>
    `/stacks/${encodeURIComponent(stack)}/services/${encodeURIComponent(service)}`,
  job: (stack: string, job: string) => `/stacks/${encodeURIComponent(stack)}/jobs/${encodeURIComponent(job)}`,
  tokens: () => "/tokens",
  webhooks: () => "/webhooks",
  webhook: (id: string) => `/webhooks/${encodeURIComponent(id)}`,
  signIn: () => "/sign-in",
};

const listeners = new Set<() => void>();

export function navigate(to: string, options: { replace?: boolean } = {}): void {
  if (to === location.pathname + location.search) return;
  if (options.replace) history.replaceState(null, "", to);
  else history.pushState(null, "", to);
  for (const listener of listeners) listener();
}

/** The current location, re-rendered on navigation and on the browser's back and forward. */
export function useLocation(): { pathname: string; search: URLSearchParams } {
  const [, setTick] = useState(0);
  useEffect(() => {
    const changed = () => setTick((tick) => tick + 1);
    listeners.add(changed);
    addEventListener("popstate", changed);
    document.addEventListener("click", routeClick);
    return () => {
      listeners.delete(changed);
      removeEventListener("popstate", changed);
      document.removeEventListener("click", routeClick);
    };
  }, []);
  return { pathname: location.pathname, search: new URLSearchParams(location.search) };
}

/**
 * A link inside the console: a plain anchor (it opens in a new tab as any link does); a plain
 * click is routed in the page by the one click listener `useLocation` installs, not by a listener
 * on each anchor (a list of 200 stacks has 600 links).
 */
export function Link(props: {
  href: string;
  children: ComponentChildren;
  class?: string;
  "aria-current"?: "page";
}) {
  return (
    <a href={props.href} class={props.class} aria-current={props["aria-current"]} data-route="">
      {props.children}
    </a>
  );
}

/** A plain left click on a console link navigates in the page. */
function routeClick(event: MouseEvent): void {
  if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey)
    return;
  if (event.altKey) return;
  const target = event.target as Element | null;
  const anchor = target?.closest?.("a[data-route]");
  const href = anchor?.getAttribute("href");
  if (!href) return;
  event.preventDefault();
  navigate(href);
}

/** Where a page sits: Stacks / the stack / the service or job, each but the last a link. */
export function Crumbs({ stack, name }: { stack: string; name?: string }) {
  return (
    <p class="crumbs">
      <Link href={paths.stacks()}>Stacks</Link> /{" "}
      {name === undefined ? stack : <Link href={paths.stack(stack)}>{stack}</Link>}
      {name !== undefined && ` / ${name}`}
    </p>
  );
}

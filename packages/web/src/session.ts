import type { Scope } from "./api.ts";

/**
 * The signed-in token lives in sessionStorage only: it is gone when the tab closes, never sent
 * in a URL and never written to localStorage.
 */
const KEY = "berth.session";

export interface Session {
  token: string;
  scope: Scope;
}

export function loadSession(storage: Storage = sessionStorage): Session | undefined {
  try {
    const parsed = JSON.parse(storage.getItem(KEY) ?? "null") as Partial<Session> | null;
    if (parsed && typeof parsed.token === "string" && typeof parsed.scope === "string") {
      return { token: parsed.token, scope: parsed.scope };
    }
  } catch {
    // A damaged entry is no session.
  }
  return undefined;
}

export function saveSession(session: Session, storage: Storage = sessionStorage): void {
  storage.setItem(KEY, JSON.stringify(session));
}

export function clearSession(storage: Storage = sessionStorage): void {
  storage.removeItem(KEY);
}

const RANK: Record<Scope, number> = { read: 0, deploy: 1, admin: 2 };

/** Scopes are ordered as the API orders them: read < deploy < admin. */
export function allows(session: Session | undefined, needed: Scope): boolean {
  return session !== undefined && RANK[session.scope] >= RANK[needed];
}

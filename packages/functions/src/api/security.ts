import { type Store, TokenRecord } from "@berth/core/store";
import { ApiError } from "./errors.ts";
import type { ApiRequest } from "./http.ts";
import type { Access } from "./route.ts";

const REALM = 'realm="berth"';

function unauthorized(message: string, challenge: string): ApiError {
  return new ApiError("UNAUTHORIZED", message, [], { "www-authenticate": challenge });
}

/** How long a verified token is trusted without reading the store again: a revocation elsewhere takes this long. */
const TOKEN_CACHE_TTL_MS = 5_000;
/** Tokens remembered at once; the least recently verified goes first. */
const TOKEN_CACHE_ENTRIES = 1_000;

export interface TokenCacheOptions {
  ttlMs?: number;
  maxEntries?: number;
  /** Milliseconds; injectable so that expiry can be tested without waiting. */
  now?: () => number;
}

interface Entry {
  /** Settles to the token, or undefined when the store did not know it. */
  verified: Promise<TokenRecord.Info | undefined>;
  expiresAt: number;
}

/**
 * Verified tokens, kept in memory for a few seconds so that a request does not pay the store's
 * two reads (hash index, then the item) each time. Keyed by the hash of the token, never the
 * token itself. A revocation through this instance (`forget`) takes effect at once; one through
 * another instance (another Lambda, or the store directly) within `ttlMs`. Unknown tokens are
 * not remembered: a token created a moment ago must work on its first request. Concurrent first
 * requests with one token share one verification.
 */
export class TokenCache {
  private readonly entries = new Map<string, Entry>();
  private readonly ttlMs: number;
  private readonly maxEntries: number;
  private readonly now: () => number;

  constructor(options: TokenCacheOptions = {}) {
    this.ttlMs = options.ttlMs ?? TOKEN_CACHE_TTL_MS;
    this.maxEntries = options.maxEntries ?? TOKEN_CACHE_ENTRIES;
    this.now = options.now ?? Date.now;
  }

  async verify(store: Store, token: string): Promise<TokenRecord.Info | undefined> {
    const key = TokenRecord.hashSecret(token);
    const cached = this.entries.get(key);
    if (cached && cached.expiresAt > this.now()) {
      // Most recently used last, so eviction takes the stalest.
      this.entries.delete(key);
      this.entries.set(key, cached);
      return cached.verified;
    }
    const entry: Entry = { verified: TokenRecord.verify(store, token), expiresAt: this.now() + this.ttlMs };
    this.entries.delete(key);
    this.entries.set(key, entry);
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
    try {
      const info = await entry.verified;
      if (!info && this.entries.get(key) === entry) this.entries.delete(key);
      return info;
    } catch (error) {
      if (this.entries.get(key) === entry) this.entries.delete(key);
      throw error;
    }
  }

  /** Drops the token with this id (revoked through this instance): its next request reads the store. */
  async forget(tokenId: string): Promise<void> {
    for (const [key, entry] of [...this.entries]) {
      const info = await entry.verified.catch(() => undefined);
      if (info?.id === tokenId && this.entries.get(key) === entry) this.entries.delete(key);
    }
  }
}

/**
 * The token a request carries, checked against the route's access. Scopes are ordered
 * (read < deploy < admin): `TokenRecord.allows` decides.
 */
export async function authorize(
  store: Store,
  tokens: TokenCache,
  request: ApiRequest,
  access: Access,
): Promise<TokenRecord.Info | undefined> {
  if (access === "public") return undefined;
  const header = request.headers.authorization;
  if (!header) {
    throw unauthorized("this route needs an Authorization: Bearer <token> header", `Bearer ${REALM}`);
  }
  const bearer = /^Bearer +(\S+) *$/i.exec(header)?.[1];
  const token = bearer === undefined ? undefined : await tokens.verify(store, bearer);
  if (!token) {
    throw unauthorized(
      "the bearer token is not valid: it is malformed, unknown or revoked",
      `Bearer ${REALM}, error="invalid_token"`,
    );
  }
  if (!TokenRecord.allows(token, access)) {
    throw new ApiError(
      "FORBIDDEN",
      `this route needs a token with the ${access} scope; this token has ${token.scopes.join(", ")}`,
      [],
      { "www-authenticate": `Bearer ${REALM}, error="insufficient_scope", scope="${access}"` },
    );
  }
  return token;
}

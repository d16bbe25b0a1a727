import { type Store, TokenRecord } from "@berth/core/store";
import { ApiError } from "./errors.ts";
import type { ApiRequest } from "./http.ts";
import type { Access } from "./route.ts";

const REALM = 'realm="berth"';

function unauthorized(message: string, challenge: string): ApiError {
  return new ApiError("UNAUTHORIZED", message, [], { "www-authenticate": challenge });
}

/**
 * The token a request carries, checked against the route's access. Scopes are ordered
 * (read < deploy < admin): `TokenRecord.allows` decides.
 */
export async function authorize(
  store: Store,
  request: ApiRequest,
  access: Access,
): Promise<TokenRecord.Info | undefined> {
  if (access === "public") return undefined;
  const header = request.headers.authorization;
  if (!header) {
    throw unauthorized("this route needs an Authorization: Bearer <token> header", `Bearer ${REALM}`);
  }
  const bearer = /^Bearer +(\S+) *$/i.exec(header)?.[1];
  const token = bearer === undefined ? undefined : await TokenRecord.verify(store, bearer);
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

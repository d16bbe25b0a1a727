import { TokenRecord } from "@berth/core/store";
import { ApiError } from "../errors.ts";
import { readRoute, writeRoute } from "../one-answer.ts";
import { defineRoute } from "../route.ts";
import { CreatedToken, CreateTokenBody, NoQuery, TokenList, TokenParams } from "../schemas.ts";

const createToken = writeRoute({
  method: "POST",
  path: "/v1/tokens",
  operationId: "createToken",
  summary: "Create an API token",
  description:
    "The response holds the token itself, once: only its hash is stored. A replay of the request " +
    "(same Idempotency-Key) answers with the token's details but not the token.",
  access: "admin",
  body: { kind: "json", schema: CreateTokenBody },
  status: 201,
  answer: "The new token",
  schema: CreatedToken,
  // The secret must not sit in the table for a day inside a stored response.
  storedForReplay: (json) => ({ info: (json as { info: unknown }).info }),
  write: ({ body, context }) => TokenRecord.create(context.dependencies.store, body),
});

const listTokens = readRoute({
  path: "/v1/tokens",
  operationId: "listTokens",
  summary: "List API tokens (never their secrets)",
  access: "admin",
  answer: "Every token, oldest first",
  schema: TokenList,
  read: async ({ context }) => ({ tokens: await TokenRecord.list(context.dependencies.store) }),
});

const revokeToken = defineRoute({
  method: "DELETE",
  path: "/v1/tokens/{id}",
  operationId: "revokeToken",
  summary: "Revoke an API token",
  description:
    "The token stops working at once on the API instance that revoked it, and within seconds on every other " +
    "(each instance trusts a token it verified for up to 5 seconds).",
  access: "admin",
  params: TokenParams,
  query: NoQuery,
  responses: { 204: { description: "Revoked" } },
  async handle({ params, context }) {
    const revoked = await TokenRecord.revoke(context.dependencies.store, params.id);
    await context.dependencies.tokens.forget(params.id);
    if (!revoked) throw new ApiError("NOT_FOUND", `token ${params.id} does not exist`);
    return { status: 204 };
  },
});

export const tokenRoutes = [createToken, listTokens, revokeToken];

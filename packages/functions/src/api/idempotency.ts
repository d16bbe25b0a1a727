import type { Logger } from "@aws-lambda-powertools/logger";
import { IdempotencyRecord, type Store, type TokenRecord } from "@berth/core/store";
import { ApiError } from "./errors.ts";
import type { ApiRequest, ApiResponse } from "./http.ts";

const IDEMPOTENCY_KEY_HEADER = "idempotency-key";
const REPLAYED_HEADER = "idempotency-replayed";

/**
 * A DynamoDB item holds 400 KB. A response too big to keep is not kept: the key is released and
 * a retry runs again, which for an apply finds nothing left to change.
 */
const MAX_STORED_RESPONSE_BYTES = 256 * 1024;

export interface IdempotencyOptions {
  store: Store;
  logger: Logger;
  request: ApiRequest;
  token: TokenRecord.Info;
  /** Removes what must not be stored (a new token's secret) from the response kept for replays. */
  storedForReplay?: (json: unknown) => unknown;
}

/**
 * Runs a POST or PUT at most once per Idempotency-Key, per token. Only a success is kept for
 * replay: a 4xx changed nothing and a 5xx may not have finished, so a retry of either runs again.
 */
export async function idempotently(
  options: IdempotencyOptions,
  run: () => Promise<ApiResponse>,
): Promise<ApiResponse> {
  const { store, logger, request, token } = options;
  const key = request.headers[IDEMPOTENCY_KEY_HEADER];
  if (key === undefined) return run();
  const validKey = IdempotencyRecord.Key.safeParse(key);
  if (!validKey.success) {
    throw new ApiError(
      "INVALID_INPUT",
      "the Idempotency-Key header must be 1 to 255 printable ASCII characters",
      [{ path: `headers.${IDEMPOTENCY_KEY_HEADER}`, message: "must be 1 to 255 printable ASCII characters" }],
    );
  }
  const target = {
    scope: token.id,
    key: validKey.data,
    requestHash: IdempotencyRecord.hashRequest({
      method: request.method,
      path: `${request.path}?${request.rawQueryString}`,
      body: request.body.toString("base64"),
    }),
  };
  const claim = await IdempotencyRecord.claim(store, target);
  switch (claim.outcome) {
    case "replay":
      return {
        status: claim.response.status,
        json: claim.response.body === "" ? undefined : JSON.parse(claim.response.body),
        headers: { [REPLAYED_HEADER]: "true" },
      };
    case "mismatch":
      throw new ApiError(
        "IDEMPOTENCY_KEY_REUSED",
        "this Idempotency-Key was already used for a different request; use a new key for a new request",
        [
          {
            path: `headers.${IDEMPOTENCY_KEY_HEADER}`,
            message: "already used with another method, path or body",
          },
        ],
      );
    case "in-progress":
      throw new ApiError(
        "IDEMPOTENCY_KEY_IN_USE",
        "a request with this Idempotency-Key is still running; retry shortly to get its response",
        [],
        { "retry-after": "1" },
      );
    case "claimed":
      break;
  }
  let response: ApiResponse;
  try {
    response = await run();
  } catch (error) {
    await IdempotencyRecord.release(store, target);
    throw error;
  }
  const succeeded = response.status >= 200 && response.status < 300;
  const stored =
    response.json === undefined
      ? ""
      : JSON.stringify(options.storedForReplay?.(response.json) ?? response.json);
  try {
    if (succeeded && Buffer.byteLength(stored) <= MAX_STORED_RESPONSE_BYTES) {
      await IdempotencyRecord.complete(store, target, { status: response.status, body: stored });
    } else {
      if (succeeded)
        logger.warn("response too large to keep for idempotent replays", { bytes: stored.length });
      await IdempotencyRecord.release(store, target);
    }
  } catch (error) {
    // The work is done: the caller gets its answer. A retry meets the claim until its lease lapses.
    logger.error("could not record the idempotent response", { error });
  }
  return response;
}

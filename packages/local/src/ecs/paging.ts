import { z } from "zod";
import { AwsError } from "../protocol.ts";

/**
 * ECS's list pagination: `maxResults` (1–100, a default per operation) and an opaque `nextToken`.
 *
 * A token names the listing it belongs to (operation and filters) and the sort key of the last
 * item handed out, so a page stays right when items come and go between calls; a token from
 * another listing, or one Berth Local did not write, is InvalidParameterException as on ECS.
 */

export const MaxResults = z
  .number({ error: "maxResults must be an integer between 1 and 100" })
  .int("maxResults must be an integer between 1 and 100")
  .min(1, "maxResults must be an integer between 1 and 100")
  .max(100, "maxResults must be an integer between 1 and 100");

export const Paging = {
  maxResults: MaxResults.optional(),
  nextToken: z.string().optional(),
};

export interface PageRequest {
  /** The operation and the filters that shape the listing; a token is valid only for the same. */
  listing: unknown;
  maxResults?: number | undefined;
  nextToken?: string | undefined;
  /** What ECS returns without `maxResults` (ListServices 10, ListServiceDeployments 20, others 100). */
  defaultSize: number;
}

const Token = z.object({ listing: z.string(), after: z.string() });

function invalidToken(): AwsError {
  return new AwsError("InvalidParameterException", "The specified nextToken is not valid.");
}

/**
 * One page of `items` in the order of `key` (strings compared by code unit; `descending` turns
 * it around), and the token for the page after it when more follow.
 */
export function pageOf<T>(
  unsorted: readonly T[],
  key: (item: T) => string,
  request: PageRequest,
  descending = false,
): { items: T[]; nextToken?: string } {
  const order = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0) * (descending ? -1 : 1);
  const items = [...unsorted].sort((a, b) => order(key(a), key(b)));
  const listing = JSON.stringify(request.listing);
  let start = 0;
  if (request.nextToken !== undefined) {
    let token: z.infer<typeof Token>;
    try {
      token = Token.parse(JSON.parse(Buffer.from(request.nextToken, "base64url").toString("utf8")));
    } catch {
      throw invalidToken();
    }
    if (token.listing !== listing) throw invalidToken();
    const after = token.after;
    const index = items.findIndex((item) => order(key(item), after) > 0);
    start = index === -1 ? items.length : index;
  }
  const size = request.maxResults ?? request.defaultSize;
  const page = items.slice(start, start + size);
  const last = page.at(-1);
  if (last === undefined || start + size >= items.length) return { items: page };
  const nextToken = Buffer.from(JSON.stringify({ listing, after: key(last) }), "utf8").toString("base64url");
  return { items: page, nextToken };
}

/** A number as a string that sorts as the number does (for keys built from timestamps and revisions). */
export function sortable(value: number): string {
  return String(Math.floor(value)).padStart(16, "0");
}

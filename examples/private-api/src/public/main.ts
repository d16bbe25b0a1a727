import { portFromEnvironment, sendJson, serve } from "../lib/http.ts";

// `host:port` of the private API, from $ResourceParam('privateApi', 'address') in berth.yml.
const privateAddress = process.env.PRIVATE_ADDRESS;
if (!privateAddress) throw new Error("PRIVATE_ADDRESS must be set to the private API's host:port");
const quoteUrl = `http://${privateAddress}/quotes/random`;

// Shorter than the 2 s stopTimeout, so a slow upstream cannot hold up a shutdown.
const UPSTREAM_TIMEOUT_MS = 1_500;

type Upstream = { ok: true; quote: unknown } | { ok: false; error: string };

async function fetchQuote(): Promise<Upstream> {
  let response: Response;
  try {
    response = await fetch(quoteUrl, { signal: AbortSignal.timeout(UPSTREAM_TIMEOUT_MS) });
  } catch (error) {
    const reason =
      error instanceof Error
        ? error.cause instanceof Error
          ? error.cause.message
          : error.message
        : String(error);
    return { ok: false, error: `private API unreachable at ${privateAddress}: ${reason}` };
  }
  if (!response.ok) {
    await response.body?.cancel();
    return { ok: false, error: `private API answered ${response.status}` };
  }
  try {
    return { ok: true, quote: await response.json() };
  } catch {
    return { ok: false, error: "private API answered with invalid JSON" };
  }
}

serve({
  name: "publicService",
  port: portFromEnvironment(),
  drainMs: 1_800,
  handler: async (request, response, path) => {
    if (request.method === "GET" && path === "/") {
      const upstream = await fetchQuote();
      if (upstream.ok) sendJson(response, 200, { servedBy: "publicService", quote: upstream.quote });
      else sendJson(response, 502, { error: upstream.error });
      return;
    }
    sendJson(response, 404, { error: `no route for ${request.method} ${path}` });
  },
});

import { getJson, serveJson } from "../lib/http.ts";

// `host:port` of the private API, from $ResourceParam('privateApi', 'address') in berth.yml.
const privateAddress = process.env.PRIVATE_ADDRESS;
if (!privateAddress) throw new Error("PRIVATE_ADDRESS must be set to the private API's host:port");
const quoteUrl = `http://${privateAddress}/quotes/random`;

// Shorter than the 2 s stopTimeout, so a slow upstream cannot hold up a shutdown.
const UPSTREAM_TIMEOUT_MS = 1_500;

serveJson({
  name: "publicService",
  drainMs: 1_800,
  routes: {
    "GET /": async () => ({
      servedBy: "publicService",
      quote: await getJson(quoteUrl, { name: "private API", address: privateAddress }, UPSTREAM_TIMEOUT_MS),
    }),
  },
});

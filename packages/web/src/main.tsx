import { render } from "preact";
import { App } from "./app.tsx";
import { warmTimeFormat } from "./format.ts";

/**
 * Where the API is. Berth Local serves the console from the API's own origin; on AWS the
 * console's bucket holds a config.json naming the API's URL.
 */
async function apiBaseUrl(): Promise<string> {
  try {
    const response = await fetch("/config.json", { cache: "no-store" });
    if (!response.ok) return "";
    const config = (await response.json()) as { apiUrl?: unknown };
    return typeof config.apiUrl === "string" ? config.apiUrl.replace(/\/+$/, "") : "";
  } catch {
    return "";
  }
}

const root = document.getElementById("app");
if (root) {
  // The first screen renders at once; requests wait for the config only if it has not arrived.
  root.textContent = "";
  render(<App baseUrl={apiBaseUrl()} />, root);
  // The date formatter's locale data loads once the first screen is up, not before it.
  if (typeof requestIdleCallback === "function")
    requestIdleCallback(() => warmTimeFormat(), { timeout: 2000 });
}

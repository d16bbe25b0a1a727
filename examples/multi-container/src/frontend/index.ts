import { portFromEnvironment, sendHtml, sendJson, serve } from "../lib/http.ts";

// The backend container of the same task, on its workload-internal port.
const backendUrl = process.env.BACKEND_URL;
if (!backendUrl) throw new Error("BACKEND_URL must be set, e.g. http://localhost:3000");

// Shorter than the 2 s stopTimeout, so a slow backend cannot hold up a shutdown.
const BACKEND_TIMEOUT_MS = 1_500;

interface Product {
  id: string;
  name: string;
  priceCents: number;
}

type Products = { ok: true; products: Product[] } | { ok: false; error: string };

function isProduct(value: unknown): value is Product {
  if (typeof value !== "object" || value === null) return false;
  const candidate = value as Record<string, unknown>;
  return (
    typeof candidate.id === "string" &&
    typeof candidate.name === "string" &&
    typeof candidate.priceCents === "number"
  );
}

async function fetchProducts(): Promise<Products> {
  let response: Response;
  try {
    response = await fetch(`${backendUrl}/products`, { signal: AbortSignal.timeout(BACKEND_TIMEOUT_MS) });
  } catch (error) {
    const reason =
      error instanceof Error
        ? error.cause instanceof Error
          ? error.cause.message
          : error.message
        : String(error);
    return { ok: false, error: `backend unreachable at ${backendUrl}: ${reason}` };
  }
  if (!response.ok) {
    await response.body?.cancel();
    return { ok: false, error: `backend answered ${response.status}` };
  }
  const body: unknown = await response.json().catch(() => undefined);
  if (!Array.isArray(body) || !body.every(isProduct))
    return { ok: false, error: "backend answered with an unexpected body" };
  return { ok: true, products: body };
}

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);

function page(products: readonly Product[]): string {
  const items = products
    .map((product) => `<li>${escapeHtml(product.name)}: ${(product.priceCents / 100).toFixed(2)} EUR</li>`)
    .join("\n");
  return `<!doctype html>\n<html lang="en">\n<head><meta charset="utf-8"><title>Shop</title></head>\n<body>\n<h1>Shop</h1>\n<ul>\n${items}\n</ul>\n</body>\n</html>\n`;
}

// Port 8080 is reached through the HTTP API gateway and, inside the stack, at http://shop:8080.
serve({
  name: "frontend",
  port: portFromEnvironment(),
  drainMs: 1_800,
  handler: async (request, response, path) => {
    if (request.method === "GET" && (path === "/" || path === "/api/products")) {
      const result = await fetchProducts();
      if (!result.ok) sendJson(response, 502, { error: result.error });
      else if (path === "/") sendHtml(response, 200, page(result.products));
      else sendJson(response, 200, result.products);
      return;
    }
    sendJson(response, 404, { error: `no route for ${request.method} ${path}` });
  },
});

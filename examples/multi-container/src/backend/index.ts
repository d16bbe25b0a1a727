import { portFromEnvironment, sendJson, serve } from "../lib/http.ts";

interface Product {
  id: string;
  name: string;
  priceCents: number;
}

const PRODUCTS: readonly Product[] = [
  { id: "mug", name: "Harbour mug", priceCents: 1200 },
  { id: "cap", name: "Deckhand cap", priceCents: 1900 },
  { id: "rope", name: "Mooring rope, 10 m", priceCents: 3400 },
];

const PRODUCT_PATH = /^\/products\/([a-z0-9-]+)$/;

// Port 3000 is a workload-internal port: only the other containers of this task reach it.
serve({
  name: "backend",
  port: portFromEnvironment(),
  drainMs: 1_800,
  handler: (request, response, path) => {
    if (request.method !== "GET") {
      sendJson(response, 405, { error: `${request.method} is not allowed` });
      return;
    }
    if (path === "/products") {
      sendJson(response, 200, PRODUCTS);
      return;
    }
    const id = PRODUCT_PATH.exec(path)?.[1];
    if (id === undefined) {
      sendJson(response, 404, { error: `no route for GET ${path}` });
      return;
    }
    const product = PRODUCTS.find((candidate) => candidate.id === id);
    if (product) sendJson(response, 200, product);
    else sendJson(response, 404, { error: `no product "${id}"` });
  },
});

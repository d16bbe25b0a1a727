import { defineConfig } from "vite";

/**
 * The console builds to dist/: one HTML page, hashed JS and CSS, no inline script (the pages are
 * served with a Content-Security-Policy that allows scripts from the page's own origin only).
 */
export default defineConfig({
  root: import.meta.dirname,
  base: "/",
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    sourcemap: false,
  },
  logLevel: "warn",
});

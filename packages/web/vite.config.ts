import { defineConfig } from "vite";

/**
 * The console builds to dist/: one HTML page, hashed JS and CSS, no inline script (the pages are
 * served with a Content-Security-Policy that allows scripts from the page's own origin only).
 */
export default defineConfig({
  root: import.meta.dirname,
  base: "/",
  // Always the production JSX transform: a build started where NODE_ENV is not "production" (a
  // Berth Local under vitest, which sets NODE_ENV=test) would otherwise emit jsxDEV calls carrying
  // every element's source file and line: 55 KB became 81 KB, with absolute paths in the bundle.
  oxc: { jsx: { runtime: "automatic", importSource: "preact", development: false } },
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

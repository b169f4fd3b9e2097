import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

/**
 * The console is built into dist/console, which the edge serves. Assets get
 * content hashes (served as immutable); nothing is inlined, so the page runs
 * under the edge's CSP with no 'unsafe-inline'.
 */
export default defineConfig({
  root: fileURLToPath(new URL(".", import.meta.url)),
  base: "./",
  build: {
    outDir: fileURLToPath(new URL("../../dist/console", import.meta.url)),
    emptyOutDir: true,
    assetsInlineLimit: 0,
    sourcemap: true,
    modulePreload: { polyfill: false },
  },
  server: {
    // `vite` in development proxies the API to a running edge.
    proxy: { "^/(launchpad|grpc)\\.": "http://127.0.0.1:8080" },
  },
});

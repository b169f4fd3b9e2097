import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import type { EdgeRequest, EdgeResponse } from "../http-server.js";

/** An endpoint of the edge's map of exact GET paths. */
export type DocsEndpoint = (req: EdgeRequest, res: EdgeResponse) => Promise<void>;

/** What `npm run generate` writes; `npm run build` must copy it to dist/gen/ beside launchpad.binpb. */
const defaultDocumentUrl = new URL("../../gen/openapi.json", import.meta.url);

/** swagger-ui-dist's files the page uses (and their source maps, for devtools), with their types. */
const swaggerFiles: Record<string, string> = {
  "swagger-ui.css": "text/css; charset=utf-8",
  "swagger-ui.css.map": "application/json",
  "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
  "swagger-ui-bundle.js.map": "application/json",
  "favicon-16x16.png": "image/png",
  "favicon-32x32.png": "image/png",
};

/**
 * Starts Swagger UI on the document. A file of its own, not an inline
 * script, so the page works under `script-src 'self'`. The document's URL
 * is relative to the page (/docs → /openapi.json), so a path prefix in
 * front of the edge keeps working.
 */
const initializer = `"use strict";
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: new URL("openapi.json", document.baseURI).href,
    dom_id: "#swagger-ui",
    deepLinking: true,
    layout: "BaseLayout",
    presets: [SwaggerUIBundle.presets.apis],
    plugins: [SwaggerUIBundle.plugins.DownloadUrl],
    validatorUrl: null,
    displayOperationId: true,
    defaultModelsExpandDepth: 0,
  });
});
`;

const immutable = "public, max-age=31536000, immutable";

function short(hash: string): string {
  return hash.slice(0, 16);
}

function page(version: string, initializerVersion: string): string {
  const asset = (file: string) => `docs/${file}?v=${version}`;
  return `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>Launchpad API</title>
    <link rel="stylesheet" href="${asset("swagger-ui.css")}">
    <link rel="icon" type="image/png" href="${asset("favicon-32x32.png")}" sizes="32x32">
    <link rel="icon" type="image/png" href="${asset("favicon-16x16.png")}" sizes="16x16">
  </head>
  <body>
    <div id="swagger-ui"></div>
    <script src="${asset("swagger-ui-bundle.js")}"></script>
    <script src="docs/launchpad-docs.js?v=${initializerVersion}"></script>
  </body>
</html>
`;
}

function send(req: EdgeRequest, res: EdgeResponse, body: string | Buffer, headers: Record<string, string>): void {
  const etag = headers["etag"];
  if (etag && req.headers["if-none-match"] === etag) {
    res.writeHead(304, { etag, "cache-control": headers["cache-control"] ?? "no-cache" });
    res.end();
    return;
  }
  res.writeHead(200, { "content-length": String(Buffer.byteLength(body)), "x-content-type-options": "nosniff", ...headers });
  res.end(body);
}

/** Reads a file once, on first use; a failed read is tried again next time. */
function once<T>(load: () => Promise<T>): () => Promise<T> {
  let loading: Promise<T> | undefined;
  return () => {
    loading ??= load().catch((error: unknown) => {
      loading = undefined;
      throw error;
    });
    return loading;
  };
}

/**
 * The API documentation endpoints, for the edge's map of GET paths:
 * `/openapi.json` (gen/openapi.json, read once, revalidated by ETag), and
 * `/docs`, Swagger UI from the swagger-ui-dist package: the page (no-cache;
 * it runs under the edge's docs CSP, edge/protections/security-headers.ts,
 * which refuses inline script), its assets under /docs/ (cached
 * for a year: the page links them with the package version) and the
 * initialiser, /docs/launchpad-docs.js. No CDN, no inline script.
 */
export function createDocsEndpoints(options: { documentUrl?: URL } = {}): Record<string, DocsEndpoint> {
  const swaggerDir = dirname(createRequire(import.meta.url).resolve("swagger-ui-dist/package.json"));
  const swaggerVersion = (createRequire(import.meta.url)("swagger-ui-dist/package.json") as { version: string }).version;
  const initializerEtag = `"${short(createHash("sha256").update(initializer).digest("hex"))}"`;
  const html = page(encodeURIComponent(swaggerVersion), initializerEtag.slice(1, -1));

  const document = once(async () => {
    const body = await readFile(options.documentUrl ?? defaultDocumentUrl);
    return { body, etag: `"${short(createHash("sha256").update(body).digest("hex"))}"` };
  });

  const endpoints: Record<string, DocsEndpoint> = {
    "/openapi.json": async (req, res) => {
      const { body, etag } = await document();
      send(req, res, body, { "content-type": "application/json", "cache-control": "no-cache", etag });
    },
    "/docs": async (req, res) => {
      send(req, res, html, { "content-type": "text/html; charset=utf-8", "cache-control": "no-cache" });
    },
    "/docs/": async (_req, res) => {
      res.writeHead(308, { location: "../docs", "cache-control": "no-cache", "content-length": "0" });
      res.end();
    },
    "/docs/launchpad-docs.js": async (req, res) => {
      send(req, res, initializer, { "content-type": "text/javascript; charset=utf-8", "cache-control": immutable, etag: initializerEtag });
    },
  };
  for (const [file, contentType] of Object.entries(swaggerFiles)) {
    const content = once(() => readFile(join(swaggerDir, file)));
    endpoints[`/docs/${file}`] = async (req, res) => {
      send(req, res, await content(), { "content-type": contentType, "cache-control": immutable, etag: `"${swaggerVersion}"` });
    };
  }
  return endpoints;
}

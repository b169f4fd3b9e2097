import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { brotliDecompressSync, gunzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadEdgeConfig } from "../../edge/config.js";
import { startEdge, type RunningEdge } from "../../edge/main.js";
import { contentSecurityPolicy } from "../../edge/protections/security-headers.js";
import { capturedLogger } from "../support/captured-logger.js";
import { http1Request, http2Request, type RawRequest } from "../support/raw-http.js";

const indexHtml = `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <title>Launchpad</title>
    <link rel="icon" type="image/svg+xml" href="./favicon.svg">
    <script type="module" crossorigin src="/assets/app-abc123.js"></script>
    <link rel="stylesheet" crossorigin href="/assets/app-def456.css">
  </head>
  <body><div id="app"></div></body>
</html>
`;
const appJs = `export function render(root) {\n${"  root.append(document.createElement('section'));\n".repeat(40)}}\n`;
const appCss = `${".deployment { display: grid; gap: 0.5rem; }\n".repeat(40)}`;
const favicon = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><circle cx="8" cy="8" r="7"/></svg>\n`;

/** A built console as Vite lays it out, plus files that must never be served. */
function writeConsole(dir: string): void {
  mkdirSync(join(dir, "assets"));
  writeFileSync(join(dir, "index.html"), indexHtml);
  writeFileSync(join(dir, "assets", "app-abc123.js"), appJs);
  writeFileSync(join(dir, "assets", "app-def456.css"), appCss);
  writeFileSync(join(dir, "favicon.svg"), favicon);
  writeFileSync(join(dir, ".env"), "SECRET=1\n");
  // Paths of the API: served by REST and Connect, never by the console.
  mkdirSync(join(dir, "v1"));
  writeFileSync(join(dir, "v1", "users"), "console file\n");
  mkdirSync(join(dir, "launchpad.user.v1.UserService"));
  writeFileSync(join(dir, "launchpad.user.v1.UserService", "GetUser"), "console file\n");
}

async function startEdgeWithConsole(consoleDir: string): Promise<{ edge: RunningEdge; logs: string[] }> {
  const { logger, lines: logs } = capturedLogger("edge");
  const config = loadEdgeConfig({
    env: {
      LAUNCHPAD_EDGE_PORT: "0",
      // Nothing listens there: API calls fail with UNAVAILABLE, which is enough to tell them from console files.
      LAUNCHPAD_USERS_ADDRESS: "127.0.0.1:1",
      LAUNCHPAD_DEPLOYMENTS_ADDRESS: "127.0.0.1:1",
      LAUNCHPAD_SHUTDOWN_GRACE: "1s",
      LAUNCHPAD_CORS_ORIGINS: "https://console.example.com",
      LAUNCHPAD_CONSOLE_DIR: consoleDir,
    },
    argv: [],
  });
  return { edge: await startEdge(config, logger), logs };
}

describe("the edge serving the built web console", () => {
  let dir: string;
  let edge: RunningEdge;
  let logs: string[];
  const get = (path: string, headers: Record<string, string> = {}, method = "GET") => http1Request(edge.port, { method, path, headers });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "launchpad-console-"));
    writeConsole(dir);
    ({ edge, logs } = await startEdgeWithConsole(dir));
  });
  afterAll(async () => {
    await edge?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("serves index.html at / and /index.html, revalidated on every load (no-cache, ETag)", async () => {
    for (const path of ["/", "/index.html", "/?from=bookmark"]) {
      const page = await get(path);
      expect(page.status).toBe(200);
      expect(page.headers["content-type"]).toBe("text/html; charset=utf-8");
      expect(page.headers["cache-control"]).toBe("no-cache");
      expect(page.headers["etag"]).toMatch(/^"[\w-]+"$/);
      expect(page.body.toString("utf8")).toBe(indexHtml);
    }
  });

  it("serves content-hashed files under /assets/ as immutable for a year, with their types", async () => {
    const script = await get("/assets/app-abc123.js");
    const style = await get("/assets/app-def456.css");
    expect(script.status).toBe(200);
    expect(script.headers["content-type"]).toBe("text/javascript; charset=utf-8");
    expect(script.headers["cache-control"]).toBe("public, max-age=31536000, immutable");
    expect(script.body.toString("utf8")).toBe(appJs);
    expect(style.headers["content-type"]).toBe("text/css; charset=utf-8");
    expect(style.headers["cache-control"]).toBe("public, max-age=31536000, immutable");
    expect(style.body.toString("utf8")).toBe(appCss);

    const icon = await get("/favicon.svg");
    expect(icon.headers["content-type"]).toBe("image/svg+xml");
    expect(icon.headers["cache-control"]).toBe("no-cache");
  });

  it("answers 304 to a matching If-None-Match (strong, weak or a list), 200 to a stale one", async () => {
    const { headers } = await get("/");
    const etag = headers["etag"]!;
    for (const ifNoneMatch of [etag, `W/${etag}`, `"stale", ${etag}`, "*"]) {
      const revalidated = await get("/", { "if-none-match": ifNoneMatch });
      expect(revalidated.status).toBe(304);
      expect(revalidated.body.length).toBe(0);
      expect(revalidated.headers["etag"]).toBe(etag);
      expect(revalidated.headers["cache-control"]).toBe("no-cache");
    }
    expect((await get("/", { "if-none-match": '"stale"' })).status).toBe(200);
  });

  it("sends brotli, else gzip, else identity, as Accept-Encoding allows, and says it varies by it", async () => {
    const identity = await get("/assets/app-abc123.js");
    const brotli = await get("/assets/app-abc123.js", { "accept-encoding": "gzip, deflate, br" });
    const gzip = await get("/assets/app-abc123.js", { "accept-encoding": "br;q=0, gzip" });
    const wildcard = await get("/assets/app-abc123.js", { "accept-encoding": "*" });
    const refused = await get("/assets/app-abc123.js", { "accept-encoding": "identity" });

    expect(identity.headers["content-encoding"]).toBeUndefined();
    expect(brotli.headers["content-encoding"]).toBe("br");
    expect(brotliDecompressSync(brotli.body).toString("utf8")).toBe(appJs);
    expect(brotli.body.length).toBeLessThan(identity.body.length);
    expect(Number(brotli.headers["content-length"])).toBe(brotli.body.length);
    expect(gzip.headers["content-encoding"]).toBe("gzip");
    expect(gunzipSync(gzip.body).toString("utf8")).toBe(appJs);
    expect(wildcard.headers["content-encoding"]).toBe("br");
    expect(refused.headers["content-encoding"]).toBeUndefined();

    for (const answer of [identity, brotli, gzip]) expect(answer.headers["vary"]).toBe("Origin, Accept-Encoding");
    // Each coding is its own representation, with its own ETag.
    expect(new Set([identity, brotli, gzip].map((answer) => answer.headers["etag"])).size).toBe(3);
    const page = await get("/", { "accept-encoding": "br" });
    expect(brotliDecompressSync(page.body).toString("utf8")).toBe(indexHtml);
    expect((await get("/", { "accept-encoding": "br", "if-none-match": page.headers["etag"]! })).status).toBe(304);
  });

  it("answers HEAD with GET's headers and no body, over HTTP/1.1 and HTTP/2", async () => {
    const full = await get("/assets/app-def456.css", { "accept-encoding": "gzip" });
    const head = await get("/assets/app-def456.css", { "accept-encoding": "gzip" }, "HEAD");
    expect(head.status).toBe(200);
    expect(head.body.length).toBe(0);
    for (const name of ["content-type", "content-length", "content-encoding", "etag", "cache-control"]) {
      expect(head.headers[name]).toBe(full.headers[name]);
    }
    const h2 = await http2Request(edge.port, { method: "HEAD", path: "/" });
    expect(h2.status).toBe(200);
    expect(h2.body.length).toBe(0);
    expect(Number(h2.headers["content-length"])).toBe(Buffer.byteLength(indexHtml));
  });

  it("serves only the files read at start: dot segments, encoded dots, dotfiles and unknown paths are 404", async () => {
    const outside: RawRequest[] = [
      { path: "/assets/../package.json" },
      { path: "/assets/%2e%2e/%2e%2e/package.json" },
      { path: "/%2e%2e/" },
      { path: "/%2e%2e/package.json" },
      { path: "/assets/..%2f..%2fpackage.json" },
      { path: "/.env" },
      { path: "/assets/app-abc123.js/" },
      { path: "/assets/missing-000000.js" },
      { path: "/assets/" },
      { path: "/index.html/.." },
      { path: "//index.html" },
      { path: "/assets%2fapp-abc123.js" },
    ];
    for (const request of outside) {
      const answer = await http1Request(edge.port, request);
      expect({ path: request.path, status: answer.status }).toEqual({ path: request.path, status: 404 });
    }
    expect((await get("/", {}, "POST")).status).toBe(404);
  });

  it("puts the strict CSP, nosniff and no framing on the console: no inline script or style, no data: images", async () => {
    for (const path of ["/", "/assets/app-abc123.js"]) {
      const answer = await get(path);
      expect(answer.headers["content-security-policy"]).toBe(contentSecurityPolicy);
      expect(answer.headers["x-content-type-options"]).toBe("nosniff");
      expect(answer.headers["x-frame-options"]).toBe("DENY");
    }
    const directives = contentSecurityPolicy.split("; ");
    for (const directive of ["default-src 'self'", "script-src 'self'", "style-src 'self'", "img-src 'self'", "connect-src 'self'"]) {
      expect(directives).toContain(directive);
    }
    expect(contentSecurityPolicy).not.toMatch(/unsafe|data:|\*/);
    // /docs keeps what swagger-ui needs.
    const docs = await get("/docs");
    expect(docs.headers["content-security-policy"]).toContain("img-src 'self' data:");
  });

  it("never shadows the API: files at REST or RPC paths are left out (with a warning), the endpoints still answer", async () => {
    const rest = await get("/v1/users");
    expect(rest.body.toString("utf8")).not.toBe("console file\n");
    expect(rest.headers["content-type"]).toMatch(/^application\/json/);
    const rpc = await get("/launchpad.user.v1.UserService/GetUser?encoding=json&message=%7B%7D");
    expect(rpc.body.toString("utf8")).not.toBe("console file\n");
    expect((await get("/healthz")).status).toBe(200);
    const warning = logs.map((line) => JSON.parse(line)).find((line) => line.msg.includes("console files not served"));
    expect(warning?.paths.sort()).toEqual(["/launchpad.user.v1.UserService/GetUser", "/v1/users"]);
  });
});

describe("the edge without a built console", () => {
  let edge: RunningEdge;
  let logs: string[];
  let missing: string;

  beforeAll(async () => {
    missing = join(tmpdir(), `launchpad-no-console-${process.pid}-${Date.now()}`);
    ({ edge, logs } = await startEdgeWithConsole(missing));
  });
  afterAll(() => edge?.stop());

  it("answers / with 503 and one line saying to run npm run build, warns once, and serves the rest", async () => {
    const page = await http1Request(edge.port, { path: "/" });
    expect(page.status).toBe(503);
    expect(page.headers["content-type"]).toBe("text/plain; charset=utf-8");
    expect(page.headers["cache-control"]).toBe("no-store");
    const text = page.body.toString("utf8");
    expect(text).toContain("npm run build");
    expect(text.trimEnd().split("\n")).toHaveLength(1);
    expect(text).not.toContain(missing);

    expect((await http1Request(edge.port, { path: "/index.html" })).status).toBe(404);
    expect((await http1Request(edge.port, { path: "/healthz" })).status).toBe(200);
    expect((await http1Request(edge.port, { path: "/docs" })).status).toBe(200);
    // Said once at start-up, not per request (this edge has no services, so it warns about them too).
    const warnings = logs.map((line) => JSON.parse(line)).filter((line) => line.level === "warn" && line.msg.includes("npm run build"));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ dir: missing, msg: expect.stringContaining("npm run build") });
  });
});

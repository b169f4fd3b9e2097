import { createHash } from "node:crypto";
import { readdir, readFile, stat } from "node:fs/promises";
import { extname, join, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { brotliCompress, constants, gzip } from "node:zlib";
import type { Logger } from "../../services/kit/logger.js";
import type { EdgeRequest, EdgeResponse } from "../http-server.js";

/** Serves one console path (GET or HEAD). */
export type ConsoleEndpoint = (req: EdgeRequest, res: EdgeResponse) => void;

/** Where the built console is by default: dist/console/, seen from dist/edge/endpoints/ or from edge/endpoints/ under tsx. */
const defaultDirs = [new URL("../../console/", import.meta.url), new URL("../../dist/console/", import.meta.url)];

/** Vite names what it writes under assets/ by content hash, so a URL there never changes meaning. */
const immutable = "public, max-age=31536000, immutable";

/** Paths that belong to the API: REST rules, Connect and gRPC methods. A console file there would shadow them. */
const apiPrefixes = ["/v1/", "/launchpad.", "/grpc."];

const notBuilt = "The web console is not built: run `npm run build`, then restart the edge.\n";

/**
 * Content types by extension, and whether compressing the file is worth
 * trying. Source maps are not: only devtools fetch them, and compressing the
 * bundle's map was three quarters of the edge's start-up work for the console.
 */
const types: Record<string, [type: string, compressible: boolean]> = {
  ".html": ["text/html; charset=utf-8", true],
  ".js": ["text/javascript; charset=utf-8", true],
  ".mjs": ["text/javascript; charset=utf-8", true],
  ".css": ["text/css; charset=utf-8", true],
  ".json": ["application/json", true],
  ".map": ["application/json", false],
  ".webmanifest": ["application/manifest+json", true],
  ".txt": ["text/plain; charset=utf-8", true],
  ".svg": ["image/svg+xml", true],
  ".ico": ["image/x-icon", true],
  ".wasm": ["application/wasm", true],
  ".png": ["image/png", false],
  ".jpg": ["image/jpeg", false],
  ".jpeg": ["image/jpeg", false],
  ".gif": ["image/gif", false],
  ".webp": ["image/webp", false],
  ".avif": ["image/avif", false],
  ".woff": ["font/woff", false],
  ".woff2": ["font/woff2", false],
};

/** The codings a file may be stored in besides identity, in order of preference. */
const codings = ["br", "gzip"] as const;
type Coding = (typeof codings)[number];

/** One stored form of a file. */
interface Variant {
  body: Buffer;
  etag: string;
}

/** A console file, ready to send. */
interface ConsoleFile {
  contentType: string;
  cacheControl: string;
  identity: Variant;
  /** The compressed forms that came out smaller. */
  encoded: Partial<Record<Coding, Variant>>;
}

/**
 * Brotli quality 9, not 11: on a Vite bundle 11 saves another 7% but takes
 * twenty times as long, seconds of start-up for a large source map.
 */
const brotliQuality = 9;

const compressors: Record<Coding, (body: Buffer) => Promise<Buffer>> = {
  br: (body) =>
    promisify(brotliCompress)(body, {
      params: { [constants.BROTLI_PARAM_QUALITY]: brotliQuality, [constants.BROTLI_PARAM_SIZE_HINT]: body.length },
    }),
  gzip: (body) => promisify(gzip)(body, { level: constants.Z_BEST_COMPRESSION }),
};

async function isDirectory(path: string): Promise<boolean> {
  return stat(path).then((found) => found.isDirectory(), () => false);
}

/** The configured directory, or the first default one that exists; undefined when none does. */
async function consoleDirOf(configured: string): Promise<string | undefined> {
  const candidates = configured ? [configured] : defaultDirs.map((url) => fileURLToPath(url));
  for (const dir of candidates) if (await isDirectory(dir)) return dir;
  return undefined;
}

/** The URL path of a file relative to the console directory; dotfiles and dot-directories have none. */
function urlPathOf(relative: string): string | undefined {
  const segments = relative.split(sep);
  if (segments.some((segment) => segment.startsWith("."))) return undefined;
  return "/" + segments.map(encodeURIComponent).join("/");
}

async function loadFile(path: string, urlPath: string): Promise<ConsoleFile> {
  const body = await readFile(path);
  const [contentType, compressible] = types[extname(path).toLowerCase()] ?? ["application/octet-stream", false];
  const hash = createHash("sha256").update(body).digest("base64url").slice(0, 22);
  const encoded: ConsoleFile["encoded"] = {};
  if (compressible) {
    await Promise.all(
      codings.map(async (coding) => {
        const compressed = await compressors[coding](body);
        if (compressed.length < body.length) encoded[coding] = { body: compressed, etag: `"${hash}-${coding}"` };
      }),
    );
  }
  return {
    contentType,
    cacheControl: urlPath.startsWith("/assets/") ? immutable : "no-cache",
    identity: { body, etag: `"${hash}"` },
    encoded,
  };
}

/** The stored coding to send for an Accept-Encoding header: br, then gzip, else identity. */
function codingFor(acceptEncoding: string | undefined, file: ConsoleFile): Coding | undefined {
  if (!acceptEncoding) return undefined;
  const quality = new Map<string, number>();
  for (const entry of acceptEncoding.split(",")) {
    const [name = "", ...params] = entry.split(";");
    const q = params.map((param) => /^\s*q=([\d.]+)\s*$/i.exec(param)?.[1]).find((value) => value !== undefined);
    quality.set(name.trim().toLowerCase(), q === undefined ? 1 : Number(q));
  }
  const wildcard = quality.get("*") ?? 0;
  return codings.find((coding) => file.encoded[coding] && (quality.get(coding) ?? wildcard) > 0);
}

/** If-None-Match by weak comparison, as RFC 9110 asks for GET and HEAD. */
function notModified(ifNoneMatch: string | undefined, etag: string): boolean {
  if (!ifNoneMatch) return false;
  return ifNoneMatch.split(",").some((tag) => {
    const bare = tag.trim();
    return bare === "*" || bare.replace(/^W\//, "") === etag;
  });
}

/** Ends a response with its body, or without one for HEAD (its headers say what GET would send). */
function endWith(req: EdgeRequest, res: EdgeResponse, body: Buffer | string): void {
  if (req.method === "HEAD") res.end();
  else res.end(body);
}

function serve(req: EdgeRequest, res: EdgeResponse, file: ConsoleFile): void {
  const coding = codingFor(req.headers["accept-encoding"], file);
  const variant = coding ? file.encoded[coding]! : file.identity;
  const headers: Record<string, string> = { "cache-control": file.cacheControl, etag: variant.etag };
  if (Object.keys(file.encoded).length > 0) {
    // Keeps the CORS layer's `Vary: Origin`: writeHead would replace it.
    const vary = res.getHeader("vary");
    headers["vary"] = vary ? `${String(vary)}, Accept-Encoding` : "Accept-Encoding";
  }
  if (notModified(req.headers["if-none-match"], variant.etag)) {
    res.writeHead(304, headers);
    res.end();
    return;
  }
  res.writeHead(200, {
    ...headers,
    "content-type": file.contentType,
    "content-length": String(variant.body.length),
    ...(coding ? { "content-encoding": coding } : {}),
  });
  endWith(req, res, variant.body);
}

/** Every file under `dir` by URL path, but those at API paths, which are left out with a warning. */
async function readConsole(dir: string, logger: Logger): Promise<Map<string, ConsoleFile>> {
  const files = new Map<string, ConsoleFile>();
  const shadowing: string[] = [];
  await Promise.all(
    (await readdir(dir, { recursive: true })).map(async (relative) => {
      const urlPath = urlPathOf(relative);
      const path = join(dir, relative);
      if (!urlPath || !(await stat(path)).isFile()) return;
      if (apiPrefixes.some((prefix) => urlPath.startsWith(prefix))) return void shadowing.push(urlPath);
      files.set(urlPath, await loadFile(path, urlPath));
    }),
  );
  if (shadowing.length > 0) logger.warn({ dir, paths: shadowing }, "console files not served: their paths belong to the API");
  return files;
}

function answerNotBuilt(req: EdgeRequest, res: EdgeResponse): void {
  res.writeHead(503, { "content-type": "text/plain; charset=utf-8", "content-length": Buffer.byteLength(notBuilt), "cache-control": "no-store" });
  endWith(req, res, notBuilt);
}

/**
 * The built web console, for GET and HEAD: every file of `dir`
 * (LAUNCHPAD_CONSOLE_DIR; empty: dist/console/ beside the program) read into
 * memory at start, with brotli and gzip forms where they are smaller, and
 * `/` serving index.html. Only the paths read then are ever served, so no
 * request reaches the filesystem. Files under /assets/ are cached for a year
 * (Vite hashes their names); the rest are revalidated by ETag. The console
 * routes by URL hash, so nothing else falls back to index.html. Without a
 * built console, `/` answers 503 saying how to build it, and one warning is
 * logged.
 */
export async function createConsoleEndpoints(dir: string, logger: Logger): Promise<Map<string, ConsoleEndpoint>> {
  const found = await consoleDirOf(dir);
  const files = found ? await readConsole(found, logger) : new Map<string, ConsoleFile>();
  const endpoints = new Map<string, ConsoleEndpoint>();
  const index = files.get("/index.html");
  if (!index) {
    const looked = found ?? (dir || defaultDirs.map((url) => fileURLToPath(url)).join(" or "));
    logger.warn({ dir: looked }, "no built web console: / answers 503 until `npm run build` builds it and the edge restarts");
    endpoints.set("/", answerNotBuilt);
    return endpoints;
  }
  for (const [urlPath, file] of files) endpoints.set(urlPath, (req, res) => serve(req, res, file));
  endpoints.set("/", (req, res) => serve(req, res, index));
  return endpoints;
}

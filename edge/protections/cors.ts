import { cors } from "@connectrpc/connect";
import type { EdgeRequest, EdgeResponse } from "../http-server.js";
import type { Middleware } from "./middleware.js";

/** Methods browsers may use cross-origin: Connect's (POST, GET) and REST's. */
export const allowedMethods = [...new Set([...cors.allowedMethods, "PATCH", "DELETE"])].join(", ");

/** Request headers browsers may send: Connect's, gRPC-Web's, and the edge's own. */
export const allowedHeaders = [...cors.allowedHeaders, "Authorization", "X-Request-Id", "Last-Event-ID", "X-Timeout-Ms"].join(", ");

/** Response headers scripts may read: gRPC-Web's status headers, Retry-After, the request id. */
export const exposedHeaders = [...cors.exposedHeaders, "Retry-After", "X-Request-Id"].join(", ");

/** How long browsers may cache a preflight answer (Chromium caps it at 2 hours). */
export const preflightMaxAgeSeconds = 7200;

/**
 * CORS for exactly the configured origins (no wildcard). Every response
 * says `Vary: Origin`. A request from an allowed origin gets
 * Access-Control-Allow-Origin and the exposed headers; one from any other
 * origin gets no CORS header, so the browser keeps the answer from the page.
 * Preflights are answered here (204 allowed, 403 refused); every other
 * request goes on.
 */
export function corsFor(origins: readonly string[]): Middleware {
  const allowed = new Set(origins);
  /** Answers a preflight and returns true, or sets the CORS headers of any other request. */
  const handle = (req: EdgeRequest, res: EdgeResponse): boolean => {
    const origin = req.headers.origin;
    const preflight = req.method === "OPTIONS" && origin !== undefined && req.headers["access-control-request-method"] !== undefined;
    if (preflight) {
      res.setHeader("vary", "Origin, Access-Control-Request-Method, Access-Control-Request-Headers");
      if (!allowed.has(origin)) {
        res.statusCode = 403;
        res.setHeader("content-length", "0");
        res.end();
        return true;
      }
      res.statusCode = 204;
      res.setHeader("access-control-allow-origin", origin);
      res.setHeader("access-control-allow-methods", allowedMethods);
      res.setHeader("access-control-allow-headers", allowedHeaders);
      res.setHeader("access-control-max-age", String(preflightMaxAgeSeconds));
      res.end();
      return true;
    }
    res.setHeader("vary", "Origin");
    if (origin !== undefined && allowed.has(origin)) {
      res.setHeader("access-control-allow-origin", origin);
      res.setHeader("access-control-expose-headers", exposedHeaders);
    }
    return false;
  };
  return (next) => (req, res, route) => {
    if (!handle(req, res)) next(req, res, route);
  };
}

/**
 * Parses LAUNCHPAD_CORS_ORIGINS: comma-separated origins such as
 * "https://console.example.com,http://localhost:5173". A trailing slash is
 * dropped; paths, wildcards and anything that is not an http(s) origin are
 * refused.
 */
export function parseOrigins(raw: string): string[] {
  return raw
    .split(",")
    .map((entry) => entry.trim())
    .filter(Boolean)
    .map((entry) => {
      let url: URL;
      try {
        url = new URL(entry);
      } catch {
        throw new Error(`expected origins such as https://console.example.com, not "${entry}"`);
      }
      const bare = (url.protocol === "http:" || url.protocol === "https:") && url.pathname === "/" && !url.search && !url.hash && !url.username && !url.password;
      if (!bare || !/^https?:\/\/(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(:\d+)?\/?$/i.test(entry)) {
        throw new Error(`expected origins such as https://console.example.com (scheme, host, port; no path or wildcard), not "${entry}"`);
      }
      return url.origin;
    });
}

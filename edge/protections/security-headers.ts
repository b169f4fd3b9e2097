import type { EdgeRequest, EdgeResponse } from "../http-server.js";
import type { Middleware } from "./middleware.js";

/**
 * The Content-Security-Policy of every response; it matters for the HTML
 * ones (the console, /docs). Scripts, styles, images and fetches from this
 * origin only, no inline script or style, no plugins, no framing. Pages must
 * load their scripts from files: an inline bootstrap script is refused. The
 * console's build inlines nothing (edge/console/vite.config.ts), so it needs
 * no more than this.
 */
export const contentSecurityPolicy = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

/**
 * The policy under /docs: the same, plus what swagger-ui (5.x) needs:
 * inline styles (its standalone layout renders its logo with a `<style>`
 * element and Markdown tables with style attributes, swagger-ui #10655,
 * #3370) and data: images (its stylesheet embeds its icons as data: URLs).
 * Inline script stays refused.
 */
export const docsContentSecurityPolicy = contentSecurityPolicy
  .replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")
  .replace("img-src 'self'", "img-src 'self' data:");

/** HSTS for a year, sent only over TLS (browsers ignore it over plain HTTP anyway). */
export const strictTransportSecurity = "max-age=31536000";

/** Whether the request came over TLS (HTTPS or h2 with ALPN). */
export function isTls(req: EdgeRequest): boolean {
  const socket = req.socket as { encrypted?: boolean } | null;
  return socket?.encrypted === true;
}

/**
 * Sets the security headers on a response before anything writes it:
 * nosniff, no framing, no referrer, the CSP, and HSTS when over TLS.
 */
export function setSecurityHeaders(req: EdgeRequest, res: EdgeResponse, path: string): void {
  res.setHeader("x-content-type-options", "nosniff");
  res.setHeader("x-frame-options", "DENY");
  res.setHeader("referrer-policy", "no-referrer");
  res.setHeader("content-security-policy", path === "/docs" || path.startsWith("/docs/") ? docsContentSecurityPolicy : contentSecurityPolicy);
  if (isTls(req)) res.setHeader("strict-transport-security", strictTransportSecurity);
}

/** Security headers on every answer, set before anything writes it. */
export const securityHeaders: Middleware = (next) => (req, res, route) => {
  setSecurityHeaders(req, res, route.path);
  next(req, res, route);
};

import type { Registry } from "prom-client";
import type { CredentialVerifier } from "../../services/kit/auth/principal.js";
import { settings, type Setting } from "../../services/kit/config.js";
import type { Logger } from "../../services/kit/logger.js";
import type { EdgeHandler, EdgeRequest } from "../http-server.js";
import type { Route } from "../routing/classify.js";
import { corsFor, parseOrigins } from "./cors.js";
import { bodyLimit } from "./limits.js";
import { createHttpMetrics } from "./metrics.js";
import { compose, type Middleware, type RoutedHandler } from "./middleware.js";
import { observing } from "./observe.js";
import { addressCeilingFactor, createRateLimiter, rateLimiting } from "./rate-limit.js";
import { securityHeaders } from "./security-headers.js";

export { maxHeaderBytes } from "./limits.js";

export type { Middleware, RoutedHandler } from "./middleware.js";

/** The settings of the edge's protections, to spread into the edge's settings. */
export const protectionSettings = {
  corsOrigins: {
    env: "LAUNCHPAD_CORS_ORIGINS",
    describe: "Comma-separated origins browsers may call the edge from (exact, e.g. https://console.example.com); empty: none",
    defaultValue: [] as readonly string[],
    defaultText: "",
    parse: parseOrigins,
  } satisfies Setting<readonly string[]>,
  maxBodyBytes: settings.integer(
    "LAUNCHPAD_EDGE_MAX_BODY",
    4 * 1024 * 1024,
    "Largest request body in bytes, as received and once decompressed; larger ones get 413 (RESOURCE_EXHAUSTED)",
    1,
  ),
  rateLimit: settings.integer("LAUNCHPAD_RATE_LIMIT", 600, "Requests a minute per principal (verified access token or API key); 0: unlimited"),
  rateLimitAnonymous: settings.integer(
    "LAUNCHPAD_RATE_LIMIT_ANONYMOUS",
    120,
    "Requests a minute per client address without a verified credential; 0: unlimited",
  ),
  redisUrl: {
    env: "LAUNCHPAD_REDIS_URL",
    describe: "Redis keeping rate-limit budgets shared by every edge (redis:// or rediss://); empty: in memory, per edge",
    defaultValue: "",
    redact: (raw: string) => raw.replace(/^([^:/]*:\/\/)[^@/]*@/, "$1[redacted]@"),
    parse(raw: string) {
      if (!/^rediss?:\/\//.test(raw)) throw new Error("expected a redis:// or rediss:// URL");
      new URL(raw);
      return raw;
    },
  } satisfies Setting<string>,
};

/** The protections' configuration: the values of protectionSettings, plus two knobs without a variable. */
export interface ProtectionConfig {
  corsOrigins: readonly string[];
  maxBodyBytes: number;
  rateLimit: number;
  rateLimitAnonymous: number;
  redisUrl: string;
  /** Requests a minute per client address, all calls together; default `addressCeilingFactor` × rateLimit; 0: unlimited. */
  rateLimitAddress?: number;
  /** Prefix of the Redis keys; default "launchpad:rate:". */
  rateLimitKeyPrefix?: string;
}

/** What the protections report to and ask of the edge. */
export interface ProtectionDeps {
  registry: Registry;
  logger: Logger;
  /** Verifies bearer credentials, so that only verified ones draw on a principal's budget; without it every call is anonymous. */
  verifier?: CredentialVerifier;
  /** The edge's one routing decision (edge/routing/classify.ts), which the metrics, logs, refusals and handler read. */
  classify(req: EdgeRequest): Route;
}

/** The protections, ready to wrap the edge's handler. */
export interface Protections {
  /** The handler with every protection in front of it. */
  wrap(handler: RoutedHandler): EdgeHandler;
  /** Closes the Redis connection, if any. */
  close(): Promise<void>;
}

/**
 * Builds the edge's protections: the chain in front of every handler, in
 * this order, outermost first:
 *
 * 1. observe: request id, then on completion one log line and the metrics,
 *    whoever answered (so 403, 413 and 429 are counted too);
 * 2. security headers on every answer;
 * 3. CORS: preflights answered (204 or 403), CORS headers on the rest;
 * 4. body size: 413 for a body declared over the limit (one without a
 *    declared length is held to it by the handler's body reader while it
 *    arrives: protocol/request-body.ts);
 * 5. rate limits per verified principal or else per client address;
 * 6. the handler, handed the request's routing decision.
 *
 * Rate limits fail open: with LAUNCHPAD_REDIS_URL set and Redis unreachable
 * or slower than 250 ms, requests go through unlimited and a warning is
 * logged (once per outage), so Redis can never take the edge down.
 */
export function createProtections(config: ProtectionConfig, deps: ProtectionDeps): Protections {
  const limiter = createRateLimiter(
    {
      perPrincipal: config.rateLimit,
      perAnonymousAddress: config.rateLimitAnonymous,
      perAddress: config.rateLimitAddress ?? config.rateLimit * addressCeilingFactor,
      redisUrl: config.redisUrl,
      keyPrefix: config.rateLimitKeyPrefix ?? "launchpad:rate:",
    },
    deps.logger,
    deps.verifier,
  );
  const chain: Middleware[] = [
    observing(createHttpMetrics(deps.registry), deps.logger),
    securityHeaders,
    corsFor(config.corsOrigins),
    bodyLimit(config.maxBodyBytes),
    rateLimiting(limiter, deps.logger),
  ];
  return {
    wrap: (handler) => compose(chain, handler, deps.classify),
    close: () => limiter.close(),
  };
}

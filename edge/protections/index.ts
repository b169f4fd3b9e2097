import type { Registry } from "prom-client";
import type { CredentialVerifier } from "../../services/kit/auth/principal.js";
import { settings, type Setting } from "../../services/kit/config.js";
import type { Logger } from "../../services/kit/logger.js";
import type { EdgeHandler, EdgeRequest, EdgeResponse } from "../http-server.js";
import { sendError } from "../protocol/send-error.js";
import type { Protocol, Route } from "../routing/classify.js";
import { createCors, parseOrigins } from "./cors.js";
import { declaresTooLargeBody, endAfterAnswer, ignoreFurtherWrites, watchBodySize } from "./limits.js";
import { createHttpMetrics } from "./metrics.js";
import { assignRequestId, observeExchange } from "./observe.js";
import { addressCeilingFactor, createRateLimiter, unlimitedPaths } from "./rate-limit.js";
import type { Verdict } from "./rate-store.js";
import { bodyTooLarge, rateLimited, type Rejection } from "./rejections.js";
import { setSecurityHeaders } from "./security-headers.js";

export { maxHeaderBytes } from "./limits.js";

/** A handler behind the protections: it is handed the request's routing decision. */
export type RoutedHandler = (req: EdgeRequest, res: EdgeResponse, route: Route) => void;

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
 * Builds the edge's protections. `wrap` puts them in front of a handler, in
 * this order:
 *
 * 1. observe: request id, then on completion one log line and the metrics,
 *    whoever answered (so 403, 413 and 429 are counted too);
 * 2. security headers on every answer;
 * 3. CORS: preflights answered (204 or 403), CORS headers on the rest;
 * 4. body size: 413 at once for a declared length over the limit; bodies
 *    without a declared length are counted and cut off with 413 when they
 *    pass it (each protocol's reader holds decompressed bytes to the same
 *    limit while it inflates);
 * 5. rate limits (not for /healthz, /readyz, /metrics), per verified
 *    principal or else per client address: 429 with Retry-After, or
 *    RESOURCE_EXHAUSTED for gRPC and gRPC-Web;
 * 6. the handler.
 *
 * Rate limits fail open: with LAUNCHPAD_REDIS_URL set and Redis unreachable
 * or slower than 250 ms, requests go through unlimited and a warning is
 * logged (once per outage), so Redis can never take the edge down.
 */
export function createProtections(config: ProtectionConfig, deps: ProtectionDeps): Protections {
  const { logger } = deps;
  const cors = createCors(config.corsOrigins);
  const limiter = createRateLimiter(
    {
      perPrincipal: config.rateLimit,
      perAnonymousAddress: config.rateLimitAnonymous,
      perAddress: config.rateLimitAddress ?? config.rateLimit * addressCeilingFactor,
      redisUrl: config.redisUrl,
      keyPrefix: config.rateLimitKeyPrefix ?? "launchpad:rate:",
    },
    logger,
    deps.verifier,
  );
  const metrics = createHttpMetrics(deps.registry);
  const tooLarge = bodyTooLarge(config.maxBodyBytes);

  /** Answers (unless the handler already has) before the body was read: the connection or stream ends with the answer. */
  const refuseUnread = (req: EdgeRequest, res: EdgeResponse, protocol: Protocol, rejection: Rejection) => {
    if (!res.writableEnded) sendError(req, res, protocol, rejection, "stream" in req ? {} : { connection: "close" });
    endAfterAnswer(req, res);
  };

  return {
    wrap(handler) {
      /** Runs the handler once the rate limits have answered, unless the exchange ended meanwhile. */
      const proceed = (req: EdgeRequest, res: EdgeResponse, route: Route, verdict: Verdict) => {
        // Answered meanwhile (a body over the limit), or the client left.
        if (res.writableEnded || req.destroyed) return;
        if (!verdict.allowed) {
          sendError(req, res, route.protocol, rateLimited(Math.max(1, Math.ceil(verdict.retryAfterMs / 1000))));
          // HTTP/2: the stream ends with the answer, or it would hold one of its connection's streams until the client ends it.
          if ("stream" in req) endAfterAnswer(req, res);
          return;
        }
        handler(req, res, route);
      };
      return (req, res) => {
        const route = deps.classify(req);
        const { path, protocol } = route;
        observeExchange(req, res, route, req.socket?.remoteAddress ?? "unknown", assignRequestId(req, res), metrics, logger);

        setSecurityHeaders(req, res, path);

        if (cors.handle(req, res)) return;

        if (declaresTooLargeBody(req, config.maxBodyBytes)) return refuseUnread(req, res, protocol, tooLarge);
        watchBodySize(req, config.maxBodyBytes, () => {
          // Headers already out (the gRPC relay): gRPC ends with the status in trailers, the rest are cut off.
          refuseUnread(req, res, protocol, tooLarge);
          ignoreFurtherWrites(res);
        });

        if (unlimitedPaths.has(path)) return handler(req, res, route);
        const verdict = limiter.check(req);
        if (!(verdict instanceof Promise)) return proceed(req, res, route, verdict);
        verdict
          .then((answered) => proceed(req, res, route, answered))
          .catch((error: unknown) => {
            logger.error({ err: error, route: route.label }, "request failed in the edge's protections");
            if (!res.headersSent) {
              res.statusCode = 500;
              res.end();
            }
          });
      };
    },
    close: () => limiter.close(),
  };
}

import type { CredentialVerifier } from "../../services/kit/auth/principal.js";
import type { Logger } from "../../services/kit/logger.js";
import type { EdgeRequest, EdgeResponse } from "../http-server.js";
import { sendError } from "../protocol/send-error.js";
import type { Route } from "../routing/classify.js";
import { bearerCredential, clientAddressOf, createCallerVerifier, type CallerVerifier, type Credential } from "./caller.js";
import { createMemoryRateStore, type Budget, type Verdict } from "./rate-store.js";
import { createRedisRateStore } from "./redis-rate-store.js";
import { endAfterAnswer } from "./limits.js";
import type { Middleware } from "./middleware.js";
import { rateLimited } from "./rejections.js";

/** Paths never rate limited: probes and the metrics scrape must answer however busy the edge is. */
export const unlimitedPaths: ReadonlySet<string> = new Set(["/healthz", "/readyz", "/metrics"]);

/** Without a configured ceiling, one address may make this many times the per-principal budget. */
export const addressCeilingFactor = 10;

/** How the rate limiter is configured. */
export interface RateLimitOptions {
  /** Requests a minute per verified principal; 0 turns the principal budget off. */
  perPrincipal: number;
  /** Requests a minute per client address for calls without a verified credential; 0 turns it off. */
  perAnonymousAddress: number;
  /** Requests a minute per client address, all calls together; 0 turns it off. */
  perAddress: number;
  /** Redis URL; empty keeps budgets in this process's memory. */
  redisUrl: string;
  /** Prefix of the Redis keys. */
  keyPrefix: string;
}

const allowed: Verdict = { allowed: true, retryAfterMs: 0 };

/**
 * Per-caller budgets. Only a verified credential names a principal's budget
 * (its user, "users/…", whichever token or key it used); every other request,
 * with no credential or one that does not verify (junk, forged, expired,
 * revoked, unknown), draws on its address's anonymous budget. Both also draw
 * on the address's overall ceiling. The budgets are separate: a principal
 * that spent its own leaves anonymous calls from the same address alone, and
 * the other way round, so no one can spend another's budget.
 *
 * Verifying must not become a cheap way to load the users service: a junk
 * access token fails its signature check locally, but an API key not seen
 * verified before is charged to the anonymous budget, and looked up (in the
 * background, for the requests after it) only when that charge is allowed.
 */
export function createRateLimiter(options: RateLimitOptions, logger: Logger, verifier?: CredentialVerifier) {
  const store = options.redisUrl
    ? createRedisRateStore(options.redisUrl, options.keyPrefix, logger)
    : createMemoryRateStore();
  const callers = verifier ? createCallerVerifier(verifier) : undefined;

  const unlimited = options.perPrincipal <= 0 && options.perAnonymousAddress <= 0 && options.perAddress <= 0;

  const take = (budgets: Budget[]) => (budgets.length === 0 ? allowed : store.take(budgets));

  return {
    /** Draws one request from the caller's budgets; resolves synchronously for anonymous callers when budgets are in memory. */
    check(req: EdgeRequest): Verdict | Promise<Verdict> {
      // With every budget off there is nothing to draw on, so no caller to read.
      if (unlimited) return allowed;
      const address = clientAddressOf(req);
      const ceiling: Budget[] = options.perAddress > 0 ? [{ key: `c:${address}`, perMinute: options.perAddress }] : [];
      const anonymous: Budget[] =
        options.perAnonymousAddress > 0 ? [{ key: `a:${address}`, perMinute: options.perAnonymousAddress }, ...ceiling] : ceiling;
      const credential = bearerCredential(req.headers.authorization);
      if (!credential || !callers) return take(anonymous);
      if (!callers.isCheap(credential)) return takeThenLearn(anonymous, credential, callers);
      return callers.principalOf(credential).then((principal) =>
        principal === undefined
          ? take(anonymous)
          : take(options.perPrincipal > 0 ? [{ key: `p:${principal}`, perMinute: options.perPrincipal }, ...ceiling] : ceiling),
      );
    },
    close: () => store.close(),
  };

  /** Charges an unknown API key as anonymous; when allowed, verifies it so the caller's next requests draw on its principal. */
  async function takeThenLearn(anonymous: Budget[], credential: Credential, callers: CallerVerifier): Promise<Verdict> {
    const verdict = await take(anonymous);
    if (verdict.allowed) void callers.principalOf(credential);
    return verdict;
  }
}

/**
 * Rate limits (not for /healthz, /readyz, /metrics), per verified principal
 * or else per client address: 429 with Retry-After, or RESOURCE_EXHAUSTED
 * in the caller's protocol. The request goes on once its verdict is in,
 * unless the exchange ended meanwhile.
 */
export function rateLimiting(limiter: ReturnType<typeof createRateLimiter>, logger: Logger): Middleware {
  return (next) => {
    const proceed = (req: EdgeRequest, res: EdgeResponse, route: Route, verdict: Verdict) => {
      // Answered meanwhile, or the client left.
      if (res.writableEnded || req.destroyed) return;
      if (!verdict.allowed) {
        sendError(req, res, route.protocol, rateLimited(Math.max(1, Math.ceil(verdict.retryAfterMs / 1000))));
        // HTTP/2: the stream ends with the answer, or it would hold one of its connection's streams until the client ends it.
        if ("stream" in req) endAfterAnswer(req, res);
        return;
      }
      next(req, res, route);
    };
    return (req, res, route) => {
      if (unlimitedPaths.has(route.path)) return next(req, res, route);
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
  };
}

import type { Logger } from "../../services/kit/logger.js";
import type { EdgeRequest } from "../http-server.js";
import { claimedPrincipal, clientAddressOf } from "./caller.js";
import { createMemoryRateStore, type Budget, type Verdict } from "./rate-store.js";
import { createRedisRateStore } from "./redis-rate-store.js";

/** Paths never rate limited: probes and the metrics scrape must answer however busy the edge is. */
export const unlimitedPaths: ReadonlySet<string> = new Set(["/healthz", "/readyz", "/metrics"]);

/** Without a configured ceiling, one address may make this many times the per-principal budget. */
export const addressCeilingFactor = 10;

/** How the rate limiter is configured. */
export interface RateLimitOptions {
  /** Requests a minute per principal; 0 turns the principal budget off. */
  perPrincipal: number;
  /** Requests a minute per client address for anonymous calls; 0 turns it off. */
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
 * Per-caller budgets. A request with a bearer credential draws on its
 * principal's budget ("key:<id>" or "sub:<sub>", see claimedPrincipal); an
 * anonymous one (or one whose credential cannot be read) on its address's
 * anonymous budget. Both also draw on the address's overall ceiling, which
 * bounds a client that invents principals. The budgets are separate: a
 * principal that spent its own leaves anonymous calls from the same address
 * alone, and the other way round.
 */
export function createRateLimiter(options: RateLimitOptions, logger: Logger) {
  const store = options.redisUrl
    ? createRedisRateStore(options.redisUrl, options.keyPrefix, logger)
    : createMemoryRateStore();

  const unlimited = options.perPrincipal <= 0 && options.perAnonymousAddress <= 0 && options.perAddress <= 0;

  return {
    /** Draws one request from the caller's budgets; resolves synchronously when budgets are in memory. */
    check(req: EdgeRequest): Verdict | Promise<Verdict> {
      // With every budget off there is nothing to draw on, so no caller to read.
      if (unlimited) return allowed;
      const address = clientAddressOf(req);
      const principal = claimedPrincipal(req.headers.authorization);
      const budgets: Budget[] = [];
      if (principal !== undefined) {
        if (options.perPrincipal > 0) budgets.push({ key: `p:${principal}`, perMinute: options.perPrincipal });
      } else if (options.perAnonymousAddress > 0) {
        budgets.push({ key: `a:${address}`, perMinute: options.perAnonymousAddress });
      }
      if (options.perAddress > 0) budgets.push({ key: `c:${address}`, perMinute: options.perAddress });
      return budgets.length === 0 ? allowed : store.take(budgets);
    },
    close: () => store.close(),
  };
}

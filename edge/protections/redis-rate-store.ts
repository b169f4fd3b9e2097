import { Redis } from "ioredis";
import type { Logger } from "../../services/kit/logger.js";
import { windowMs, type RateStore } from "./rate-store.js";

/** How long a rate-limit check may wait for Redis before the request goes on unlimited. */
export const redisCommandTimeoutMs = 250;

/**
 * GCRA over every key at once, atomically, on Redis's clock (so edges with
 * skewed clocks share one budget). KEYS: the budgets; ARGV[i]: requests per
 * window for KEYS[i]; ARGV[#KEYS+1]: the window in ms. Returns {1, 0} and
 * draws from every budget, or {0, wait ms} and draws from none.
 */
const takeScript = `
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + tonumber(time[2]) / 1000
local window = tonumber(ARGV[#KEYS + 1])
local wait = 0
local next = {}
for i, key in ipairs(KEYS) do
  local tat = math.max(tonumber(redis.call('GET', key) or 0), now) + window / tonumber(ARGV[i])
  wait = math.max(wait, tat - window - now)
  next[i] = tat
end
if wait > 0 then
  return {0, math.ceil(wait)}
end
for i, key in ipairs(KEYS) do
  redis.call('SET', key, string.format('%.3f', next[i]), 'PX', math.max(1, math.ceil(next[i] - now)))
end
return {1, 0}
`;

interface TakeCommand {
  rateLimitTake(numberOfKeys: number, ...keysAndArgs: (string | number)[]): Promise<[number, number]>;
}

/**
 * Budgets in Redis, shared by every edge using the same Redis and key
 * prefix. Redis failing never fails a request: while it is unreachable or
 * slower than `redisCommandTimeoutMs`, requests are let through unlimited
 * (fail open) and one warning says so; one info line says when limits are
 * enforced again. Commands are never queued while disconnected: only while a
 * connection is being made (at start) does a check wait, and no longer than
 * the command timeout.
 */
export function createRedisRateStore(url: string, keyPrefix: string, logger: Logger): RateStore {
  const redis = new Redis(url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: redisCommandTimeoutMs,
    connectTimeout: 2_000,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2_000),
  });
  redis.defineCommand("rateLimitTake", { lua: takeScript });
  const commands = redis as unknown as TakeCommand;
  let failing = false;

  const failed = (error: unknown) => {
    if (failing) return;
    failing = true;
    const reason = error instanceof Error ? error.message : String(error);
    logger.warn({ reason }, "rate limits not enforced: Redis is unreachable; letting requests through until it answers");
  };
  // ioredis reports every failed reconnect here; without a listener it prints them itself.
  redis.on("error", failed);

  /** Waits (at most the command timeout) while a connection attempt is under way, e.g. right after start. */
  const connected = () =>
    new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        redis.off("ready", done);
        resolve();
      };
      const timer = setTimeout(done, redisCommandTimeoutMs);
      redis.once("ready", done);
    });

  return {
    async take(budgets) {
      if (redis.status === "connecting" || redis.status === "connect") await connected();
      try {
        const keys = budgets.map((budget) => keyPrefix + budget.key);
        const [allowed, waitMs] = await commands.rateLimitTake(keys.length, ...keys, ...budgets.map((b) => b.perMinute), windowMs);
        if (failing) {
          failing = false;
          logger.info("rate limits enforced again: Redis answers");
        }
        return { allowed: allowed === 1, retryAfterMs: waitMs };
      } catch (error) {
        failed(error);
        return { allowed: true, retryAfterMs: 0 };
      }
    },
    async close() {
      if (redis.status === "ready") {
        try {
          await redis.quit();
          return;
        } catch {
          // Fall through to a hard disconnect.
        }
      }
      redis.disconnect();
    },
  };
}

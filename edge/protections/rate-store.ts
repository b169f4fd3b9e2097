/** One budget a request draws on: `perMinute` requests a minute under `key`, in bursts of up to as many. */
export interface Budget {
  key: string;
  perMinute: number;
}

/** Whether a request may go on, and if not, how long until it could. */
export interface Verdict {
  allowed: boolean;
  retryAfterMs: number;
}

/** Where budgets are kept: this process's memory, or Redis shared by every edge. */
export interface RateStore {
  /** Draws one request from every budget, or from none when any is spent. */
  take(budgets: readonly Budget[]): Verdict | Promise<Verdict>;
  close(): Promise<void>;
}

/** The window budgets are counted over. */
export const windowMs = 60_000;

/**
 * Budgets in this process's memory, with GCRA (the generic cell rate
 * algorithm, a token bucket kept as one timestamp per key): a budget of N a
 * minute allows a burst of N, then one request every 60/N seconds. Keys whose
 * budget is whole again are swept once a minute.
 */
export function createMemoryRateStore(now: () => number = Date.now): RateStore {
  /** Per key, the "theoretical arrival time": when its bucket is full again. */
  const tats = new Map<string, number>();
  const sweeper = setInterval(() => {
    const time = now();
    for (const [key, tat] of tats) if (tat <= time) tats.delete(key);
  }, windowMs).unref();

  return {
    take(budgets) {
      const time = now();
      let waitMs = 0;
      const next: number[] = [];
      for (const { key, perMinute } of budgets) {
        const tat = Math.max(tats.get(key) ?? 0, time) + windowMs / perMinute;
        waitMs = Math.max(waitMs, tat - windowMs - time);
        next.push(tat);
      }
      if (waitMs > 0) return { allowed: false, retryAfterMs: Math.ceil(waitMs) };
      budgets.forEach(({ key }, i) => tats.set(key, next[i]!));
      return { allowed: true, retryAfterMs: 0 };
    },
    async close() {
      clearInterval(sweeper);
      tats.clear();
    },
  };
}

import { setTimeout as sleep } from "node:timers/promises";
import { DomainError } from "../kit/errors.js";
import type { UserStore } from "./store/types.js";

/** When failed sign-ins are slowed and refused, per account and per address. */
export interface ThrottlePolicy {
  windowMs: number;
  /** Failures per account (email) before answers are slowed, and before they are refused. */
  account: { slowAfter: number; refuseAfter: number };
  /** Failures per client address, likewise; higher, since addresses are shared. */
  address: { slowAfter: number; refuseAfter: number };
  /** The first delay once slowed; it doubles with each failure, up to 8×. */
  baseDelayMs: number;
}

/** Defaults: 15-minute windows; an account is slowed after 5 failures and refused after 10. */
export const defaultThrottlePolicy: ThrottlePolicy = {
  windowMs: 15 * 60_000,
  account: { slowAfter: 5, refuseAfter: 10 },
  address: { slowAfter: 20, refuseAfter: 50 },
  baseDelayMs: 500,
};

/**
 * Slows, then refuses, repeated failed sign-ins. Counts are kept in the
 * database so every replica sees them, and are kept for any email, known or
 * not, so the answers never reveal whether an account exists.
 */
export function createLoginThrottle(store: UserStore, policy: ThrottlePolicy) {
  const keysOf = (email: string, address: string) => ({ account: `email:${email}`, address: `address:${address}` });

  return {
    /** Waits or refuses according to earlier failures; call before checking the password. */
    async admit(email: string, address: string, now: Date): Promise<void> {
      const keys = keysOf(email, address);
      const records = await store.getLoginFailures([keys.account, keys.address]);
      let delay = 0;
      for (const record of records) {
        if (record.windowStart.getTime() + policy.windowMs <= now.getTime()) continue;
        const limits = record.key === keys.account ? policy.account : policy.address;
        if (record.failures >= limits.refuseAfter) {
          const retryAfterSeconds = Math.ceil((record.windowStart.getTime() + policy.windowMs - now.getTime()) / 1000);
          throw new DomainError("resource-exhausted", "TOO_MANY_SIGN_IN_ATTEMPTS", "too many failed sign-ins; try again later", {
            retryAfterSeconds,
          });
        }
        if (record.failures >= limits.slowAfter) {
          const step = Math.min(record.failures - limits.slowAfter, 3);
          delay = Math.max(delay, policy.baseDelayMs * 2 ** step);
        }
      }
      if (delay > 0) await sleep(delay);
    },
    async failed(email: string, address: string, now: Date): Promise<void> {
      const keys = keysOf(email, address);
      await store.recordLoginFailure([keys.account, keys.address], now, policy.windowMs);
    },
    async succeeded(email: string, address: string): Promise<void> {
      await store.clearLoginFailures([keysOf(email, address).account]);
    },
  };
}

/** The sign-in throttle of the users service. */
export type LoginThrottle = ReturnType<typeof createLoginThrottle>;

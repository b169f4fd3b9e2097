import { createHash } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { DomainError } from "../kit/errors.js";
import type { UserStore } from "./store/types.js";

/** When password checks are slowed and refused, per account and per address. */
export interface ThrottlePolicy {
  windowMs: number;
  /** Failed checks per account (email) before answers are slowed, and the most checked in a window. */
  account: { slowAfter: number; refuseAfter: number };
  /** Failed checks per client address, likewise; higher, since addresses are shared. */
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

/** How often, at most, one process deletes counters whose window has passed, and how many at a time. */
const pruneEveryMs = 60_000;
const pruneBatch = 1000;

/** What a password check is counted against: the account's email (as stored) and the client's address. */
export interface ThrottleSubject {
  email: string;
  address: string;
}

/** The stored key of a counter: a hash, so no email or address is kept and every key is short. */
function keyOf(kind: "email" | "address", value: string): string {
  return createHash("sha256").update(`${kind}:${value}`).digest("base64url");
}

/**
 * Limits password checks (sign-ins, and ChangePassword's current password).
 * Each check is reserved before the password is hashed, with one atomic
 * increment per key in the database, so concurrent attempts — on one replica
 * or many — can never check more than the limit. Counts are kept for any
 * email, known or not, so the answers never reveal whether an account exists.
 */
export function createLoginThrottle(store: UserStore, policy: ThrottlePolicy) {
  let lastPrune = Number.NEGATIVE_INFINITY;

  /** Deletes counters whose window has passed; bounded, and at most once a minute per process. */
  async function prune(now: Date): Promise<void> {
    if (now.getTime() - lastPrune < pruneEveryMs) return;
    lastPrune = now.getTime();
    await store.pruneLoginAttempts(new Date(now.getTime() - policy.windowMs), pruneBatch);
  }

  return {
    /**
     * Reserves one password check, or refuses it with RESOURCE_EXHAUSTED
     * TOO_MANY_SIGN_IN_ATTEMPTS and a RetryInfo; slows it once earlier ones
     * failed. Call before checking the password: a reservation counts as a
     * failure unless `succeeded` follows.
     */
    async admit(subject: ThrottleSubject, now: Date): Promise<void> {
      await prune(now);
      const account = keyOf("email", subject.email);
      const counts = await store.reserveLoginAttempt([account, keyOf("address", subject.address)], now, policy.windowMs);
      let delay = 0;
      for (const count of counts) {
        const limits = count.key === account ? policy.account : policy.address;
        if (count.attempts > limits.refuseAfter) {
          const retryAfterSeconds = Math.max(1, Math.ceil((count.windowStart.getTime() + policy.windowMs - now.getTime()) / 1000));
          throw new DomainError("resource-exhausted", "TOO_MANY_SIGN_IN_ATTEMPTS", "too many failed sign-ins; try again later", {
            retryAfterSeconds,
          });
        }
        // attempts - 1 checks came before this one.
        if (count.attempts - 1 >= limits.slowAfter) {
          const step = Math.min(count.attempts - 1 - limits.slowAfter, 3);
          delay = Math.max(delay, policy.baseDelayMs * 2 ** step);
        }
      }
      if (delay > 0) await sleep(delay);
    },

    /** The admitted check succeeded: the account starts afresh, and the address gets its reservation back. */
    async succeeded(subject: ThrottleSubject): Promise<void> {
      await store.releaseLoginAttempt(keyOf("email", subject.email), keyOf("address", subject.address));
    },
  };
}

/** The sign-in throttle of the users service. */
export type LoginThrottle = ReturnType<typeof createLoginThrottle>;

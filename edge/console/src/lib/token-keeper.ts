/** An access token and when it stops working. */
export interface AccessGrant {
  accessToken: string;
  /** Milliseconds since the epoch. */
  expiresAt: number;
}

/** What a token keeper needs from the outside world, so tests can drive it. */
export interface TokenKeeperDeps {
  /** Exchanges the sign-in's refresh token (kept by the browser as an HttpOnly cookie); undefined when the sign-in is over. */
  refresh(): Promise<AccessGrant | undefined>;
  /** Called once when the sign-in ended (refresh refused, or sign-out). */
  onSignedOut(): void;
  now?: () => number;
  setTimer?: (callback: () => void, ms: number) => () => void;
  /**
   * Runs a refresh while no other tab runs one. Refresh tokens rotate and
   * reusing one revokes the sign-in, so two tabs must never refresh at once.
   */
  exclusive?: <T>(work: () => Promise<T>) => Promise<T>;
}

/** Refresh this long before expiry (or at 80% of a shorter lifetime). */
const refreshLeadMs = 60_000;
/** A token this close to expiry is refreshed before it is used. */
const staleWithinMs = 5_000;
/** After a failed refresh that did not end the sign-in (a network error), try again after this. */
const retryAfterMs = 5_000;

/** How long to wait before refreshing a grant that expires at `expiresAt`. */
export function refreshDelay(expiresAt: number, now: number): number {
  const lifetime = expiresAt - now;
  return Math.max(0, lifetime - Math.min(refreshLeadMs, lifetime / 5));
}

function defaultTimer(callback: () => void, ms: number): () => void {
  const handle = setTimeout(callback, ms);
  return () => clearTimeout(handle);
}

/**
 * Keeps the console's access token fresh: refreshed on a timer before it
 * expires, and on demand when it is about to expire. Refreshes are
 * single-flight; the token lives only in memory.
 */
export function createTokenKeeper(deps: TokenKeeperDeps) {
  const now = deps.now ?? Date.now;
  const setTimer = deps.setTimer ?? defaultTimer;
  const exclusive = deps.exclusive ?? ((work) => work());
  let grant: AccessGrant | undefined;
  let cancelTimer: (() => void) | undefined;
  let inFlight: Promise<AccessGrant | undefined> | undefined;
  let generation = 0;

  function schedule(ms: number) {
    cancelTimer?.();
    cancelTimer = setTimer(() => void refreshNow().catch(() => {}), ms);
  }

  function accept(next: AccessGrant | undefined): AccessGrant | undefined {
    if (!next) {
      const wasSignedIn = grant !== undefined;
      clear();
      if (wasSignedIn) deps.onSignedOut();
      return undefined;
    }
    grant = next;
    schedule(refreshDelay(next.expiresAt, now()));
    return next;
  }

  function refreshNow(): Promise<AccessGrant | undefined> {
    const started = generation;
    inFlight ??= exclusive(deps.refresh)
      // A refresh that ends after clear() (a sign-out) must not bring the sign-in back.
      .then((next) => (started === generation ? accept(next) : undefined), (error: unknown) => {
        // The sign-in may still be good (the network failed): keep the token while it lasts.
        if (grant && grant.expiresAt > now()) schedule(retryAfterMs);
        throw error;
      })
      .finally(() => (inFlight = undefined));
    return inFlight;
  }

  function clear() {
    generation += 1;
    cancelTimer?.();
    cancelTimer = undefined;
    grant = undefined;
  }

  return {
    /** Starts keeping a grant fresh, from a sign-in. */
    set: accept,
    /** Tries to resume a sign-in (after a reload); the grant, or undefined when there is none. */
    resume: refreshNow,
    /** A token that is good for at least a few seconds, refreshing first if needed; undefined when signed out. */
    async token(): Promise<string | undefined> {
      if (grant && grant.expiresAt - now() > staleWithinMs) return grant.accessToken;
      if (!grant && !inFlight) return undefined;
      return (await refreshNow())?.accessToken;
    },
    /** Forgets the grant without calling onSignedOut (the caller is signing out). */
    clear,
  };
}

/** The keeper's interface. */
export type TokenKeeper = ReturnType<typeof createTokenKeeper>;

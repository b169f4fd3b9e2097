import { describe, expect, it, vi } from "vitest";
import { createTokenKeeper, refreshDelay, type AccessGrant, type TokenKeeperDeps } from "../../edge/console/src/lib/token-keeper.js";

const second = 1_000;
const minute = 60 * second;
const t0 = Date.UTC(2026, 0, 31, 12, 0, 0);

/** A promise the test settles by hand. */
function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

interface Timer {
  ms: number;
  callback: () => void;
  cancelled: boolean;
  fired: boolean;
}

/**
 * A keeper on a hand-driven clock: `clock` is now, timers only fire when
 * the test fires them, and each refresh waits for the test to answer it.
 */
function keeperHarness(deps: Partial<TokenKeeperDeps> = {}) {
  const state = { clock: t0 };
  const timers: Timer[] = [];
  const answers: ReturnType<typeof deferred<AccessGrant | undefined>>[] = [];
  const refresh = vi.fn(() => {
    const answer = deferred<AccessGrant | undefined>();
    answers.push(answer);
    return answer.promise;
  });
  const onSignedOut = vi.fn();
  const keeper = createTokenKeeper({
    refresh,
    onSignedOut,
    now: () => state.clock,
    setTimer(callback, ms) {
      const timer: Timer = { ms, callback, cancelled: false, fired: false };
      timers.push(timer);
      return () => void (timer.cancelled = true);
    },
    ...deps,
  });
  /** Timers set and neither cancelled nor fired. */
  const pending = () => timers.filter((timer) => !timer.cancelled && !timer.fired);
  return {
    keeper,
    refresh,
    onSignedOut,
    state,
    timers,
    pending,
    /** The answer to refresh call `n` (0-based). */
    answer: (n: number) => answers[n]!,
    /** Fires the one pending timer, as if its time had come. */
    fire() {
      const due = pending();
      expect(due).toHaveLength(1);
      due[0]!.fired = true;
      state.clock += due[0]!.ms;
      due[0]!.callback();
    },
  };
}

/** Lets every queued promise reaction run. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

/** A grant for `token` that expires `lifetime` ms after `now`. */
const grant = (token: string, now: number, lifetime = 15 * minute): AccessGrant => ({ accessToken: token, expiresAt: now + lifetime });

describe("refreshDelay", () => {
  it("refreshes a long-lived token one minute before it expires", () => {
    expect(refreshDelay(t0 + 15 * minute, t0)).toBe(14 * minute);
    expect(refreshDelay(t0 + 60 * minute, t0)).toBe(59 * minute);
  });

  it("refreshes a token living five minutes or less at 80% of its lifetime", () => {
    expect(refreshDelay(t0 + 5 * minute, t0)).toBe(4 * minute);
    expect(refreshDelay(t0 + 100 * second, t0)).toBe(80 * second);
    expect(refreshDelay(t0 + 10 * second, t0)).toBe(8 * second);
  });

  it("depends only on the time left, not on the clock", () => {
    expect(refreshDelay(7 * minute, 2 * minute)).toBe(refreshDelay(t0 + 5 * minute, t0));
  });

  it("refreshes at once a token that has expired or expires now", () => {
    expect(refreshDelay(t0, t0)).toBe(0);
    expect(refreshDelay(t0 - minute, t0)).toBe(0);
  });
});

describe("createTokenKeeper", () => {
  describe("scheduled refresh", () => {
    it("schedules a refresh at refreshDelay of a grant it is given", () => {
      const { keeper, refresh, pending, state } = keeperHarness();
      const first = grant("a", state.clock);
      expect(keeper.set(first)).toBe(first);
      expect(pending().map((timer) => timer.ms)).toEqual([refreshDelay(first.expiresAt, state.clock)]);
      expect(pending()[0]!.ms).toBe(14 * minute);
      expect(refresh).not.toHaveBeenCalled();
    });

    it("replaces the token when the timer fires, and schedules the next refresh from the new grant", async () => {
      const { keeper, refresh, answer, fire, pending, state } = keeperHarness();
      keeper.set(grant("a", state.clock));
      fire();
      expect(refresh).toHaveBeenCalledTimes(1);
      const next = grant("b", state.clock, 10 * minute);
      answer(0).resolve(next);
      await settle();
      expect(await keeper.token()).toBe("b");
      expect(pending().map((timer) => timer.ms)).toEqual([9 * minute]);
      expect(refresh).toHaveBeenCalledTimes(1);
    });

    it("keeps one timer: a new grant cancels the previous grant's timer", () => {
      const { keeper, timers, pending, state } = keeperHarness();
      keeper.set(grant("a", state.clock));
      keeper.set(grant("b", state.clock, 30 * minute));
      expect(timers[0]!.cancelled).toBe(true);
      expect(pending().map((timer) => timer.ms)).toEqual([29 * minute]);
    });
  });

  describe("token()", () => {
    it("is undefined before any sign-in, without trying to refresh", async () => {
      const { keeper, refresh } = keeperHarness();
      expect(await keeper.token()).toBeUndefined();
      expect(refresh).not.toHaveBeenCalled();
    });

    it("returns the token as it is while it is good for more than five seconds", async () => {
      const { keeper, refresh, state } = keeperHarness();
      const current = grant("a", state.clock);
      keeper.set(current);
      state.clock = current.expiresAt - 5 * second - 1;
      expect(await keeper.token()).toBe("a");
      expect(refresh).not.toHaveBeenCalled();
    });

    it("refreshes first when the token has five seconds or less left", async () => {
      const { keeper, refresh, answer, state } = keeperHarness();
      const current = grant("a", state.clock);
      keeper.set(current);
      state.clock = current.expiresAt - 5 * second;
      const token = keeper.token();
      expect(refresh).toHaveBeenCalledTimes(1);
      answer(0).resolve(grant("b", state.clock));
      expect(await token).toBe("b");
    });

    it("refreshes first when the token has expired", async () => {
      const { keeper, refresh, answer, state } = keeperHarness();
      keeper.set(grant("a", state.clock));
      state.clock += 20 * minute;
      const token = keeper.token();
      answer(0).resolve(grant("b", state.clock));
      expect(await token).toBe("b");
      expect(refresh).toHaveBeenCalledTimes(1);
    });

    it("refreshes once for any number of concurrent calls on a stale token", async () => {
      const { keeper, refresh, answer, state } = keeperHarness();
      const current = grant("a", state.clock);
      keeper.set(current);
      state.clock = current.expiresAt - second;
      const tokens = Promise.all([keeper.token(), keeper.token(), keeper.token()]);
      expect(refresh).toHaveBeenCalledTimes(1);
      answer(0).resolve(grant("b", state.clock));
      expect(await tokens).toEqual(["b", "b", "b"]);
      expect(refresh).toHaveBeenCalledTimes(1);
    });

    it("shares the timer's refresh when one is already running", async () => {
      const { keeper, refresh, answer, fire, state } = keeperHarness();
      const current = grant("a", state.clock);
      keeper.set(current);
      fire();
      state.clock = current.expiresAt - second;
      const token = keeper.token();
      expect(refresh).toHaveBeenCalledTimes(1);
      answer(0).resolve(grant("b", state.clock));
      expect(await token).toBe("b");
    });

    it("starts a new refresh once the previous one has finished", async () => {
      const { keeper, refresh, answer, state } = keeperHarness();
      keeper.set(grant("a", state.clock, 10 * second));
      state.clock += 6 * second;
      const first = keeper.token();
      answer(0).resolve(grant("b", state.clock, 10 * second));
      expect(await first).toBe("b");
      state.clock += 6 * second;
      const later = keeper.token();
      expect(refresh).toHaveBeenCalledTimes(2);
      answer(1).resolve(grant("c", state.clock));
      expect(await later).toBe("c");
    });

    it("waits for a sign-in being resumed", async () => {
      const { keeper, answer, state } = keeperHarness();
      const resumed = keeper.resume();
      const token = keeper.token();
      answer(0).resolve(grant("a", state.clock));
      expect(await token).toBe("a");
      expect(await resumed).toEqual(grant("a", state.clock));
    });
  });

  describe("when a refresh fails (a network error)", () => {
    it("keeps a token that is still valid and tries again five seconds later", async () => {
      const { keeper, refresh, answer, fire, pending, state } = keeperHarness();
      keeper.set(grant("a", state.clock));
      fire();
      answer(0).reject(new Error("network down"));
      await settle();
      expect(await keeper.token()).toBe("a");
      expect(pending().map((timer) => timer.ms)).toEqual([5 * second]);
      fire();
      expect(refresh).toHaveBeenCalledTimes(2);
      answer(1).resolve(grant("b", state.clock));
      await settle();
      expect(await keeper.token()).toBe("b");
    });

    it("rejects a token() call that had to refresh, with the refresh's error, and keeps the token", async () => {
      const { keeper, refresh, answer, pending, state } = keeperHarness();
      const current = grant("a", state.clock);
      keeper.set(current);
      state.clock = current.expiresAt - 2 * second;
      const failure = new Error("network down");
      const token = keeper.token();
      answer(0).reject(failure);
      await expect(token).rejects.toBe(failure);
      expect(pending().map((timer) => timer.ms)).toEqual([5 * second]);
      state.clock = current.expiresAt - 6 * second;
      expect(await keeper.token()).toBe("a");
      expect(refresh).toHaveBeenCalledTimes(1);
    });

    it("schedules no retry once the token has expired; the next token() tries again", async () => {
      const { keeper, refresh, answer, fire, pending, state } = keeperHarness();
      const current = grant("a", state.clock);
      keeper.set(current);
      fire();
      state.clock = current.expiresAt + second;
      answer(0).reject(new Error("network down"));
      await settle();
      expect(pending()).toEqual([]);
      const again = keeper.token();
      expect(refresh).toHaveBeenCalledTimes(2);
      answer(1).resolve(grant("b", state.clock));
      expect(await again).toBe("b");
    });

    it("does not sign out", async () => {
      const { keeper, answer, fire, onSignedOut, state } = keeperHarness();
      keeper.set(grant("a", state.clock));
      fire();
      answer(0).reject(new Error("network down"));
      await settle();
      expect(onSignedOut).not.toHaveBeenCalled();
    });
  });

  describe("when a refresh says the sign-in is over (undefined)", () => {
    it("signs out exactly once, however many calls were waiting for it", async () => {
      const { keeper, refresh, answer, onSignedOut, state } = keeperHarness();
      const current = grant("a", state.clock);
      keeper.set(current);
      state.clock = current.expiresAt - second;
      const tokens = Promise.all([keeper.token(), keeper.token()]);
      answer(0).resolve(undefined);
      expect(await tokens).toEqual([undefined, undefined]);
      expect(await keeper.token()).toBeUndefined();
      const resumed = keeper.resume();
      answer(1).resolve(undefined);
      expect(await resumed).toBeUndefined();
      expect(onSignedOut).toHaveBeenCalledTimes(1);
      expect(refresh).toHaveBeenCalledTimes(2);
    });

    it("forgets the token and stops the timer when the timer's refresh is refused", async () => {
      const { keeper, refresh, answer, fire, onSignedOut, pending, state } = keeperHarness();
      keeper.set(grant("a", state.clock));
      fire();
      answer(0).resolve(undefined);
      await settle();
      expect(onSignedOut).toHaveBeenCalledTimes(1);
      expect(pending()).toEqual([]);
      expect(await keeper.token()).toBeUndefined();
      expect(refresh).toHaveBeenCalledTimes(1);
    });

    it("does not call onSignedOut when resuming finds no sign-in", async () => {
      const { keeper, answer, onSignedOut, pending } = keeperHarness();
      const resumed = keeper.resume();
      answer(0).resolve(undefined);
      expect(await resumed).toBeUndefined();
      expect(onSignedOut).not.toHaveBeenCalled();
      expect(pending()).toEqual([]);
    });
  });

  describe("resume()", () => {
    it("keeps the grant a refresh returns and schedules its refresh", async () => {
      const { keeper, answer, pending, refresh, state } = keeperHarness();
      const resumed = keeper.resume();
      answer(0).resolve(grant("a", state.clock));
      expect((await resumed)?.accessToken).toBe("a");
      expect(await keeper.token()).toBe("a");
      expect(pending().map((timer) => timer.ms)).toEqual([14 * minute]);
      expect(refresh).toHaveBeenCalledTimes(1);
    });
  });

  describe("exclusive", () => {
    it("wraps each refresh, so the refresh runs only inside it", async () => {
      const log: string[] = [];
      const lock = deferred<void>();
      const { keeper, refresh, answer, state } = keeperHarness({
        async exclusive(work) {
          log.push("wait");
          await lock.promise;
          log.push("enter");
          try {
            return await work();
          } finally {
            log.push("leave");
          }
        },
      });
      const resumed = keeper.resume();
      await settle();
      expect(refresh).not.toHaveBeenCalled();
      lock.resolve();
      await settle();
      expect(refresh).toHaveBeenCalledTimes(1);
      expect(log).toEqual(["wait", "enter"]);
      answer(0).resolve(grant("a", state.clock));
      await resumed;
      expect(log).toEqual(["wait", "enter", "leave"]);
    });

    it("is entered once per refresh, not once per caller", async () => {
      let entered = 0;
      const { keeper, answer, fire, state } = keeperHarness({
        exclusive(work) {
          entered += 1;
          return work();
        },
      });
      const current = grant("a", state.clock);
      keeper.set(current);
      state.clock = current.expiresAt - second;
      const tokens = Promise.all([keeper.token(), keeper.token()]);
      answer(0).resolve(grant("b", state.clock));
      await tokens;
      expect(entered).toBe(1);
      fire();
      answer(1).resolve(grant("c", state.clock));
      await settle();
      expect(entered).toBe(2);
    });
  });

  describe("clear()", () => {
    it("is not undone by a refresh that was running when it was called (a sign-out during a refresh)", async () => {
      const { keeper, answer, pending, state } = keeperHarness();
      keeper.set(grant("a", state.clock, 3 * second));
      const waiting = keeper.token();
      keeper.clear();
      answer(0).resolve(grant("b", state.clock));
      expect(await waiting).toBeUndefined();
      expect(await keeper.token()).toBeUndefined();
      expect(pending()).toEqual([]);
    });

    it("forgets the token and cancels the timer without calling onSignedOut", async () => {
      const { keeper, refresh, onSignedOut, pending, timers, state } = keeperHarness();
      keeper.set(grant("a", state.clock));
      keeper.clear();
      expect(timers[0]!.cancelled).toBe(true);
      expect(pending()).toEqual([]);
      expect(await keeper.token()).toBeUndefined();
      expect(refresh).not.toHaveBeenCalled();
      expect(onSignedOut).not.toHaveBeenCalled();
    });
  });
});

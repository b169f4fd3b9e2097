import { afterEach, describe, expect, it, vi } from "vitest";
import {
  reconnectDelay,
  runResumableWatch,
  type ResumableWatchOptions,
  type WatchStatus,
} from "../../edge/console/src/lib/resumable-watch.js";

interface Message {
  revision: bigint;
}

/** One stream the watch opened, fed by the test; it ends when its signal aborts, as a real call does. */
interface Attempt {
  revision: bigint;
  signal: AbortSignal;
  send(...revisions: number[]): void;
  fail(error: unknown): void;
  end(): void;
}

function openStream(revision: bigint, signal: AbortSignal): Attempt & { iterable: AsyncIterable<Message> } {
  const queue: Message[] = [];
  let outcome: { error: unknown } | "ended" | undefined;
  let wake: (() => void) | undefined;
  const poke = () => {
    wake?.();
    wake = undefined;
  };
  signal.addEventListener("abort", poke, { once: true });
  async function* iterate(): AsyncGenerator<Message> {
    for (;;) {
      while (queue.length > 0) yield queue.shift()!;
      if (signal.aborted) throw signal.reason;
      if (outcome === "ended") return;
      if (outcome) throw outcome.error;
      await new Promise<void>((resolve) => (wake = resolve));
    }
  }
  return {
    revision,
    signal,
    iterable: iterate(),
    send(...revisions) {
      queue.push(...revisions.map((n) => ({ revision: BigInt(n) })));
      poke();
    },
    fail(error) {
      outcome = { error };
      poke();
    },
    end() {
      outcome = "ended";
      poke();
    },
  };
}

/** Lets every queued promise reaction run (timers are not involved). */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

const expired = new Error("resume revision expired");

/**
 * Runs a watch whose streams the test drives. Waits between attempts are
 * recorded and skipped unless `sleep` is given.
 */
function watchHarness(options: Partial<ResumableWatchOptions<Message>> = {}) {
  const controller = new AbortController();
  const attempts: Attempt[] = [];
  const log: string[] = [];
  const statuses: WatchStatus[] = [];
  const attemptNumbers: number[] = [];
  const done = runResumableWatch<Message>({
    open(revision, signal) {
      log.push(`open ${revision}`);
      const stream = openStream(revision, signal);
      attempts.push(stream);
      return stream.iterable;
    },
    onMessage: (message) => void log.push(`message ${message.revision}`),
    onStatus(status) {
      statuses.push(status);
      log.push(status);
    },
    onReset: () => void log.push("reset"),
    isExpired: (error) => error === expired,
    signal: controller.signal,
    backoff(attempt) {
      attemptNumbers.push(attempt);
      return attempt * 100;
    },
    sleep: async () => {},
    ...options,
  });
  let finished = false;
  void done.then(() => (finished = true));
  return {
    controller,
    attempts,
    log,
    statuses,
    attemptNumbers,
    done,
    /** The stream opened `n`th (1-based). */
    attempt: (n: number) => {
      expect(attempts.length).toBeGreaterThanOrEqual(n);
      return attempts[n - 1]!;
    },
    finished: () => finished,
  };
}

afterEach(() => {
  vi.useRealTimers();
});

describe("runResumableWatch", () => {
  describe("resuming", () => {
    it("opens the first stream from revision 0, for a snapshot", async () => {
      const watch = watchHarness();
      await settle();
      expect(watch.attempts.map((a) => a.revision)).toEqual([0n]);
      watch.controller.abort();
      await watch.done;
    });

    it("passes every message on, in order", async () => {
      const watch = watchHarness();
      await settle();
      watch.attempt(1).send(1, 2, 3);
      await settle();
      expect(watch.log.filter((line) => line.startsWith("message"))).toEqual(["message 1", "message 2", "message 3"]);
      watch.controller.abort();
      await watch.done;
    });

    it("reopens after an error from the last revision seen", async () => {
      const watch = watchHarness();
      await settle();
      watch.attempt(1).send(3, 5);
      watch.attempt(1).fail(new Error("connection reset"));
      await settle();
      expect(watch.attempts.map((a) => a.revision)).toEqual([0n, 5n]);
      watch.attempt(2).send(6, 9);
      watch.attempt(2).fail(new Error("connection reset"));
      await settle();
      expect(watch.attempts.map((a) => a.revision)).toEqual([0n, 5n, 9n]);
      watch.controller.abort();
      await watch.done;
    });

    it("reopens from the last revision when a stream simply ends", async () => {
      const watch = watchHarness();
      await settle();
      watch.attempt(1).send(4);
      watch.attempt(1).end();
      await settle();
      expect(watch.attempts.map((a) => a.revision)).toEqual([0n, 4n]);
      watch.controller.abort();
      await watch.done;
    });

    it("resumes from the highest revision seen, not from a lower one that came later", async () => {
      const watch = watchHarness();
      await settle();
      watch.attempt(1).send(7, 4);
      watch.attempt(1).fail(new Error("connection reset"));
      await settle();
      expect(watch.attempt(2).revision).toBe(7n);
      watch.controller.abort();
      await watch.done;
    });

    it("keeps the revision across a stream that failed before any message", async () => {
      const watch = watchHarness();
      await settle();
      watch.attempt(1).send(8);
      watch.attempt(1).fail(new Error("connection reset"));
      await settle();
      watch.attempt(2).fail(new Error("unavailable"));
      await settle();
      expect(watch.attempts.map((a) => a.revision)).toEqual([0n, 8n, 8n]);
      watch.controller.abort();
      await watch.done;
    });

    it("after an expired resume revision, calls onReset and reopens from 0", async () => {
      const watch = watchHarness();
      await settle();
      watch.attempt(1).send(12);
      watch.attempt(1).fail(new Error("connection reset"));
      await settle();
      watch.attempt(2).fail(expired);
      await settle();
      expect(watch.attempts.map((a) => a.revision)).toEqual([0n, 12n, 0n]);
      expect(watch.log.slice(watch.log.indexOf("open 12"))).toEqual(["open 12", "reset", "reconnecting", "open 0"]);
      watch.controller.abort();
      await watch.done;
    });

    it("stops for good on an error no retry can fix, saying so, and opens nothing more", async () => {
      const notFound = new Error("not found");
      const stopped: unknown[] = [];
      const watch = watchHarness({ isPermanent: (error) => error === notFound, onStopped: (error) => void stopped.push(error) });
      await settle();
      watch.attempt(1).fail(notFound);
      await watch.done;
      expect(watch.statuses).toEqual(["connecting", "stopped"]);
      expect(stopped).toEqual([notFound]);
      expect(watch.attempts).toHaveLength(1);
    });

    it("resumes rather than stops when an expired revision would also count as permanent", async () => {
      const watch = watchHarness({ isPermanent: () => true });
      await settle();
      watch.attempt(1).send(5);
      watch.attempt(1).fail(expired);
      await settle();
      expect(watch.attempts.map((a) => a.revision)).toEqual([0n, 0n]);
      expect(watch.log).toContain("reset");
      watch.controller.abort();
      await watch.done;
    });

    it("does not reset for other errors", async () => {
      const watch = watchHarness();
      await settle();
      watch.attempt(1).send(2);
      watch.attempt(1).fail(new Error("internal"));
      await settle();
      expect(watch.log).not.toContain("reset");
      expect(watch.attempt(2).revision).toBe(2n);
      watch.controller.abort();
      await watch.done;
    });
  });

  describe("status", () => {
    it("goes connecting → live → reconnecting → live", async () => {
      const watch = watchHarness();
      await settle();
      expect(watch.statuses).toEqual(["connecting"]);
      watch.attempt(1).send(1);
      await settle();
      expect(watch.statuses).toEqual(["connecting", "live"]);
      watch.attempt(1).fail(new Error("connection reset"));
      await settle();
      expect(watch.statuses).toEqual(["connecting", "live", "reconnecting"]);
      watch.attempt(2).send(2);
      await settle();
      expect(watch.statuses).toEqual(["connecting", "live", "reconnecting", "live"]);
      watch.controller.abort();
      await watch.done;
    });

    it("becomes live on a stream's first message, once per stream", async () => {
      const watch = watchHarness();
      await settle();
      watch.attempt(1).send(1, 2, 3);
      await settle();
      watch.attempt(1).send(4);
      await settle();
      expect(watch.statuses).toEqual(["connecting", "live"]);
      expect(watch.log.indexOf("live")).toBeLessThan(watch.log.indexOf("message 1"));
      watch.controller.abort();
      await watch.done;
    });

    it("is not live while streams fail before their first message", async () => {
      const watch = watchHarness();
      await settle();
      watch.attempt(1).fail(new Error("unavailable"));
      await settle();
      watch.attempt(2).fail(new Error("unavailable"));
      await settle();
      expect(watch.statuses).toEqual(["connecting", "reconnecting", "reconnecting"]);
      watch.controller.abort();
      await watch.done;
    });
  });

  describe("backoff", () => {
    it("waits backoff(1), backoff(2), ... while attempts fail, and starts over at 1 after a stream goes live", async () => {
      const delays: number[] = [];
      const watch = watchHarness({
        sleep: async (ms) => void delays.push(ms),
      });
      await settle();
      watch.attempt(1).fail(new Error("unavailable"));
      await settle();
      watch.attempt(2).fail(new Error("unavailable"));
      await settle();
      watch.attempt(3).fail(new Error("unavailable"));
      await settle();
      watch.attempt(4).send(1);
      watch.attempt(4).fail(new Error("connection reset"));
      await settle();
      expect(watch.attemptNumbers).toEqual([1, 2, 3, 1]);
      expect(delays).toEqual([100, 200, 300, 100]);
      watch.controller.abort();
      await watch.done;
    });

    it("opens the next stream only after the wait is over", async () => {
      let wake: (() => void) | undefined;
      const watch = watchHarness({ sleep: () => new Promise<void>((resolve) => (wake = resolve)) });
      await settle();
      watch.attempt(1).fail(new Error("unavailable"));
      await settle();
      expect(watch.attempts).toHaveLength(1);
      wake!();
      await settle();
      expect(watch.attempts).toHaveLength(2);
      watch.controller.abort();
      await watch.done;
    });

    it("waits with the watch's signal, so stopping cuts the wait short", async () => {
      const signals: AbortSignal[] = [];
      const watch = watchHarness({
        sleep: (_ms, signal) => {
          signals.push(signal);
          return new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
        },
      });
      await settle();
      watch.attempt(1).fail(new Error("unavailable"));
      await settle();
      expect(signals).toEqual([watch.controller.signal]);
      watch.controller.abort();
      await watch.done;
      expect(watch.attempts).toHaveLength(1);
    });
  });

  describe("stopping", () => {
    it("ends when the signal aborts while a stream is open, aborting that stream with the same reason", async () => {
      const watch = watchHarness();
      await settle();
      watch.attempt(1).send(1);
      await settle();
      const reason = new Error("page closed");
      watch.controller.abort(reason);
      await watch.done;
      expect(watch.attempt(1).signal.aborted).toBe(true);
      expect(watch.attempt(1).signal.reason).toBe(reason);
      expect(watch.attempts).toHaveLength(1);
      expect(watch.statuses).toEqual(["connecting", "live"]);
      expect(watch.log).not.toContain("reset");
    });

    it("ends without reconnecting when a stream ends normally after the signal aborted", async () => {
      const controller = new AbortController();
      const opened: bigint[] = [];
      const statuses: WatchStatus[] = [];
      await runResumableWatch<Message>({
        async *open(revision) {
          opened.push(revision);
          yield { revision: 1n };
        },
        onMessage: () => controller.abort(),
        onStatus: (status) => void statuses.push(status),
        onReset: () => {},
        isExpired: () => false,
        signal: controller.signal,
        sleep: async () => {},
      });
      expect(opened).toEqual([0n]);
      expect(statuses).toEqual(["connecting", "live"]);
    });

    it("does not treat the abort as an expired revision even if isExpired would say so", async () => {
      const controller = new AbortController();
      const watch = watchHarness({ signal: controller.signal, isExpired: () => true });
      await settle();
      controller.abort();
      await watch.done;
      expect(watch.log).not.toContain("reset");
      expect(watch.attempts).toHaveLength(1);
    });

    it("ends during the default wait between attempts, without waiting it out", async () => {
      vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
      const watch = watchHarness({ backoff: () => 60 * 60_000, sleep: undefined });
      await settle();
      watch.attempt(1).fail(new Error("unavailable"));
      await settle();
      expect(watch.statuses).toEqual(["connecting", "reconnecting"]);
      expect(watch.finished()).toBe(false);
      watch.controller.abort();
      await settle();
      expect(watch.finished()).toBe(true);
      expect(watch.attempts).toHaveLength(1);
      expect(vi.getTimerCount()).toBe(0);
    });

    it("opens nothing when the signal has already aborted", async () => {
      const controller = new AbortController();
      controller.abort();
      const watch = watchHarness({ signal: controller.signal });
      await watch.done;
      expect(watch.attempts).toEqual([]);
      expect(watch.statuses).toEqual(["connecting"]);
    });

    it("leaves no timer behind", async () => {
      vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
      const watch = watchHarness();
      await settle();
      watch.attempt(1).send(1);
      await settle();
      expect(vi.getTimerCount()).toBe(1);
      watch.controller.abort();
      await watch.done;
      expect(vi.getTimerCount()).toBe(0);
    });
  });

  describe("idle timeout", () => {
    it("reconnects a stream that is quiet for idleTimeoutMs, from the last revision seen", async () => {
      vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
      const watch = watchHarness({ idleTimeoutMs: 1_000 });
      await settle();
      watch.attempt(1).send(6);
      await settle();
      await vi.advanceTimersByTimeAsync(999);
      expect(watch.attempts).toHaveLength(1);
      await vi.advanceTimersByTimeAsync(1);
      await settle();
      expect(watch.attempt(1).signal.aborted).toBe(true);
      expect(watch.attempts.map((a) => a.revision)).toEqual([0n, 6n]);
      expect(watch.statuses).toEqual(["connecting", "live", "reconnecting"]);
      expect(watch.log).not.toContain("reset");
      watch.controller.abort();
      await watch.done;
    });

    it("restarts the idle clock on every message", async () => {
      vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
      const watch = watchHarness({ idleTimeoutMs: 1_000 });
      await settle();
      for (let revision = 1; revision <= 5; revision++) {
        await vi.advanceTimersByTimeAsync(900);
        watch.attempt(1).send(revision);
        await settle();
      }
      expect(watch.attempts).toHaveLength(1);
      await vi.advanceTimersByTimeAsync(1_000);
      await settle();
      expect(watch.attempts.map((a) => a.revision)).toEqual([0n, 5n]);
      watch.controller.abort();
      await watch.done;
    });

    it("also gives up on a stream that never sends anything", async () => {
      vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
      const watch = watchHarness({ idleTimeoutMs: 1_000 });
      await settle();
      await vi.advanceTimersByTimeAsync(1_000);
      await settle();
      expect(watch.attempts.map((a) => a.revision)).toEqual([0n, 0n]);
      expect(watch.statuses).toEqual(["connecting", "reconnecting"]);
      watch.controller.abort();
      await watch.done;
    });

    it("waits 45 seconds by default", async () => {
      vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
      const watch = watchHarness();
      await settle();
      await vi.advanceTimersByTimeAsync(44_999);
      expect(watch.attempts).toHaveLength(1);
      await vi.advanceTimersByTimeAsync(1);
      await settle();
      expect(watch.attempts).toHaveLength(2);
      watch.controller.abort();
      await watch.done;
    });

    it("gives each attempt its own signal, so a quiet stream's end does not stop the watch", async () => {
      vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
      const watch = watchHarness({ idleTimeoutMs: 1_000 });
      await settle();
      await vi.advanceTimersByTimeAsync(1_000);
      await settle();
      expect(watch.attempt(1).signal).not.toBe(watch.controller.signal);
      expect(watch.controller.signal.aborted).toBe(false);
      expect(watch.attempt(2).signal.aborted).toBe(false);
      expect(watch.finished()).toBe(false);
      watch.controller.abort();
      await watch.done;
    });
  });
});

describe("reconnectDelay", () => {
  const ceilings = [250, 500, 1_000, 2_000, 4_000, 8_000, 10_000, 10_000, 10_000];

  it("doubles from 250 ms and stops growing at 10 s", () => {
    ceilings.forEach((ceiling, i) => {
      expect(reconnectDelay(i + 1, () => 0), `attempt ${i + 1}`).toBe(ceiling / 2);
      expect(reconnectDelay(i + 1, () => 1 - Number.EPSILON), `attempt ${i + 1}`).toBe(ceiling);
    });
    expect(reconnectDelay(50, () => 0.5)).toBe(7_500);
  });

  it("spreads delays between half and all of the ceiling with the random number", () => {
    expect(reconnectDelay(3, () => 0.5)).toBe(750);
    expect(reconnectDelay(3, () => 0.25)).toBe(625);
  });

  it("stays within those bounds with Math.random", () => {
    ceilings.forEach((ceiling, i) => {
      for (let n = 0; n < 200; n++) {
        const delay = reconnectDelay(i + 1);
        expect(delay).toBeGreaterThanOrEqual(ceiling / 2);
        expect(delay).toBeLessThanOrEqual(ceiling);
        expect(Number.isInteger(delay)).toBe(true);
      }
    });
  });
});

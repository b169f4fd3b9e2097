import { DomainError } from "../kit/errors.js";
import type { Logger } from "../kit/logger.js";
import type { UserStore } from "./store/types.js";

/** How often the latest identity revision is read while some stream waits. */
const pollMs = 200;
/** A read still unanswered this long counts as failed: streams stop sending heartbeats (their followers then fail closed). */
const readTimeoutMs = 2_000;

/** Wakes WatchIdentityChanges streams when identity changes are committed. */
export interface IdentityChangeFeed {
  /**
   * Resolves once a change after `revision` may have been committed, after
   * `heartbeatMs` at the latest (the stream then sends a heartbeat), or when
   * `signal` aborts.
   */
  waitForChange(revision: number, signal: AbortSignal): Promise<void>;
  /**
   * Whether changes after `revision` were committed, as of the last read;
   * throws UNAVAILABLE IDENTITY_LOG_UNREADABLE when the last read failed or
   * has gone unanswered too long, so that no heartbeat vouches for a log
   * nobody can read.
   */
  hasChangesAfter(revision: number): boolean;
  close(): void;
}

/**
 * One poller of the latest identity revision for every open stream of this
 * replica, running only while some stream waits, so that a heartbeat costs
 * no query of its own. Reading the database, rather than hearing of this
 * process's writes, also brings changes committed by other replicas on
 * PostgreSQL, within `pollMs`.
 */
export function createIdentityChangeFeed(
  store: Pick<UserStore, "identityRevision">,
  options: { heartbeatMs: number; logger?: Logger },
): IdentityChangeFeed {
  let latest = 0;
  // Judged by reads themselves, never by time since the last one: a stalled
  // event loop delays reads without making the log unreadable.
  let readable = false;
  const waiters = new Set<() => void>();
  let timer: NodeJS.Timeout | undefined;
  let polling = false;

  async function poll() {
    if (polling) return;
    polling = true;
    const tooSlow = setTimeout(() => {
      // setImmediate runs after pending I/O: a reply that arrived during a stall is read first.
      setImmediate(() => {
        if (polling) readable = false;
      });
    }, readTimeoutMs).unref();
    try {
      const revision = await store.identityRevision();
      readable = true;
      if (revision === latest) return;
      latest = revision;
    } catch (error) {
      readable = false;
      options.logger?.warn({ err: error }, "could not read the identity revision");
      return;
    } finally {
      clearTimeout(tooSlow);
      polling = false;
    }
    for (const wake of [...waiters]) wake();
  }

  function startPolling() {
    if (timer !== undefined) return;
    timer = setInterval(() => void poll(), pollMs).unref();
    void poll();
  }

  function stopPollingIfIdle() {
    if (waiters.size > 0 || timer === undefined) return;
    clearInterval(timer);
    timer = undefined;
  }

  return {
    waitForChange(revision, signal) {
      if (latest > revision || signal.aborted) return Promise.resolve();
      return new Promise((resolve) => {
        const done = () => {
          clearTimeout(heartbeat);
          signal.removeEventListener("abort", done);
          waiters.delete(done);
          stopPollingIfIdle();
          resolve();
        };
        const heartbeat = setTimeout(done, options.heartbeatMs);
        signal.addEventListener("abort", done);
        waiters.add(done);
        startPolling();
      });
    },

    hasChangesAfter(revision) {
      if (!readable) {
        throw new DomainError("unavailable", "IDENTITY_LOG_UNREADABLE", "identity changes cannot be read right now; resume later", {
          retryAfterSeconds: 1,
        });
      }
      return latest > revision;
    },

    close() {
      for (const wake of [...waiters]) wake();
    },
  };
}

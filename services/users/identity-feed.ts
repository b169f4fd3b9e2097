import type { Logger } from "../kit/logger.js";
import type { UserStore } from "./store/types.js";

/** How often the latest identity revision is read while someone waits for it. */
const pollMs = 200;

/** Wakes WatchIdentityChanges streams when identity changes are committed. */
export interface IdentityChangeFeed {
  /**
   * Resolves once a change after `revision` may have been committed, after
   * `heartbeatMs` at the latest (the stream then sends a heartbeat), or when
   * `signal` aborts.
   */
  waitForChange(revision: number, signal: AbortSignal): Promise<void>;
  close(): void;
}

/**
 * One poller of the latest identity revision for every open stream of this
 * replica, running only while some stream waits. Polling the database, not a
 * signal from this process's writes, also brings changes committed by other
 * replicas on PostgreSQL, within `pollMs`.
 */
export function createIdentityChangeFeed(
  store: Pick<UserStore, "identityRevision">,
  options: { heartbeatMs: number; logger?: Logger },
): IdentityChangeFeed {
  let latest = 0;
  const waiters = new Set<() => void>();
  let timer: NodeJS.Timeout | undefined;
  let polling = false;

  async function poll() {
    if (polling) return;
    polling = true;
    try {
      const revision = await store.identityRevision();
      if (revision === latest) return;
      latest = revision;
    } catch (error) {
      // Woken streams read the log themselves and fail if the database does.
      options.logger?.warn({ err: error }, "could not read the identity revision");
    } finally {
      polling = false;
    }
    for (const wake of [...waiters]) wake();
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
        timer ??= setInterval(() => void poll(), pollMs).unref();
      });
    },

    close() {
      for (const wake of [...waiters]) wake();
    },
  };
}

import pg from "pg";
import { parsePostgresUrl } from "../../kit/database/postgres-dialect.js";
import type { Listen } from "./hub.js";

/** Reconnection and error reporting of a PostgreSQL listener. */
export interface PostgresListenerOptions {
  /** Connection failures (each is retried); default: ignored. */
  onError?: (error: unknown) => void;
  /** Delay before the first reconnect; it doubles per failed attempt (default 100 ms). */
  minBackoffMs?: number;
  /** Longest delay between reconnects (default 10,000 ms). */
  maxBackoffMs?: number;
}

/**
 * A `listen` for the watch hub: a dedicated connection to `url` that runs
 * `LISTEN <channel>` and calls onNotify for every notification on it. A lost
 * connection is reopened with exponential backoff, and onNotify is called
 * after every (re)connect, since notifications sent meanwhile are gone (the
 * hub's poll covers them too). The first connection failing does not fail
 * the start: it is reported and retried like any other.
 *
 * A `schema` query parameter (see postgres-dialect.ts) is removed: pg never
 * sees it, and notifications are per database, not per schema.
 */
export function createPostgresListener(url: string, channel: string, options: PostgresListenerOptions = {}): Listen {
  if (channel === "") throw new Error("the notification channel must not be empty");
  const { connectionString } = parsePostgresUrl(url);
  const onError = options.onError ?? (() => undefined);
  const minBackoffMs = options.minBackoffMs ?? 100;
  const maxBackoffMs = options.maxBackoffMs ?? 10_000;

  return async (onNotify) => {
    let stopped = false;
    let client: pg.Client | undefined;
    let retry: NodeJS.Timeout | undefined;
    let failures = 0;

    const connect = async (): Promise<void> => {
      retry = undefined;
      const attempt = new pg.Client({ connectionString, keepAlive: true });
      client = attempt;
      // Called once per lost connection: the first of error/end/a failed setup wins.
      const lost = (error: unknown) => {
        if (client !== attempt) return;
        client = undefined;
        attempt.end().catch(() => undefined);
        if (stopped) return;
        onError(error);
        const delay = Math.min(maxBackoffMs, minBackoffMs * 2 ** failures);
        failures += 1;
        retry = setTimeout(() => void connect(), delay).unref();
      };
      attempt.on("error", lost);
      attempt.on("end", () => lost(new Error(`the connection listening on "${channel}" ended`)));
      attempt.on("notification", (message) => {
        if (message.channel === channel) onNotify();
      });
      try {
        await attempt.connect();
        await attempt.query(`LISTEN ${attempt.escapeIdentifier(channel)}`);
      } catch (error) {
        lost(error);
        return;
      }
      if (client !== attempt) return;
      failures = 0;
      onNotify();
    };

    await connect();
    return async () => {
      stopped = true;
      clearTimeout(retry);
      const current = client;
      client = undefined;
      await current?.end().catch(() => undefined);
    };
  };
}

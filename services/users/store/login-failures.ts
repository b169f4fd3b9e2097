import type { Database } from "../../kit/database/open-database.js";
import { fromStoredTime, toStoredTime } from "../../kit/database/times.js";
import type { UserSchema } from "./schema.js";
import type { UserStore } from "./types.js";

/** Failed sign-in counters, one per key, each counting within its window. */
export function createLoginFailureQueries(
  database: Database<UserSchema>,
): Pick<UserStore, "getLoginFailures" | "recordLoginFailure" | "clearLoginFailures"> {
  const { db } = database;
  return {
    async getLoginFailures(keys) {
      if (keys.length === 0) return [];
      const rows = await db.selectFrom("login_failures").selectAll().where("key", "in", keys).execute();
      return rows.map((row) => ({ key: row.key, failures: row.failures, windowStart: fromStoredTime(row.window_start) }));
    },

    async recordLoginFailure(keys, now, windowMs) {
      if (keys.length === 0) return;
      const start = toStoredTime(now);
      // A window that started after this still runs; an older one has ended.
      const runningSince = toStoredTime(new Date(now.getTime() - windowMs));
      // One upsert, so concurrent failures on several replicas all count.
      // PostgreSQL refuses to upsert one row twice in a statement: dedupe.
      await db
        .insertInto("login_failures")
        .values([...new Set(keys)].map((key) => ({ key, failures: 1, window_start: start })))
        .onConflict((conflict) =>
          conflict.column("key").doUpdateSet((eb) => {
            const running = eb("login_failures.window_start", ">", runningSince);
            return {
              failures: eb.case().when(running).then(eb("login_failures.failures", "+", 1)).else(1).end(),
              window_start: eb.case().when(running).then(eb.ref("login_failures.window_start")).else(start).end(),
            };
          }),
        )
        .execute();
    },

    async clearLoginFailures(keys) {
      if (keys.length === 0) return;
      await db.deleteFrom("login_failures").where("key", "in", keys).execute();
    },
  };
}

import type { Database } from "../../kit/database/open-database.js";
import { fromStoredTime, toStoredTime } from "../../kit/database/times.js";
import type { UserSchema } from "./schema.js";
import type { UserStore } from "./types.js";

/** Password-check counters, one per key, each counting within its window. */
export function createLoginFailureQueries(
  database: Database<UserSchema>,
): Pick<UserStore, "reserveLoginAttempt" | "releaseLoginAttempt" | "pruneLoginAttempts"> {
  const { db } = database;
  return {
    async reserveLoginAttempt(keys, now, windowMs) {
      const start = toStoredTime(now);
      // A window that started after this still runs; an older one has ended.
      const runningSince = toStoredTime(new Date(now.getTime() - windowMs));
      // One upsert returning the new counts: the increment and the read are
      // one atomic step, on SQLite and on PostgreSQL across replicas. Keys
      // deduped (PostgreSQL refuses to upsert one row twice in a statement)
      // and sorted, so concurrent statements lock rows in one order.
      const rows = await db
        .insertInto("login_failures")
        .values([...new Set(keys)].sort().map((key) => ({ key, failures: 1, window_start: start })))
        .onConflict((conflict) =>
          conflict.column("key").doUpdateSet((eb) => {
            const running = eb("login_failures.window_start", ">", runningSince);
            return {
              failures: eb.case().when(running).then(eb("login_failures.failures", "+", 1)).else(1).end(),
              window_start: eb.case().when(running).then(eb.ref("login_failures.window_start")).else(start).end(),
            };
          }),
        )
        .returning(["key", "failures", "window_start"])
        .execute();
      return rows.map((row) => ({ key: row.key, attempts: Number(row.failures), windowStart: fromStoredTime(row.window_start) }));
    },

    async releaseLoginAttempt(clearedKey, returnedKey) {
      await db.transaction().execute(async (trx) => {
        await trx.deleteFrom("login_failures").where("key", "=", clearedKey).execute();
        await trx
          .updateTable("login_failures")
          .set((eb) => ({ failures: eb("failures", "-", 1) }))
          .where("key", "=", returnedKey)
          .where("failures", ">", 0)
          .execute();
      });
    },

    async pruneLoginAttempts(endedBefore, limit) {
      const ended = db
        .selectFrom("login_failures")
        .select("key")
        .where("window_start", "<=", toStoredTime(endedBefore))
        .limit(limit);
      const { numDeletedRows } = await db.deleteFrom("login_failures").where("key", "in", ended).executeTakeFirst();
      return Number(numDeletedRows);
    },
  };
}

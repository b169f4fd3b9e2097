import { sql, type Kysely, type Transaction } from "kysely";
import type { Database } from "../../kit/database/open-database.js";
import { runCompiled } from "./compiled-queries.js";
import type { DeploymentSchema } from "./schema.js";

/** A write transaction in progress. */
export interface Write {
  trx: Transaction<DeploymentSchema>;
  /** The next global revision; take one for every event written. */
  nextRevision(): number;
}

/** Runs `work` as one write transaction; see createWriteTransaction. */
export type WriteTransaction = <T>(work: (write: Write) => Promise<T>) => Promise<T>;

/**
 * Write transactions that number their events with the global revision.
 *
 * The first statement of each locks the single revision_counter row and
 * reads it; revisions are then handed out in memory, and the last statement
 * stores the latest one. On PostgreSQL that row's lock makes every other
 * writer wait until this transaction commits or rolls back, so revisions are
 * taken in commit order, and a rollback leaves the counter as it was: no gap.
 * SQLite has one writer anyway, and the lock takes its write lock before
 * anything is read. Taking the counter before any other lock also means two
 * writers never wait on each other in opposite orders.
 *
 * A transaction that took no revision wrote no event, hence nothing: it is
 * rolled back rather than committed. When `notifyChannel` is set on
 * PostgreSQL, storing the counter also runs `pg_notify(channel, '<latest
 * revision>')`, which PostgreSQL delivers on commit.
 */
export function createWriteTransaction(
  database: Database<DeploymentSchema>,
  notifyChannel: string | undefined,
): WriteTransaction {
  const { db, dialect } = database;
  const channel = dialect === "postgres" ? notifyChannel : undefined;
  // Assigning the value to itself takes the row's lock without changing it.
  const lockCounter = sql<{ value: number }>`update revision_counter set value = value where id = 1 returning value`.compile(db);
  const storeCounter = sql`update revision_counter set value = ${0} where id = 1`.compile(db);
  // One round trip: PostgreSQL runs a data-modifying WITH even when the query ignores its rows.
  const storeCounterAndNotify = sql`with counter as (update revision_counter set value = ${0} where id = 1 returning value)
    select pg_notify(${""}, value::text) from counter`.compile(db);
  const store = (trx: Transaction<DeploymentSchema>, latest: number) =>
    channel === undefined ? runCompiled(trx, storeCounter, [latest]) : runCompiled(trx, storeCounterAndNotify, [latest, channel]);

  return async (work) => {
    const trx = await db.startTransaction().execute();
    try {
      const { rows } = await runCompiled(trx, lockCounter, []);
      const first = rows[0]!.value;
      let latest = first;
      const result = await work({ trx, nextRevision: () => ++latest });
      if (latest === first) {
        await trx.rollback().execute();
        return result;
      }
      await store(trx, latest);
      await trx.commit().execute();
      return result;
    } catch (error) {
      if (!trx.isCommitted && !trx.isRolledBack) await trx.rollback().execute().catch(() => undefined);
      throw error;
    }
  };
}

/** The latest committed revision (0 before the first write). */
export async function readRevision(db: Kysely<DeploymentSchema>): Promise<number> {
  const { value } = await db.selectFrom("revision_counter").select("value").where("id", "=", 1).executeTakeFirstOrThrow();
  return value;
}

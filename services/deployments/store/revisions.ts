import { sql, type Kysely, type Transaction } from "kysely";
import type { Database } from "../../kit/database/open-database.js";
import type { DeploymentSchema } from "./schema.js";

/** A write transaction in progress. */
export interface Write {
  trx: Transaction<DeploymentSchema>;
  /** The next global revision; take one for every event written. */
  nextRevision(): Promise<number>;
}

/** Runs `work` as one write transaction; see createWriteTransaction. */
export type WriteTransaction = <T>(work: (write: Write) => Promise<T>) => Promise<T>;

/**
 * Write transactions that number their events with the global revision.
 *
 * The first statement of each increments the single revision_counter row.
 * On PostgreSQL that row's lock makes every other writer wait until this
 * transaction commits or rolls back, so revisions are taken in commit order,
 * and a rollback undoes its increment: no gap. SQLite has one writer anyway,
 * and the increment takes its write lock before anything is read. Taking the
 * counter before any other lock also means two writers never wait on each other
 * in opposite orders.
 *
 * A transaction that took no revision wrote no event, hence nothing: it is
 * rolled back (undoing the increment) rather than committed. When
 * `notifyChannel` is set on PostgreSQL, a commit is preceded by
 * `pg_notify(channel, '<latest revision>')`, which PostgreSQL delivers on commit.
 */
export function createWriteTransaction(
  database: Database<DeploymentSchema>,
  notifyChannel: string | undefined,
): WriteTransaction {
  const { db, dialect } = database;
  const channel = dialect === "postgres" ? notifyChannel : undefined;

  return async (work) => {
    const trx = await db.startTransaction().execute();
    try {
      let latest = await incrementRevision(trx);
      let taken = 0;
      const nextRevision = async () => (++taken === 1 ? latest : (latest = await incrementRevision(trx)));
      const result = await work({ trx, nextRevision });
      if (taken === 0) {
        await trx.rollback().execute();
        return result;
      }
      if (channel !== undefined) await sql`select pg_notify(${channel}, ${String(latest)})`.execute(trx);
      await trx.commit().execute();
      return result;
    } catch (error) {
      if (!trx.isCommitted && !trx.isRolledBack) await trx.rollback().execute().catch(() => undefined);
      throw error;
    }
  };
}

async function incrementRevision(trx: Transaction<DeploymentSchema>): Promise<number> {
  const { value } = await trx
    .updateTable("revision_counter")
    .set((eb) => ({ value: eb("value", "+", 1) }))
    .where("id", "=", 1)
    .returning("value")
    .executeTakeFirstOrThrow();
  return value;
}

/** The latest committed revision (0 before the first write). */
export async function readRevision(db: Kysely<DeploymentSchema>): Promise<number> {
  const { value } = await db.selectFrom("revision_counter").select("value").where("id", "=", 1).executeTakeFirstOrThrow();
  return value;
}

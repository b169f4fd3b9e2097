import { sql, type SelectQueryBuilder, type Transaction } from "kysely";
import type { DialectName } from "./open-database.js";

// SQLite needs neither lock: a process has one connection and Kysely runs its
// transactions one at a time, and a second process's conflicting write fails
// with SQLITE_BUSY instead of interleaving.

/**
 * Makes a select lock its rows until the transaction ends (FOR UPDATE) on
 * PostgreSQL. Use with `.$call(forUpdate(dialect))`.
 */
export function forUpdate(dialect: DialectName) {
  return <DB, TB extends keyof DB, O>(query: SelectQueryBuilder<DB, TB, O>): SelectQueryBuilder<DB, TB, O> =>
    dialect === "postgres" ? query.forUpdate() : query;
}

/**
 * Makes other writers of `table` wait until this transaction ends, on
 * PostgreSQL; plain reads go on. For "insert unless any row exists", where
 * there is no row to lock yet.
 */
export async function lockTable<DB>(trx: Transaction<DB>, dialect: DialectName, table: string): Promise<void> {
  if (dialect === "postgres") await sql`lock table ${sql.table(table)} in exclusive mode`.execute(trx);
}

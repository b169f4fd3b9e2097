import type { CompiledQuery, Kysely, QueryResult } from "kysely";

// Building and compiling a query with Kysely costs more CPU than SQLite
// takes to run it; the store's hot statements are compiled once and run
// with new parameters.

/** Runs `query` (compiled once) with `parameters`, given in the order of its placeholders. */
export function runCompiled<R, DB>(executor: Kysely<DB>, query: CompiledQuery<R>, parameters: readonly unknown[]): Promise<QueryResult<R>> {
  return executor.executeQuery<R>({ ...query, parameters });
}

/**
 * Inserts rows into `table` with one statement. The statement for each row
 * count is compiled once, from the keys of the first rows it is given, so
 * every row must have the same keys; at most `maxRows` rows, so at most
 * `maxRows` statements are kept.
 */
export function createMultiRowInsert<DB, Table extends keyof DB & string>(
  db: Kysely<DB>,
  table: Table,
  maxRows: number,
): (executor: Kysely<DB>, rows: readonly Record<string, unknown>[]) => Promise<void> {
  const byRowCount = new Map<number, { query: CompiledQuery; columns: string[] }>();
  return async (executor, rows) => {
    if (rows.length === 0 || rows.length > maxRows) throw new RangeError(`insert into ${table}: ${rows.length} rows, expected 1 to ${maxRows}`);
    let statement = byRowCount.get(rows.length);
    if (statement === undefined) {
      const columns = Object.keys(rows[0]!);
      const placeholders = rows.map(() => Object.fromEntries(columns.map((column) => [column, null])));
      statement = { query: db.insertInto(table).values(placeholders as never).compile(), columns };
      byRowCount.set(rows.length, statement);
    }
    const { query, columns } = statement;
    await runCompiled(executor, query, rows.flatMap((row) => columns.map((column) => row[column])));
  };
}

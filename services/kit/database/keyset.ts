import { sql, type RawBuilder, type SqlBool } from "kysely";

/**
 * Rows after a keyset cursor: `(columns) > (values)` ascending, `<`
 * descending, compared as a row so ties on the sort column fall to the next
 * (normally the id). The query must order by the same columns, all in the
 * same direction.
 */
export function keysetAfter(
  columns: readonly string[],
  values: readonly unknown[],
  descending: boolean,
): RawBuilder<SqlBool> {
  if (columns.length === 0 || columns.length !== values.length) {
    throw new Error("a keyset needs one value per column");
  }
  const operator = descending ? sql`<` : sql`>`;
  return sql<SqlBool>`(${sql.join(columns.map((column) => sql.ref(column)))}) ${operator} (${sql.join(values)})`;
}
